// The certificate manager: one entry per identity. Concurrent requests for
// an identity share one issuance; certificates refresh at half-life; a
// failing issuer is retried with exponential backoff and jitter while the
// old certificate stays in use; an expired certificate is never handed out.
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import {
  AmbitError, Backoff, silentLogger, systemClock, type BackoffOptions, type Clock, type Logger, type SpiffeId,
  type TimerHandle,
} from '@ambit/core';
import { buildCsr, generateKeys, type KeyPair } from './keys.js';
import type { WorkloadCertificate } from './tls.js';
import { identityOf, keyMatchesCertificate, notAfter, notBefore } from './x509.js';

/** Obtains a signed chain for a CSR: the CA client in a proxy, the CA itself in tests. */
export type CertificateSource = (identity: SpiffeId, csr: string) => Promise<{ chain: string[]; roots: string[] }>;

export interface CertificateManagerOptions {
  source: CertificateSource;
  clock?: Clock;
  logger?: Logger;
  /** Fraction of the lifetime after which a certificate is refreshed. */
  refreshAt?: number;
  backoff?: BackoffOptions;
  /** Key generation; tests may inject a cached key to save time. */
  generateKeys?: () => Promise<KeyPair>;
}

export type CertificateState = 'pending' | 'available' | 'refreshing' | 'failed' | 'expired';

export interface CertificateStatus {
  identity: string;
  state: CertificateState;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** Negative once expired. */
  expiresInMs?: number;
  nextRefreshAt?: string;
  failures: number;
  lastError?: string;
}

interface Entry {
  identity: SpiffeId;
  current: WorkloadCertificate | undefined;
  inflight: Promise<WorkloadCertificate> | undefined;
  timer: TimerHandle | undefined;
  nextRefreshAt: number | undefined;
  backoff: Backoff;
  failures: number;
  lastError: AmbitError | undefined;
}

export interface CertificateManagerEvents {
  issued: [WorkloadCertificate];
  failed: [SpiffeId, AmbitError];
}

export class CertificateManager extends EventEmitter<CertificateManagerEvents> {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly refreshAt: number;
  private readonly backoffOptions: BackoffOptions;
  private readonly keys: () => Promise<KeyPair>;
  private closed = false;

