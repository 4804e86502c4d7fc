/**
 * One DNS question to one server, as dig asks it, over UDP, TCP, TLS (DoT) or HTTPS (DoH), with the whole
 * response message back: header flags, response code, every section, EDNS — whatever the response code (an
 * NXDOMAIN is an answer, not an error here).
 *
 * - **UDP** (the default): sent again on a schedule (`tries`, `tryTimeout`), under one overall `timeout`. A
 *   reply counts only if its ID, its source (the server's address and port) and its question match the query
 *   (RFC 5452 §9.1); anything else is ignored and counted (`ignored`). A truncated reply (TC) is asked again
 *   over TCP, as resolvers do, within the same deadline.
 * - **TCP** and **TLS**: the message with a 2-byte length in front (RFC 7766, RFC 7858); one connection per
 *   client, shared by the queries of a batch.
 * - **HTTPS**: RFC 8484, `POST` (or `GET`), over HTTP/2 when the server offers it (ALPN), else HTTP/1.1.
 *
 * Message IDs are random (16 bits from the CSPRNG) and unique among the queries in flight; DoH uses ID 0
 * (RFC 8484 §4.1). A {@link DnsClient} keeps its sockets and connections for many queries (a batch); the
 * one-shot {@link dnsQuery} opens and closes them around one question.
 *
 * @module
 */
import { isIP } from 'node:net';
import {
  type DnsMessage,
  decodeDnsMessage,
  dnsClassName,
  dnsClassNumber,
  dnsTypeName,
  dnsTypeNumber,
  type EdnsOption,
  encodeDnsMessage,
  formatDnsName,
  nameToWire,
  parseDnsName,
} from '../codec/dns.js';
import { plainNameWireLength } from '../codec/dns-name.js';
import { abortError, Deadline } from '../core/deadline.js';
import {
  BadPacketError,
  DnsError,
  SoketError,
  TimeoutError,
  toSoketError,
  ValidationError,
} from '../core/errors.js';
import { type ExchangeControl, type ExchangeHandlers, exchange } from '../core/exchange.js';
import {
  checkBoolean,
  checkObject,
  checkSignal,
  checkString,
  checkStringOrBytes,
  checkTimeout,
  describeValue,
  formatHostPort,
  parseHostPort,
  parseInteger,
} from '../core/validate.js';
import type { TlsSession } from '../net/tls-client.js';
import type { Pem, TlsClientOptions } from '../net/tls-config.js';
import { DohClient, type DohEndpoint, parseDohUrl } from './doh.js';
import { DnsStreamConnection } from './stream-socket.js';
import { canonicalAddress, DnsUdpSocket, sendError, type UdpWaiter } from './udp-socket.js';

/** How a query travels. */
export type DnsTransport = 'udp' | 'tcp' | 'tls' | 'https';

/** The transports, in one list. */
export const DNS_TRANSPORTS: readonly DnsTransport[] = ['udp', 'tcp', 'tls', 'https'];

/** A question to ask. */
export interface DnsQuestionInput {
  /** A domain name (presentation form; `\.` and `\DDD` escapes allowed; a final dot optional). */
  name: string;
  /** Type mnemonic, `TYPEnnn` or number. @default 'A' */
  type?: string | number;
  /** Class mnemonic, `CLASSnnn` or number. @default 'IN' */
  class?: string | number;
}

/** A server: `IP`, `IP:PORT`, `[IPv6]:PORT`, an `https://` URL (DoH), or an address and port. */
export type DnsServerInput = string | { address: string; port?: number };

/** Options of a {@link DnsClient} (and of {@link dnsQuery}). */
export interface DnsClientOptions {
  /** The server. Host names are not resolved here (see `dnsLookup`); a DoH URL may hold one. */
  server: DnsServerInput;
  /** @default 'udp', or 'https' for a URL */
  transport?: DnsTransport;
  /** Limit of one query, all tries and a TCP retry included, in ms; 0 for none. @default 5000 */
  timeout?: number;
  /** UDP: datagrams sent before giving up. @default 2 */
  tries?: number;
  /** UDP: how long to wait for each try, in ms. @default timeout / tries */
  tryTimeout?: number;
  /** RD: ask the server to recurse. @default true */
  recursionDesired?: boolean;
  /** Set DO in EDNS: ask for DNSSEC records (RRSIG, NSEC, ...). @default false */
  dnssecOk?: boolean;
  /** CD: ask a validating resolver not to validate. @default false */
  checkingDisabled?: boolean;
  /** AD in the query: ask whether the answer was validated (RFC 6840 §5.7). @default false */
  authenticData?: boolean;
  /** Send an EDNS OPT record. @default true */
  edns?: boolean;
  /** EDNS UDP payload size advertised. @default 1232 */
  udpSize?: number;
  /** Ask for the server's NSID (RFC 5001). @default false */
  nsid?: boolean;
  /** Send a client cookie (RFC 7873). @default false */
  cookie?: boolean;
  /** Client subnet to send (RFC 7871), `ADDRESS/PREFIX`, e.g. `192.0.2.0/24`. */
  clientSubnet?: string;
  /** Ask again over TCP when a UDP answer is truncated (TC). @default true */
  tcpFallback?: boolean;
  /** DoH: `POST` or `GET`. @default 'POST' */
  method?: 'POST' | 'GET';
  /** DoH: connect to this IP address instead of looking up the URL's host (like curl's `--resolve`). */
  connectAddress?: string;
  /** TLS (DoT, DoH): trust these CAs (PEM) instead of the system's. */
  ca?: Pem;
  /** TLS: the name the certificate must be for, also sent with SNI. @default the URL's host (DoH); none for an IP (DoT) */
  servername?: string;
  /** TLS: accept any certificate (still checked and reported). @default false */
  insecure?: boolean;
  /** TLS: accept exactly this certificate, `sha256:BASE64` or `sha256:HEX`. */
  pin?: string;
  /** Cancels the query (`AbortError`). */
  signal?: AbortSignal;
}

