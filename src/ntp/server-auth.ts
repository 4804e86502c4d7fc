/**
 * The SNTP server's authentication step: what to do with the bytes after a client request's header, and how
 * to authenticate the reply. Pure apart from randomness; the responder calls {@link NtpServerAuth.check} when a
 * request arrives and {@link NtpServerAuth.seal} after it has written the reply header (transmit time last), so
 * the time between the transmit timestamp and the send is one AEAD operation or one digest.
 *
 * - A tail that is not well-formed extension fields and MAC (RFC 7822 rules, {@link ntpTailError}) is dropped.
 * - NTS (RFC 8915 §5.7): a request with exactly one Unique Identifier (≥ 32 bytes), exactly one NTS Cookie,
 *   placeholders as long as the cookie, and the Authenticator last. A cookie the server cannot open, or an
 *   authenticator that does not verify with the cookie's c2s key, gets an NTS NAK (kiss code NTSN with the
 *   unique identifier, unauthenticated); a request missing a field is dropped. The reply carries the unique
 *   identifier and an authenticator (s2c key) with one fresh cookie per cookie and placeholder (at most 8),
 *   padded to exactly the request's length: never larger. The reply is written over the request when the
 *   caller hands it over (`seal(check, header, packet)`), the cookies straight into a scratch buffer and the
 *   client's keys into two re-keyed {@link SivKey}s: per request no array larger than V8 keeps on its heap.
 * - Symmetric keys: a MAC with a known key that verifies gets a reply with a MAC by the same key; anything else
 *   (unknown key, wrong digest, crypto-NAK) is dropped, as chrony does.
 * - Other extension fields are ignored; the reply is the plain 48-byte header.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  concat,
  decodeNtpExtensionFields,
  decodeNtpExtensions,
  decodeNtsAuthenticator,
  encodeNtpExtensionField,
  NTP_MIN_EXTENSION_LENGTH,
  NtpExtensionType,
  ntpTailError,
} from '../codec/ntp-extensions.js';
import { NTS_MAX_COOKIES } from '../codec/nts-ke.js';
import { BadPacketError, ValidationError } from '../core/errors.js';
import { AES_SIV_TAG_LENGTH, randomPooled, SivKey } from './aes-siv.js';
import { NtsClient } from './nts-client.js';
import { NTS_COOKIE_LENGTH, type NtsCookieKeys } from './nts-cookies.js';
import { appendMac, type SymmetricKey, type SymmetricKeys, verifyMac } from './symmetric-key.js';

/** Options of {@link NtpServerAuth}. */
export interface NtpServerAuthOptions {
  /** The cookie keys shared with the NTS-KE server: enables NTS. */
  nts?: NtsCookieKeys;
  /** Symmetric keys by ID: enables MAC-authenticated requests. */
  keys?: SymmetricKeys;
}

/** Why a request was dropped. */
export type ServerAuthDrop =
  /** The tail is not valid extension fields and MAC. */
  | 'malformed'
  /** A MAC with an unknown key, a digest that does not verify, a crypto-NAK, or MACs not enabled. */
  | 'mac'
  /** NTS fields missing, repeated or malformed, or NTS not enabled. */
  | 'nts';

/** What to do with a request. */
export type ServerAuthCheck =
  | { kind: 'none' }
  | { kind: 'drop'; reason: ServerAuthDrop }
  | { kind: 'nak'; uniqueId: Uint8Array }
  | {
      kind: 'nts';
      uniqueId: Uint8Array;
      s2c: SivKey;
      plaintext: Uint8Array;
      nonce: Uint8Array;
      requestLength: number;
    }
  | { kind: 'mac'; key: SymmetricKey };

const NONE: ServerAuthCheck = { kind: 'none' };
const MIN_UNIQUE_ID = 32;
/** A fresh cookie as an extension field: the field header and the cookie. */
const COOKIE_FIELD_LENGTH = 4 + NTS_COOKIE_LENGTH;
/** The nonce of every reply authenticator. */
const NONCE_LENGTH = 16;

