// HTTPRoute selection (pure; table-tested): which rule of which route a
// request takes, by Gateway API precedence. Routes attached to the called
// Service (GAMMA) win over routes attached to the waypoint's Gateway; among
// the candidates' matches the most specific wins: exact path, then the
// longest prefix, then regular expressions; then a method match; then more
// header matches; then more query matches; then the route key (oldest route
// in the API; the key is the stable stand-in); then rule order.
import { compareMatches, type HttpBackend, type HttpRoute, type HttpRouteMatch, type HttpRouteRule } from '@ambit/api';
import { headerValue, type HeaderMap } from './exchange.js';

export interface RouteRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Host without port, lower-case. */
  host: string;
  headers: HeaderMap;
}

export interface RouteTarget {
  /** namespace/name of the called Service, when the client called one. */
  service: string | undefined;
  port: number;
  /** namespace/name of this waypoint's Gateway. */
  gateway: string;
}

export interface SelectedRule {
  route: HttpRoute;
  rule: HttpRouteRule;
}

const IMPLICIT: HttpRouteMatch = { path: { type: 'PathPrefix', value: '/' } };

/** The routes that apply to a request for `target`: the Service's own, else the Gateway's. */
export function attachedRoutes(routes: readonly HttpRoute[], target: RouteTarget, host: string): HttpRoute[] {
  const byService = target.service === undefined ? [] : routes.filter((r) => r.parents.some((p) =>
    p.kind === 'Service' && p.key === target.service && (p.port === undefined || p.port === target.port)));
  if (byService.length > 0) return byService;
  return routes.filter((r) => r.parents.some((p) => p.kind === 'Gateway' && p.key === target.gateway && (p.port === undefined || p.port === target.port))
    && (r.hostnames.length === 0 || r.hostnames.some((h) => hostnameMatches(h, host))));
}

export function selectRule(routes: readonly HttpRoute[], target: RouteTarget, request: RouteRequest): SelectedRule | undefined {
  const [pathOnly = '/', query = ''] = splitOnce(request.path, '?');
  const params = new URLSearchParams(query);
  let best: { selected: SelectedRule; rank: Rank } | undefined;
  for (const route of attachedRoutes(routes, target, request.host)) {
    route.rules.forEach((rule, ruleIndex) => {
      for (const match of rule.matches.length === 0 ? [IMPLICIT] : rule.matches) {
        if (!matches(match, request.method, pathOnly, params, request.headers)) continue;
        const rank = rankOf(match, route.key, ruleIndex);
        if (best === undefined || compareRank(rank, best.rank) < 0) best = { selected: { route, rule }, rank };
      }
    });
  }
  return best?.selected;
}

/** Weighted choice among backends; undefined when every weight is 0 (or there are none). */
export function pickWeighted(backends: readonly HttpBackend[], random: () => number = Math.random): HttpBackend | undefined {
  const total = backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0);
  if (total <= 0) return undefined;
  let point = random() * total;
  for (const backend of backends) {
    point -= Math.max(0, backend.weight);
    if (point < 0) return backend;
  }
  return backends.findLast((b) => b.weight > 0);
}

export function matches(match: HttpRouteMatch, method: string, path: string, params: URLSearchParams, headers: HeaderMap): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method.toUpperCase()) return false;
  if (match.path !== undefined && !pathMatches(match.path.type, match.path.value, path)) return false;
  for (const header of match.headers ?? []) {
    const value = headerValue(headers, header.name.toLowerCase());
    if (value === undefined || !valueMatches(header.type, header.value, value)) return false;
  }
  for (const param of match.queryParams ?? []) {
    const value = params.get(param.name);
    if (value === null || !valueMatches(param.type, param.value, value)) return false;
  }
  return true;
}

export function pathMatches(type: 'Exact' | 'PathPrefix' | 'RegularExpression', pattern: string, path: string): boolean {
  switch (type) {
    case 'Exact':
      return path === pattern;
    case 'PathPrefix': {
      // Element-wise: /foo matches /foo, /foo/ and /foo/bar, never /foobar.
      const prefix = pattern.length > 1 && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
      if (prefix === '/') return path.startsWith('/');
      return path === prefix || path.startsWith(`${prefix}/`);
    }
    case 'RegularExpression':
      return regex(pattern)?.test(path) ?? false;
  }
}

function valueMatches(type: 'Exact' | 'RegularExpression', pattern: string, value: string): boolean {
  return type === 'Exact' ? value === pattern : regex(pattern)?.test(value) ?? false;
}

/** `*.example.com` covers one or more labels, as the Gateway API says. */
function hostnameMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

interface Rank {
  match: HttpRouteMatch;
  routeKey: string;
  ruleIndex: number;
}

function rankOf(match: HttpRouteMatch, routeKey: string, ruleIndex: number): Rank {
  return { match, routeKey, ruleIndex };
}

/** The control plane's precedence (compareMatches), then the route (the key stands in for age), then rule order. */
function compareRank(a: Rank, b: Rank): number {
  return compareMatches(a.match, b.match)
    || (a.routeKey < b.routeKey ? -1 : a.routeKey > b.routeKey ? 1 : 0)
    || a.ruleIndex - b.ruleIndex;
}

const regexes = new Map<string, RegExp | null>();

/** Anchored (RE2-like full match); an invalid pattern matches nothing. */
function regex(pattern: string): RegExp | undefined {
  let compiled = regexes.get(pattern);
  if (compiled === undefined) {
    try {
      compiled = new RegExp(`^(?:${pattern})$`);
    } catch {
      compiled = null;
    }
    if (regexes.size > 1024) regexes.clear();
    regexes.set(pattern, compiled);
  }
  return compiled ?? undefined;
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}
