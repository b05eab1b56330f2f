// HTTPRoute URL filters — RequestRedirect and URLRewrite — as a waypoint
// applies them. Shared by the translation (which refuses a bad filter's rule
// and says so in status) and manifest validation (which refuses it up
// front). A `ReplacePrefixMatch` needs the prefix its rule matched: the
// Gateway API allows it only on a rule with exactly one match, a PathPrefix
// (no match at all is the implicit `PathPrefix /`); `prefix` is that match's
// value (replaceablePrefix), undefined when the rule has no such single match.
import type { PathModifier, RedirectStatus, RequestRedirect, UrlRewrite } from '@ambit/api';
import type { HTTPPathModifier, HTTPRequestRedirectFilter, HTTPRouteMatch, HTTPURLRewriteFilter } from '../resources.js';
import type { Parsed } from './route-values.js';

export const REDIRECT_STATUSES: readonly RedirectStatus[] = [301, 302, 303, 307, 308];
/** The Gateway API's default `statusCode`. */
export const DEFAULT_REDIRECT_STATUS: RedirectStatus = 302;
// Gateway API PreciseHostname: no wildcard.
const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The prefix a rule's ReplacePrefixMatch replaces (trailing slashes dropped), or undefined when it has none to offer. */
export function replaceablePrefix(matches: readonly HTTPRouteMatch[]): string | undefined {
  if (matches.length > 1) return undefined;
  const path = matches[0]?.path ?? {};
  if ((path.type ?? 'PathPrefix') !== 'PathPrefix') return undefined;
  return (path.value ?? '/').replace(/\/+$/, '') || '/';
}

export function convertRedirect(filter: HTTPRequestRedirectFilter, prefix: string | undefined): Parsed<RequestRedirect> {
  const statusCode = filter.statusCode ?? DEFAULT_REDIRECT_STATUS;
  if (!(REDIRECT_STATUSES as readonly number[]).includes(statusCode)) {
    return fail(`statusCode ${statusCode} is not a redirect status (use ${REDIRECT_STATUSES.join(', ')})`);
  }
  const result: RequestRedirect = { statusCode: statusCode as RedirectStatus };
  if (filter.scheme !== undefined) {
    if (filter.scheme !== 'http' && filter.scheme !== 'https') return fail(`scheme ${JSON.stringify(filter.scheme)} is not http or https`);
    result.scheme = filter.scheme;
  }
  if (filter.port !== undefined) {
    if (!Number.isInteger(filter.port) || filter.port < 1 || filter.port > 65_535) return fail(`port ${filter.port} is not a port from 1 to 65535`);
    result.port = filter.port;
  }
  return withTarget(result, filter, prefix);
}

export function convertRewrite(filter: HTTPURLRewriteFilter, prefix: string | undefined): Parsed<UrlRewrite> {
  return withTarget({}, filter, prefix);
}

/** Adds the hostname and path the filter asks for to `result`. */
function withTarget<T extends UrlRewrite>(result: T, filter: HTTPURLRewriteFilter, prefix: string | undefined): Parsed<T> {
  if (filter.hostname !== undefined) {
    const hostname = filter.hostname.toLowerCase();
    if (hostname.length > 253 || !PRECISE_HOSTNAME.test(hostname)) {
      return fail(`hostname ${JSON.stringify(filter.hostname)} is not a hostname (letters, digits, '-' and '.'; no wildcard)`);
    }
    result.hostname = hostname;
  }
  if (filter.path !== undefined) {
    const path = pathModifier(filter.path, prefix);
    if (!path.ok) return path;
    result.path = path.value;
  }
  return { ok: true, value: result };
}

function pathModifier(path: HTTPPathModifier, prefix: string | undefined): Parsed<PathModifier> {
  switch (path.type) {
    case 'ReplaceFullPath': {
      const value = path.replaceFullPath;
      if (value === undefined) return fail('path.replaceFullPath is required when path.type is ReplaceFullPath');
      if (!value.startsWith('/')) return fail(`path.replaceFullPath ${JSON.stringify(value)} must start with /`);
      return { ok: true, value: { type: 'ReplaceFullPath', value } };
    }
    case 'ReplacePrefixMatch': {
      const value = path.replacePrefixMatch;
      if (value === undefined) return fail('path.replacePrefixMatch is required when path.type is ReplacePrefixMatch');
      if (value !== '' && !value.startsWith('/')) return fail(`path.replacePrefixMatch ${JSON.stringify(value)} must start with / (or be empty)`);
      if (prefix === undefined) return fail('path.type ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix');
      return { ok: true, value: { type: 'ReplacePrefixMatch', prefix, value } };
    }
    default:
      return fail(`path.type ${JSON.stringify(path.type)} is not ReplaceFullPath or ReplacePrefixMatch`);
  }
}

function fail(problem: string): { ok: false; problem: string } {
  return { ok: false, problem };
}
