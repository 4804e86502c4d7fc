/**
 * soket — a typed network toolkit for Node.js. The public API: named exports only.
 *
 * @example
 * ```ts
 * import { hostInfo, getServiceByName } from 'soket';
 * const info = await hostInfo();
 * console.log(info.primary.ipv4.address, getServiceByName('http', 'tcp').port);
 * ```
 *
 * @module
 */

// Exports are kept sorted by module path (Biome organizes them); add new ones anywhere.

export {
  asciiToRefId,
  type DecodedNtpPacket,
  decodeNtpPacket,
  encodeNtpPacket,
  ipv6ToRefId,
  KISS_CODES,
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
} from './codec/ntp.js';
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
} from './codec/ntp-timestamp.js';
export { formatServices, type ParsedServices, parseServices, type ServiceRecord } from './codec/services.js';
export {
  type FinishedTask,
  type RunBoundedOptions,
  runBounded,
  type StartedTask,
} from './core/bounded.js';
export { type Clock, manualClock, systemClock } from './core/clock.js';
export { Deadline, sleep, type WaitOptions, withTimeout } from './core/deadline.js';
export { onDebug, SOKET_CHANNEL, type SoketEvent } from './core/debug.js';
export {
  AbortError,
  BadPacketError,
  ClosedError,
  DnsError,
  type DnsErrorDetails,
  KissOfDeathError,
  NetworkError,
  NotFoundError,
  osErrorText,
  SoketError,
  type SoketErrorOptions,
  TimeoutError,
  type TimeoutPhase,
  toSoketError,
  UnsupportedError,
  UnsynchronizedError,
  ValidationError,
} from './core/errors.js';
export {
  formatHostPort,
  type HostPort,
  isHostname,
  parseAddress,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from './core/validate.js';
export {
  type BatchOptions,
  type BatchOutcome,
  DNS_CONCURRENCY,
  type ResolveManyOptions,
  type ResolveOutcome,
  type ReverseManyOptions,
  type ReverseOutcome,
  resolveMany,
  reverseMany,
  systemLookupSlots,
} from './dns/batch.js';
export {
  type AddressRecord,
  type AnswerType,
  type CaaRecord,
  type DnsRecord,
  type MxRecord,
  type NameRecord,
  type NaptrRecord,
  parseRecordType,
  RECORD_TYPES,
  type RecordType,
  recordData,
  type SoaRecord,
  type SrvRecord,
  type TxtRecord,
} from './dns/records.js';
export {
  checkLookupName,
  RESOLVE_DEFAULTS,
  type ResolveOptions,
  type ResolveResult,
  type ResolverKind,
  resolve,
} from './dns/resolve.js';
export { ptrName, type ReverseOptions, type ReverseResult, reverse } from './dns/reverse.js';
export { type DnsServer, parseDnsServer, parseDnsServers } from './dns/server-address.js';
export {
  clearServicesCache,
  findServices,
  getServiceByName,
  getServiceByPort,
  listServices,
  loadServices,
  type ServiceEntry,
  type ServiceFilter,
  type ServicesDatabase,
  type ServicesOptions,
} from './dns/services.js';
export { ffiAvailable, type Libc, libc } from './platform/ffi.js';
export {
  type HostInfo,
  type HostInfoOptions,
  hostInfo,
  type InterfaceAddress,
  isLoopback,
  listInterfaces,
  type PrimaryAddress,
  primaryAddress,
  type ResolvedHostname,
} from './net/host-info.js';
export {
  MAX_PROBE_PORTS,
  type PortState,
  type ProbeOptions,
  type ProbeResult,
  parsePortList,
  probe,
  probePorts,
} from './net/probe.js';
export {
  type AnySocket,
  closeFd,
  createTcpSocketFd,
  getSocketOptions,
  type SocketOptions,
  type SocketOptionsReport,
  setSocketOptions,
  validateSocketOptions,
} from './net/sockopt.js';
export {
  expectedBufferSize,
  kernelConnectTimeoutSeconds,
  readSocketLimits,
  type SocketLimits,
  type SocketLimitsOptions,
} from './net/sysctl.js';
export {
  type ConnectTcpOptions,
  connectTcp,
  type LookupAddress,
  type LookupFunction,
  type TcpConnection,
} from './net/tcp-client.js';
export {
  type ChatOptions,
  ChatRoom,
  chatHandler,
  discardHandler,
  echoHandler,
  FRAMINGS,
  type Framing,
  MessageSplitter,
  type PrintedMessage,
  type PrintOptions,
  parseTcpMode,
  printable,
  printHandler,
  type ReplyOptions,
  replyHandler,
  TCP_MODE_DEFAULTS,
  TCP_MODES,
  type TcpMode,
  type TcpModeOptions,
  tcpModeHandler,
} from './net/tcp-modes.js';
export {
  createTcpServer,
  reusePortSupported,
  TCP_SERVER_DEFAULTS,
  type TcpCloseReason,
  type TcpConnectionSummary,
  type TcpHandler,
  type TcpRefusal,
  TcpServer,
  type TcpServerAddress,
  TcpServerConnection,
  type TcpServerEvents,
  type TcpServerOptions,
  type TcpServerStats,
} from './net/tcp-server.js';
export {
  isTcpWorker,
  runTcpWorker,
  startTcpWorkers,
  TCP_WORKER_ENV,
  TCP_WORKERS_DEFAULTS,
  type TcpWorkerConnection,
  type TcpWorkerContext,
  type TcpWorkerHandle,
  type TcpWorkerStrategy,
  TcpWorkers,
  type TcpWorkersEvents,
  type TcpWorkersOptions,
} from './net/tcp-workers.js';
export {
  checkUdpPayload,
  MAX_UDP_PAYLOAD_IPV4,
  MAX_UDP_PAYLOAD_IPV6,
  maxUdpPayload,
  UDP_REQUEST_DEFAULTS,
  type UdpReply,
  type UdpRequestOptions,
  udpDrops,
  udpRequest,
} from './net/udp-client.js';
export {
  createUdpServer,
  parseUdpMode,
  UDP_MODES,
  UDP_SERVER_DEFAULTS,
  type UdpHandler,
  type UdpMessage,
  type UdpMode,
  UdpServer,
  type UdpServerEvents,
  type UdpServerOptions,
  type UdpServerStats,
  udpEchoHandler,
  udpModeHandler,
  udpPrintHandler,
  udpReplyHandler,
} from './net/udp-server.js';
export {
  SNTP_QUERY_DEFAULTS,
  type SntpQueryOptions,
  type SntpResult,
  sntpQuery,
  sntpTimesMs,
} from './ntp/client.js';
export { type KernelClockState, readKernelClock } from './platform/kernel-clock.js';
export {
  type Combined,
  combineServers,
  getNetworkTime,
  lowestDelay,
  NETWORK_TIME_DEFAULTS,
  type NetworkTime,
  type NetworkTimeOptions,
  type OffsetInterval,
  type ServerTime,
} from './ntp/network-time.js';
export {
  RATE_LIMIT_DEFAULTS,
  type RateDecision,
  RateLimiter,
  type RateLimitOptions,
} from './ntp/rate-limit.js';
export {
  createSntpServer,
  type LeapSource,
  SNTP_SERVER_DEFAULTS,
  type SntpServer,
  type SntpServerOptions,
  type SntpServerStats,
} from './ntp/server.js';
