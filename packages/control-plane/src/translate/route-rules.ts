// One HTTPRoute rule → what a waypoint applies. Everything that cannot be
// served is dropped the safe way and reported with the path of the field:
// - a match with a bad value (regex, path) is dropped whole (dropping only its
//   bad condition would widen it); a rule left with no match is dropped;
// - an unsupported filter, or one with a value we cannot apply, is never
//   skipped silently: as the Gateway API prescribes, requests matching the
//   rule get 500 (no backends);
// - a RequestRedirect rule is answered by the waypoint: no backends;
// - a backend that cannot be resolved keeps its weight, so its share of
//   requests gets 500 (Gateway API): a missing Service keeps its key, a ref we
//   refuse (other kind, other namespace, no port) gets a key starting with
//   UNRESOLVED_BACKEND_PREFIX, which no Service can have.
import type { FaultPolicy, HeaderModifier, HttpBackend, HttpRouteMatch, HttpRouteRule, RetryPolicy } from '@ambit/api';
import type { HTTPBackendRef, HTTPHeaderFilter, HTTPHeaderMatch, HTTPRouteMatch, HTTPRouteRule, Service } from '../resources.js';
import { parseDuration, regexProblem, type RetryOn } from './route-values.js';
import { convertRedirect, convertRewrite, replaceablePrefix } from './route-url.js';

export const UNRESOLVED_BACKEND_PREFIX = '!unresolved:';
const SUPPORTED_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'] as const;
/** Retries when a `retry` stanza or `ambit.dev/retry-on` asks for retries without saying how many (Istio's default too). */
export const DEFAULT_RETRY_ATTEMPTS = 2;

export type RefReason = 'BackendNotFound' | 'InvalidKind' | 'RefNotPermitted' | 'UnsupportedValue';

/** What the rules could not honour, for the route's status. */
export interface RuleIssues {
  /** ResolvedRefs=False: backends and filters that make (a share of) requests fail with 500. */
  refs: { reason: RefReason; message: string }[];
  /** PartiallyInvalid=True: matches, rules and values that were dropped. */
  dropped: string[];
}

export interface RuleContext {
  namespace: string;
  /** Backend port when a backendRef names none: the port of the route's Service parentRef. */
  defaultPort?: number;
  /** Kubernetes Services by namespace/name. */
  services: ReadonlyMap<string, Service>;
  /** Route-wide extensions from annotations (already parsed). */
  retryOn?: RetryOn[];
  perTryTimeoutMs?: number;
  fault?: FaultPolicy;
}

/** The rule with one entry per match (precedence is per match), or undefined when no match is left. */
export interface ConvertedRule {
  matches: HttpRouteMatch[];
  rule: Omit<HttpRouteRule, 'matches'>;
}

export function convertRule(rule: HTTPRouteRule, index: number, context: RuleContext, issues: RuleIssues): ConvertedRule | undefined {
  const at = `spec.rules[${index}]`;
  const given = rule.matches ?? [];
  const matches: HttpRouteMatch[] = [];
  given.forEach((match, i) => {
    const converted = convertMatch(match, `${at}.matches[${i}]`, issues);
    if (converted !== undefined) matches.push(converted);
  });
  if (given.length === 0) matches.push({ path: { type: 'PathPrefix', value: '/' } });
  if (matches.length === 0) {
    issues.dropped.push(`${at}: dropped, none of its matches is valid`);
    return undefined;
  }

  const result: Omit<HttpRouteRule, 'matches'> = { backends: [] };
  let unusable = false;
  const refuse = (where: string, problem: string): void => {
    unusable = true;
    issues.refs.push({ reason: 'UnsupportedValue', message: `${where}: ${problem}; requests matching this rule get 500` });
  };
  const prefix = replaceablePrefix(given);
  const seen = new Set<string>();
  (rule.filters ?? []).forEach((filter, i) => {
    const where = `${at}.filters[${i}]`;
    if (seen.has(filter.type)) {
      issues.dropped.push(`${where}: a second ${filter.type} filter is ignored`);
      return;
    }
    seen.add(filter.type);
    if (filter.type === 'RequestHeaderModifier' && filter.requestHeaderModifier !== undefined) {
      result.requestHeaders = headerModifier(filter.requestHeaderModifier);
    } else if (filter.type === 'ResponseHeaderModifier' && filter.responseHeaderModifier !== undefined) {
      result.responseHeaders = headerModifier(filter.responseHeaderModifier);
    } else if (filter.type === 'RequestRedirect' && filter.requestRedirect !== undefined) {
      const redirect = convertRedirect(filter.requestRedirect, prefix);
      if (redirect.ok) result.redirect = redirect.value;
      else refuse(`${where}.requestRedirect`, redirect.problem);
    } else if (filter.type === 'URLRewrite' && filter.urlRewrite !== undefined) {
      const rewrite = convertRewrite(filter.urlRewrite, prefix);
      if (rewrite.ok) result.rewrite = rewrite.value;
      else refuse(`${where}.urlRewrite`, rewrite.problem);
    } else {
      refuse(where, `filter ${filter.type} is not supported by the waypoint (supported: ${SUPPORTED_FILTERS.join(', ')})`);
    }
  });
  if (result.redirect !== undefined && result.rewrite !== undefined) refuse(`${at}.filters`, 'RequestRedirect and URLRewrite cannot be used together');
  if (unusable) {
    delete result.redirect;
    delete result.rewrite;
  }

  if (result.redirect !== undefined) {
    // The waypoint answers a redirect itself (the Gateway API does not allow backendRefs beside one).
    if ((rule.backendRefs ?? []).length > 0) issues.dropped.push(`${at}.backendRefs: ignored, the rule redirects`);
  } else {
    const backends = (rule.backendRefs ?? []).map((ref, i) => backend(ref, `${at}.backendRefs[${i}]`, context, issues));
    if (!unusable) result.backends = backends;
  }
  Object.assign(result, resilience(rule, at, context, issues));
  if (context.fault !== undefined) result.fault = context.fault;
  return { matches, rule: result };
}

