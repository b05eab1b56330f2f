// The certificate authority: one root (created or loaded), workload
// certificates for exactly the identity the caller is entitled to. The
// entitlement decision is the caller's (the control plane adds node-bound
// rules); the CA only refuses, counts and explains.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod, access } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { AmbitError, SpiffeId, systemClock, type Clock, DEFAULT_TRUST_DOMAIN } from '@ambit/core';
import { generateKeys, DEFAULT_KEY_BITS } from './keys.js';
import {
  forgePublicKey, identityOf, keyMatchesCertificate, nodeUrn, notAfter, randomSerial, signCertificate, uriSan,
} from './x509.js';

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3_600_000;
export const MAX_WORKLOAD_TTL_MS = 30 * 86_400_000;
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 86_400_000;
/** Certificates start slightly in the past so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 5 * 60_000;

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';

export interface CaOptions {
  trustDomain?: string;
  /** Lifetime of workload certificates unless the request asks for less. */
  workloadTtlMs?: number;
  rootTtlMs?: number;
  keyBits?: number;
  clock?: Clock;
}

export type EntitlementDecision = { allowed: true } | { allowed: false; reason: string };
/** Decides whether the caller may hold `identity`. */
export type Entitlement = (identity: SpiffeId) => EntitlementDecision | Promise<EntitlementDecision>;

export interface SigningRequest {
  /** PKCS#10, PEM. Only its public key is used. */
  csr: string;
  identity: SpiffeId;
  ttlMs?: number;
  /** Issue a node certificate: the identity plus `urn:ambit:node:<node>` (the entitlement must allow it). */
  node?: string;
}

export interface IssuedCertificate {
  identity: SpiffeId;
  /** Leaf first. */
  chain: string[];
  roots: string[];
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** What a component that only issues needs: no access to the root key. */
export interface CertificateIssuer {
  readonly trustDomain: string;
  readonly roots: readonly string[];
  issue(request: SigningRequest, entitled: Entitlement): Promise<IssuedCertificate>;
}

export class CertificateAuthority implements CertificateIssuer {
  readonly trustDomain: string;
  readonly workloadTtlMs: number;
  readonly rootCertificate: X509Certificate;
  private readonly clock: Clock;
  private readonly rootForge: forge.pki.Certificate;
  private readonly issuedSerials = new Set<string>();

  private constructor(private readonly rootKey: KeyObject, readonly rootPem: string, options: CaOptions) {
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.workloadTtlMs = options.workloadTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    if (!(this.workloadTtlMs > 0 && this.workloadTtlMs <= MAX_WORKLOAD_TTL_MS)) {
      throw new AmbitError('invalid-config', `workload certificate TTL ${this.workloadTtlMs} ms is out of range`, {
        hint: `use a TTL between 1 ms and ${MAX_WORKLOAD_TTL_MS / 86_400_000} days`,
      });
    }
    this.clock = options.clock ?? systemClock;
    this.rootCertificate = new X509Certificate(rootPem);
    this.rootForge = forge.pki.certificateFromPem(rootPem);
  }