/** Options of {@link dnsQuery}: the client's. */
export type DnsQueryOptions = DnsClientOptions;

/** Defaults of {@link DnsClientOptions}, in one place. */
export const DNS_QUERY_DEFAULTS = {
  transport: 'udp',
  timeout: 5000,
  tries: 2,
  udpSize: 1232,
  recursionDesired: true,
  edns: true,
  tcpFallback: true,
  method: 'POST',
  port: 53,
  tlsPort: 853,
} as const;

/** What a query got back. */
export interface DnsResponse {
  /** The response, decoded. */
  message: DnsMessage;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Its size in bytes. */
  size: number;
  /** The question as sent (absolute name, type and class mnemonics). */
  question: { name: string; type: string; class: string };
  /** The server: `127.0.0.1:53`, `[::1]:853`, or the DoH URL. */
  server: string;
  /** The transport that brought the answer (`tcp` after a truncated UDP answer). */
  transport: DnsTransport;
  /** Whether a UDP answer came back truncated (TC) and was asked again over TCP. */
  truncated: boolean;
  /** From the first send to the answer, in ms. */
  elapsedMs: number;
  /** UDP datagrams sent (1 when the first was answered); 1 over the other transports. */
  tries: number;
  /** Replies ignored: from another address or port, with another ID, or for another question. */
  ignored: number;
  /** The query's size in bytes. */
  querySize: number;
  /** TLS (DoT, DoH): what was agreed and whether the certificate was verified. */
  tls: TlsSession | undefined;
  /** DoH: `2` or `1.1`. */
  httpVersion: string | undefined;
}

/** A checked server. @internal */
export interface PlannedServer {
  transport: DnsTransport;
  /** `127.0.0.1:53` or the DoH URL. */
  text: string;
  address: string;
  port: number;
  doh: DohEndpoint | undefined;
}

/** A client's options, checked once. @internal */
export interface DnsClientPlan {
  server: PlannedServer;
  timeout: number | undefined;
  tries: number;
  tryTimeout: number | undefined;
  recursionDesired: boolean;
  dnssecOk: boolean;
  checkingDisabled: boolean;
  authenticData: boolean;
  edns: boolean;
  udpSize: number;
  options: EdnsOption[];
  tcpFallback: boolean;
  method: 'POST' | 'GET';
  tls: TlsClientOptions;
  signal: AbortSignal | undefined;
}

/**
 * Check a server given as `IP`, `IP:PORT`, `[IPv6]:PORT`, `{ address, port }`, or a DoH URL.
 *
 * @param server - as given
 * @param transport - the transport asked for (a URL implies `https`)
 * @returns the transport, address, port and text
 * @throws {ValidationError} for a host name (resolve it first), a bad port, an invalid URL, or a URL with a
 *   transport other than https (and https without a URL)
 * @example
 * ```ts
 * planServer('[::1]:5353').text; // '[::1]:5353'
 * planServer('127.0.0.1', 'tls').port; // 853
 * ```
 */
