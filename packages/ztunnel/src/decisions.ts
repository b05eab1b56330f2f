// The ztunnel's decisions as pure functions over a mesh view, without the
// proxy itself (no sockets, no native modules): where an outbound connection
// goes and what the destination ztunnel checks before it dials a pod. `ambit
// explain` runs them on the state a ztunnel's admin API shows, so what it
// says is what the proxy would do.
export { resolveOutbound, describeRoute, serviceVipByName } from './proxy/resolve.js';
export type { Route, ResolveRequest, Picker } from './proxy/resolve.js';
export { authorizeInbound } from './rbac.js';
export type { InboundCheck, InboundAllowed } from './rbac.js';
export type { MeshLookup } from './state.js';
