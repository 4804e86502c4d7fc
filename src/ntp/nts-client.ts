/**
 * The NTS client for NTP (RFC 8915 §5): a session from NTS-KE (keys, cookies, the NTP server and port), and
 * the sealing and checking of each request.
 *
 * A request carries, after the 48-byte header:
 * - a Unique Identifier field: 32 fresh random bytes the server must echo;
 * - one NTS Cookie field: a cookie from the jar, used once and then forgotten (cookies are never reused, so
 *   requests cannot be linked by them);
 * - Cookie Placeholder fields, one per further cookie wanted (to keep 8 in the jar): they make the request as
 *   long as the reply with the new cookies, so the server never sends more than it received;
 * - the NTS Authenticator field, last: a 16-byte nonce and AES-SIV-CMAC-256 over everything before it, with
 *   the client-to-server key.
 *
 * A reply is used only when its Unique Identifier is this request's, its Authenticator (last field) verifies
 * with the server-to-client key over everything before it, and the encrypted fields parse; the new cookies in
 * it go into the jar. Anything else is dropped and counted — except an NTS NAK (kiss code NTSN with our unique
 * identifier), which says the server no longer takes our cookies: the query then runs NTS-KE again.
 *
 * @module
 */
import {
  concat,
  decodeNtpExtensionFields,
  decodeNtpExtensions,
  decodeNtsAuthenticator,
  encodeNtpExtensionField,
  encodeNtsAuthenticator,
  NTP_MIN_LAST_EXTENSION_LENGTH,
  NtpExtensionType,
} from '../codec/ntp-extensions.js';
import { NTS_MAX_COOKIE_LENGTH, NTS_MAX_COOKIES } from '../codec/nts-ke.js';
import { BadPacketError, NtsError, ValidationError } from '../core/errors.js';
import { formatHostPort, parseHostPort } from '../core/validate.js';
import { randomPooled, SivKey } from './aes-siv.js';
import {
  checkNtsKeOptions,
  NTS_KE_DEFAULTS,
  type NtsKeResult,
  type NtsKeyExchangeOptions,
  ntsKeyExchange,
} from './nts-ke-client.js';
import type { RequestAuthenticator, SealedRequest } from './request-auth.js';

/** Length of the Unique Identifier soket sends (RFC 8915 §5.3: at least 32). */
export const NTS_UNIQUE_ID_LENGTH = 32;
/** Length of the AEAD nonce soket sends. */
export const NTS_NONCE_LENGTH = 16;
/** The kiss code of an NTS NAK, as a reference ID: `NTSN`. */
export const NTS_NAK_REFID = 0x4e54534e;

/** Options of an {@link NtsClient}: those of NTS-KE, except the per-call `signal` and `timeout`. */
export type NtsClientOptions = Omit<NtsKeyExchangeOptions, 'signal' | 'timeout'>;

/** Counters of an {@link NtsClient}. */
export interface NtsClientStats {
  /** NTS-KE exchanges completed. */
  keyExchanges: number;
  /** Requests sealed (cookies spent). */
  requests: number;
  /** Replies that verified. */
  authenticated: number;
  /** Replies dropped because they failed verification (wrong unique identifier, bad authenticator, ...). */
  rejected: number;
  /** NTS NAKs received. */
  naks: number;
  /** Cookies received in verified replies. */
  cookiesReceived: number;
}

interface Session {
  ke: NtsKeResult;
  cookies: Uint8Array[];
  c2s: SivKey;
  s2c: SivKey;
}

/** The state of one NTS-KE session. */
export interface NtsSession {
  /** The key exchange's result (keys, NTP server and port, TLS facts). */
  readonly ke: NtsKeResult;
  /** Cookies not yet used. */
  readonly cookies: readonly Uint8Array[];
}

/**
 * An NTS client for one NTS-KE server: runs NTS-KE when it has no usable session, keeps the cookies between
 * queries, and seals requests. Give it to `sntpQuery(server, { nts })` or `getNetworkTime` to reuse cookies
 * across calls.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { NtsClient, sntpQuery } from 'soket';
 * const nts = new NtsClient('127.0.0.1:4460', { ca: readFileSync('c.pem', 'utf8') });
 * const a = await sntpQuery('127.0.0.1:4460', { nts }); // NTS-KE, then NTP
 * const b = await sntpQuery('127.0.0.1:4460', { nts }); // NTP only: cookies from the jar
 * console.log(a.authenticated, nts.stats().keyExchanges); // 'nts', 1
 * ```
 */
