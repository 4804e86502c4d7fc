/**
 * NTS Key Establishment records (RFC 8915 §4), pure: the messages a client and a server exchange over TLS
 * (ALPN `ntske/1`, port 4460) before NTS-protected NTP starts.
 *
 * ```text
 *  0               1               2               3
 * |C|         Record Type         |          Body Length          |
 * |                          Record Body                          |
 * ```
 *
 * A message is a sequence of records ending with End of Message (critical, empty). Three layers:
 * - records: {@link encodeNtsKeRecords} / {@link decodeNtsKeRecords} (any type, the critical bit kept, unknown
 *   types round-trip);
 * - framing: {@link ntsKeMessageLength} finds where a complete message ends in a stream;
 * - meaning: {@link encodeNtsKeRequest} / {@link decodeNtsKeRequest} and {@link encodeNtsKeResponse} /
 *   {@link decodeNtsKeResponse}, which enforce RFC 8915's rules (exactly one Next Protocol record, critical bits
 *   where required, body lengths, no records after End of Message, an unknown critical record rejected).
 *
 * Malformed input is a {@link NtsKeDecodeError} (a `BadPacketError`), which also says which NTS-KE error code a
 * server should answer with (0 unrecognized critical record, 1 bad request).
 *
 * @module
 */
import { BadPacketError, ValidationError } from '../core/errors.js';

/** NTS-KE record types (RFC 8915 §7.6). */
export const NtsKeRecordType = {
  endOfMessage: 0,
  nextProtocol: 1,
  error: 2,
  warning: 3,
  aeadAlgorithm: 4,
  newCookie: 5,
  server: 6,
  port: 7,
} as const;

/** NTS-KE error codes (RFC 8915 §4.1.3). */
export const NtsKeErrorCode = {
  unrecognizedCriticalRecord: 0,
  badRequest: 1,
  internalServerError: 2,
} as const;

/** Next Protocol IDs (RFC 8915 §7.7). */
export const NTS_NEXT_PROTOCOL_NTPV4 = 0;
/** AEAD algorithm of RFC 5297 that every NTS implementation supports (IANA AEAD registry number 15). */
export const AEAD_AES_SIV_CMAC_256 = 15;
/** The TLS ALPN protocol ID of NTS-KE. */
export const NTS_KE_ALPN = 'ntske/1';
/** The TCP port of NTS-KE. */
export const NTS_KE_PORT = 4460;
/** Longest NTS-KE message soket reads (chrony's limit too). */
export const NTS_KE_MAX_MESSAGE_LENGTH = 16384;
/** Most cookies a response may carry that soket keeps. */
export const NTS_MAX_COOKIES = 8;
/** Longest cookie soket accepts. */
export const NTS_MAX_COOKIE_LENGTH = 256;

const CRITICAL = 0x8000;

/** One record. */
export interface NtsKeRecord {
  /** Whether the critical bit is set: a receiver that does not know the type must fail. */
  critical: boolean;
  /** Record type, 0–32767 (see {@link NtsKeRecordType}). */
  type: number;
  /** The body, 0–65535 bytes. */
  body: Uint8Array;
}

/**
 * A decode failure, with the NTS-KE error code a server should send back for it.
 *
 * @example
 * ```ts
 * try { decodeNtsKeRequest(bytes); } catch (err) {
 *   if (err instanceof NtsKeDecodeError) reply = encodeNtsKeResponse({ error: err.ntsKeError });
 * }
 * ```
 */
export class NtsKeDecodeError extends BadPacketError {
  override name = 'NtsKeDecodeError';
  /** 0 for an unrecognized critical record, 1 for any other bad request. */
  readonly ntsKeError: number;
  constructor(message: string, ntsKeError: number = NtsKeErrorCode.badRequest) {
    super(message);
    this.ntsKeError = ntsKeError;
  }
}

/**
 * Encode records, in order (add End of Message yourself, or use the request/response encoders).
 *
 * @param records - the records
 * @returns the bytes
 * @throws {ValidationError} for a type outside 0–32767 or a body over 65535 bytes
 * @example
 * ```ts
 * encodeNtsKeRecords([{ critical: true, type: NtsKeRecordType.endOfMessage, body: new Uint8Array(0) }]);
 * // Uint8Array [0x80, 0, 0, 0]
 * ```
 */
