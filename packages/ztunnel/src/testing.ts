// Fixtures for the unit tests (never imported by runtime code): workloads,
// services and a MeshLookup over plain lists.
import { serviceKey, type Authorization, type Service, type Workload } from '@ambit/api';
import type { MeshLookup } from './state.js';

export function workload(name: string, overrides: Partial<Workload> & { ip?: string } = {}): Workload {
  const { ip, ...rest } = overrides;
  const namespace = rest.namespace ?? 'demo';
  const serviceAccount = rest.serviceAccount ?? name;
  return {
    uid: `uid-${name}`,
    name,
    namespace,
    serviceAccount,
    identity: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
    addresses: [ip ?? '10.0.0.1'],
    node: 'node-a',
    protocol: 'HBONE',
    services: [],
    canonicalName: name,
    canonicalRevision: 'latest',
    healthy: true,
    labels: { app: name },
    ...rest,
  };
}

export function service(name: string, overrides: Partial<Service> = {}): Service {
  const namespace = overrides.namespace ?? 'demo';
  return {
    name,
    namespace,
    hostname: `${name}.${namespace}.svc.cluster.local`,
    vips: ['10.96.0.1'],
    ports: [{ port: 80, targetPort: 8080 }],
    endpoints: [],
    ...overrides,
  };
}

export class ListLookup implements MeshLookup {
  constructor(
    private readonly workloads: Workload[] = [],
    private readonly services: Service[] = [],
    private readonly policies: Authorization[] = [],
  ) {}

  workload(uid: string): Workload | undefined {
    return this.workloads.find((w) => w.uid === uid);
  }

  workloadByAddress(ip: string): Workload | undefined {
    return this.workloads.find((w) => w.addresses.includes(ip));
  }

  serviceByVip(ip: string): Service | undefined {
    return this.services.find((s) => s.vips.includes(ip));
  }

  service(key: string): Service | undefined {
    return this.services.find((s) => serviceKey(s) === key);
  }

  authorizations(): Authorization[] {
    return this.policies;
  }
}
