export { HboneServer, DEFAULT_SERVER_LIMITS } from './server.js';
export type { HboneServerOptions, HboneServerEvents, ServerLimits, TunnelRequest, TunnelClosed } from './server.js';
export { HbonePool, DEFAULT_POOL_OPTIONS } from './pool.js';
export type { TunnelSpec, PoolOptions, PoolStats } from './pool.js';
export { joinTunnel } from './pipe.js';
export type { JoinResult, JoinOptions } from './pipe.js';
export { relay, RELAY_BUDGET_BYTES, RELAY_COALESCE_MIN_BYTES } from './relay.js';
export type { Relay, RelayOptions } from './relay.js';
export { dialTcp, DEFAULT_CONNECT_TIMEOUT_MS } from './dial.js';
export type { DialOptions } from './dial.js';
export {
  metadataHeaders, readMetadata, formatForwarded, parseForwarded, formatBaggage, parseBaggage, newTraceparent,
  isTraceparent, headerListSize,
} from './headers.js';
export type { TunnelMetadata } from './headers.js';
export { refusalFor, errorForStatus } from './status.js';
export type { RefusalReason, Refusal } from './status.js';
export {
  STREAM_WINDOW_BYTES, CONNECTION_WINDOW_BYTES, MAX_FRAME_SIZE_BYTES, HARD_MAX_HEADER_LIST_BYTES, tunnelSettings,
} from './tuning.js';