// --- matches -----------------------------------------------------------------------

function convertMatch(match: HTTPRouteMatch, at: string, issues: RuleIssues): HttpRouteMatch | undefined {
  const drop = (field: string, problem: string): undefined => {
    issues.dropped.push(`${at}.${field}: ${problem}; the match is dropped`);
    return undefined;
  };
  const type = match.path?.type ?? 'PathPrefix';
  let value = match.path?.value ?? '/';
  if (type === 'RegularExpression') {
    const problem = regexProblem(value);
    if (problem !== undefined) return drop('path.value', problem);
  } else {
    if (!value.startsWith('/')) return drop('path.value', `${JSON.stringify(value)} must start with /`);
    // "/foo/" and "/foo" are the same prefix: the waypoint matches whole path segments.
    if (type === 'PathPrefix') value = value.replace(/\/+$/, '') || '/';
  }
  const result: HttpRouteMatch = { path: { type, value } };

  for (const [field, lower] of [['headers', true], ['queryParams', false]] as const) {
    const list: NonNullable<HttpRouteMatch['headers']> = [];
    const names = new Set<string>();
    for (const [i, entry] of (match[field] ?? []).entries()) {
      const converted = valueMatch(entry, lower);
      // The Gateway API: among entries with an equivalent name, only the first counts.
      if (names.has(converted.name)) continue;
      names.add(converted.name);
      if (converted.type === 'RegularExpression') {
        const problem = regexProblem(converted.value);
        if (problem !== undefined) return drop(`${field}[${i}].value`, problem);
      }
      list.push(converted);
    }
    if (list.length > 0) result[field] = list;
  }
  if (match.method !== undefined) result.method = match.method.toUpperCase();
  return result;
}

function valueMatch(entry: HTTPHeaderMatch, lowerName: boolean): NonNullable<HttpRouteMatch['headers']>[number] {
  return { type: entry.type ?? 'Exact', name: lowerName ? entry.name.toLowerCase() : entry.name, value: entry.value };
}

function headerModifier(filter: HTTPHeaderFilter): HeaderModifier {
  const result: HeaderModifier = {};
  const pairs = (list: { name: string; value: string }[] | undefined) => (list ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value }));
  const set = pairs(filter.set);
  const add = pairs(filter.add);
  const remove = (filter.remove ?? []).map((name) => name.toLowerCase());
  if (set.length > 0) result.set = set;
  if (add.length > 0) result.add = add;
  if (remove.length > 0) result.remove = remove;
  return result;
}

// --- backends -----------------------------------------------------------------------