export function planServer(server: DnsServerInput, transport?: DnsTransport): PlannedServer {
  if (transport !== undefined && !DNS_TRANSPORTS.includes(transport)) {
    throw new ValidationError(
      `Invalid transport '${String(transport)}': expected ${DNS_TRANSPORTS.join(', ')}`,
    );
  }
  if (
    typeof server !== 'string' &&
    (server === null || typeof server !== 'object' || typeof server.address !== 'string')
  ) {
    throw new ValidationError(
      `Invalid DNS server '${describeValue(server)}': expected IP, IP:PORT, [IPv6]:PORT, { address, port } or an https:// URL`,
    );
  }
  if (typeof server === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(server.trim())) {
    if (transport !== undefined && transport !== 'https') {
      throw new ValidationError(`A URL server ('${server}') needs the https transport, not ${transport}`);
    }
    const doh = parseDohUrl(server);
    return { transport: 'https', text: doh.url.href, address: doh.address, port: doh.port, doh };
  }
  const t = transport ?? 'udp';
  if (t === 'https') {
    throw new ValidationError(
      `DNS over HTTPS needs a URL (https://HOST/dns-query), not '${typeof server === 'string' ? server : server.address}'`,
    );
  }
  const defaultPort = t === 'tls' ? DNS_QUERY_DEFAULTS.tlsPort : DNS_QUERY_DEFAULTS.port;
  let host: string;
  let port: number;
  if (typeof server === 'string') {
    ({ host, port } = parseHostPort(server, { defaultPort }));
  } else {
    host = server.address;
    port = parseInteger(server.port ?? defaultPort, 'port', { min: 1, max: 65535 });
  }
  const address = host.split('%')[0] ?? host;
  if (isIP(address) === 0) {
    throw new ValidationError(
      `Invalid DNS server '${typeof server === 'string' ? server : host}': expected an IP address (a host name must be resolved first)`,
    );
  }
  return { transport: t, text: formatHostPort(host, port), address: host, port, doh: undefined };
}

function clientSubnet(value: string): EdnsOption {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(value.trim());
  const family = m ? isIP(m[1] as string) : 0;
  if (!m || family === 0) {
    throw new ValidationError(`Invalid client subnet '${value}': expected ADDRESS/PREFIX, e.g. 192.0.2.0/24`);
  }
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max)
    throw new ValidationError(`Invalid client subnet '${value}': a prefix of at most /${max}`);
  return {
    option: 'ecs',
    code: 8,
    family: family === 4 ? 1 : 2,
    sourcePrefixLength: prefix,
    scopePrefixLength: 0,
    address: m[1] as string,
  };
}

/** The yes/no options of {@link DnsClientOptions}. */
const BOOLEAN_OPTIONS = [
  'recursionDesired',
  'dnssecOk',
  'checkingDisabled',
  'authenticData',
  'edns',
  'nsid',
  'cookie',
  'tcpFallback',
  'insecure',
] as const;

/** The text options of {@link DnsClientOptions} (besides `server`, `transport` and `method`, checked by value). */
const STRING_OPTIONS = ['clientSubnet', 'connectAddress', 'servername', 'pin'] as const;

/**
 * Check a client's options once.
 *
 * @throws {ValidationError} for bad or conflicting options
 * @internal
 */
export function planClient(options: DnsClientOptions): DnsClientPlan {
  if (options === null || typeof options !== 'object' || options.server === undefined) {
    throw new ValidationError('A DNS query needs a server');
  }
  for (const flag of BOOLEAN_OPTIONS) checkBoolean(options[flag], flag);
  for (const text of STRING_OPTIONS) {
    if (options[text] !== undefined) checkString(options[text], text);
  }
  checkStringOrBytes(options.ca, 'ca');
  checkSignal(options.signal);
  const server = planServer(options.server, options.transport);
  const timeout = checkTimeout(options.timeout ?? DNS_QUERY_DEFAULTS.timeout, { what: 'timeout' });
  const tries = parseInteger(options.tries ?? DNS_QUERY_DEFAULTS.tries, 'tries', { min: 1, max: 20 });
  const tryTimeout =
    options.tryTimeout === undefined ? undefined : checkTimeout(options.tryTimeout, { what: 'tryTimeout' });
  const edns = options.edns ?? DNS_QUERY_DEFAULTS.edns;
  const udpSize = parseInteger(options.udpSize ?? DNS_QUERY_DEFAULTS.udpSize, 'EDNS UDP size', {
    min: 0,
    max: 65535,
  });
  const ednsOptions: EdnsOption[] = [];
  if (options.nsid) ednsOptions.push({ option: 'nsid', code: 3, data: '', text: '' });
  if (options.cookie) {
    const client = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex');
    ednsOptions.push({ option: 'cookie', code: 10, client, server: '' });
  }
  if (options.clientSubnet !== undefined) ednsOptions.push(clientSubnet(options.clientSubnet));
  if (!edns) {
    const needs = [
      options.dnssecOk && '--dnssec (DO)',
      options.nsid && '--nsid',
      options.cookie && '--cookie',
      options.clientSubnet !== undefined && '--subnet',
      options.udpSize !== undefined && '--edns-size',
    ].filter(Boolean);
    if (needs.length) throw new ValidationError(`Option ${needs[0]} needs EDNS, which --no-edns turns off`);
  }
  const method = options.method ?? DNS_QUERY_DEFAULTS.method;
  if (method !== 'POST' && method !== 'GET')
    throw new ValidationError(`Invalid DoH method '${String(method)}': expected POST or GET`);
  if (server.transport !== 'tls' && server.transport !== 'https') {
    const tlsOnly = [
      options.ca !== undefined && 'ca',
      options.servername !== undefined && 'servername',
      options.insecure && 'insecure',
      options.pin !== undefined && 'pin',
    ].filter(Boolean);
    if (tlsOnly.length)
      throw new ValidationError(
        `Option ${tlsOnly[0]} applies to TLS and HTTPS only, not ${server.transport}`,
      );
  }
  if (options.connectAddress !== undefined) {
    if (server.transport !== 'https')
      throw new ValidationError('connectAddress applies to DNS over HTTPS only');
    if (isIP(options.connectAddress) === 0)
      throw new ValidationError(`Invalid connectAddress '${options.connectAddress}': expected an IP address`);
    server.address = options.connectAddress;
    if (server.doh) server.doh = { ...server.doh, address: options.connectAddress };
  }
  const tls: TlsClientOptions = {};
  if (options.ca !== undefined) tls.ca = options.ca;
  if (options.servername !== undefined) tls.servername = options.servername;
  if (options.insecure) tls.insecure = true;
  if (options.pin !== undefined) tls.pin = options.pin;
  return {
    server,
    timeout,
    tries,
    tryTimeout,
    recursionDesired: options.recursionDesired ?? DNS_QUERY_DEFAULTS.recursionDesired,
    dnssecOk: options.dnssecOk ?? false,
    checkingDisabled: options.checkingDisabled ?? false,
    authenticData: options.authenticData ?? false,
    edns,
    udpSize,
    options: ednsOptions,
    tcpFallback: options.tcpFallback ?? DNS_QUERY_DEFAULTS.tcpFallback,
    method,
    tls,
    signal: options.signal,
  };
}

