/**
 * One error hierarchy for all of soket. Every error has a stable `code` that callers match on; the message
 * is for humans and may change. OS errors keep their own code (`ECONNREFUSED`, `ENOTFOUND`, ...).
 *
 * | code                     | class                 | meaning                                             |
 * | ------------------------ | --------------------- | --------------------------------------------------- |
 * | `SOKET_INVALID_ARGUMENT` | `ValidationError`     | bad input from the caller (CLI exit code 2)         |
 * | `SOKET_TIMEOUT`          | `TimeoutError`        | a phase (lookup, connect, idle, ...) ran out of time |
 * | `SOKET_ABORTED`          | `AbortError`          | the caller's `AbortSignal` fired                    |
 * | `SOKET_NOT_FOUND`        | `NotFoundError`       | a looked-up thing (service, name, ...) is absent    |
 * | `SOKET_UNSUPPORTED`      | `UnsupportedError`    | not possible here (no FFI, option unknown to OS)    |
 * | `SOKET_BAD_PACKET`       | `BadPacketError`      | bytes that do not decode                            |
 * | `SOKET_KOD`              | `KissOfDeathError`    | an NTP server sent a Kiss-o'-Death                  |
 * | `SOKET_UNSYNCHRONIZED`   | `UnsynchronizedError` | an NTP server says it is not synchronised           |
 * | `SOKET_CLOSED`           | `ClosedError`         | the socket or server was already closed             |
 * | `SOKET_TLS`              | `TlsError`            | TLS handshake failed or certificate not accepted    |
 * | `SOKET_NTS`              | `NtsError`            | NTS key establishment or NTS-protected NTP failed   |
 * | `SOKET_TRACE`            | `TraceError`          | a DNS trace could not finish (no server, loop, limit) |
 * | DNS code (`ENOTFOUND`)   | `DnsError`            | a DNS lookup failed; `hostname`, `rrtype`, `server` |
 * | OS code (`ECONNREFUSED`) | `NetworkError`        | a system call failed; `syscall`, `address`, `port`  |
 *
 * @module
 */

/** Options every soket error accepts. */
export interface SoketErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

/**
 * Base class of every error soket throws.
 *
 * @example
 * ```ts
 * import { SoketError } from 'soket';
 * try { await somethingFromSoket(); } catch (err) {
 *   if (err instanceof SoketError && err.code === 'SOKET_TIMEOUT') retryLater();
 * }
 * ```
 */
export class SoketError extends Error {
  override name = 'SoketError';
  /** Stable, machine-readable code. */
  readonly code: string;

  /**
   * @param message - human-readable, sentence case, no trailing period
   * @param code - stable code, e.g. `SOKET_TIMEOUT`
   * @param options - `cause`
   */
  constructor(message: string, code = 'SOKET_ERROR', options: SoketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** A plain object for `--json` output and logs. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * Bad input from the caller: a port out of range, a malformed address, conflicting options.
 *
 * @example
 * ```ts
 * throw new ValidationError("Invalid port '70000': expected an integer from 1 to 65535");
 * ```
 */
export class ValidationError extends SoketError {
  override name = 'ValidationError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_INVALID_ARGUMENT', options);
  }
}

/** The phase of a network operation that a timeout applies to. */
export type TimeoutPhase = 'lookup' | 'connect' | 'idle' | 'overall' | 'response' | 'close' | (string & {});

/**
 * An operation ran out of time. The message says what, where and after how long:
 * `Connect to 127.0.0.1:9000 timed out after 2000 ms`.
 *
 * @example
 * ```ts
 * throw new TimeoutError('connect', '127.0.0.1:9000', 2000);
 * ```
 */