export class NtsClient {
  /** The NTS-KE server as `HOST:PORT`. */
  readonly keServer: string;
  /** Its host and port. */
  readonly host: string;
  readonly port: number;
  readonly #options: NtsClientOptions;
  #session: Session | undefined;
  #pending: Promise<NtsKeResult> | undefined;
  readonly #stats: NtsClientStats = {
    keyExchanges: 0,
    requests: 0,
    authenticated: 0,
    rejected: 0,
    naks: 0,
    cookiesReceived: 0,
  };

  /**
   * @param server - the NTS-KE server, `HOST[:PORT]` (port 4460 by default)
   * @param options - ca, servername, pin, port, family
   * @throws {ValidationError} for a bad server or options
   */
  constructor(server: string, options: NtsClientOptions = {}) {
    if (typeof server !== 'string') {
      throw new ValidationError(`Invalid NTS-KE server '${String(server)}': expected HOST[:PORT]`);
    }
    checkNtsKeOptions(options);
    const hp = parseHostPort(server, { defaultPort: options.port ?? NTS_KE_DEFAULTS.port });
    this.host = hp.host;
    this.port = hp.port;
    this.keServer = formatHostPort(hp.host, hp.port);
    this.#options = { ...options };
  }

  /** The current session, if NTS-KE has run and its cookies were not reset. */
  get session(): NtsSession | undefined {
    return this.#session;
  }

  /** A copy of the counters. */
  stats(): NtsClientStats {
    return { ...this.#stats };
  }

  /**
   * A session with at least one cookie: the current one, or a fresh NTS-KE.
   *
   * @param options - `timeout` (ms, the key exchange's limit) and `signal`
   * @returns the session and whether NTS-KE ran for it
   * @throws what {@link ntsKeyExchange} throws
   */
  async ensureSession(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<{
    session: NtsSession;
    keyExchanged: boolean;
  }> {
    if (this.#session && this.#session.cookies.length > 0)
      return { session: this.#session, keyExchanged: false };
    this.#pending ??= ntsKeyExchange(this.keServer, {
      ...this.#options,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }).finally(() => {
      this.#pending = undefined;
    });
    const ke = await this.#pending;
    if (!this.#session || this.#session.ke !== ke) {
      this.#stats.keyExchanges++;
      this.useKeyExchange(ke);
    }
    return { session: this.#session as Session, keyExchanged: true };
  }

  /**
   * Use the keys and cookies of a key exchange done elsewhere (e.g. saved from an earlier run, as chrony's
   * `ntsdumpdir` does) instead of running NTS-KE.
   *
   * @param ke - a result of {@link ntsKeyExchange} for this server
   * @example
   * ```ts
   * client.useKeyExchange(await ntsKeyExchange('127.0.0.1:4460', { ca }));
   * ```
   */
  useKeyExchange(ke: NtsKeResult): void {
    if (!ke || !(ke.c2s instanceof Uint8Array) || !Array.isArray(ke.cookies)) {
      throw new ValidationError('Invalid key exchange result: expected what ntsKeyExchange() returns');
    }
    this.#session = {
      ke,
      cookies: ke.cookies.slice(0, NTS_MAX_COOKIES).map((c) => new Uint8Array(c)),
      c2s: new SivKey(ke.c2s),
      s2c: new SivKey(ke.s2c),
    };
  }

  /** Forget the session (after an NTS NAK): the next query runs NTS-KE. */
  reset(): void {
    this.#session = undefined;
  }

  /**
   * The authenticator for one query on the current session (call {@link ensureSession} first).
   *
   * @returns seals requests with a cookie each and verifies replies
   * @throws {NtsError} when there is no session
   */
  authenticator(): RequestAuthenticator {
    const session = this.#session;
    if (!session) throw new NtsError(`No NTS session with ${this.keServer}: run NTS-KE first`);
    return {
      mode: 'nts',
      seal: (header) => this.#seal(session, header),
    };
  }

  #seal(session: Session, header: Uint8Array): SealedRequest {
    const cookie = session.cookies.shift();
    if (cookie === undefined) {
      throw new NtsError(
        `No NTS cookie left for ${this.keServer}: the server did not answer the requests that used them`,
      );
    }
    this.#stats.requests++;
    const want = Math.max(1, NTS_MAX_COOKIES - session.cookies.length);
    const uniqueId = randomPooled(NTS_UNIQUE_ID_LENGTH);
    const parts: Uint8Array[] = [
      header,
      encodeNtpExtensionField(NtpExtensionType.uniqueIdentifier, uniqueId),
      encodeNtpExtensionField(NtpExtensionType.ntsCookie, cookie),
    ];
    const placeholder = new Uint8Array(cookie.length);
    for (let i = 1; i < want; i++) {
      parts.push(encodeNtpExtensionField(NtpExtensionType.ntsCookiePlaceholder, placeholder));
    }
    const ad = concat(parts);
    const nonce = randomPooled(NTS_NONCE_LENGTH);
    const sealed = session.c2s.seal(nonce, ad, new Uint8Array(0));
    const auth = encodeNtpExtensionField(
      NtpExtensionType.ntsAuthenticator,
      encodeNtsAuthenticator(nonce, sealed),
      NTP_MIN_LAST_EXTENSION_LENGTH,
    );
    const packet = concat([ad, auth]);
    let answered = false;
    return {
      packet,
      verify: (reply) => {
        const check = verifyNtsReply(reply, uniqueId, session.s2c);
        if (!check.ok) {
          if (check.nak) this.#stats.naks++;
          else this.#stats.rejected++;
          return check;
        }
        // at most one reply per request is used
        if (answered) {
          this.#stats.rejected++;
          return { ok: false, reason: 'a second reply to the same request' };
        }
        answered = true;
        this.#stats.authenticated++;
        for (const c of check.cookies) {
          if (session.cookies.length >= NTS_MAX_COOKIES) break;
          session.cookies.push(c);
          this.#stats.cookiesReceived++;
        }
        return { ok: true };
      },
    };
  }
}