/** A checked question. @internal */
export interface PlannedQuestion {
  name: string;
  type: number;
  cls: number;
  typeName: string;
  className: string;
  /** The name in lower case, to compare a reply's question with. */
  lower: string;
  /** The name's wire form. */
  wire: Uint8Array;
}

/**
 * Check the types of a question from a caller (the lookups plan theirs from checked parts).
 *
 * @throws {ValidationError} for a question that is not an object, a name that is not a string, or a type or
 *   class that is neither a string nor a number
 */
function checkQuestion(q: DnsQuestionInput): void {
  checkObject(q, 'DNS question');
  checkString(q.name, 'name');
  // Unrolled: a batch asks thousands of questions a second, and a list of keys would be one more allocation.
  checkMnemonic(q.type, 'type');
  checkMnemonic(q.class, 'class');
}

function checkMnemonic(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== 'string' && typeof value !== 'number') {
    throw new ValidationError(`Invalid ${what} '${describeValue(value)}': expected a mnemonic or a number`);
  }
}

/**
 * Check a question.
 *
 * @throws {ValidationError} for a bad name (label over 63 bytes, name over 255), an unknown type or class
 * @internal
 */
export function planQuestion(q: DnsQuestionInput): PlannedQuestion {
  const type = typeof q.type === 'number' ? dnsTypeNumber(q.type) : dnsTypeNumber(q.type ?? 'A');
  const cls = q.class === undefined ? 1 : dnsClassNumber(q.class);
  let name: string;
  let wire: Uint8Array;
  const text = typeof q.name === 'string' ? q.name : '';
  const size = plainNameWireLength(text);
  if (size > 0) {
    // The common case, without escapes: labels of letters, digits, '-' and '_', within the limits.
    name = text.endsWith('.') ? text : `${text}.`;
    wire = new Uint8Array(size);
    let len = 0;
    let at = 0;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c === 0x2e) {
        wire[at] = len;
        at += len + 1;
        len = 0;
      } else {
        wire[at + 1 + len] = c;
        len++;
      }
    }
  } else {
    const labels = parseDnsName(text);
    name = formatDnsName(labels);
    wire = nameToWire(labels);
  }
  return {
    name,
    type,
    cls,
    typeName: dnsTypeName(type),
    className: dnsClassName(cls),
    // Presentation names are ASCII (other bytes are \DDD escapes), so toLowerCase folds only A-Z.
    lower: name.toLowerCase(),
    wire,
  };
}

/** Why a reply is not the answer to a query, or undefined when it is. */
function mismatch(q: PlannedQuestion, m: DnsMessage, id: number): string | undefined {
  if (m.id !== id) return `ID ${m.id} instead of ${id}`;
  if (!m.flags.qr) return 'a query, not a response';
  if (m.opcode !== 'QUERY') return `opcode ${m.opcode}`;
  if (m.question.length === 0) {
    // FORMERR, NOTIMP, ... may come without the question (e.g. to EDNS from an old server).
    return m.rcode === 'NOERROR' ? 'no question section' : undefined;
  }
  const got = m.question[0];
  if (
    m.question.length !== 1 ||
    !got ||
    got.type !== q.typeName ||
    got.class !== q.className ||
    got.name.toLowerCase() !== q.lower
  ) {
    return `question ${got ? `${got.name} ${got.type}` : '(none)'} instead of ${q.name} ${q.typeName}`;
  }
  return undefined;
}

/** A reply taken off the wire and checked. */
interface Reply {
  bytes: Uint8Array;
  message: DnsMessage;
  tries: number;
  truncatedRaw?: boolean;
}