export function encodeNtsKeRecords(records: readonly NtsKeRecord[]): Uint8Array {
  let n = 0;
  for (const r of records) {
    if (!Number.isInteger(r.type) || r.type < 0 || r.type > 0x7fff) {
      throw new ValidationError(
        `Invalid NTS-KE record type '${r.type}': expected an integer from 0 to 32767`,
      );
    }
    if (r.body.length > 0xffff) {
      throw new ValidationError(`NTS-KE record body of ${r.body.length} bytes is too long: at most 65535`);
    }
    n += 4 + r.body.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const r of records) {
    const t = r.type | (r.critical ? CRITICAL : 0);
    out[at] = t >>> 8;
    out[at + 1] = t & 0xff;
    out[at + 2] = r.body.length >>> 8;
    out[at + 3] = r.body.length & 0xff;
    out.set(r.body, at + 4);
    at += 4 + r.body.length;
  }
  return out;
}

/**
 * Decode a sequence of records (no rules about which ones): every record must be whole.
 *
 * @param bytes - records back to back
 * @returns the records (bodies are views into `bytes`)
 * @throws {NtsKeDecodeError} when a record runs past the end
 * @example
 * ```ts
 * decodeNtsKeRecords(new Uint8Array([0x80, 0, 0, 0]))[0]?.type; // 0 (End of Message)
 * ```
 */
export function decodeNtsKeRecords(bytes: Uint8Array): NtsKeRecord[] {
  const records: NtsKeRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 4) {
      throw new NtsKeDecodeError(`Truncated NTS-KE record header at offset ${at}`);
    }
    const t = ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
    const len = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    if (at + 4 + len > bytes.length) {
      throw new NtsKeDecodeError(
        `NTS-KE record at offset ${at} has a ${len}-byte body, but only ${bytes.length - at - 4} bytes follow`,
      );
    }
    records.push({
      critical: (t & CRITICAL) !== 0,
      type: t & 0x7fff,
      body: bytes.subarray(at + 4, at + 4 + len),
    });
    at += 4 + len;
  }
  return records;
}

/**
 * Where the first complete message in a stream ends: the byte after its End of Message record, or
 * `undefined` when more bytes are needed.
 *
 * @param bytes - what has arrived so far
 * @param maxLength - a message longer than this is an error. @default 16384
 * @returns the message length, or `undefined` to keep reading
 * @throws {NtsKeDecodeError} when no End of Message came within `maxLength` bytes
 * @example
 * ```ts
 * ntsKeMessageLength(new Uint8Array([0x80, 0, 0, 0, 9])); // 4
 * ntsKeMessageLength(new Uint8Array([0x80, 1, 0, 2, 0])); // undefined (body incomplete)
 * ```
 */
export function ntsKeMessageLength(
  bytes: Uint8Array,
  maxLength: number = NTS_KE_MAX_MESSAGE_LENGTH,
): number | undefined {
  let at = 0;
  while (bytes.length - at >= 4) {
    const type = (((bytes[at] as number) << 8) | (bytes[at + 1] as number)) & 0x7fff;
    const len = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    const end = at + 4 + len;
    if (end > maxLength) {
      throw new NtsKeDecodeError(`NTS-KE message longer than ${maxLength} bytes`);
    }
    if (end > bytes.length) return undefined;
    if (type === NtsKeRecordType.endOfMessage) return end;
    at = end;
  }
  if (bytes.length >= maxLength) throw new NtsKeDecodeError(`NTS-KE message longer than ${maxLength} bytes`);
  return undefined;
}

/** What a client asks for. */
export interface NtsKeRequest {
  /** Next protocols, in order of preference. @default [0] (NTPv4) */
  nextProtocols: number[];
  /** AEAD algorithms, in order of preference. @default [15] (AEAD_AES_SIV_CMAC_256) */
  aeadAlgorithms: number[];
  /** A suggested NTP server (Server Negotiation record). */
  server?: string;
  /** A suggested NTP port (Port Negotiation record). */
  port?: number;
  /** Records of types soket does not interpret (non-critical ones; a critical one is an error). */
  unknown?: NtsKeRecord[];
}

