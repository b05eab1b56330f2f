// L7 routing as a waypoint applies it: the translation of Gateway API
// HTTPRoutes attached to a Service (parentRef kind Service: "mesh" routing,
// GAMMA) or to the waypoint's Gateway. Pure data; the control plane has
// already resolved names to keys, dropped what it cannot serve (and said so
// in the route's status), and ordered the rules by Gateway API precedence.

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

export interface HttpRouteMatch {
  path?: { type: PathMatchType; value: string };
  /** Every header must match (AND); names are lower-case. */
  headers?: { type: ValueMatchType; name: string; value: string }[];
  /** Every query parameter must match (AND). */
  queryParams?: { type: ValueMatchType; name: string; value: string }[];
  method?: string;
}

export interface HeaderModifier {
  /** Replace or add. Names lower-case. */
  set?: { name: string; value: string }[];
  /** Append (add another value). */
  add?: { name: string; value: string }[];
  remove?: string[];
}

/**
 * Gateway API HTTPPathModifier, resolved: `ReplacePrefixMatch` carries the
 * prefix its rule matched (whole segments, no trailing slash; `/` for the
 * implicit match), so a waypoint applies it without the match.
 */
export type PathModifier =
  | { type: 'ReplaceFullPath'; value: string }
  | { type: 'ReplacePrefixMatch'; prefix: string; value: string };

/** Filter `URLRewrite`: what the request is forwarded with. */
export interface UrlRewrite {
  /** Replaces the Host header sent upstream. */
  hostname?: string;
  path?: PathModifier;
}

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

/**
 * Filter `RequestRedirect`: the waypoint answers with a Location built from
 * the request; what is unset keeps the request's value (the scheme http, the
 * port the client called — or the scheme's own port when `scheme` is set).
 */
export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: PathModifier;
  port?: number;
  statusCode: RedirectStatus;
}

export interface HttpBackend {
  /** The Service's namespace/name. */
  service: string;
  port: number;
  /** Relative weight; 0 receives nothing. */
  weight: number;
}

export interface RetryPolicy {
  /** Attempts after the first; 0 disables. */
  attempts: number;
  /** Which outcomes are retried. */
  on: ('5xx' | 'gateway-error' | 'connect-failure' | 'reset')[];
  /** Deadline of each attempt; undefined means only the request timeout applies. */
  perTryTimeoutMs?: number;
  /** Delay before the first retry (doubles each time, jittered). */
  backoffMs?: number;
}

export interface FaultPolicy {
  /** Delay this percentage of requests by `delayMs`. */
  delay?: { percent: number; delayMs: number };
  /** Answer this percentage of requests with `status` without forwarding. */
  abort?: { percent: number; status: number };
}

export interface HttpRouteRule {
  /** Empty: matches every request (as a `PathPrefix /` match). */
  matches: HttpRouteMatch[];
  requestHeaders?: HeaderModifier;
  responseHeaders?: HeaderModifier;
  rewrite?: UrlRewrite;
  /** Set: the waypoint answers with a redirect, and `backends` is empty. */
  redirect?: RequestRedirect;
  /** Empty (without `redirect`): requests matching this rule get 500 (no backend), as the Gateway API prescribes. */
  backends: HttpBackend[];
  /** `timeouts.request`: the whole request including retries; undefined = no timeout. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  fault?: FaultPolicy;
}

export interface HttpRoute {
  /** namespace/name of the HTTPRoute. */
  key: string;
  namespace: string;
  name: string;
  /** Where it attaches: Service keys (namespace/name, optionally one port) and/or waypoint Gateway keys. */
  parents: { kind: 'Service' | 'Gateway'; key: string; port?: number }[];
  /** Lower-case hostnames (Gateway parents only); empty = any. */
  hostnames: string[];
  rules: HttpRouteRule[];
}

export function routeKey(route: Pick<HttpRoute, 'key'>): string {
  return route.key;
}

// Gateway API rule precedence (HTTPRouteRule docs), shared by the control
// plane (which orders each route's rules) and the waypoint (which merges the
// routes of one parent): among matches that all fit a request, the first of
// these wins — an Exact path; the longest PathPrefix; a method match; the most
// header matches; the most query parameter matches; then the route (oldest;
// the key stands in) and the order inside it. RegularExpression paths rank
// after every Exact and PathPrefix match (the Gateway API leaves regex
// precedence to the implementation; Istio does the same), longer first.
const PATH_RANK = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;

/** Negative when `a` takes precedence over `b`; 0 when only route age, name or order can decide. */
export function compareMatches(a: HttpRouteMatch, b: HttpRouteMatch): number {
  const pa = a.path ?? { type: 'PathPrefix', value: '/' };
  const pb = b.path ?? { type: 'PathPrefix', value: '/' };
  return PATH_RANK[pa.type] - PATH_RANK[pb.type]
    || (pa.type === 'Exact' ? 0 : pb.value.length - pa.value.length)
    || Number(b.method !== undefined) - Number(a.method !== undefined)
    || (b.headers?.length ?? 0) - (a.headers?.length ?? 0)
    || (b.queryParams?.length ?? 0) - (a.queryParams?.length ?? 0);
}
