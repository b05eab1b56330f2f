// The CA's validation of what a proxy sends (untrusted input), with zod.
// A subpath of its own (`@ambit/api/ca-request`): only the control plane
// loads it. zod costs every process that imports it ~12 MB of RSS (its
// schema objects and compiled code), and the proxies, whose memory is
// budgeted (docs/performance.md), never validate a request.
import { z } from 'zod';
import { AmbitError, SpiffeId } from '@ambit/core';
import type { CertificateRequest } from './ca.js';

export const CertificateRequestSchema = z.object({
  /** PKCS#10 request, PEM. Its subject and SANs are ignored: the CA writes the identity. */
  csr: z.string().includes('-----BEGIN CERTIFICATE REQUEST-----'),
  /** The SPIFFE ID the caller asks for. */
  identity: z.string().startsWith('spiffe://'),
  /** Requested lifetime; the CA may shorten it. */
  ttlSeconds: z.number().int().positive().max(30 * 86_400).optional(),
  /** Ask for a node certificate (a ztunnel's own): the identity plus this node. */
  node: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes node name').max(253).optional(),
}) satisfies z.ZodType<CertificateRequest>;

/** Validates an untrusted CA request; the error names the bad field. */
export function parseCertificateRequest(input: unknown): { request: CertificateRequest; identity: SpiffeId } {
  const result = CertificateRequestSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
    throw new AmbitError('invalid-argument', `certificate request: ${path}: ${issue?.message ?? 'invalid'}`, {
      details: { path },
    });
  }
  return { request: result.data, identity: SpiffeId.parse(result.data.identity) };
}
