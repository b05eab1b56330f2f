// Data-plane objects for tests: minimal valid workloads, services and policies.
import type { Authorization, Resource, Service, Workload } from '@ambit/api';

export function workload(uid: string, overrides: Partial<Workload> = {}): Workload {
  const namespace = overrides.namespace ?? 'demo';
  const serviceAccount = overrides.serviceAccount ?? 'default';
  return {
    uid, name: `pod-${uid}`, namespace, serviceAccount,
    identity: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
    addresses: [addressFor(uid)],
    node: 'node-1', protocol: 'HBONE', services: [], canonicalName: 'app', canonicalRevision: 'v1', healthy: true, labels: {},
    ...overrides,
  };
}

/** A stable pod address derived from the uid (distinct uids get distinct addresses for up to ~64k pods). */
export function addressFor(uid: string): string {
  let hash = 0;
  for (const char of uid) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `10.244.${(hash >>> 8) % 256}.${(hash % 254) + 1}`;
}

export function service(name: string, vip: string, overrides: Partial<Service> = {}): Service {
  const namespace = overrides.namespace ?? 'demo';
  return {
    name, namespace, hostname: `${name}.${namespace}.svc.cluster.local`, vips: [vip],
    ports: [{ port: 80, targetPort: 8080 }], endpoints: [], ...overrides,
  };
}

export function policy(name: string, overrides: Partial<Authorization> = {}): Authorization {
  const namespace = overrides.namespace ?? 'demo';
  return { key: `${namespace}/${name}`, name, namespace, scope: { kind: 'namespace', namespace }, action: 'DENY', rules: [], ...overrides };
}

export const asResources = (items: { workloads?: Workload[]; services?: Service[]; policies?: Authorization[] }): Resource[] => [
  ...(items.workloads ?? []).map((value) => ({ kind: 'workload' as const, value })),
  ...(items.services ?? []).map((value) => ({ kind: 'service' as const, value })),
  ...(items.policies ?? []).map((value) => ({ kind: 'authorization' as const, value })),
];