/** What a server answers. */
export interface NtsKeResponse {
  /** The accepted next protocol; absent when none was acceptable (an empty Next Protocol record). */
  nextProtocol?: number;
  /** The chosen AEAD algorithm; absent when none was acceptable. */
  aeadAlgorithm?: number;
  /** Cookies for NTP requests, in order. */
  cookies: Uint8Array[];
  /** The NTP server to use, when it is not the NTS-KE server's address. */
  server?: string;
  /** The NTP port to use, when it is not 123. */
  port?: number;
  /** An Error record's code: the exchange failed. */
  error?: number;
  /** Warning records' codes. */
  warnings: number[];
  /** Records of types soket does not interpret (non-critical). */
  unknown?: NtsKeRecord[];
}

const EOM: NtsKeRecord = { critical: true, type: NtsKeRecordType.endOfMessage, body: new Uint8Array(0) };

function u16List(values: readonly number[], what: string): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
      throw new ValidationError(`Invalid NTS-KE ${what} '${v}': expected an integer from 0 to 65535`);
    }
    out[i * 2] = v >>> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function readU16List(body: Uint8Array, what: string): number[] {
  if (body.length % 2 !== 0)
    throw new NtsKeDecodeError(`NTS-KE ${what} record has an odd length ${body.length}`);
  const out: number[] = [];
  for (let i = 0; i < body.length; i += 2) out.push(((body[i] as number) << 8) | (body[i + 1] as number));
  return out;
}

function serverName(body: Uint8Array): string {
  if (body.length < 1 || body.length > 255) {
    throw new NtsKeDecodeError(`NTS-KE server record of ${body.length} bytes: expected 1 to 255`);
  }
  for (const b of body) {
    if (b <= 0x20 || b >= 0x7f) {
      throw new NtsKeDecodeError('NTS-KE server record is not a printable ASCII name or address');
    }
  }
  return String.fromCharCode(...body);
}

function nameBody(name: string): Uint8Array {
  if (!/^[\x21-\x7e]{1,255}$/.test(name)) {
    throw new ValidationError(
      `Invalid NTS-KE server '${name}': expected 1 to 255 printable ASCII characters`,
    );
  }
  return new Uint8Array(Buffer.from(name, 'ascii'));
}

function portBody(port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ValidationError(`Invalid NTS-KE port '${port}': expected an integer from 1 to 65535`);
  }
  return u16List([port], 'port');
}

/** Records up to and including End of Message; anything after it, or no End of Message, is an error. */
function messageRecords(bytes: Uint8Array): NtsKeRecord[] {
  if (bytes.length > NTS_KE_MAX_MESSAGE_LENGTH) {
    throw new NtsKeDecodeError(
      `NTS-KE message of ${bytes.length} bytes: at most ${NTS_KE_MAX_MESSAGE_LENGTH}`,
    );
  }
  const records = decodeNtsKeRecords(bytes);
  const end = records.findIndex((r) => r.type === NtsKeRecordType.endOfMessage);
  if (end < 0) throw new NtsKeDecodeError('NTS-KE message has no End of Message record');
  const eom = records[end] as NtsKeRecord;
  if (!eom.critical || eom.body.length !== 0) {
    throw new NtsKeDecodeError('NTS-KE End of Message record must be critical and empty');
  }
  if (end !== records.length - 1) throw new NtsKeDecodeError('NTS-KE records follow End of Message');
  return records.slice(0, end);
}

/**
 * Encode a client's request: Next Protocol (critical), AEAD Algorithm, optional Server and Port, End of
 * Message.
 *
 * @param request - protocols and algorithms (defaults: NTPv4 and AEAD_AES_SIV_CMAC_256)
 * @returns the message
 * @example
 * ```ts
 * Buffer.from(encodeNtsKeRequest({})).toString('hex'); // '80010002000080040002000f80000000'
 * ```
 */
export function encodeNtsKeRequest(request: Partial<NtsKeRequest>): Uint8Array {
  const records: NtsKeRecord[] = [
    {
      critical: true,
      type: NtsKeRecordType.nextProtocol,
      body: u16List(request.nextProtocols ?? [NTS_NEXT_PROTOCOL_NTPV4], 'next protocol'),
    },
    {
      critical: true,
      type: NtsKeRecordType.aeadAlgorithm,
      body: u16List(request.aeadAlgorithms ?? [AEAD_AES_SIV_CMAC_256], 'AEAD algorithm'),
    },
  ];
  if (request.server !== undefined) {
    records.push({ critical: false, type: NtsKeRecordType.server, body: nameBody(request.server) });
  }
  if (request.port !== undefined) {
    records.push({ critical: false, type: NtsKeRecordType.port, body: portBody(request.port) });
  }
  records.push(...(request.unknown ?? []), EOM);
  return encodeNtsKeRecords(records);
}

