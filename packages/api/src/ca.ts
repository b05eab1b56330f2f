// The CA contract: what a proxy sends to obtain a workload certificate and
// what comes back. Pure data and validation; transport lives elsewhere.
// The CA validates requests with zod (ca-request.ts, a subpath the proxies
// never load); the proxies check the CA's answer here, by hand: five fields
// from an authenticated server do not justify zod's ~12 MB in every proxy.
import { AmbitError } from '@ambit/core';

export interface CertificateRequest {
  /** PKCS#10 request, PEM. Its subject and SANs are ignored: the CA writes the identity. */
  csr: string;
  /** The SPIFFE ID the caller asks for. */
  identity: string;
  /** Requested lifetime; the CA may shorten it. */
  ttlSeconds?: number | undefined;
  /** Ask for a node certificate (a ztunnel's own): the identity plus this node. */
  node?: string | undefined;
}

export interface CertificateResponse {
  /** Leaf first, then any intermediates, PEM each. */
  chain: string[];
  /** Trust anchors to verify peers with, PEM each. */
  roots: string[];
  /** ISO 8601 date-times. */
  notBefore: string;
  notAfter: string;
  serial: string;
}

/** Checks the CA's answer; the error names the first bad field. */
export function parseCertificateResponse(input: unknown): CertificateResponse {
  const bad = (field: string, expected: string): never => {
    throw new AmbitError('invalid-argument', `certificate response: ${field}: expected ${expected}`, { details: { path: field } });
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return bad('(root)', 'an object');
  const record = input as Record<string, unknown>;
  const pems = (field: 'chain' | 'roots'): string[] => {
    const value = record[field];
    if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string')) {
      return bad(field, 'a non-empty array of PEM strings');
    }
    return value;
  };
  const dateTime = (field: 'notBefore' | 'notAfter'): string => {
    const value = record[field];
    return typeof value === 'string' && ISO_DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)) ? value : bad(field, 'an ISO 8601 date-time');
  };
  const serial = record.serial;
  if (typeof serial !== 'string') return bad('serial', 'a string');
  return { chain: pems('chain'), roots: pems('roots'), notBefore: dateTime('notBefore'), notAfter: dateTime('notAfter'), serial };
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