  constructor(private readonly options: CertificateManagerOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ component: 'cert-manager' });
    this.refreshAt = options.refreshAt ?? 0.5;
    if (!(this.refreshAt > 0 && this.refreshAt < 1)) {
      throw new AmbitError('invalid-config', `refreshAt=${this.refreshAt} must be between 0 and 1 (a fraction of the lifetime)`);
    }
    this.backoffOptions = options.backoff ?? { initialMs: 1_000, maxMs: 60_000, jitter: 0.5 };
    this.keys = options.generateKeys ?? (() => generateKeys());
  }

  /** A valid certificate for `identity`, issuing one if needed. Concurrent calls share one issuance. */
  fetch(identity: SpiffeId): Promise<WorkloadCertificate> {
    if (this.closed) return Promise.reject(new AmbitError('closed', 'the certificate manager is closed'));
    const entry = this.entry(identity);
    const current = this.usable(entry);
    if (current !== undefined) return Promise.resolve(current);
    return entry.inflight ?? this.issue(entry);
  }

  /** The current certificate if it is valid now; never an expired one. */
  get(identity: SpiffeId): WorkloadCertificate | undefined {
    const entry = this.entries.get(identity.uri);
    return entry === undefined ? undefined : this.usable(entry);
  }

  /** Stop managing `identity` (its workload left): timers cancelled, key dropped. */
  forget(identity: SpiffeId): void {
    const entry = this.entries.get(identity.uri);
    if (entry === undefined) return;
    entry.timer?.cancel();
    this.entries.delete(identity.uri);
  }

  identities(): SpiffeId[] {
    return [...this.entries.values()].map((e) => e.identity);
  }

  status(): CertificateStatus[] {
    const now = this.clock.now();
    return [...this.entries.values()].map((entry) => {
      const cert = entry.current;
      const status: CertificateStatus = { identity: entry.identity.uri, state: this.state(entry, now), failures: entry.failures };
      if (cert !== undefined) {
        status.serial = cert.serial;
        status.notBefore = new Date(cert.notBefore).toISOString();
        status.notAfter = new Date(cert.notAfter).toISOString();
        status.expiresInMs = cert.notAfter - now;
      }
      if (entry.nextRefreshAt !== undefined) status.nextRefreshAt = new Date(entry.nextRefreshAt).toISOString();
      if (entry.lastError !== undefined) status.lastError = entry.lastError.message;
      return status;
    });
  }

  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.timer?.cancel();
    this.entries.clear();
  }

  private state(entry: Entry, now: number): CertificateState {
    const cert = entry.current;
    if (cert === undefined) return entry.failures > 0 ? 'failed' : 'pending';
    if (now >= cert.notAfter) return 'expired';
    if (entry.failures > 0) return 'failed';
    return entry.inflight === undefined ? 'available' : 'refreshing';
  }

  private entry(identity: SpiffeId): Entry {
    let entry = this.entries.get(identity.uri);
    if (entry === undefined) {
      entry = {
        identity, current: undefined, inflight: undefined, timer: undefined, nextRefreshAt: undefined,
        backoff: new Backoff(this.backoffOptions), failures: 0, lastError: undefined,
      };
      this.entries.set(identity.uri, entry);
    }
    return entry;
  }

  private usable(entry: Entry): WorkloadCertificate | undefined {
    const cert = entry.current;
    const now = this.clock.now();
    return cert !== undefined && now >= cert.notBefore && now < cert.notAfter ? cert : undefined;
  }

  private issue(entry: Entry): Promise<WorkloadCertificate> {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.nextRefreshAt = undefined;
    const attempt = this.obtain(entry.identity).then(
      (cert) => {
        if (entry.inflight === attempt) entry.inflight = undefined;
        if (this.entries.get(entry.identity.uri) !== entry) return cert; // forgotten meanwhile
        entry.current = cert;
        entry.failures = 0;
        entry.lastError = undefined;
        entry.backoff.reset();
        const lifetime = cert.notAfter - cert.notBefore;
        this.schedule(entry, cert.notBefore + lifetime * this.refreshAt);
        this.log.info({ identity: entry.identity.uri, serial: cert.serial, notAfter: new Date(cert.notAfter).toISOString() }, 'certificate issued');
        this.emit('issued', cert);
        return cert;
      },
      (cause: unknown) => {
        if (entry.inflight === attempt) entry.inflight = undefined;
        const error = cause instanceof AmbitError ? cause
          : new AmbitError('issuance-failed', `could not obtain a certificate for ${entry.identity.uri}`, { cause });
        if (this.entries.get(entry.identity.uri) !== entry) throw error;
        entry.failures++;
        entry.lastError = error;
        const delay = entry.backoff.next();
        this.schedule(entry, this.clock.now() + delay);
        this.log.warn({ identity: entry.identity.uri, failures: entry.failures, retryInMs: delay, err: error.message }, 'certificate issuance failed');
        this.emit('failed', entry.identity, error);
        throw error;
      },
    );
    entry.inflight = attempt;
    return attempt;
  }

  private schedule(entry: Entry, at: number): void {
    if (this.closed) return;
    entry.timer?.cancel();
    entry.nextRefreshAt = at;
    entry.timer = this.clock.schedule(Math.max(0, at - this.clock.now()), () => {
      entry.timer = undefined;
      if (entry.inflight === undefined && this.entries.get(entry.identity.uri) === entry) {
        // Background refresh: failures are recorded and retried, never thrown at anyone.
        this.issue(entry).catch(() => undefined);
      }
    });
  }

  private async obtain(identity: SpiffeId): Promise<WorkloadCertificate> {
    const keys = await this.keys();
    const csr = buildCsr(keys, identity);
    const { chain, roots } = await this.options.source(identity, csr);
    const cert = toWorkloadCertificate(identity, keys, chain, roots);
    // An expired answer (a CA with a wrong clock) is a failure retried with backoff: never handed
    // out, and never scheduled for an immediate refresh, which would loop.
    if (this.clock.now() >= cert.notAfter) {
      throw new AmbitError('certificate-expired', `the CA returned a certificate for ${identity.uri} that expired at ${new Date(cert.notAfter).toISOString()}`, {
        hint: 'check the clocks of the CA and this machine',
      });
    }
    return cert;
  }
}

/** Checks that what the CA returned is usable for `identity` with `keys`, and packages it. */
export function toWorkloadCertificate(identity: SpiffeId, keys: KeyPair, chain: string[], roots: string[]): WorkloadCertificate {
  const leafPem = chain[0];
  if (leafPem === undefined || roots.length === 0) {
    throw new AmbitError('invalid-certificate', `the CA returned ${chain.length} certificates and ${roots.length} roots for ${identity.uri}`);
  }
  const leaf = new X509Certificate(leafPem);
  const actual = identityOf(leaf);
  if (!actual.equals(identity)) {
    throw new AmbitError('invalid-certificate', `the CA returned a certificate for ${actual.uri} instead of ${identity.uri}`);
  }
  if (!keyMatchesCertificate(keys.privateKey, leaf)) {
    throw new AmbitError('invalid-certificate', `the certificate returned for ${identity.uri} does not match the requested key`);
  }
  return {
    identity, privateKey: keys.privateKey, chain, roots, serial: leaf.serialNumber.toLowerCase(),
    notBefore: notBefore(leaf), notAfter: notAfter(leaf),
  };
}