/**
 * Decode a client's request, by RFC 8915's rules for servers.
 *
 * @param bytes - one whole message
 * @returns what the client asked for
 * @throws {NtsKeDecodeError} with `ntsKeError` 0 for an unknown critical record, 1 for anything else wrong:
 *   not exactly one Next Protocol record (or not critical, or empty), AEAD Algorithm record missing, empty or
 *   repeated when NTPv4 is asked for, an Error, Warning or New Cookie record (clients must not send them)
 * @example
 * ```ts
 * decodeNtsKeRequest(encodeNtsKeRequest({})).aeadAlgorithms; // [15]
 * ```
 */
export function decodeNtsKeRequest(bytes: Uint8Array): NtsKeRequest {
  const out: NtsKeRequest = { nextProtocols: [], aeadAlgorithms: [] };
  let npn = 0;
  let aead = 0;
  for (const r of messageRecords(bytes)) {
    switch (r.type) {
      case NtsKeRecordType.nextProtocol:
        if (!r.critical) throw new NtsKeDecodeError('NTS-KE Next Protocol record must be critical');
        npn++;
        out.nextProtocols.push(...readU16List(r.body, 'Next Protocol'));
        break;
      case NtsKeRecordType.aeadAlgorithm:
        aead++;
        out.aeadAlgorithms.push(...readU16List(r.body, 'AEAD Algorithm'));
        break;
      case NtsKeRecordType.server:
        out.server = serverName(r.body);
        break;
      case NtsKeRecordType.port:
        if (r.body.length !== 2)
          throw new NtsKeDecodeError(`NTS-KE Port record of ${r.body.length} bytes: expected 2`);
        out.port = readU16List(r.body, 'Port')[0] as number;
        break;
      case NtsKeRecordType.error:
      case NtsKeRecordType.warning:
      case NtsKeRecordType.newCookie:
        throw new NtsKeDecodeError(`NTS-KE request carries a record only servers send (type ${r.type})`);
      default:
        if (r.critical) {
          throw new NtsKeDecodeError(
            `NTS-KE request carries an unrecognized critical record (type ${r.type})`,
            NtsKeErrorCode.unrecognizedCriticalRecord,
          );
        }
        out.unknown = [...(out.unknown ?? []), r];
    }
  }
  if (npn !== 1 || out.nextProtocols.length === 0) {
    throw new NtsKeDecodeError(
      `NTS-KE request must have exactly one non-empty Next Protocol record (has ${npn})`,
    );
  }
  if (
    out.nextProtocols.includes(NTS_NEXT_PROTOCOL_NTPV4) &&
    (aead !== 1 || out.aeadAlgorithms.length === 0)
  ) {
    throw new NtsKeDecodeError(
      `NTS-KE request for NTPv4 must have exactly one non-empty AEAD Algorithm record (has ${aead})`,
    );
  }
  return out;
}

/**
 * Encode a server's response: either an Error record, or Next Protocol, AEAD Algorithm, Port and Server
 * (when given), the cookies, and End of Message.
 *
 * @param response - the negotiated values and cookies, or `error`
 * @returns the message
 * @example
 * ```ts
 * encodeNtsKeResponse({ error: NtsKeErrorCode.badRequest }); // Error record + End of Message
 * ```
 */
export function encodeNtsKeResponse(response: Partial<NtsKeResponse>): Uint8Array {
  const records: NtsKeRecord[] = [];
  if (response.error !== undefined) {
    records.push({ critical: true, type: NtsKeRecordType.error, body: u16List([response.error], 'error') });
  } else {
    records.push({
      critical: true,
      type: NtsKeRecordType.nextProtocol,
      body: u16List(response.nextProtocol === undefined ? [] : [response.nextProtocol], 'next protocol'),
    });
    if (response.nextProtocol !== undefined) {
      records.push({
        critical: true,
        type: NtsKeRecordType.aeadAlgorithm,
        body: u16List(response.aeadAlgorithm === undefined ? [] : [response.aeadAlgorithm], 'AEAD algorithm'),
      });
    }
    for (const w of response.warnings ?? []) {
      records.push({ critical: true, type: NtsKeRecordType.warning, body: u16List([w], 'warning') });
    }
    if (response.port !== undefined) {
      records.push({ critical: true, type: NtsKeRecordType.port, body: portBody(response.port) });
    }
    if (response.server !== undefined) {
      records.push({ critical: true, type: NtsKeRecordType.server, body: nameBody(response.server) });
    }
    for (const c of response.cookies ?? []) {
      records.push({ critical: false, type: NtsKeRecordType.newCookie, body: c });
    }
  }
  records.push(...(response.unknown ?? []), EOM);
  return encodeNtsKeRecords(records);
}