export class TimeoutError extends SoketError {
  override name = 'TimeoutError';
  /** Which phase timed out. */
  readonly phase: TimeoutPhase;
  /** What was being waited for, e.g. `127.0.0.1:9000`. */
  readonly target: string;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * @param phase - `lookup`, `connect`, `idle`, `overall`, `response`, ...
   * @param target - what was being waited for
   * @param timeoutMs - the limit in milliseconds
   * @param detail - optional suffix, e.g. `(3 tries)`
   */
  constructor(
    phase: TimeoutPhase,
    target: string,
    timeoutMs: number,
    detail = '',
    options: SoketErrorOptions = {},
  ) {
    super(
      `${PHASE_TEXT[phase] ?? capitalize(String(phase))} ${target} timed out after ${timeoutMs} ms${detail ? ` ${detail}` : ''}`,
      'SOKET_TIMEOUT',
      options,
    );
    this.phase = phase;
    this.target = target;
    this.timeoutMs = timeoutMs;
  }
}

const PHASE_TEXT: Record<string, string> = {
  lookup: 'Name lookup of',
  connect: 'Connect to',
  idle: 'Idle connection to',
  overall: 'Operation on',
  response: 'Waiting for a response from',
  close: 'Closing',
  handshake: 'TLS handshake with',
};

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The caller's `AbortSignal` fired.
 *
 * @example
 * ```ts
 * throw new AbortError('Connect to 127.0.0.1:80 was aborted');
 * ```
 */
export class AbortError extends SoketError {
  override name = 'AbortError';
  constructor(message = 'The operation was aborted', options: SoketErrorOptions = {}) {
    super(message, 'SOKET_ABORTED', options);
  }
}

/**
 * A looked-up thing does not exist: a service name, a port, a host name.
 *
 * @example
 * ```ts
 * throw new NotFoundError("Service 'nosuch' not found in /etc/services");
 * ```
 */
export class NotFoundError extends SoketError {
  override name = 'NotFoundError';
  constructor(message: string, options: SoketErrorOptions = {}, code = 'SOKET_NOT_FOUND') {
    super(message, code, options);
  }
}

/**
 * Not possible on this platform or in this process (for example FFI could not load).
 *
 * @example
 * ```ts
 * throw new UnsupportedError('Socket options need koffi, which failed to load: ...');
 * ```
 */
export class UnsupportedError extends SoketError {
  override name = 'UnsupportedError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_UNSUPPORTED', options);
  }
}

/**
 * Bytes that do not decode: too short, a count past the end, a bad field.
 *
 * @example
 * ```ts
 * throw new BadPacketError('NTP packet is 12 bytes, expected at least 48');
 * ```
 */
export class BadPacketError extends SoketError {
  override name = 'BadPacketError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_BAD_PACKET', options);
  }
}

/**
 * An NTP server sent a Kiss-o'-Death packet (stratum 0) with a kiss code such as `RATE`, `DENY`, `RSTR`.
 *
 * @example
 * ```ts
 * throw new KissOfDeathError('RATE', '127.0.0.1:123', 'back off and ask less often');
 * ```
 */
export class KissOfDeathError extends SoketError {
  override name = 'KissOfDeathError';
  /** The four-character kiss code, e.g. `RATE`. */
  readonly kissCode: string;
  /** The server that sent it. */
  readonly server: string;

  constructor(kissCode: string, server: string, advice: string, options: SoketErrorOptions = {}) {
    super(`NTP server ${server} sent Kiss-o'-Death ${kissCode}: ${advice}`, 'SOKET_KOD', options);
    this.kissCode = kissCode;
    this.server = server;
  }
}

/**
 * A time server reported that it is not synchronised (leap indicator 3 or stratum 16 and above).
 *
 * @example
 * ```ts
 * throw new UnsynchronizedError('NTP server 127.0.0.1:123 is not synchronised (leap indicator 3)');
 * ```
 */
export class UnsynchronizedError extends SoketError {
  override name = 'UnsynchronizedError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_UNSYNCHRONIZED', options);
  }
}

/**
 * The socket or server was already closed when an operation was asked of it.
 *
 * @example
 * ```ts
 * throw new ClosedError('Cannot read options of a closed socket');
 * ```
 */
