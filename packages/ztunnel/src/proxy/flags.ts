// The one place where an error becomes a response flag (the
// `response_flags` metric label and access-log field) and a refusal reason
// (the `ambit_ztunnel_refusals_total` label). Code that refuses on purpose
// puts both in the error's details; everything else is mapped by code.
import { AmbitError, findAmbitError, type ErrorCode } from '@ambit/core';

/** Envoy-style response flags, as ztunnel reports them; `-` means none. */
export type ResponseFlag = '-' | 'DENY' | 'CONNECT' | 'TLS_FAILURE' | 'NR' | 'DRAIN';

export const RESPONSE_FLAGS: readonly ResponseFlag[] = ['-', 'DENY', 'CONNECT', 'TLS_FAILURE', 'NR', 'DRAIN'];

const FLAG_BY_CODE: Partial<Record<ErrorCode, ResponseFlag>> = {
  denied: 'DENY',
  'no-upstream': 'CONNECT',
  timeout: 'CONNECT',
  limit: 'CONNECT',
  protocol: 'CONNECT',
  'tls-failure': 'TLS_FAILURE',
  'tls-identity-mismatch': 'TLS_FAILURE',
  'untrusted-certificate': 'TLS_FAILURE',
  'certificate-expired': 'TLS_FAILURE',
  'certificate-not-yet-valid': 'TLS_FAILURE',
  'not-entitled': 'TLS_FAILURE',
  'issuance-failed': 'TLS_FAILURE',
  'invalid-address': 'NR',
  'not-found': 'NR',
  closed: 'DRAIN',
};

export function responseFlagFor(error: unknown): ResponseFlag {
  const ambit = findAmbitError(error);
  if (ambit === undefined) return 'CONNECT';
  const explicit = ambit.details.flag;
  if (typeof explicit === 'string' && (RESPONSE_FLAGS as readonly string[]).includes(explicit)) return explicit as ResponseFlag;
  return FLAG_BY_CODE[ambit.code] ?? 'CONNECT';
}

/** A short, stable reason for metrics: the error's own, else one derived from its code. */
export function refusalReasonFor(error: unknown): string {
  const ambit = findAmbitError(error);
  const explicit = ambit?.details.reason;
  if (typeof explicit === 'string') return explicit;
  switch (ambit?.code) {
    case 'denied': return 'denied';
    case 'no-upstream': return 'upstream-connect-failed';
    case 'timeout': return 'upstream-timeout';
    case 'tls-failure':
    case 'tls-identity-mismatch':
    case 'untrusted-certificate':
      return 'tls-failure';
    case 'certificate-expired':
    case 'certificate-not-yet-valid':
    case 'not-entitled':
    case 'issuance-failed':
      return 'no-certificate';
    case 'closed': return 'draining';
    default: return ambit?.code ?? 'upstream-connect-failed';
  }
}

/** An error for a deliberate refusal: carries its reason and flag to the boundary that reports it. */
export function refusal(
  code: ErrorCode, reason: string, flag: ResponseFlag, message: string, options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
): AmbitError {
  return new AmbitError(code, message, {
    ...(options.hint === undefined ? {} : { hint: options.hint }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { ...options.details, reason, flag },
  });
}
