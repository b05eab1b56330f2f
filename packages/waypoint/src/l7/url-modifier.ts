// HTTPRoute URL filters (pure): the path a URLRewrite forwards with and the
// Location a RequestRedirect answers with. A path keeps its query string.
import type { PathModifier, RequestRedirect } from '@ambit/api';

const SCHEME_PORT = { http: 80, https: 443 } as const;

/** `path` (with its query) after `modifier`. */
export function modifyPath(path: string, modifier: PathModifier | undefined): string {
  if (modifier === undefined) return path;
  const at = path.indexOf('?');
  const [pathOnly, query] = at < 0 ? [path, ''] : [path.slice(0, at), path.slice(at)];
  return `${replacePath(pathOnly, modifier)}${query}`;
}

function replacePath(path: string, modifier: PathModifier): string {
  if (modifier.type === 'ReplaceFullPath') return modifier.value;
  // The prefix matched whole segments: what follows it is empty or starts with '/'.
  const { prefix } = modifier;
  if (prefix !== '/' && !path.startsWith(prefix)) return path;
  const rest = prefix === '/' ? path : path.slice(prefix.length);
  return `${modifier.value.replace(/\/+$/, '')}${rest}` || '/';
}

export interface RedirectFrom {
  /** Path and query, as sent. */
  path: string;
  /** The Host the client sent, without its port. */
  host: string;
  /** The port the client called (the Service port): the Gateway API's listener port, for mesh traffic. */
  port: number;
}

/**
 * The Location of a redirect, as the Gateway API builds it: unset parts keep
 * the request's (its scheme is http: the waypoint sees plaintext HTTP in its
 * tunnel); without a port, the scheme's own port when a scheme is given, else
 * the port the client called; a scheme's own port is left out.
 */
export function redirectLocation(redirect: RequestRedirect, from: RedirectFrom): string {
  const scheme = redirect.scheme ?? 'http';
  const port = redirect.port ?? (redirect.scheme === undefined ? from.port : SCHEME_PORT[redirect.scheme]);
  const host = redirect.hostname ?? from.host;
  return `${scheme}://${host}${port === SCHEME_PORT[scheme] ? '' : `:${port}`}${modifyPath(from.path, redirect.path)}`;
}

/** The host of a Host header value, without its port; an IPv6 literal in brackets (added to a bare one). */
export function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  return authority.indexOf(':') !== authority.lastIndexOf(':') ? `[${authority}]` : authority.replace(/:\d*$/, '');
}
