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
export { formatServices, type ParsedServices, parseServices, type ServiceRecord } from './services.js';
