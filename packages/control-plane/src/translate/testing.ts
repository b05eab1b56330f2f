// Object builders for the translation tables (test-only; never imported by runtime code).
import type {
  AuthorizationPolicy, AuthorizationPolicySpec, Gateway, HTTPRoute, HTTPRouteSpec, Namespace, Pod, PodSpec, PodStatus, Service, ServiceSpec,
} from '../resources.js';

export function namespace(name: string, labels?: Record<string, string>): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } };
}

export interface PodOptions {
  ns?: string;
  uid?: string;
  labels?: Record<string, string>;
  ip?: string | null;
  ips?: string[];
  phase?: string;
  ready?: boolean;
  deleting?: boolean;
  spec?: PodSpec;
}

export function pod(name: string, options: PodOptions = {}): Pod {
  const status: PodStatus = { phase: options.phase ?? 'Running' };
  if (options.ip !== null) status.podIP = options.ip ?? '10.0.0.1';
  if (options.ips !== undefined) status.podIPs = options.ips.map((ip) => ({ ip }));
  status.conditions = [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: options.ns ?? 'demo',
      uid: options.uid ?? `uid-${name}`,
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.deleting === true ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: 'node-a', ...(options.spec ?? {}) },
    status,
  };
}

export function service(name: string, spec: ServiceSpec, options: { ns?: string; labels?: Record<string, string> } = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: options.ns ?? 'demo', generation: 1, ...(options.labels ? { labels: options.labels } : {}) },
    spec,
  };
}

export function gateway(name: string, options: {
  ns?: string; address?: string; labels?: Record<string, string>; className?: string; listener?: { port: number; protocol: string };
} = {}): Gateway {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: options.ns ?? 'demo', generation: 2, ...(options.labels ? { labels: options.labels } : {}) },
    spec: {
      gatewayClassName: options.className ?? 'ambit-waypoint',
      listeners: [{ name: 'mesh', ...(options.listener ?? { port: 15008, protocol: 'HBONE' }) }],
    },
    ...(options.address !== undefined ? { status: { addresses: [{ type: 'IPAddress', value: options.address }] } } : {}),
  };
}

export function policy(name: string, spec: AuthorizationPolicySpec, ns = 'demo'): AuthorizationPolicy {
  return { apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns, generation: 3 }, spec };
}

export function httpRoute(name: string, spec: HTTPRouteSpec, options: { ns?: string; annotations?: Record<string, string>; created?: string } = {}): HTTPRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name, namespace: options.ns ?? 'demo', generation: 4,
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.created ? { creationTimestamp: options.created } : {}),
    },
    spec,
  };
}
