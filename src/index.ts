/**
 * soket — a typed network toolkit for Node.js. The public API: task-level functions, servers and their types,
 * the error classes and the defaults. Wire codecs are under `soket/codec`; the FFI layer is internal.
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
  AccessList,
  type AccessListOptions,
  type CidrRule,
  createAccessList,
  parseCidr,
  parseCidrList,
} from './core/cidr.js';
export { type Clock, manualClock, systemClock } from './core/clock.js';
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
  NtsError,
  SoketError,
  type SoketErrorOptions,
  TimeoutError,
  type TimeoutPhase,
  TlsError,
  TraceError,
  type TraceErrorReason,
  UnsupportedError,
  UnsynchronizedError,
  ValidationError,
} from './core/errors.js';
export {
  HEXDUMP_DEFAULTS,
  type HexDirection,
  HexDumper,
  type HexDumpOptions,
} from './core/hexdump.js';
export type {
  CloseOptions,
  InetAddress,
  LifecycleEvents,
  ServerAddress,
  SoketServer,
  UnixAddress,
} from './core/lifecycle.js';
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
} from './dns/batch.js';
export {
  DNS_LOOKUP_DEFAULTS,
  type DnsLookupBatchOptions,
  type DnsLookupManyOptions,
  type DnsLookupOptions,
  type DnsLookupOutcome,
  type DnsLookupResult,
  type DnsLookups,
  dnsLookup,
  dnsLookupMany,
  openDnsLookups,
} from './dns/lookup.js';
export {
  DNS_QUERY_DEFAULTS,
  DNS_TRANSPORTS,
  DnsClient,
  type DnsClientOptions,
  type DnsQueryOptions,
  type DnsQuestionInput,
  type DnsResponse,
  type DnsServerInput,
  type DnsTransport,
  dnsQuery,
} from './dns/query.js';
export {
  type AddressRecord,
  type AnswerType,
  type CaaRecord,
  type DnsRecord,
  type MxRecord,
  type NameRecord,
  type NaptrRecord,
  RECORD_TYPES,
  type RecordType,
  type SoaRecord,
  type SrvRecord,
  type TxtRecord,
} from './dns/records.js';
export {
  parseResolvConf,
  RESOLV_CONF_DEFAULTS,
  type ResolvConf,
  readResolvConf,
} from './dns/resolv-conf.js';
export {
  type FamilyFailure,
  RESOLVE_DEFAULTS,
  type ResolveOptions,
  type ResolveResult,
  type ResolverKind,
  resolve,
} from './dns/resolve.js';
export { type ReverseOptions, type ReverseResult, reverse } from './dns/reverse.js';
export {
  findServices,
  getServiceByName,
  getServiceByPort,
  type LoadServicesOptions,
  listServices,
  loadServices,
  loadServicesAsync,
  SERVICES_MAX_BYTES,
  type ServiceEntry,
  type ServiceFilter,
  type ServicesDatabase,
  type ServicesOptions,
} from './dns/services.js';
export {
  IANA_ROOT_HINTS,
  parseRootHints,
  type RootHint,
  TRACE_DEFAULTS,
  type TraceEvent,
  type TraceOptions,
  type TraceRecord,
  type TraceResult,
  type TraceServer,
  type TraceStep,
  type TraceVerdict,
  trace,
  traceStream,
} from './dns/trace.js';
export {
  parseTrustAnchors,
  rootTrustAnchors,
  type TrustAnchor,
} from './dnssec/trust-anchor.js';
export {
  ChainValidator,
  type ChainValidatorOptions,
  type DnssecCheck,
  type DnssecFetch,
  type DnssecMessage,
  type DnssecStatus,
  type DnssecVerdict,
  type ZoneTrust,
} from './dnssec/validator.js';
export {
  type DatagramSplit,
  MAX_SPLIT_DATAGRAM,
  type SplitOptions,
  splitDatagrams,
} from './net/datagram-split.js';
export {
  type ExecCommand,
  type ExecResult,
  type ExecSpec,
  prepareExec,
  runExec,
} from './net/exec.js';
export {
  HOST_INFO_DEFAULTS,
  type HostInfo,
  type HostInfoOptions,
  hostInfo,
  type InterfaceAddress,
  isLoopback,
  listInterfaces,
  type PrimaryAddress,
  type ResolvedHostname,
} from './net/host-info.js';
export {
  type PortState,
  PROBE_DEFAULTS,
  type ProbeOptions,
  type ProbeResult,
  parsePortList,
  probe,
  probePorts,
} from './net/probe.js';
export {
  createRelay,
  RELAY_DEFAULTS,
  type RelayCloseReason,
  type RelayConnectInfo,
  type RelayEvents,
  type RelayOptions,
  RelayServer,
  type RelayStats,
  type RelaySummary,
} from './net/relay.js';
export {
  getSocketOptions,
  type SocketOptions,
  type SocketOptionsReport,
  setSocketOptions,
} from './net/sockopt.js';
export {
  INSPECT_SOCKET_DEFAULTS,
  type InspectSocketOptions,
  inspectSocketOptions,
  type SockoptResult,
  type SockoptSocket,
  type TimeoutPhaseInfo,
} from './net/sockopt-inspect.js';
export {
  formatStreamAddress,
  parseStreamAddress,
  type StreamAddress,
  type StreamAddressOptions,
  type TcpStreamAddress,
  type UnixStreamAddress,
} from './net/stream-address.js';
export { type ConnectStreamOptions, connectStream, type StreamConnection } from './net/stream-connect.js';
export { type PipeResult, type PipeSessionOptions, type PipeSink, pipeSession } from './net/stream-pipe.js';
export { readSocketLimits, type SocketLimits } from './net/sysctl.js';
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
  type PrintedMessage,
  type PrintOptions,
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
  TCP_REQUEST_DEFAULTS,
  type TcpReply,
  type TcpRequestOptions,
  tcpRequest,
} from './net/tcp-request.js';
export {
  createTcpServer,
  type StreamServerAddress,
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
  type CertificateBundle,
  type CertificateInfo,
  createSelfSignedCertificate,
  describeCertificate,
  SELF_SIGNED_DEFAULTS,
  type SelfSignedOptions,
} from './net/tls-cert.js';
export {
  type ConnectTlsOptions,
  connectTls,
  startTls,
  type TlsConnection,
  type TlsSession,
} from './net/tls-client.js';
export {
  type PreparedTlsClient,
  type PreparedTlsServer,
  prepareTlsClient,
  prepareTlsServer,
  TLS_DEFAULTS,
  type TlsClientOptions,
  type TlsServerOptions,
} from './net/tls-config.js';
export {
  type InspectTlsOptions,
  inspectTls,
  TLS_INSPECT_DEFAULTS,
  type TlsInspection,
} from './net/tls-inspect.js';
export {
  MAX_UDP_PAYLOAD_IPV4,
  MAX_UDP_PAYLOAD_IPV6,
  UDP_REQUEST_DEFAULTS,
  type UdpReply,
  type UdpRequestOptions,
  udpRequest,
} from './net/udp-client.js';
export {
  type SourceAddress,
  UDP_CONNECT_DEFAULTS,
  type UdpConnectEvent,
  UdpConnection,
  type UdpConnectionEndReason,
  type UdpConnectionStats,
  type UdpConnectOptions,
  type UdpEndpoint,
  udpConnect,
} from './net/udp-connect.js';
export {
  isBroadcastAddress,
  isMulticastAddress,
  joinGroups,
  type MulticastInterface,
  type MulticastJoin,
  type UdpJoinOptions,
  type UdpSendGroupOptions,
} from './net/udp-multicast.js';
export {
  UDP_PIPE_DEFAULTS,
  type UdpPeer,
  UdpPipe,
  type UdpPipeEvent,
  type UdpPipeOptions,
  type UdpPipeStats,
} from './net/udp-pipe.js';
export {
  probeUdp,
  probeUdpPorts,
  UDP_PROBE_DEFAULTS,
  type UdpPortState,
  type UdpProbeOptions,
  type UdpProbeResult,
} from './net/udp-probe.js';
export {
  createUdpRelay,
  UDP_RELAY_DEFAULTS,
  UdpRelay,
  type UdpRelayClientInfo,
  type UdpRelayClientSummary,
  type UdpRelayEndReason,
  type UdpRelayEvents,
  type UdpRelayOptions,
  type UdpRelayStats,
} from './net/udp-relay.js';
export {
  createUdpServer,
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
  checkReply,
  type NtsQueryInfo,
  type ReplyCheck,
  type ReplyExpectation,
  SNTP_QUERY_DEFAULTS,
  type SntpQueryOptions,
  type SntpResult,
  sntpQuery,
  sntpTimesMs,
} from './ntp/client.js';
export {
  getNetworkTime,
  NETWORK_TIME_DEFAULTS,
  type NetworkTime,
  type NetworkTimeOptions,
  type ServerTime,
} from './ntp/network-time.js';
export {
  NtsClient,
  type NtsClientOptions,
  type NtsClientStats,
  NtsNakError,
  type NtsSession,
} from './ntp/nts-client.js';
export {
  NTS_COOKIE_DEFAULTS,
  NtsCookieKeys,
  type NtsCookieKeysOptions,
  type NtsCookieKeysState,
} from './ntp/nts-cookies.js';
export {
  NTS_KE_DEFAULTS,
  type NtsKeResult,
  type NtsKeyExchangeOptions,
  ntsKeyExchange,
} from './ntp/nts-ke-client.js';
export {
  createNtsKeServer,
  NTS_KE_SERVER_DEFAULTS,
  type NtsKeCertificate,
  NtsKeServer,
  type NtsKeServerEvents,
  type NtsKeServerOptions,
  type NtsKeServerStats,
} from './ntp/nts-ke-server.js';
export { RATE_LIMIT_DEFAULTS, type RateLimitOptions } from './ntp/rate-limit.js';
export {
  createSntpServer,
  type LeapSource,
  SNTP_SERVER_DEFAULTS,
  SntpServer,
  type SntpServerEvents,
  type SntpServerOptions,
  type SntpServerStats,
} from './ntp/server.js';
export { type SntpEngineConfig, sntpEngineHandler } from './ntp/sntp-engine-handler.js';
export { type SntpAuthStats, SntpResponder, type SntpResponderOptions } from './ntp/sntp-responder.js';
export {
  parseKeyFile,
  parseSymmetricKey,
  readKeyFile,
  SYMMETRIC_KEY_TYPES,
  type SymmetricKey,
  type SymmetricKeys,
  type SymmetricKeyType,
} from './ntp/symmetric-key.js';
export {
  WATCH_DEFAULTS,
  type WatchEvent,
  type WatchNetworkTimeOptions,
  watchNetworkTime,
} from './ntp/watch.js';
export type {
  DatagramHandler,
  DatagramHandlerContext,
  DatagramHandlerFactory,
  DatagramHandlerInstance,
  DatagramHandlerSpec,
  DatagramPeer,
  Datapath,
  ReceivedTime,
} from './platform/datagram-handler.js';
export { type BuiltinHandlers, builtinHandler } from './platform/datagram-handlers.js';
export { type PacketTime, type RealtimeClock, realtimeClock } from './platform/realtime.js';
export {
  batchedDatapath,
  createUdpEngine,
  UDP_ENGINE_DEFAULTS,
  UDP_ENGINE_LIMITS,
  UdpEngine,
  type UdpEngineEvents,
  type UdpEngineMessage,
  type UdpEngineOptions,
  type UdpEngineStats,
} from './platform/udp-engine.js';
