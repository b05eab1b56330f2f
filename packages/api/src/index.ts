export { socketAddress, parseAuthority, formatAuthority, normalizeIp } from './address.js';
export type { SocketAddress } from './address.js';
export { parseCertificateResponse } from './ca.js';
export type { CertificateRequest, CertificateResponse } from './ca.js';
export { workloadKey, serviceKey } from './workload.js';
export type { Workload, WorkloadProtocol, WaypointFor, WaypointBinding, Service, ServicePort, Endpoint } from './workload.js';
export type {
  Authorization, AuthorizationAction, AuthorizationScope, AuthorizationRule, SourceMatch, DestinationMatch, ConditionMatch,
} from './authorization.js';
export { resourceKey } from './discovery.js';
export type {
  ProxyRole, SubscribeRequest, Resource, ResourceKind, Removal, DiscoveryUpdate, DiscoveryAck,
} from './discovery.js';
export { LineSplitter, encodeLine, DEFAULT_MAX_LINE_BYTES } from './ndjson.js';
export { evaluateL4, appliesTo, cidrContains, stringMatches, ROOT_NAMESPACE } from './rbac.js';
export type { L4Request, L4Decision } from './rbac.js';
export { matchesLabels, parseCidr } from './selection.js';
export { routeKey, compareMatches } from './route.js';
export type {
  HttpRoute, HttpRouteRule, HttpRouteMatch, HttpBackend, HeaderModifier, PathModifier, UrlRewrite, RequestRedirect, RedirectStatus, RetryPolicy, FaultPolicy, PathMatchType, ValueMatchType,
} from './route.js';