/** A query's view of the client's ignored replies: the count when it started. */
interface Waiting {
  before: number;
}

/** What the UDP queries of one client share. */
interface UdpShared {
  sock: DnsUdpSocket;
  /** The server's address as given (sent to) and port. */
  address: string;
  port: number;
  /** The address in canonical form, which a reply's source must equal. */
  source: string;
  ignore(why: string): void;
  badResponse(q: PlannedQuestion, err: unknown): DnsError;
  /** The client's queries in flight, when its signal must reach them. */
  inflight: Set<(err: unknown) => void> | undefined;
}

/**
 * One UDP query: the waiter the socket hands replies to and the exchange's send and cleanup, in one object
 * (a batch makes thousands a second; one object instead of a handful of closures each).
 */
class UdpAsk implements UdpWaiter, ExchangeHandlers {
  readonly address: string;
  readonly port: number;
  bytes: Uint8Array = EMPTY;
  #ctl: ExchangeControl<Reply> | undefined;

  constructor(
    readonly shared: UdpShared,
    readonly q: PlannedQuestion,
    readonly id: number,
  ) {
    this.address = shared.source;
    this.port = shared.port;
  }

  /** The exchange's setup: wait for the reply. */
  start(ctl: ExchangeControl<Reply>): this {
    this.#ctl = ctl;
    this.shared.sock.wait(this.id, this);
    this.shared.inflight?.add(ctl.reject);
    return this;
  }

  send(): void {
    this.shared.sock.send(this.bytes, this.shared.address, this.port, this.#sent);
  }

  readonly #sent = (err: Error | null): void => {
    if (err) this.#ctl?.reject(sendError(err, this.shared.address, this.port));
  };

  cleanup(): void {
    this.shared.sock.release(this.id);
    if (this.#ctl) this.shared.inflight?.delete(this.#ctl.reject);
  }

  onReply(b: Buffer): void {
    const ctl = this.#ctl as ExchangeControl<Reply>;
    let message: DnsMessage;
    try {
      message = decodeDnsMessage(b);
    } catch (err) {
      // A reply cut short with TC set (RFC 2181 §9) is a truncation, not a malformed message.
      if (b.length >= 4 && ((b[2] as number) & 0x82) === 0x82) {
        ctl.resolve({
          bytes: b,
          message: undefined as unknown as DnsMessage,
          tries: ctl.attempt,
          truncatedRaw: true,
        });
      } else ctl.reject(this.shared.badResponse(this.q, err));
      return;
    }
    const why = mismatch(this.q, message, this.id);
    if (why) {
      this.shared.ignore(why);
      return;
    }
    ctl.resolve({ bytes: b, message, tries: ctl.attempt });
  }

  onStray(from: string): void {
    this.shared.ignore(`from ${from}`);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A DNS client for one server and transport: its UDP socket, TCP/TLS connection or HTTP/2 session is kept
 * for every query asked through it (a batch), until {@link DnsClient.close}.
 *
 * @example
 * ```ts
 * import { DnsClient } from 'soket';
 * const client = new DnsClient({ server: '127.0.0.1:5353' });
 * const [a, mx] = await Promise.all([client.query({ name: 'example.test' }), client.query({ name: 'example.test', type: 'MX' })]);
 * client.close();
 * ```
 */
export class DnsClient {
  readonly plan: DnsClientPlan;
  #udp: DnsUdpSocket | undefined;
  #udpContext: UdpShared | undefined;
  #template: { bits: number; opt: Uint8Array } | undefined;
  /** How to fail each exchange in flight (when the client's signal fires). */
  readonly #inflight = new Set<(err: unknown) => void>();
  #stream: Promise<DnsStreamConnection> | undefined;
  #doh: DohClient | undefined;
  #closed = false;
  /** Queries asked. */
  queries = 0;
  /** Replies ignored over all queries: another source, ID, or question. */
  ignored = 0;
  #lastIgnored: string | undefined;

  /**
   * @param options - server, transport, timeouts, flags, TLS settings
   * @throws {ValidationError} for bad options
   */
  constructor(options: DnsClientOptions) {
    this.plan = planClient(options);
    // One listener for the client's signal, not one per query (a batch asks thousands).
    const sig = this.plan.signal;
    sig?.addEventListener(
      'abort',
      () => {
        const err = abortError(sig, `DNS queries to ${this.server}`);
        for (const reject of [...this.#inflight]) reject(err);
      },
      { once: true },
    );
  }

  /** The server, as text. */
  get server(): string {
    return this.plan.server.text;
  }

  #ignore(why: string): void {
    this.ignored++;
    this.#lastIgnored = why;
  }

  #udpSocket(): DnsUdpSocket {
    this.#udp ??= new DnsUdpSocket((from, id) =>
      this.#ignore(
        id === undefined
          ? `a datagram too short for an ID from ${from}`
          : `ID ${id}, which no query holds, from ${from}`,
      ),
    );
    return this.#udp;
  }

  async #connection(deadline: Deadline): Promise<{ conn: DnsStreamConnection; fresh: boolean }> {
    const existing = this.#stream;
    if (existing) {
      const conn = await existing.catch(() => undefined);
      if (conn && !conn.closed) return { conn, fresh: false };
      if (this.#stream === existing) this.#stream = undefined;
    }
    if (!this.#stream) {
      const { address, port, transport } = this.plan.server;
      // The connection outlives this query: only the client's own signal may end it.
      const opening = DnsStreamConnection.open(
        { address, port, tls: transport === 'tls' ? this.plan.tls : undefined },
        { timeout: deadline.remaining(), signal: this.plan.signal },
      );
      this.#stream = opening;
      opening.then(
        (c) => {
          c.onUnmatched = (id) =>
            this.#ignore(
              id === undefined ? 'a message too short for an ID' : `ID ${id}, which no query holds`,
            );
        },
        () => undefined,
      );
      opening.catch(() => {
        if (this.#stream === opening) this.#stream = undefined;
      });
      return { conn: await opening, fresh: true };
    }
    return { conn: await this.#stream, fresh: true };
  }

  /** Header flag bits and the OPT record, the same for every query of this client. */
  #queryBits(): { bits: number; opt: Uint8Array } {
    if (!this.#template) {
      const p = this.plan;
      const tail = encodeDnsMessage({
        edns: p.edns ? { udpSize: p.udpSize, dnssecOk: p.dnssecOk, options: p.options } : undefined,
      }).subarray(12);
      const bits =
        (p.recursionDesired ? 0x0100 : 0) |
        (p.authenticData ? 0x0020 : 0) |
        (p.checkingDisabled ? 0x0010 : 0);
      this.#template = { bits, opt: tail };
    }
    return this.#template;
  }

  /** The query message: one allocation (header, question, OPT). */
  #query(q: PlannedQuestion, id: number): Uint8Array {
    const { bits, opt } = this.#queryBits();
    const out = new Uint8Array(12 + q.wire.length + 4 + opt.length);
    out[0] = id >>> 8;
    out[1] = id & 0xff;
    out[2] = bits >>> 8;
    out[3] = bits & 0xff;
    out[5] = 1; // QDCOUNT
    out[11] = opt.length ? 1 : 0; // ARCOUNT
    out.set(q.wire, 12);
    let p = 12 + q.wire.length;
    out[p++] = q.type >>> 8;
    out[p++] = q.type & 0xff;
    out[p++] = q.cls >>> 8;
    out[p++] = q.cls & 0xff;
    out.set(opt, p);
    return out;
  }