/** The outcome of {@link verifyNtsReply}. */
export type NtsReplyCheck =
  | { ok: true; cookies: Uint8Array[] }
  | { ok: false; reason: string; nak?: boolean };

/**
 * Check an NTS-protected reply (RFC 8915 §5.7): our unique identifier, and an authenticator that is the last
 * field and verifies with the server-to-client key; returns the cookies it carries (encrypted).
 *
 * @param reply - the whole datagram
 * @param uniqueId - the unique identifier of the request it answers
 * @param s2c - the server-to-client key (bytes or a prepared `SivKey`)
 * @returns the new cookies, or why the reply is not acceptable (`nak: true` for an NTS NAK)
 * @example
 * ```ts
 * const check = verifyNtsReply(reply, uniqueId, session.ke.s2c);
 * if (check.ok) jar.push(...check.cookies);
 * ```
 */
export function verifyNtsReply(
  reply: Uint8Array,
  uniqueId: Uint8Array,
  s2c: Uint8Array | SivKey,
): NtsReplyCheck {
  let tail: ReturnType<typeof decodeNtpExtensions>;
  try {
    tail = decodeNtpExtensions(reply);
  } catch (err) {
    if (err instanceof BadPacketError)
      return { ok: false, reason: `malformed extension fields (${err.message})` };
    throw err;
  }
  let uidOk = false;
  let auth: (typeof tail.fields)[number] | undefined;
  for (const [i, f] of tail.fields.entries()) {
    if (f.type === NtpExtensionType.uniqueIdentifier) {
      if (!equalBytes(f.body, uniqueId))
        return { ok: false, reason: 'unique identifier is not this request’s' };
      uidOk = true;
    } else if (f.type === NtpExtensionType.ntsAuthenticator) {
      if (i !== tail.fields.length - 1 || tail.mac !== undefined) {
        return { ok: false, reason: 'NTS authenticator is not the last field' };
      }
      auth = f;
    }
  }
  if (!uidOk) return { ok: false, reason: 'no unique identifier' };
  if (!auth) {
    const stratum = reply[1] as number;
    const refid = new DataView(reply.buffer, reply.byteOffset, 16).getUint32(12);
    if (stratum === 0 && refid === NTS_NAK_REFID) {
      return { ok: false, nak: true, reason: 'NTS NAK: the server does not accept the cookie' };
    }
    return { ok: false, reason: 'no NTS authenticator' };
  }
  let body: ReturnType<typeof decodeNtsAuthenticator>;
  try {
    body = decodeNtsAuthenticator(auth.body);
  } catch (err) {
    if (err instanceof BadPacketError)
      return { ok: false, reason: `malformed NTS authenticator (${err.message})` };
    throw err;
  }
  const ad = reply.subarray(0, auth.offset);
  const plaintext = (s2c instanceof SivKey ? s2c : new SivKey(s2c)).open(body.nonce, ad, body.ciphertext);
  if (plaintext === undefined) return { ok: false, reason: 'NTS authenticator does not verify' };
  let inner: ReturnType<typeof decodeNtpExtensionFields>;
  try {
    inner = decodeNtpExtensionFields(plaintext);
  } catch (err) {
    if (err instanceof BadPacketError)
      return { ok: false, reason: `malformed encrypted fields (${err.message})` };
    throw err;
  }
  const cookies: Uint8Array[] = [];
  for (const f of inner) {
    if (f.type !== NtpExtensionType.ntsCookie) continue;
    if (f.body.length < 4 || f.body.length > NTS_MAX_COOKIE_LENGTH) continue;
    cookies.push(new Uint8Array(f.body)); // a copy, not a view into the datagram
  }
  return { ok: true, cookies };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/**
 * The NTP server answered NTS NAK: it no longer accepts this client's cookies (its keys rotated, or it
 * restarted). The query runs NTS-KE again; a second NAK in a row is reported as this error.
 *
 * @example
 * ```ts
 * try { await sntpQuery(server, { nts }); } catch (err) { if (err instanceof NtsNakError) nts.reset(); }
 * ```
 */
export class NtsNakError extends NtsError {
  override name = 'NtsNakError';
}

const clientCache = new WeakMap<object, Map<string, NtsClient>>();

/**
 * The NTS client for a server under an `nts` option: the given {@link NtsClient} (which must be for this
 * server), a new one for `true`, or — for an options object — one kept for that object, so calls that pass
 * the same options (a watch loop) keep using the same cookies.
 *
 * @param server - the NTS-KE server, `HOST[:PORT]`
 * @param nts - `true`, TLS options, or a client
 * @param port - the NTS-KE port when `server` has none and the options name none (a query's `port`)
 * @returns the client
 * @throws {ValidationError} for an NtsClient of another server, or options that are not an object
 * @example
 * ```ts
 * const options = { ca };
 * ntsClientFor('127.0.0.1:4460', options) === ntsClientFor('127.0.0.1:4460', options); // true
 * ```
 */
export function ntsClientFor(
  server: string,
  nts: true | NtsClientOptions | NtsClient,
  port?: number,
): NtsClient {
  if (nts instanceof NtsClient) {
    const { host, port } = parseHostPort(server, { defaultPort: nts.port });
    if (host !== nts.host || port !== nts.port) {
      throw new ValidationError(`The NtsClient is for ${nts.keServer}, not for '${server}'`);
    }
    return nts;
  }
  if (nts === true) return new NtsClient(server, port === undefined ? {} : { port });
  if (typeof nts !== 'object' || nts === null) {
    throw new ValidationError(
      'Invalid nts option: expected true, TLS options ({ ca, servername, pin }) or an NtsClient',
    );
  }
  let byServer = clientCache.get(nts);
  if (!byServer) {
    byServer = new Map();
    clientCache.set(nts, byServer);
  }
  const key = `${server}|${port ?? ''}`;
  let client = byServer.get(key);
  if (!client) {
    client = new NtsClient(server, port !== undefined && nts.port === undefined ? { ...nts, port } : nts);
    byServer.set(key, client);
  }
  return client;
}