export class ClosedError extends SoketError {
  override name = 'ClosedError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_CLOSED', options);
  }
}

/**
 * A TLS handshake failed or the peer's certificate was not accepted. `reason` is OpenSSL's or Node's code
 * (`CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, `PIN_MISMATCH`, ...).
 *
 * @example
 * ```ts
 * throw new TlsError('Certificate of 127.0.0.1:8443 is not trusted: certificate has expired', 'CERT_HAS_EXPIRED');
 * ```
 */
export class TlsError extends SoketError {
  override name = 'TlsError';
  /** Why: OpenSSL's verification code or Node's TLS error code. */
  readonly reason: string;

  constructor(message: string, reason: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_TLS', options);
    this.reason = reason;
  }
}

/**
 * Network Time Security failed: the NTS-KE server refused or answered wrongly (an Error record, no cookies, no
 * common protocol or AEAD algorithm), or the NTP server kept rejecting the cookies (NTS NAK after a fresh key
 * exchange). TLS failures are `TlsError`s; replies that fail authentication are dropped, not thrown.
 *
 * @example
 * ```ts
 * throw new NtsError('NTS-KE server 127.0.0.1:4460 sent error 1 (bad request)');
 * ```
 */
export class NtsError extends SoketError {
  override name = 'NtsError';
  constructor(message: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_NTS', options);
  }
}

/** Why a trace stopped. */
export type TraceErrorReason = 'no-servers' | 'loop' | 'step-limit' | 'chain-limit';

/**
 * An iterative DNS trace (`trace`, `soket resolve --trace`) could not finish: no server of a zone answered
 * (`no-servers`), name servers that can only be found through each other (`loop`), the step limit
 * (`step-limit`) or a CNAME chain too long or looping (`chain-limit`).
 *
 * @example
 * ```ts
 * throw new TraceError('No server of example.test. answered www.example.test. A (2 tried: ...)', 'no-servers', 'example.test.');
 * ```
 */
export class TraceError extends SoketError {
  override name = 'TraceError';
  /** Why it stopped. */
  readonly reason: TraceErrorReason;
  /** The zone being asked when it stopped. */
  readonly zone: string;

  constructor(message: string, reason: TraceErrorReason, zone: string, options: SoketErrorOptions = {}) {
    super(message, 'SOKET_TRACE', options);
    this.reason = reason;
    this.zone = zone;
  }
}

/** What a failed DNS lookup asked, and of whom. */
export interface DnsErrorDetails {
  /** The name (or address, for reverse lookups) that was looked up. */
  hostname: string;
  /** The record type(s) asked for: `A`, `MX`, `A/AAAA`, `PTR`, ... */
  rrtype: string;
  /** The server(s) asked (`127.0.0.1:53`), or `the system resolver`. */
  server: string;
}

/**
 * A DNS lookup got a negative or failed answer. The `code` is the resolver's own (c-ares / getaddrinfo, as in
 * Node): `ENOTFOUND` (NXDOMAIN), `ENODATA` (the name exists but has no records of that type), `EREFUSED`,
 * `ESERVFAIL`, `ENOTIMP`, `EFORMERR`, `EBADRESP`, `ECONNREFUSED`, `EAI_AGAIN`. Timeouts are `TimeoutError`s.
 *
 * @example
 * ```ts
 * try { await resolve('nosuch.example', { server: '127.0.0.1:5353' }); }
 * catch (err) { if (err instanceof DnsError && err.code === 'ENOTFOUND') console.log('no such name'); }
 * ```
 */
export class DnsError extends SoketError {
  override name = 'DnsError';
  /** The name or address looked up. */
  readonly hostname: string;
  /** The record type(s) asked for. */
  readonly rrtype: string;
  /** The server(s) asked, or `the system resolver`. */
  readonly server: string;

