// Kubernetes answers as AmbitErrors, in one place: a Status object (or a bare
// HTTP status, or a connection failure) becomes a stable code by HTTP code
// and reason, keeps the server's message, and carries a hint.
import { AmbitError, systemCode, type ErrorCode } from '@ambit/core';
import type { ResourceType } from '../resources.js';

/** Fields of a Kubernetes Status object that errors are built from. */
export interface KubeStatus {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { field?: string; message?: string }[] };
}

export interface Operation {
  /** What was attempted, for messages: `create Service demo/echo`. */
  what: string;
  type: ResourceType;
  name?: string;
}

/** A Kubernetes Status (or a bare HTTP status) as an AmbitError, by code and reason. */
export function statusError(status: KubeStatus, httpStatus: number, operation: Operation): AmbitError {
  const code = typeof status.code === 'number' ? status.code : httpStatus;
  const reason = status.reason ?? '';
  const causes = (status.details?.causes ?? []).map((c) => `${c.field ?? '?'}: ${c.message ?? ''}`);
  const message = `${operation.what}: ${status.message ?? `HTTP ${code}`}`;
  const details = { status: code, reason, ...(status.details?.name === undefined ? {} : { name: status.details.name }), ...(causes.length > 0 ? { causes } : {}) };
  const make = (ambitCode: ErrorCode, hint?: string): AmbitError => new AmbitError(ambitCode, message, { details, ...(hint === undefined ? {} : { hint }) });
  switch (code) {
    case 404:
      return status.details?.name === undefined
        ? make('not-found', `the API server does not serve ${operation.type.plural}.${operation.type.group || 'core'}/${operation.type.version} — is the CRD installed?`)
        : make('not-found');
    case 409:
      return reason === 'AlreadyExists' ? make('already-exists') : make('conflict', 'read the object again and retry with its current resourceVersion');
    case 410:
      return make('gone', 'relist, then watch from the new resourceVersion');
    case 400:
    case 413:
    case 415:
    case 422:
      return make('invalid-resource');
    case 401:
      return make('denied', 'the API server did not accept the credentials in the kubeconfig');
    case 403:
      return make('denied', 'grant the control plane\'s service account this verb in its ClusterRole');
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return make('unavailable', 'the API server is overloaded or failing; retry with backoff');
    default:
      return make('internal');
  }
}

/** The `done` error of client-node's Watch: an HTTP status without body, or a connection failure. */
export function watchFailure(error: unknown, server: URL, type: ResourceType): AmbitError {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  const operation = { what: `watch ${type.plural}`, type };
  if (typeof statusCode === 'number') return statusError({ message: (error as Error).message }, statusCode, operation);
  return unreachable(operation.what, server, error, 'the caller relists and watches again with backoff');
}

export function closedError(): AmbitError {
  return new AmbitError('closed', 'the Kubernetes store is closed');
}

/** The API server could not be reached or did not answer in time. */
export function unreachable(what: string, server: URL, error: unknown, hint: string): AmbitError {
  const message = error instanceof Error ? error.message : String(error);
  return new AmbitError('unavailable', `${what}: the API server at ${server.origin} is unreachable: ${message}`, {
    cause: error, hint, details: { code: systemCode(error) },
  });
}

export function isStatus(value: unknown): value is KubeStatus {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
