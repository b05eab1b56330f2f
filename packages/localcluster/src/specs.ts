// The caller's descriptions of pods, services and references, checked
// eagerly: a bad spec is refused with the value and what to use instead,
// before anything is built.
import { AmbitError } from '@ambit/core';
import { MAX_NODES } from './addressing.js';
import { validateNodeName } from './names.js';
import type { PortState, ServicePortState } from './state.js';

/** `namespace/name` or an object (services are referred to the same way). */
export type PodRef = `${string}/${string}` | { namespace: string; name: string };

/** Where a process runs: a pod, a node's namespace, the cluster namespace, or the machine's own (`host`). */
export type ProcessTargetRef = PodRef | { node: string } | 'cluster' | 'host';

export interface AddPodOptions {
  namespace: string;
  name: string;
  node: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
  /** Container ports (numbers or named ports), reported in the Pod spec and used for named targetPorts. */
  ports?: readonly (number | PortState)[];
  /** Reported in the Ready condition and used for service endpoints; default true. */
  ready?: boolean;
  /** The container its process runs as, named in the Pod spec (and its log file); default `app`. */
  container?: { name: string; image?: string };
  /**
   * Its Pod object was written by someone else (a user's `ambit apply`; the kubelet): the cluster
   * writes only its node and status, keeps the spec as written, and never recreates the object.
   */
  adopted?: boolean;
}

export interface ServicePortOptions {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP';
}

export interface AddServiceOptions {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  ports: readonly (number | ServicePortOptions)[];
  labels?: Record<string, string>;
  /** Created because its object appeared in the store without a cluster IP (the kubelet); removed when that object goes. */
  adopted?: boolean;
}

export function parseRef(ref: PodRef, kind: 'pod' | 'service'): { namespace: string; name: string } {
  if (typeof ref === 'object') return ref;
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    throw new AmbitError('invalid-argument', `${kind} reference ${JSON.stringify(ref)} is not namespace/name`, { hint: `e.g. default/echo-v1` });
  }
  return { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

export function nodeNames(nodes: number | readonly string[]): string[] {
  const names = typeof nodes === 'number' ? countToNames(nodes) : [...nodes];
  if (names.length === 0) throw new AmbitError('invalid-argument', 'a local cluster needs at least one node');
  if (names.length > MAX_NODES) throw new AmbitError('invalid-argument', `a local cluster has at most ${MAX_NODES} nodes (asked for ${names.length})`);
  for (const name of names) validateNodeName(name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new AmbitError('invalid-argument', `node name ${duplicate} is given twice`);
  return names;
}

function countToNames(count: number): string[] {
  if (!Number.isInteger(count) || count < 1) throw new AmbitError('invalid-argument', `node count ${count} is not a positive integer`);
  return Array.from({ length: Math.min(count, MAX_NODES + 1) }, (_, i) => `node-${i + 1}`);
}

function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AmbitError('invalid-argument', `${what}: port ${port} is not 1-65535`);
  return port;
}

export function normalizePodPort(port: number | PortState, owner: string): PortState {
  if (typeof port === 'number') return { containerPort: checkPort(port, `pod ${owner}`) };
  checkPort(port.containerPort, `pod ${owner}`);
  return { ...port };
}

export function normalizeServicePort(port: number | ServicePortOptions, owner: string): ServicePortState {
  const spec = typeof port === 'number' ? { port } : port;
  checkPort(spec.port, `service ${owner}`);
  if (typeof spec.targetPort === 'number') checkPort(spec.targetPort, `service ${owner} targetPort`);
  const protocol = spec.protocol ?? 'TCP';
  if (protocol !== 'TCP' && protocol !== 'UDP') throw new AmbitError('invalid-argument', `service ${owner}: protocol ${String(protocol)} is not TCP or UDP`);
  return {
    ...(spec.name === undefined ? {} : { name: spec.name }),
    port: spec.port,
    ...(spec.targetPort === undefined ? {} : { targetPort: spec.targetPort }),
    protocol,
  };
}