function backend(ref: HTTPBackendRef, at: string, context: RuleContext, issues: RuleIssues): HttpBackend {
  const weight = ref.weight ?? 1;
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  const namespace = ref.namespace ?? context.namespace;
  const key = `${namespace}/${ref.name}`;
  const refuse = (reason: RefReason, message: string): HttpBackend => {
    issues.refs.push({ reason, message: `${at}: ${message}` });
    return { service: `${UNRESOLVED_BACKEND_PREFIX}${kind}/${key}`, port: ref.port ?? context.defaultPort ?? 0, weight };
  };
  if ((group !== '' && group !== 'core') || kind !== 'Service') {
    return refuse('InvalidKind', `${group === '' ? '' : `${group}/`}${kind} is not a supported backend kind (use a core Service)`);
  }
  if (namespace !== context.namespace) {
    return refuse('RefNotPermitted', `Service ${key} is in another namespace than the route; cross-namespace backends need a ReferenceGrant, which Ambit does not support`);
  }
  if ((ref.filters ?? []).length > 0) return refuse('UnsupportedValue', 'backendRefs filters are not supported by the waypoint');
  const port = ref.port ?? context.defaultPort;
  if (port === undefined) return refuse('UnsupportedValue', 'port is required (there is no Service parentRef port to default to)');
  const service = context.services.get(key);
  if (service === undefined) {
    issues.refs.push({ reason: 'BackendNotFound', message: `${at}: Service ${key} not found; its share of requests gets 500` });
  } else if (!(service.spec?.ports ?? []).some((p) => p.port === port)) {
    issues.refs.push({ reason: 'BackendNotFound', message: `${at}: Service ${key} has no port ${port}; its share of requests gets 500` });
  }
  return { service: key, port, weight };
}

// --- timeouts and retries -------------------------------------------------------------

function resilience(rule: HTTPRouteRule, at: string, context: RuleContext, issues: RuleIssues): Pick<HttpRouteRule, 'timeoutMs' | 'retry'> {
  const duration = (text: string | undefined, field: string): number | undefined => {
    if (text === undefined) return undefined;
    const parsed = parseDuration(text);
    if (parsed.ok) return parsed.value;
    issues.dropped.push(`${at}.${field}: ${parsed.problem}; ignored`);
    return undefined;
  };
  // "0s" means no timeout (Gateway API).
  const nonZero = (ms: number | undefined): number | undefined => (ms === 0 ? undefined : ms);
  const requestMs = nonZero(duration(rule.timeouts?.request, 'timeouts.request'));
  const perTryMs = nonZero(duration(rule.timeouts?.backendRequest, 'timeouts.backendRequest')) ?? context.perTryTimeoutMs;

  let retry: RetryPolicy | undefined;
  if (rule.retry !== undefined || context.retryOn !== undefined) {
    const attempts = rule.retry?.attempts ?? DEFAULT_RETRY_ATTEMPTS;
    retry = { attempts, on: context.retryOn ?? retryOnCodes(rule.retry?.codes, `${at}.retry.codes`, issues) };
    const backoffMs = duration(rule.retry?.backoff, 'retry.backoff');
    if (backoffMs !== undefined) retry.backoffMs = backoffMs;
    if (perTryMs !== undefined) retry.perTryTimeoutMs = perTryMs;
  }

  const result: Pick<HttpRouteRule, 'timeoutMs' | 'retry'> = {};
  // Without retries, the per-attempt deadline is a deadline on the only attempt.
  const timeoutMs = retry === undefined && perTryMs !== undefined ? Math.min(perTryMs, requestMs ?? Infinity) : requestMs;
  if (timeoutMs !== undefined) result.timeoutMs = timeoutMs;
  if (retry !== undefined) result.retry = retry;
  return result;
}

/**
 * Gateway API retry codes → the waypoint's retry classes. Connection errors
 * are always retried (the Gateway API says implementations SHOULD); 502/503/504
 * only is `gateway-error`; any other 5xx widens to `5xx`; codes under 500 are
 * not retried and reported.
 */
function retryOnCodes(codes: readonly number[] | undefined, at: string, issues: RuleIssues): RetryOn[] {
  const on: RetryOn[] = ['connect-failure', 'reset'];
  const list = codes ?? [502, 503, 504];
  const fivexx = list.filter((c) => c >= 500 && c <= 599);
  const other = list.filter((c) => !(c >= 500 && c <= 599));
  if (other.length > 0) issues.dropped.push(`${at}: ${other.join(', ')} not retried (the waypoint retries 5xx responses only)`);
  if (fivexx.length > 0) on.unshift(fivexx.every((c) => c === 502 || c === 503 || c === 504) ? 'gateway-error' : '5xx');
  return on;
}
