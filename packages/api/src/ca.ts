// The CA contract: what a proxy sends to obtain a workload certificate and
// what comes back. Pure data and validation; transport lives elsewhere.
import { z } from 'zod';
import { AmbitError, SpiffeId } from '@ambit/core';

export const CertificateRequestSchema = z.object({
  /** PKCS#10 request, PEM. Its subject and SANs are ignored: the CA writes the identity. */
  csr: z.string().includes('-----BEGIN CERTIFICATE REQUEST-----'),
  /** The SPIFFE ID the caller asks for. */
  identity: z.string().startsWith('spiffe://'),
  /** Requested lifetime; the CA may shorten it. */
  ttlSeconds: z.number().int().positive().max(30 * 86_400).optional(),
  /** Ask for a node certificate (a ztunnel's own): the identity plus this node. */
  node: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes node name').max(253).optional(),
});
export type CertificateRequest = z.infer<typeof CertificateRequestSchema>;

export const CertificateResponseSchema = z.object({
  /** Leaf first, then any intermediates, PEM each. */
  chain: z.array(z.string()).min(1),
  /** Trust anchors to verify peers with, PEM each. */
  roots: z.array(z.string()).min(1),
  notBefore: z.iso.datetime(),
  notAfter: z.iso.datetime(),
  serial: z.string(),
});
export type CertificateResponse = z.infer<typeof CertificateResponseSchema>;

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
