// The waypoint's one certificate: spiffe://<td>/ns/<gateway ns>/sa/<gateway
// name>, obtained first with the workload bootstrap token, then renewed with
// itself at half-life (CertificateManager). It never holds anything else.
import { SpiffeId, type Logger } from '@ambit/core';
import { CertificateManager, type CertificateSource, type CertificateStatus, type KeyPair, type WorkloadCertificate } from '@ambit/identity';

export interface WaypointIdentityOptions {
  trustDomain: string;
  gateway: { namespace: string; name: string };
  source: CertificateSource;
  generateKeys?: () => Promise<KeyPair>;
  logger: Logger;
}

export class WaypointIdentity {
  readonly id: SpiffeId;
  private readonly manager: CertificateManager;

  constructor(options: WaypointIdentityOptions) {
    this.id = SpiffeId.of(options.trustDomain, options.gateway.namespace, options.gateway.name);
    this.manager = new CertificateManager({
      source: options.source, logger: options.logger,
      ...(options.generateKeys === undefined ? {} : { generateKeys: options.generateKeys }),
    });
  }

  /** The certificate, issuing it if needed. */
  fetch(): Promise<WorkloadCertificate> {
    return this.manager.fetch(this.id);
  }

  /** The certificate if it is valid now (the HBONE server's selector is synchronous). */
  current(): WorkloadCertificate | undefined {
    return this.manager.get(this.id);
  }

  status(): CertificateStatus[] {
    return this.manager.status();
  }

  close(): void {
    this.manager.close();
  }
}
