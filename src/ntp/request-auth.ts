/**
 * What the SNTP client needs from an authentication scheme (NTS or a symmetric key), and nothing more: seal
 * one request, and check each reply to that request. A reply that fails the check is dropped and counted by
 * the client, never used; an NTS NAK (the only unauthenticated reply NTS acts on) tells the client to run NTS-KE
 * again.
 *
 * @module
 */

/** How a query was authenticated. */
export type AuthMode = 'nts' | 'symmetric';

/** The verdict on one reply. */
export type ReplyAuthCheck =
  | { ok: true }
  | {
      ok: false;
      /** Why, for messages and debug logs: `authenticator does not verify`, `MAC with key 2 does not verify`. */
      reason: string;
      /** An NTS NAK with our unique identifier: the server no longer accepts the cookies. */
      nak?: boolean;
    };

/** One sealed request. */
export interface SealedRequest {
  /** The bytes to send: the header and the authentication fields or MAC. */
  packet: Uint8Array;
  /** Check a reply to this request (call it only for replies whose origin timestamp matches). */
  verify(reply: Uint8Array): ReplyAuthCheck;
}

/** Seals requests for one query. */
export interface RequestAuthenticator {
  /** `nts` or `symmetric`. */
  readonly mode: AuthMode;
  /** The key ID, for symmetric keys. */
  readonly keyId?: number;
  /**
   * Seal a request.
   *
   * @param header - the 48-byte request header (mode 3, version, the transmit-timestamp cookie)
   * @throws {NtsError} when NTS has no cookie left
   */
  seal(header: Uint8Array): SealedRequest;
}
