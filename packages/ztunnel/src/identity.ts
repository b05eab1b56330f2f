// The certificates a ztunnel holds: its node certificate (obtained with the
// bootstrap token, then renewed with itself) and one certificate per identity
// of the workloads enrolled on its node — prefetched when such a workload
// appears in discovery and forgotten when the last one with that identity
// leaves. It never asks for anything else: the CA would refuse it anyway
// (node-bound issuance), and a node tunnel must not hold other nodes' keys.
import { AmbitError, silentLogger, SpiffeId, type Clock, type Logger } from '@ambit/core';
import {
  CertificateManager, type CertificateSource, type CertificateStatus, type KeyPair, type WorkloadCertificate,
} from '@ambit/identity';

export interface IdentitySources {
  /** Issues the node certificate: authenticated by the bootstrap token, or by the node certificate once held. */
  node: CertificateSource;
  /** Issues workload certificates: authenticated by the node certificate. */
  workload: CertificateSource;
}

export interface ZtunnelIdentityOptions {
  trustDomain: string;
  sources: IdentitySources;
  generateKeys?: () => Promise<KeyPair>;
  clock?: Clock;
  logger?: Logger;
}

export interface IdentityStatus {
  node: (CertificateStatus & { kind: 'node' }) | undefined;
  workloads: (CertificateStatus & { kind: 'workload' })[];
}

/** The service account node certificates carry (with the node in a URN SAN). */
export const ZTUNNEL_SERVICE_ACCOUNT = { namespace: 'ambit-system', name: 'ztunnel' } as const;

export class ZtunnelIdentity {
  readonly nodeIdentity: SpiffeId;
  private readonly nodeManager: CertificateManager;
  private readonly workloadManager: CertificateManager;
  private readonly wanted = new Map<string, SpiffeId>();
  private readonly log: Logger;

  constructor(options: ZtunnelIdentityOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'identity' });
    this.nodeIdentity = SpiffeId.of(options.trustDomain, ZTUNNEL_SERVICE_ACCOUNT.namespace, ZTUNNEL_SERVICE_ACCOUNT.name);
    const common = {
      ...(options.generateKeys === undefined ? {} : { generateKeys: options.generateKeys }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    };
    this.nodeManager = new CertificateManager({ ...common, source: options.sources.node });
    this.workloadManager = new CertificateManager({ ...common, source: options.sources.workload });
  }

  /** The node certificate, issuing it if needed (discovery asks on every reconnect). */
  fetchNode(): Promise<WorkloadCertificate> {
    return this.nodeManager.fetch(this.nodeIdentity);
  }

  /** The node certificate if it is valid now. */
  nodeCertificate(): WorkloadCertificate | undefined {
    return this.nodeManager.get(this.nodeIdentity);
  }

  /** A local workload identity's certificate if it is valid now (the HBONE server's selector is synchronous). */
  certificate(identity: string): WorkloadCertificate | undefined {
    const id = this.wanted.get(identity);
    return id === undefined ? undefined : this.workloadManager.get(id);
  }

  /** A local workload identity's certificate, waiting for its issuance when it is still pending. */
  fetch(identity: string): Promise<WorkloadCertificate> {
    const id = this.wanted.get(identity);
    if (id === undefined) {
      return Promise.reject(new AmbitError('not-entitled', `${identity} is not the identity of a workload enrolled on this node`, {
        hint: 'a ztunnel holds certificates only for its own node\'s enrolled workloads',
      }));
    }
    return this.workloadManager.fetch(id);
  }

  /** Makes the held identities exactly `identities`: new ones are prefetched, others forgotten. */
  reconcile(identities: ReadonlySet<string>): { added: string[]; removed: string[] } {
    const added: string[] = [];
    const removed: string[] = [];
    for (const [uri, id] of this.wanted) {
      if (identities.has(uri)) continue;
      this.wanted.delete(uri);
      this.workloadManager.forget(id);
      removed.push(uri);
    }
    for (const uri of identities) {
      if (this.wanted.has(uri)) continue;
      const id = SpiffeId.tryParse(uri);
      if (id === undefined) {
        this.log.warn({ identity: uri }, 'a local workload has an identity that is not a SPIFFE ID; it gets no certificate');
        continue;
      }
      this.wanted.set(uri, id);
      added.push(uri);
      // Failures are logged and retried with backoff by the manager; a connection needing it waits on fetch().
      this.workloadManager.fetch(id).catch(() => undefined);
    }
    if (added.length > 0 || removed.length > 0) this.log.info({ added, removed }, 'workload identities changed');
    return { added, removed };
  }

  /** Identities this ztunnel currently holds (or is obtaining) certificates for. */
  identities(): string[] {
    return [...this.wanted.keys()].sort();
  }

  status(): IdentityStatus {
    const node = this.nodeManager.status().find((s) => s.identity === this.nodeIdentity.uri);
    return {
      node: node === undefined ? undefined : { kind: 'node', ...node },
      workloads: this.workloadManager.status().map((s) => ({ kind: 'workload' as const, ...s })).sort((a, b) => a.identity.localeCompare(b.identity)),
    };
  }

  close(): void {
    this.nodeManager.close();
    this.workloadManager.close();
    this.wanted.clear();
  }
}
