export { startZtunnel } from './app.js';
export { ZTUNNEL_NODE_FLAGS } from './node-flags.js';
export type { StartOptions, Ztunnel, ZtunnelAddresses } from './app.js';
export {
  parseZtunnelConfig, CONFIG_KEYS, DEFAULT_HBONE_PORT, DEFAULT_OUTBOUND_PORT, DEFAULT_INBOUND_PLAINTEXT_PORT,
  DEFAULT_SOCKS5, DEFAULT_METRICS, DEFAULT_READINESS, DEFAULT_DRAIN_DEADLINE_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TABLE,
} from './config.js';
export type { ZtunnelConfig, CaptureMode, ConfigKey } from './config.js';
export { ZtunnelState, isLocalHbone, guessInboundService } from './state.js';
export type { MeshLookup, ObservableMeshView } from './state.js';
export { ZtunnelIdentity, ZTUNNEL_SERVICE_ACCOUNT } from './identity.js';
export type { IdentityStatus, IdentitySources, ZtunnelIdentityOptions } from './identity.js';
export { authorizeInbound } from './rbac.js';
export type { InboundCheck, InboundAllowed } from './rbac.js';
export { resolveOutbound, describeRoute, randomPicker } from './proxy/resolve.js';
export type { Route, ResolveRequest, Picker } from './proxy/resolve.js';
export { ConnectionTable, trafficLabels } from './proxy/connections.js';
export type { ConnectionContext, ConnectionSnapshot, Direction, Outcome, Via } from './proxy/connections.js';
export { responseFlagFor, refusalReasonFor, RESPONSE_FLAGS } from './proxy/flags.js';
export type { ResponseFlag } from './proxy/flags.js';
export { parseGreeting, parseRequest, encodeReply, Reply } from './proxy/socks5.js';
export type { ReplyCode } from './proxy/socks5.js';
export { ZtunnelMetrics } from './metrics.js';
export type { TrafficLabels, Reporter, SecurityPolicy } from './metrics.js';
export { NoCapture, CAPTURE_MARK } from './capture/capture.js';
export type { Capture, CapturePorts, CaptureStatus } from './capture/capture.js';
export { NftCapture } from './capture/nftables.js';