  #describe(q: PlannedQuestion, transport: DnsTransport): string {
    return `${q.name} (${q.typeName} query to ${this.plan.server.text}${transport === 'udp' ? '' : ` over ${transport.toUpperCase()}`})`;
  }

  #badResponse(q: PlannedQuestion, err: unknown): DnsError {
    const why = err instanceof SoketError ? err.message : String(err);
    return new DnsError(
      `DNS server ${this.plan.server.text} sent a malformed response to the ${q.typeName} query for ${q.name}: ${why}`,
      'EBADRESP',
      { hostname: q.name, rrtype: q.typeName, server: this.plan.server.text },
      { cause: err },
    );
  }

  /** Turn the exchange's timeout into a lookup timeout naming the question, tries and ignored replies. */
  #timeout(
    err: unknown,
    q: PlannedQuestion,
    transport: DnsTransport,
    deadline: Deadline,
    t0: number,
    w: Waiting,
  ): unknown {
    if (!(err instanceof TimeoutError) || err.phase === 'connect' || err.phase === 'handshake') return err;
    const tries = /\((\d+) tr(?:y|ies)/.exec(err.message)?.[1];
    const parts = [
      ...(tries && transport === 'udp' ? [`${tries} ${tries === '1' ? 'try' : 'tries'}`] : []),
      ...(this.ignored > w.before
        ? [
            `${this.ignored - w.before} ${this.ignored - w.before === 1 ? 'reply' : 'replies'} ignored: ${this.#lastIgnored}`,
          ]
        : []),
    ];
    const limit =
      deadline.expired() && this.plan.timeout ? this.plan.timeout : Math.round(performance.now() - t0);
    return new TimeoutError(
      'lookup',
      this.#describe(q, transport),
      limit,
      parts.length ? `(${parts.join('; ')})` : '',
      { cause: err },
    );
  }

  /** What every UDP query of this client shares (made on the first). */
  #udpShared(): UdpShared {
    if (!this.#udpContext) {
      const { address, port } = this.plan.server;
      this.#udpContext = {
        sock: this.#udpSocket(),
        address,
        port,
        source: canonicalAddress(address),
        ignore: (why) => this.#ignore(why),
        badResponse: (q, err) => this.#badResponse(q, err),
        // Only a client with a signal needs to find its queries in flight.
        inflight: this.plan.signal ? this.#inflight : undefined,
      };
    }
    return this.#udpContext;
  }

  #overUdp(q: PlannedQuestion, deadline: Deadline, signal: AbortSignal | undefined): Promise<Reply> {
    const shared = this.#udpShared();
    const ask = new UdpAsk(shared, q, shared.sock.allocateId());
    ask.bytes = this.#query(q, ask.id);
    return exchange<Reply>(
      {
        // Only the timeout text uses the target, and #timeout rewrites it: no per-query string here.
        target: this.server,
        tries: this.plan.tries,
        tryTimeout: this.plan.tryTimeout,
        deadline,
        signal,
      },
      (ctl) => ask.start(ctl),
    );
  }

  async #overStream(
    q: PlannedQuestion,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<Reply & { tls: TlsSession | undefined }> {
    for (let attempt = 0; ; attempt++) {
      const { conn, fresh } = await this.#connection(deadline);
      const id = conn.allocateId();
      const bytes = this.#query(q, id);
      try {
        const reply = await exchange<Reply>({ target: this.server, tries: 1, deadline, signal }, (ctl) => {
          conn.wait(id, {
            onReply: (b) => {
              let message: DnsMessage;
              try {
                message = decodeDnsMessage(b);
              } catch (err) {
                ctl.reject(this.#badResponse(q, err));
                return;
              }
              const why = mismatch(q, message, id);
              if (why) {
                this.#ignore(why);
                return;
              }
              ctl.resolve({ bytes: b, message, tries: 1 });
            },
            onError: (err) => ctl.reject(err instanceof BadPacketError ? this.#badResponse(q, err) : err),
          });
          this.#inflight.add(ctl.reject);
          return {
            send: () => conn.send(bytes),
            cleanup: () => {
              conn.release(id);
              this.#inflight.delete(ctl.reject);
            },
          };
        });
        return { ...reply, tls: conn.tls };
      } catch (err) {
        // A server may close an idle or busy connection (RFC 7766 §6.2.3): ask once more on a new one.
        const closed = err instanceof SoketError && err.code === 'ECONNRESET';
        if (closed && !fresh && attempt === 0 && !deadline.expired()) continue;
        throw err;
      }
    }
  }

  async #overHttps(
    q: PlannedQuestion,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<Reply & { tls: TlsSession | undefined; httpVersion: string }> {
    this.#doh ??= new DohClient(this.plan.server.doh as DohEndpoint, this.plan.tls, this.plan.method);
    const doh = this.#doh;
    const bytes = this.#query(q, 0);
    let httpVersion = '';
    const reply = await exchange<Reply>({ target: this.server, tries: 1, deadline, signal }, (ctl) => {
      const abort = new AbortController();
      return {
        send: () => {
          doh
            .query(bytes, {
              timeout: deadline.remaining(),
              signal: abort.signal,
              connectSignal: this.plan.signal,
            })
            .then(
              (r) => {
                httpVersion = r.httpVersion;
                let message: DnsMessage;
                try {
                  message = decodeDnsMessage(r.bytes);
                } catch (err) {
                  ctl.reject(this.#badResponse(q, err));
                  return;
                }
                const why = mismatch(q, message, 0);
                if (why) {
                  this.#ignore(why);
                  ctl.reject(this.#badResponse(q, new BadPacketError(`the answer is for ${why}`)));
                  return;
                }
                ctl.resolve({ bytes: r.bytes, message, tries: 1 });
              },
              (err) =>
                ctl.reject(
                  err instanceof SoketError && err.code === 'EBADRESP'
                    ? new DnsError(err.message, 'EBADRESP', {
                        hostname: q.name,
                        rrtype: q.typeName,
                        server: this.plan.server.text,
                      })
                    : err,
                ),
            );
        },
        cleanup: () => abort.abort(),
      };
    });
    return { ...reply, tls: doh.tls, httpVersion };
  }

  /**
   * Ask one question.
   *
   * @param question - name, type (default A), class (default IN)
   * @param signal - cancels this query (besides the client's own signal)
   * @returns the response, whatever its response code
   * @throws {ValidationError} for a bad name (label over 63 bytes, name over 255) or an unknown type
   * @throws {TimeoutError} phase `lookup` when no acceptable reply came in time (the message counts tries and
   *   ignored replies); phase `connect`/`handshake` for TCP/TLS
   * @throws {DnsError} `EBADRESP` for a malformed reply (or a DoH status other than 200)
   * @throws {NetworkError} `ECONNREFUSED`, `ECONNRESET`, ... over TCP, TLS and HTTPS
   * @throws {TlsError} when the server's certificate is not accepted
   * @throws {AbortError} when a signal fires
   */
  query(question: DnsQuestionInput, signal?: AbortSignal): Promise<DnsResponse> {
    let q: PlannedQuestion;
    try {
      checkQuestion(question);
      checkSignal(signal);
      q = planQuestion(question);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.queryPlanned(q, signal);
  }

  /**
   * Ask a question already checked by {@link planQuestion}.
   * @internal
   */
  queryPlanned(q: PlannedQuestion, signal?: AbortSignal, query?: string): Promise<DnsResponse> {
    if (this.#closed)
      return Promise.reject(new SoketError(`DNS client for ${this.server} is closed`, 'SOKET_CLOSED'));
    const stop = this.plan.signal?.aborted ? this.plan.signal : signal?.aborted ? signal : undefined;
    if (stop) return Promise.reject(abortError(stop, `DNS query for ${q.name}`));
    this.queries++;
    const t0 = performance.now();
    const before = this.ignored;
    const transport = this.plan.server.transport;
    const deadline = new Deadline(this.plan.timeout, this.server);
    const failed = (used: DnsTransport) => (err: unknown) =>
      this.#failed(err, q, used, deadline, t0, before, signal);
    if (transport === 'udp') {
      return this.#overUdp(q, deadline, signal).then(
        (reply) => {
          if (!reply.truncatedRaw && !reply.message.flags.tc)
            return this.#response(q, reply, 'udp', false, t0, before, query);
          if (this.plan.tcpFallback) {
            return this.#overStream(q, deadline, signal).then(
              (tcp) => this.#response(q, { ...tcp, tries: reply.tries }, 'tcp', true, t0, before, query),
              failed('tcp'),
            );
          }
          if (reply.truncatedRaw) {
            throw this.#badResponse(
              q,
              new BadPacketError('the UDP answer was cut short (TC) and TCP fallback is off'),
            );
          }
          return this.#response(q, reply, 'udp', false, t0, before, query);
        },
        (err: unknown) => this.#failed(err, q, 'udp', deadline, t0, before, signal),
      );
    }
    const over =
      transport === 'https' ? this.#overHttps(q, deadline, signal) : this.#overStream(q, deadline, signal);
    return over.then(
      (reply) => this.#response(q, reply, transport, false, t0, before, query),
      failed(transport),
    );
  }

  /** A query's failure as the caller sees it: an abort as such, a timeout naming the question. */
  #failed(
    err: unknown,
    q: PlannedQuestion,
    used: DnsTransport,
    deadline: Deadline,
    t0: number,
    before: number,
    signal: AbortSignal | undefined,
  ): never {
    const sig = signal?.aborted ? signal : this.plan.signal?.aborted ? this.plan.signal : undefined;
    if (sig) throw abortError(sig, `DNS query for ${q.name}`);
    throw toSoketError(this.#timeout(err, q, used, deadline, t0, { before }));
  }

  #response(
    q: PlannedQuestion,
    reply: Reply & { tls?: TlsSession | undefined; httpVersion?: string },
    transport: DnsTransport,
    truncated: boolean,
    t0: number,
    before: number,
    query?: string,
  ): DnsResponse {
    const r: DnsResponse = {
      message: reply.message,
      bytes: reply.bytes,
      size: reply.bytes.length,
      question: { name: q.name, type: q.typeName, class: q.className },
      server: this.server,
      transport,
      truncated,
      elapsedMs: performance.now() - t0,
      tries: reply.tries,
      ignored: this.ignored - before,
      querySize: 12 + q.wire.length + 4 + this.#queryBits().opt.length,
      tls: reply.tls,
      httpVersion: reply.httpVersion,
    };
    if (query !== undefined) {
      // The fields dnsLookup adds, set here so a batch needs no extra step per answer.
      Object.assign(r, { query, searched: [], failedServers: [] });
    }
    return r;
  }

  /** Close the socket, connection or session; queries in flight fail or time out. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#udp?.close();
    this.#stream?.then(
      (c) => c.close(),
      () => undefined,
    );
    this.#doh?.close();
  }
}

/**
 * Ask one DNS server one question, as dig does, and get the whole response.
 *
 * @param question - name, type (default A), class (default IN)
 * @param options - server (`IP`, `IP:PORT`, `[IPv6]:PORT`, `{ address, port }` or a DoH URL), transport,
 *   timeouts, flags (`recursionDesired`, `dnssecOk`, `checkingDisabled`), EDNS options, TLS settings
 * @returns the response message, its bytes, size, server, transport, time and ignored replies
 * @throws {ValidationError} for a bad name, type or option
 * @throws {TimeoutError} when no acceptable reply came within `timeout`
 * @throws {DnsError} `EBADRESP` for a malformed reply
 * @throws {NetworkError} / {TlsError} over TCP, TLS and HTTPS
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * import { dnsQuery } from 'soket';
 * const r = await dnsQuery({ name: 'example.test', type: 'MX' }, { server: '127.0.0.1:5353' });
 * r.message.rcode; // 'NOERROR'
 * r.message.answer.map((rr) => rr.ttl); // [300]
 * ```
 */
export async function dnsQuery(question: DnsQuestionInput, options: DnsQueryOptions): Promise<DnsResponse> {
  const client = new DnsClient(options);
  try {
    return await client.query(question);
  } finally {
    client.close();
  }
}
