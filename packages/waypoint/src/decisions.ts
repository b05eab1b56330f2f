// The waypoint's decisions as pure functions over a mesh view, without the
// proxy itself: which destination a tunnel is for, L7 authorization, route
// selection, a redirect's Location and the endpoints a backend has.
// `ambit explain` runs them on the state the waypoint's admin API shows.
export { resolveDestination } from './proxy/destination.js';
export { evaluateL7 } from './l7/rbac.js';
export type { L7Request, L7Target, L7Decision } from './l7/rbac.js';
export { selectRule } from './l7/routing.js';
export type { RouteRequest, RouteTarget, SelectedRule } from './l7/routing.js';
export { Balancer } from './l7/balancer.js';
export type { Backend, Destination, Endpoint } from './l7/exchange.js';
export { selectFor, calledBackend } from './l7/route.js';
export { hostOf, redirectLocation } from './l7/url-modifier.js';
