// X.509 building blocks. node-forge assembles the ASN.1 structures; RSA
// signing and all parsing/verification use node:crypto (native, fast).
import { createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { AmbitError, SpiffeId } from '@ambit/core';

const { pki, asn1 } = forge;
const SHA256_WITH_RSA = pki.oids.sha256WithRSAEncryption as string;

// Present in node-forge but missing from its type definitions.
const forgeInternals = pki as unknown as {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
};

/** 127 random bits: positive, non-zero, unique with overwhelming probability (RFC 5280 allows 20 octets). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Converts a PEM or KeyObject public key into forge's form. Only RSA keys are supported by forge. */
export function forgePublicKey(key: KeyObject | string): forge.pki.rsa.PublicKey {
  const pem = typeof key === 'string' ? key : key.export({ type: 'spki', format: 'pem' }).toString();
  try {
    return pki.publicKeyFromPem(pem);
  } catch (cause) {
    throw new AmbitError('invalid-csr', 'the public key is not an RSA key', {
      cause,
      hint: 'Ambit workload keys are RSA (2048 bits or more)',
    });
  }
}

/** Signs a forge certificate with a native private key (sha256WithRSAEncryption). */
export function signCertificate(cert: forge.pki.Certificate, key: KeyObject): string {
  cert.signatureOid = SHA256_WITH_RSA;
  cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  const tbs = forgeInternals.getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  const der = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, key).toString('binary');
  return pki.certificateToPem(cert);
}

/** Signs a forge CSR with a native private key. */
export function signCertificationRequest(csr: forge.pki.CertificateSigningRequest, key: KeyObject): string {
  csr.signatureOid = SHA256_WITH_RSA;
  csr.siginfo.algorithmOid = SHA256_WITH_RSA;
  const info = forgeInternals.getCertificationRequestInfo(csr);
  csr.certificationRequestInfo = info;
  const der = Buffer.from(asn1.toDer(info).getBytes(), 'binary');
  csr.signature = sign('sha256', der, key).toString('binary');
  return pki.certificationRequestToPem(csr);
}

export function uriSan(...uris: string[]): { name: 'subjectAltName'; critical: boolean; altNames: { type: 6; value: string }[] } {
  return { name: 'subjectAltName', critical: true, altNames: uris.map((value) => ({ type: 6 as const, value })) };
}

/** Node certificates (a ztunnel's own) carry the node as a second URI SAN next to the SPIFFE ID. */
export const NODE_URN_PREFIX = 'urn:ambit:node:';

export function nodeUrn(node: string): string {
  return `${NODE_URN_PREFIX}${node}`;
}

/** The node a node certificate is bound to, if it is one. */
export function nodeOf(cert: X509Certificate | string): string | undefined {
  const x509 = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const nodes = uriSans(x509).filter((uri) => uri.startsWith(NODE_URN_PREFIX));
  return nodes.length === 1 ? (nodes[0] as string).slice(NODE_URN_PREFIX.length) : undefined;
}

/** Every URI SAN of a certificate. Node escapes unusual values in JSON form; SPIFFE IDs never need it. */
export function uriSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (text === undefined) return [];
  return text
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4))
    .map((value) => (value.startsWith('"') ? (JSON.parse(value) as string) : value));
}

/**
 * The one SPIFFE workload identity of a certificate. A certificate with no
 * SPIFFE URI SAN, or with several, has no usable identity.
 */
export function identityOf(cert: X509Certificate | string): SpiffeId {
  const x509 = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const spiffe = uriSans(x509).filter((uri) => uri.startsWith('spiffe://'));
  if (spiffe.length !== 1) {
    throw new AmbitError(
      'invalid-certificate',
      `certificate ${x509.serialNumber} has ${spiffe.length} SPIFFE URI SANs; a workload certificate has exactly one`,
      { hint: 'was it issued by an Ambit CA?' },
    );
  }
  return SpiffeId.parse(spiffe[0] as string);
}

export function notBefore(cert: X509Certificate): number {
  return Date.parse(cert.validFrom);
}

export function notAfter(cert: X509Certificate): number {
  return Date.parse(cert.validTo);
}

export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((p) => p.trim() + '\n') ?? [];
}

export interface VerifyOptions {
  /** Trust anchors, PEM each. */
  roots: readonly string[];
  /** When set, the leaf's identity must be in this trust domain. */
  trustDomain?: string;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number;
}

/**
 * Verifies a chain (leaf first) against the roots: every signature, every
 * validity window and the trust domain of the leaf. Returns the leaf identity.
 */
export function verifyChain(chain: readonly string[], options: VerifyOptions): SpiffeId {
  if (chain.length === 0) throw new AmbitError('invalid-certificate', 'empty certificate chain');
  const now = options.now ?? Date.now();
  const certs = chain.map((pem) => new X509Certificate(pem));
  const roots = options.roots.map((pem) => new X509Certificate(pem));
  for (const cert of [...certs, ...roots]) checkValidity(cert, now);
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i] as X509Certificate;
    const parent = certs[i + 1] as X509Certificate;
    if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new AmbitError('untrusted-certificate', `certificate ${child.serialNumber} is not signed by the next certificate in its chain`);
    }
  }
  const top = certs[certs.length - 1] as X509Certificate;
  const anchor = roots.find((root) => root.ca && top.checkIssued(root) && top.verify(root.publicKey));
  if (anchor === undefined) {
    throw new AmbitError('untrusted-certificate', `certificate ${top.serialNumber} (issuer ${top.issuer.replace(/\n/g, ', ')}) is not signed by a trusted root`, {
      hint: 'the peer belongs to another mesh or its CA was replaced',
    });
  }
  const identity = identityOf(certs[0] as X509Certificate);
  if (options.trustDomain !== undefined && identity.trustDomain !== options.trustDomain) {
    throw new AmbitError('untrusted-certificate', `identity ${identity.uri} is outside trust domain ${options.trustDomain}`);
  }
  return identity;
}

function checkValidity(cert: X509Certificate, now: number): void {
  if (now < notBefore(cert)) {
    throw new AmbitError('certificate-not-yet-valid', `certificate ${cert.serialNumber} is not valid before ${cert.validFrom}`, {
      hint: 'check the clocks of the CA and this machine',
    });
  }
  if (now > notAfter(cert)) {
    throw new AmbitError('certificate-expired', `certificate ${cert.serialNumber} expired at ${cert.validTo}`);
  }
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(key: KeyObject, cert: X509Certificate): boolean {
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCert);
}