  /**
   * @param message - names the name, the type and the server
   * @param code - `ENOTFOUND`, `ENODATA`, `EREFUSED`, `ESERVFAIL`, ...
   * @param details - `hostname`, `rrtype`, `server`
   * @param options - `cause`
   */
  constructor(message: string, code: string, details: DnsErrorDetails, options: SoketErrorOptions = {}) {
    super(message, code, options);
    this.hostname = details.hostname;
    this.rrtype = details.rrtype;
    this.server = details.server;
  }
}

/** Fields of a Node.js system error that soket keeps. */
export interface SystemErrorLike {
  code?: string | undefined;
  errno?: number | undefined;
  syscall?: string | undefined;
  address?: string | undefined;
  port?: number | undefined;
  hostname?: string | undefined;
  message?: string | undefined;
}

/**
 * A system call failed. The `code` is the OS code (`ECONNREFUSED`, `EADDRINUSE`, ...).
 *
 * @example
 * ```ts
 * try { await connectTcp({ host: '127.0.0.1', port: 9 }); }
 * catch (err) { if (err instanceof NetworkError && err.code === 'ECONNREFUSED') console.log('closed'); }
 * ```
 */
export class NetworkError extends SoketError {
  override name = 'NetworkError';
  readonly syscall: string | undefined;
  readonly errno: number | undefined;

  constructor(
    message: string,
    code: string,
    options: SoketErrorOptions & { syscall?: string; errno?: number } = {},
  ) {
    super(message, code, options);
    this.syscall = options.syscall;
    this.errno = options.errno;
  }
}

const OS_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  ENOTFOUND: 'name not found',
  EAI_AGAIN: 'temporary failure in name resolution',
  EPIPE: 'broken pipe',
  ETIMEDOUT: 'timed out',
  EAFNOSUPPORT: 'address family not supported',
  EMFILE: 'too many open files',
  EINVAL: 'invalid argument',
  EMSGSIZE: 'message too long',
  ENOPROTOOPT: 'option not supported by the protocol',
  EBADF: 'bad file descriptor',
};

/**
 * Human text for an OS error code (`ECONNREFUSED` → `connection refused`).
 *
 * @example
 * ```ts
 * osErrorText('ECONNREFUSED'); // 'connection refused'
 * ```
 */
export function osErrorText(code: string | undefined): string {
  if (!code) return 'unknown error';
  return OS_TEXT[code] ?? code;
}

/**
 * Wrap any thrown value in a soket error. Soket errors pass through; Node system errors become a
 * `NetworkError` keeping their code, with a message like `Cannot reach 127.0.0.1:9: connection refused`.
 *
 * @param err - what was thrown
 * @param action - what was being done, e.g. `Cannot reach 127.0.0.1:9`
 * @returns a `SoketError`
 * @example
 * ```ts
 * socket.on('error', (e) => reject(toSoketError(e, `Cannot reach ${host}:${port}`)));
 * ```
 */
export function toSoketError(err: unknown, action?: string): SoketError {
  if (err instanceof SoketError) return err;
  if (err instanceof Error) {
    const sys = err as Error & SystemErrorLike;
    if (err.name === 'AbortError') {
      return new AbortError(action ? `${action}: aborted` : 'The operation was aborted', { cause: err });
    }
    if (typeof sys.code === 'string' && /^E[A-Z0-9_]+$/.test(sys.code)) {
      const text = osErrorText(sys.code);
      const opts: SoketErrorOptions & { syscall?: string; errno?: number } = { cause: err };
      if (sys.syscall !== undefined) opts.syscall = sys.syscall;
      if (sys.errno !== undefined) opts.errno = sys.errno;
      return new NetworkError(
        action ? `${action}: ${text}` : `${capitalize(text)} (${sys.syscall ?? 'system call'})`,
        sys.code,
        opts,
      );
    }
    return new SoketError(action ? `${action}: ${err.message}` : err.message, 'SOKET_ERROR', { cause: err });
  }
  return new SoketError(action ? `${action}: ${String(err)}` : String(err));
}
