// The one place where an error becomes an HTTP status and a response flag
// (Envoy's short flags, for the `response_flags` metric label and the access
// log). Layers that fail on purpose put the flag (and status) in the
// error's details; everything else is mapped by code.
import { AmbitError, findAmbitError, type ErrorCode } from '@ambit/core';

/**
 * Envoy's short response flags, as far as the waypoint produces them:
 * - `-` none; `DENY` L7 or L4 policy denied (Envoy reports RBAC denials in its details, ztunnel says DENY)
 * - `NR` no route / unknown destination; `UH` no healthy upstream; `UF` upstream connect failure
 * - `UC` upstream connection terminated; `UT` upstream (request) timeout; `URX` retries exhausted
 * - `UO` upstream overflow (the retry budget refused a retry); `FI` fault abort; `DI` fault delay
 * - `DC` downstream connection terminated; `DPE` downstream protocol error
 */
export type ResponseFlag = '-' | 'DENY' | 'NR' | 'UH' | 'UF' | 'UC' | 'UT' | 'URX' | 'UO' | 'FI' | 'DI' | 'DC' | 'DPE';

const BY_CODE: Partial<Record<ErrorCode, { status: number; flag: ResponseFlag }>> = {
  denied: { status: 403, flag: 'DENY' },
  'no-upstream': { status: 503, flag: 'UF' },
  timeout: { status: 504, flag: 'UT' },
  'not-found': { status: 503, flag: 'NR' },
  'invalid-address': { status: 503, flag: 'NR' },
  'bad-request': { status: 400, flag: 'DPE' },
  limit: { status: 413, flag: 'DPE' },
  protocol: { status: 503, flag: 'UC' },
  closed: { status: 503, flag: 'DC' },
  'tls-failure': { status: 503, flag: 'UF' },
  'tls-identity-mismatch': { status: 503, flag: 'UF' },
  'untrusted-certificate': { status: 503, flag: 'UF' },
};

/** The status and flag a failed exchange is answered and reported with. */
export function outcomeFor(error: unknown): { status: number; flag: ResponseFlag } {
  const ambit = findAmbitError(error);
  const mapped = (ambit === undefined ? undefined : BY_CODE[ambit.code]) ?? { status: 503, flag: 'UF' as const };
  const flag = ambit?.details.flag;
  const status = ambit?.details.status;
  return {
    status: typeof status === 'number' ? status : mapped.status,
    flag: typeof flag === 'string' ? flag as ResponseFlag : mapped.flag,
  };
}

/** An error for a deliberate failure, carrying its flag (and status) to the boundary. */
export function failure(
  code: ErrorCode, flag: ResponseFlag, message: string, options: { status?: number; hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
): AmbitError {
  return new AmbitError(code, message, {
    ...(options.hint === undefined ? {} : { hint: options.hint }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { ...options.details, flag, ...(options.status === undefined ? {} : { status: options.status }) },
  });
}
