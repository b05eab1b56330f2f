// Gateway API rule precedence (HTTPRouteRule docs): among matches that all
// fit a request, the first of these wins — an Exact path; the longest
// PathPrefix; a method match; the most header matches; the most query
// parameter matches; then the oldest route, then the route's namespace/name,
// then the order inside the route. RegularExpression paths are ranked after
// every Exact and PathPrefix match (the Gateway API leaves regex precedence to
// the implementation; Istio does the same), longer patterns first.
import type { HttpRouteMatch } from '@ambit/api';

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
