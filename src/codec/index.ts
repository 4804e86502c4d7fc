/**
 * `soket/codec`: the wire formats, pure (bytes in, values out, and back; no sockets, no clocks). Malformed
 * input raises `BadPacketError`.
 *
 * @example
 * ```ts
 * import { decodeNtpPacket, encodeNtpPacket } from 'soket/codec';
 * const p = decodeNtpPacket(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 42n }));
 * p.transmitTimestamp; // 42n
 * ```
 *
 * @module
 */

export {
  asciiToRefId,
  type DecodedNtpPacket,
  decodeNtpPacket,
  encodeNtpPacket,
  ipv6ToRefId,
  KISS_CODES,
  type KissOfDeathFields,
  kissCode,
  type LeapIndicator,
  leapToText,
  modeToText,
  NTP_HEADER_LENGTH,
  NtpMode,
  type NtpPacket,
  type NtpPacketInit,
  parseRefId,
  REFERENCE_SOURCES,
  type RefIdTextOptions,
  refIdToAscii,
  refIdToIPv4,
  refIdToText,
  stratumToText,
  writeKissOfDeath,
} from './ntp.js';
export {
  decodeNtpExtensionFields,
  decodeNtpExtensions,
  decodeNtsAuthenticator,
  encodeNtpExtensionField,
  encodeNtpExtensions,
  encodeNtsAuthenticator,
  NTP_MAX_EXTENSION_FIELDS,
  NTP_MAX_MAC_LENGTH,
  NTP_MAX_V4_MAC_LENGTH,
  NTP_MIN_EXTENSION_LENGTH,
  NTP_MIN_LAST_EXTENSION_LENGTH,
  NTP_MIN_MAC_LENGTH,
  NTS_MIN_NONCE_SPACE,
  type NtpExtensionField,
  NtpExtensionType,
  type NtpMac,
  type NtpTail,
  type NtsAuthenticator,
  ntpTailError,
} from './ntp-extensions.js';
export {
  formatNtpTimestamp,
  formatUnixNs,
  log2ToSeconds,
  NTP_ERA_SECONDS,
  NTP_ERA1_START_UNIX_NS,
  NTP_UNIX_OFFSET_SECONDS,
  type NtpTimestamp,
  ntpDiffSeconds,
  ntpOffsetDelay,
  ntpShortToSeconds,
  ntpTimestamp,
  ntpTimestampParts,
  ntpToUnixMs,
  ntpToUnixNs,
  type OffsetDelay,
  readNtpTimestamp,
  secondsToLog2,
  secondsToNtpShort,
  unixMsToNs,
  unixMsToNtp,
  unixNsToNtp,
  writeNtpTimestamp,
  writeNtpTimestampMs,
} from './ntp-timestamp.js';
export {
  AEAD_AES_SIV_CMAC_256,
  decodeNtsKeRecords,
  decodeNtsKeRequest,
  decodeNtsKeResponse,
  encodeNtsKeRecords,
  encodeNtsKeRequest,
  encodeNtsKeResponse,
  NTS_KE_ALPN,
  NTS_KE_MAX_MESSAGE_LENGTH,
  NTS_KE_PORT,
  NTS_MAX_COOKIE_LENGTH,
  NTS_MAX_COOKIES,
  NTS_NEXT_PROTOCOL_NTPV4,
  NtsKeDecodeError,
  NtsKeErrorCode,
  type NtsKeRecord,
  NtsKeRecordType,
  type NtsKeRequest,
  type NtsKeResponse,
  ntsKeMessageLength,
} from './nts-ke.js';
export {
  crc32c,
  decodeProxyHeader,
  encodeProxyHeader,
  PROXY_TLV,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyEncodeOptions,
  type ProxyHeader,
  type ProxyHeaderRead,
  type ProxyInetAddress,
  type ProxyTlv,
  type ProxyUnixAddress,
  proxyTlvText,
  readProxyHeader,
} from './proxy-protocol.js';
export { formatServices, type ParsedServices, parseServices, type ServiceRecord } from './services.js';
