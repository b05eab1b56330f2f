// SPIFFE workload identity as used by the mesh:
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
import { AmbitError } from './errors.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

// Trust domain: lowercase letters, digits, dot, dash, underscore (SPIFFE ID spec).
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
// Namespace and service-account names follow Kubernetes DNS-1123 label/subdomain rules.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class SpiffeId {
  private constructor(
    readonly trustDomain: string,
    readonly namespace: string,
    readonly serviceAccount: string,
  ) {}

  static of(trustDomain: string, namespace: string, serviceAccount: string): SpiffeId {
    if (!TRUST_DOMAIN.test(trustDomain)) {
      throw invalid(`trust domain ${JSON.stringify(trustDomain)} is not valid`, 'use lowercase letters, digits, ".", "-" or "_"');
    }
    if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      throw invalid(`namespace ${JSON.stringify(namespace)} is not a valid Kubernetes namespace name`, 'use a DNS-1123 label such as "demo"');
    }
    if (serviceAccount.length > 253 || !DNS_SUBDOMAIN.test(serviceAccount)) {
      throw invalid(`service account ${JSON.stringify(serviceAccount)} is not a valid name`, 'use a DNS-1123 subdomain such as "default"');
    }
    return new SpiffeId(trustDomain, namespace, serviceAccount);
  }

  static parse(uri: string): SpiffeId {
    const match = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
    if (match === null) {
      throw invalid(
        `${JSON.stringify(uri)} is not a workload SPIFFE ID`,
        'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
      );
    }
    return SpiffeId.of(match[1] as string, match[2] as string, match[3] as string);
  }

  static tryParse(uri: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(uri);
    } catch {
      return undefined;
    }
  }

  get uri(): string {
    return `spiffe://${this.trustDomain}/ns/${this.namespace}/sa/${this.serviceAccount}`;
  }

  equals(other: SpiffeId | undefined): boolean {
    return other !== undefined && this.uri === other.uri;
  }

  toString(): string {
    return this.uri;
  }

  toJSON(): string {
    return this.uri;
  }
}

function invalid(message: string, hint: string): AmbitError {
  return new AmbitError('invalid-identity', message, { hint });
}