  /** A new root in memory. */
  static async create(options: CaOptions = {}): Promise<CertificateAuthority> {
    const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    SpiffeId.of(trustDomain, 'validate', 'validate'); // validates the trust domain's syntax
    const keys = await generateKeys(options.keyBits ?? DEFAULT_KEY_BITS);
    const clock = options.clock ?? systemClock;
    const now = clock.now();
    const cert = forge.pki.createCertificate();
    cert.publicKey = forgePublicKey(keys.publicKey);
    cert.serialNumber = randomSerial();
    cert.validity.notBefore = new Date(now - BACKDATE_MS);
    cert.validity.notAfter = new Date(now + (options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS));
    const subject = [{ name: 'organizationName', value: trustDomain }, { name: 'commonName', value: 'Ambit Root CA' }];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
      { ...uriSan(`spiffe://${trustDomain}`), critical: false },
    ]);
    return new CertificateAuthority(keys.privateKey, signCertificate(cert, keys.privateKey), { ...options, trustDomain });
  }

  /** A root from PEM text; the key must match the certificate and the certificate must be a valid CA. */
  static fromPem(certPem: string, keyPem: string, options: CaOptions = {}): CertificateAuthority {
    let cert: X509Certificate;
    let key: KeyObject;
    try {
      cert = new X509Certificate(certPem);
      key = createPrivateKey(keyPem);
    } catch (cause) {
      throw new AmbitError('invalid-certificate', 'the root certificate or key cannot be parsed', { cause });
    }
    if (!cert.ca) throw new AmbitError('invalid-certificate', `certificate ${cert.serialNumber} is not a CA certificate`);
    if (!keyMatchesCertificate(key, cert)) {
      throw new AmbitError('invalid-certificate', 'the root key does not belong to the root certificate', {
        hint: 'restore the matching pair, or move both away to create a new root (every workload must then be re-issued)',
      });
    }
    const now = (options.clock ?? systemClock).now();
    if (now > notAfter(cert)) {
      throw new AmbitError('certificate-expired', `the root certificate expired at ${cert.validTo}`, {
        hint: 'rotate the root: move the old files away and restart to create a new one',
      });
    }
    const trustDomain = options.trustDomain ?? trustDomainOfRoot(cert) ?? DEFAULT_TRUST_DOMAIN;
    return new CertificateAuthority(key, certPem, { ...options, trustDomain });
  }

  /**
   * Loads the root from `dir`, or creates and persists one when neither file
   * exists. The key file is written with mode 0600. A directory holding only
   * one of the two files is an error: nothing is overwritten.
   */
  static async loadOrCreate(dir: string, options: CaOptions = {}): Promise<{ ca: CertificateAuthority; created: boolean }> {
    const certPath = join(dir, ROOT_CERT_FILE);
    const keyPath = join(dir, ROOT_KEY_FILE);
    const [hasCert, hasKey] = await Promise.all([exists(certPath), exists(keyPath)]);
    if (hasCert && hasKey) {
      const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
      return { ca: CertificateAuthority.fromPem(certPem, keyPem, options), created: false };
    }
    if (hasCert !== hasKey) {
      throw new AmbitError('invalid-config', `${dir} holds ${hasCert ? ROOT_CERT_FILE : ROOT_KEY_FILE} without ${hasCert ? ROOT_KEY_FILE : ROOT_CERT_FILE}`, {
        hint: 'restore the missing file, or move the other away to create a new root',
      });
    }
    const ca = await CertificateAuthority.create(options);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(keyPath, ca.rootKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    await writeAtomic(certPath, ca.rootPem, 0o644);
    return { ca, created: true };
  }

  /** The root as PEM text, key included, for persisting it somewhere other than files (a Kubernetes Secret). */
  exportRoot(): { certPem: string; keyPem: string } {
    return { certPem: this.rootPem, keyPem: this.rootKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  get roots(): readonly string[] {
    return [this.rootPem];
  }

  /** Signs the CSR's public key for `identity` if `entitled` allows it. */
  async issue(request: SigningRequest, entitled: Entitlement): Promise<IssuedCertificate> {
    if (request.identity.trustDomain !== this.trustDomain) {
      throw new AmbitError('not-entitled', `identity ${request.identity.uri} is outside trust domain ${this.trustDomain}`, {
        details: { identity: request.identity.uri, reason: 'foreign-trust-domain' },
      });
    }
    const decision = await entitled(request.identity);
    if (!decision.allowed) {
      throw new AmbitError('not-entitled', `not entitled to ${request.identity.uri}: ${decision.reason}`, {
        details: { identity: request.identity.uri, reason: decision.reason },
      });
    }
    const publicKey = parseCsrPublicKey(request.csr);
    const ttlMs = Math.min(request.ttlMs ?? this.workloadTtlMs, this.workloadTtlMs);
    const now = this.clock.now();
    const extraUris = request.node === undefined ? [] : [nodeUrn(request.node)];
    return this.sign(publicKey, request.identity, new Date(now - Math.min(BACKDATE_MS, ttlMs / 4)), new Date(now + ttlMs), extraUris);
  }

  /**
   * Signs a public key for an identity with an explicit validity window. No
   * entitlement check: for the CA's own use and for tests that need expired
   * or future certificates.
   */
  sign(publicKey: forge.pki.rsa.PublicKey | KeyObject, identity: SpiffeId, from: Date, to: Date, extraUris: readonly string[] = []): IssuedCertificate {
    const cert = forge.pki.createCertificate();
    cert.publicKey = 'n' in publicKey ? publicKey : forgePublicKey(publicKey);
    let serial = randomSerial();
    while (this.issuedSerials.has(serial)) serial = randomSerial();
    this.issuedSerials.add(serial);
    if (this.issuedSerials.size > 100_000) this.issuedSerials.clear(); // a guard against re-use, not a ledger
    cert.serialNumber = serial;
    cert.validity.notBefore = from;
    cert.validity.notAfter = to;
    cert.setSubject([]);
    cert.setIssuer(this.rootForge.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootForge.generateSubjectKeyIdentifier().getBytes() },
      uriSan(identity.uri, ...extraUris),
    ]);
    const pem = signCertificate(cert, this.rootKey);
    return { identity, chain: [pem], roots: [this.rootPem], serial, notBefore: from, notAfter: to };
  }
}

function parseCsrPublicKey(csrPem: string): forge.pki.rsa.PublicKey {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (cause) {
    throw new AmbitError('invalid-csr', 'the certificate request cannot be parsed', {
      cause,
      hint: 'send a PEM PKCS#10 request with an RSA key',
    });
  }
  if (!signatureVerifies(csr)) throw new AmbitError('invalid-csr', 'the certificate request signature does not verify');
  if (csr.publicKey === null) throw new AmbitError('invalid-csr', 'the certificate request has no public key');
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < 2048) {
    throw new AmbitError('invalid-csr', `the request's RSA key has ${bits} bits`, { hint: 'use at least 2048 bits' });
  }
  return csr.publicKey as forge.pki.rsa.PublicKey;
}

// forge throws ("Encryption block is invalid") rather than returning false for most bad signatures.
function signatureVerifies(csr: forge.pki.CertificateSigningRequest): boolean {
  try {
    return csr.verify();
  } catch {
    return false;
  }
}

function trustDomainOfRoot(cert: X509Certificate): string | undefined {
  try {
    return identityOf(cert).trustDomain;
  } catch {
    const san = cert.subjectAltName?.match(/URI:spiffe:\/\/([^/,\s]+)/);
    return san?.[1];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode, flag: 'wx' });
  await chmod(temp, mode);
  await rename(temp, path);
}