function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Checks requests and seals replies for the SNTP server.
 *
 * @example
 * ```ts
 * const auth = new NtpServerAuth({ nts: cookieKeys, keys: await readKeyFile('keys') });
 * const check = auth.check(request);
 * if (check.kind === 'drop') return;
 * // ... write the 48-byte reply header (or an NTSN kiss-o'-death for 'nak') into `header`
 * const reply = auth.seal(check, header);
 * ```
 */
export class NtpServerAuth {
  readonly #nts: NtsCookieKeys | undefined;
  readonly #keys: SymmetricKeys | undefined;
  /**
   * Scratch of the NTS path, re-used by every request: the client's keys (re-keyed, not made anew) and the
   * new cookies as extension fields (the reply authenticator's plaintext). An `nts` check refers to them, so
   * it must be sealed before the next {@link check}.
   */
  readonly #c2s = new SivKey(new Uint8Array(32));
  readonly #s2c = new SivKey(new Uint8Array(32));
  readonly #cookieFields = new Uint8Array(NTS_MAX_COOKIES * COOKIE_FIELD_LENGTH);

  /**
   * @param options - NTS cookie keys and/or symmetric keys; with neither, only the tail check runs
   */
  constructor(options: NtpServerAuthOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid server authentication options: expected an object');
    }
    this.#nts = options.nts;
    this.#keys = options.keys;
    this.#warmUp();
  }

  /**
   * Run the NTS and MAC paths a few times on made-up requests, so that the first real client's reply is not
   * sealed by cold code: the seal runs after the transmit timestamp, and a millisecond of compilation there
   * would show as a millisecond of offset.
   */
  #warmUp(): void {
    const header = new Uint8Array(48);
    header[0] = 0x23;
    if (this.#nts) {
      const c2s = new Uint8Array(randomBytes(32));
      const s2c = new Uint8Array(randomBytes(32));
      const client = new NtsClient('127.0.0.1');
      for (let i = 0; i < 20; i++) {
        client.useKeyExchange({
          keServer: 'warm-up',
          keAddress: '127.0.0.1',
          ntpServer: '127.0.0.1',
          ntpPort: 123,
          aeadAlgorithm: 15,
          c2s,
          s2c,
          cookies: [this.#nts.seal({ c2s, s2c }), this.#nts.seal({ c2s, s2c })],
          warnings: [],
          tls: { protocol: 'TLSv1.3', cipher: '', fingerprint256: undefined },
          durationMs: 0,
        });
        const request = client.authenticator().seal(header).packet;
        const check = this.check(request);
        this.seal(check, request.subarray(0, 48), request);
      }
    }
    // one key of each type: a digest and a CMAC take different code
    const byType = new Map<string, SymmetricKey>();
    for (const k of this.#keys?.values() ?? []) if (!byType.has(k.type)) byType.set(k.type, k);
    for (const k of byType.values()) {
      const request = appendMac(header, k);
      for (let i = 0; i < 20; i++) this.seal(this.check(request), request.slice(0, 48));
    }
  }

  /** Whether NTS is enabled. */
  get nts(): boolean {
    return this.#nts !== undefined;
  }

  /** Whether symmetric keys are enabled (and how many). */
  get keyCount(): number {
    return this.#keys?.size ?? 0;
  }

  /**
   * Decide what to do with a client request.
   *
   * @param request - the whole datagram (at least 48 bytes, mode 3)
   * @returns `none` (answer plainly), `drop`, `nak` (answer NTS NAK), `nts` or `mac` (answer authenticated);
   *   an `nts` check uses this object's scratch (the client's key, the new cookies): seal it before the next check
   */
  check(request: Uint8Array): ServerAuthCheck {
    if (request.length === 48) return NONE;
    if (ntpTailError(request) !== undefined) return { kind: 'drop', reason: 'malformed' };
    const tail = decodeNtpExtensions(request);
    let nts = false;
    for (const f of tail.fields) {
      if (f.type === NtpExtensionType.uniqueIdentifier || f.type === NtpExtensionType.ntsCookie) nts = true;
      if (f.type === NtpExtensionType.ntsCookiePlaceholder || f.type === NtpExtensionType.ntsAuthenticator)
        nts = true;
    }
    if (nts) return this.#checkNts(request, tail);
    if (tail.mac) {
      if (!this.#keys) return { kind: 'drop', reason: 'mac' };
      const m = verifyMac(request, this.#keys);
      return m.ok ? { kind: 'mac', key: m.key } : { kind: 'drop', reason: 'mac' };
    }
    return NONE;
  }

  #checkNts(request: Uint8Array, tail: ReturnType<typeof decodeNtpExtensions>): ServerAuthCheck {
    const drop: ServerAuthCheck = { kind: 'drop', reason: 'nts' };
    if (!this.#nts || tail.mac) return drop;
    let uniqueId: Uint8Array | undefined;
    let cookie: Uint8Array | undefined;
    let auth: (typeof tail.fields)[number] | undefined;
    let requested = 0;
    let placeholderLength = -1;
    const fields = tail.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] as (typeof fields)[number];
      switch (f.type) {
        case NtpExtensionType.uniqueIdentifier:
          if (uniqueId || f.body.length < MIN_UNIQUE_ID) return drop;
          uniqueId = f.body;
          break;
        case NtpExtensionType.ntsCookie:
          if (cookie) return drop;
          cookie = f.body;
          requested++;
          break;
        case NtpExtensionType.ntsCookiePlaceholder:
          if (placeholderLength >= 0 && placeholderLength !== f.body.length) return drop;
          placeholderLength = f.body.length;
          requested++;
          break;
        case NtpExtensionType.ntsAuthenticator:
          if (i !== fields.length - 1) return drop;
          auth = f;
          break;
        default:
          break;
      }
    }
    if (!uniqueId || !cookie || !auth) return drop;
    if (placeholderLength >= 0 && placeholderLength !== cookie.length) return drop;
    const keys = this.#nts.open(cookie);
    if (!keys) return { kind: 'nak', uniqueId: new Uint8Array(uniqueId) };
    let body: ReturnType<typeof decodeNtsAuthenticator>;
    try {
      body = decodeNtsAuthenticator(auth.body);
    } catch (err) {
      if (err instanceof BadPacketError) return drop;
      throw err;
    }
    const inner = this.#c2s
      .setKey(keys.c2s)
      .open(body.nonce, request.subarray(0, auth.offset), body.ciphertext);
    if (!inner) return { kind: 'nak', uniqueId: new Uint8Array(uniqueId) };
    try {
      for (const f of decodeNtpExtensionFields(inner)) {
        if (f.type === NtpExtensionType.ntsCookiePlaceholder) {
          if (f.body.length !== cookie.length) return drop;
          requested++;
        }
      }
    } catch (err) {
      if (err instanceof BadPacketError) return drop;
      throw err;
    }
    // Everything but the final seal is done here, before the reply's transmit timestamp is taken.
    const count = Math.min(NTS_MAX_COOKIES, requested);
    const cookies = this.#cookieFields;
    for (let i = 0, at = 0; i < count; i++, at += COOKIE_FIELD_LENGTH) {
      cookies[at] = NtpExtensionType.ntsCookie >>> 8;
      cookies[at + 1] = NtpExtensionType.ntsCookie & 0xff;
      cookies[at + 2] = COOKIE_FIELD_LENGTH >>> 8;
      cookies[at + 3] = COOKIE_FIELD_LENGTH & 0xff;
      this.#nts.sealInto(keys, cookies, at + 4);
    }
    return {
      kind: 'nts',
      uniqueId: new Uint8Array(uniqueId),
      s2c: this.#s2c.setKey(keys.s2c),
      plaintext: cookies.subarray(0, count * COOKIE_FIELD_LENGTH),
      nonce: randomPooled(NONCE_LENGTH),
      requestLength: request.length,
    };
  }

  /**
   * Authenticate a reply: append what the check asked for to the 48-byte header.
   *
   * @param check - what {@link check} returned for the request (an `nts` check: the last one made)
   * @param header - the reply's 48 bytes, complete (transmit timestamp written); for `nak`, an NTSN
   *   kiss-o'-death
   * @param packet - the request, whose first 48 bytes are `header`: an NTS reply is written over it when it
   *   fits (the request is not needed any more), else into a new array
   * @returns the reply to send: the header itself for `none`, never longer than the request
   */
  seal(check: ServerAuthCheck, header: Uint8Array, packet?: Uint8Array): Uint8Array {
    switch (check.kind) {
      case 'none':
      case 'drop':
        return header;
      case 'mac':
        return appendMac(header, check.key);
      case 'nak':
        return concat([header, encodeNtpExtensionField(NtpExtensionType.uniqueIdentifier, check.uniqueId)]);
      case 'nts':
        return this.#sealNts(check, header, packet);
    }
  }

  /**
   * The NTS reply: the header, the Unique Identifier field, and the Authenticator (nonce, then the synthetic IV
   * and the encrypted cookie fields, over the header and the identifier), padded to the request's length. If
   * the cookies would not fit in that length, fewer are sent.
   */
  #sealNts(
    check: Extract<ServerAuthCheck, { kind: 'nts' }>,
    header: Uint8Array,
    packet?: Uint8Array,
  ): Uint8Array {
    const uid = check.uniqueId;
    const uidField = Math.max(roundUp4(4 + uid.length), NTP_MIN_EXTENSION_LENGTH);
    const authAt = 48 + uidField;
    const room = check.requestLength - authAt - 4; // the authenticator's body
    // the authenticator's body: lengths, the nonce, the ciphertext (IV and encrypted cookies), each padded
    let cookies = check.plaintext.length;
    while (cookies > 0 && 4 + NONCE_LENGTH + roundUp4(AES_SIV_TAG_LENGTH + cookies) > room) {
      cookies = Math.max(0, cookies - COOKIE_FIELD_LENGTH);
    }
    const plaintext =
      cookies === check.plaintext.length ? check.plaintext : check.plaintext.subarray(0, cookies);
    const used = 4 + NONCE_LENGTH + roundUp4(AES_SIV_TAG_LENGTH + cookies);
    const length = Math.max(check.requestLength, authAt + 4 + used);
    const inPlace =
      packet !== undefined &&
      packet.length >= length &&
      packet.buffer === header.buffer &&
      packet.byteOffset === header.byteOffset;
    const out = inPlace ? packet : new Uint8Array(length);
    if (!inPlace) out.set(header.subarray(0, 48));
    out[48] = NtpExtensionType.uniqueIdentifier >>> 8;
    out[49] = NtpExtensionType.uniqueIdentifier & 0xff;
    out[50] = uidField >>> 8;
    out[51] = uidField & 0xff;
    out.set(uid, 52);
    out.fill(0, 52 + uid.length, authAt);
    const fieldLength = length - authAt;
    const cipherLength = AES_SIV_TAG_LENGTH + plaintext.length;
    out[authAt] = NtpExtensionType.ntsAuthenticator >>> 8;
    out[authAt + 1] = NtpExtensionType.ntsAuthenticator & 0xff;
    out[authAt + 2] = fieldLength >>> 8;
    out[authAt + 3] = fieldLength & 0xff;
    const body = authAt + 4;
    out[body] = 0;
    out[body + 1] = NONCE_LENGTH;
    out[body + 2] = cipherLength >>> 8;
    out[body + 3] = cipherLength & 0xff;
    out.set(check.nonce, body + 4);
    const cipherAt = body + 4 + NONCE_LENGTH;
    check.s2c.sealInto(check.nonce, out.subarray(0, authAt), plaintext, out, cipherAt);
    out.fill(0, cipherAt + cipherLength, length);
    return length === out.length ? out : out.subarray(0, length);
  }
}