/**
 * Decode a server's response, by RFC 8915's rules for clients. An Error record decodes (as `error`) rather
 * than throwing, so the caller can say which error the server sent.
 *
 * @param bytes - one whole message
 * @returns what the server said
 * @throws {NtsKeDecodeError} for an unknown critical record, a repeated Next Protocol or AEAD record, a Next
 *   Protocol record that is not critical, wrong body lengths, a cookie with the critical bit or of a bad
 *   length, a server name that is not printable ASCII, or no End of Message
 * @example
 * ```ts
 * const r = decodeNtsKeResponse(encodeNtsKeResponse({ nextProtocol: 0, aeadAlgorithm: 15, cookies: [new Uint8Array(100)] }));
 * r.cookies.length; // 1
 * ```
 */
export function decodeNtsKeResponse(bytes: Uint8Array): NtsKeResponse {
  const out: NtsKeResponse = { cookies: [], warnings: [] };
  let npn = 0;
  let aead = 0;
  for (const r of messageRecords(bytes)) {
    switch (r.type) {
      case NtsKeRecordType.nextProtocol: {
        if (!r.critical) throw new NtsKeDecodeError('NTS-KE Next Protocol record must be critical');
        if (++npn > 1) throw new NtsKeDecodeError('NTS-KE response has more than one Next Protocol record');
        const list = readU16List(r.body, 'Next Protocol');
        if (list.length > 1) throw new NtsKeDecodeError('NTS-KE response names more than one next protocol');
        if (list[0] !== undefined) out.nextProtocol = list[0];
        break;
      }
      case NtsKeRecordType.aeadAlgorithm: {
        if (++aead > 1) throw new NtsKeDecodeError('NTS-KE response has more than one AEAD Algorithm record');
        const list = readU16List(r.body, 'AEAD Algorithm');
        if (list.length > 1) throw new NtsKeDecodeError('NTS-KE response names more than one AEAD algorithm');
        if (list[0] !== undefined) out.aeadAlgorithm = list[0];
        break;
      }
      case NtsKeRecordType.error:
        if (!r.critical || r.body.length !== 2) {
          throw new NtsKeDecodeError('NTS-KE Error record must be critical with a 2-byte code');
        }
        out.error = readU16List(r.body, 'Error')[0] as number;
        break;
      case NtsKeRecordType.warning:
        if (!r.critical || r.body.length !== 2) {
          throw new NtsKeDecodeError('NTS-KE Warning record must be critical with a 2-byte code');
        }
        out.warnings.push(readU16List(r.body, 'Warning')[0] as number);
        break;
      case NtsKeRecordType.newCookie:
        if (r.critical) throw new NtsKeDecodeError('NTS-KE New Cookie record must not be critical');
        if (r.body.length < 1 || r.body.length > NTS_MAX_COOKIE_LENGTH || r.body.length % 4 !== 0) {
          throw new NtsKeDecodeError(
            `NTS-KE cookie of ${r.body.length} bytes: expected a multiple of 4 from 4 to ${NTS_MAX_COOKIE_LENGTH}`,
          );
        }
        out.cookies.push(r.body);
        break;
      case NtsKeRecordType.server:
        out.server = serverName(r.body);
        break;
      case NtsKeRecordType.port: {
        if (r.body.length !== 2)
          throw new NtsKeDecodeError(`NTS-KE Port record of ${r.body.length} bytes: expected 2`);
        const port = readU16List(r.body, 'Port')[0] as number;
        if (port === 0) throw new NtsKeDecodeError('NTS-KE Port record names port 0');
        out.port = port;
        break;
      }
      default:
        if (r.critical) {
          throw new NtsKeDecodeError(
            `NTS-KE response carries an unrecognized critical record (type ${r.type})`,
            NtsKeErrorCode.unrecognizedCriticalRecord,
          );
        }
        out.unknown = [...(out.unknown ?? []), r];
    }
  }
  return out;
}
