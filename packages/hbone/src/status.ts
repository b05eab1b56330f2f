// The one place where tunnel errors become HTTP statuses (server side) and
// statuses become typed errors again (client side).
import { AmbitError, findAmbitError, type ErrorCode } from '@ambit/core';

/** Why a server refused a connection or a tunnel: metric label and log field. */
export type RefusalReason =
  | 'tls-handshake'
  | 'no-certificate'
  | 'untrusted-peer'
  | 'bad-method'
  | 'bad-authority'
  | 'headers-too-large'
  | 'too-many-streams'
  | 'denied'
  | 'no-upstream'
  | 'upstream-timeout'
  | 'draining'
  | 'internal';

export interface Refusal {
  status: number;
  reason: RefusalReason;
}

/** Server side: what to answer for an error raised while setting up a tunnel. */
export function refusalFor(error: unknown): Refusal {
  const ambit = findAmbitError(error);
  switch (ambit?.code) {
    case 'denied':
      return { status: 401, reason: 'denied' };
    case 'bad-request':
    case 'invalid-address':
      return { status: 400, reason: 'bad-authority' };
    case 'timeout':
      return { status: 503, reason: 'upstream-timeout' };
    case 'no-upstream':
      return { status: 503, reason: 'no-upstream' };
    case 'closed':
      return { status: 503, reason: 'draining' };
    default:
      return { status: 503, reason: 'internal' };
  }
}

/** Client side: the typed error for a non-200 answer. */
export function errorForStatus(status: number, target: string, serverReason: string | undefined): AmbitError {
  const code: ErrorCode = STATUS_CODES[status] ?? 'protocol';
  const detail = serverReason === undefined ? '' : `: ${serverReason}`;
  return new AmbitError(code, `tunnel to ${target} refused with ${status}${detail}`, {
    details: { status, target, serverReason },
    hint: HINTS[code],
  });
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'bad-request',
  401: 'denied',
  403: 'denied',
  431: 'bad-request',
  503: 'no-upstream',
  504: 'timeout',
};

const HINTS: Partial<Record<ErrorCode, string>> = {
  denied: 'an authorization policy at the destination refused this source',
  'no-upstream': 'the destination is not listening, not local to that node, or refused the connection',
  'bad-request': 'the tunnel request was malformed',
};
