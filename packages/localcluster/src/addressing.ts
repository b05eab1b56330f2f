// The address plan of a local cluster. Every cluster lives in namespaces of
// its own, so two clusters may use the same addresses without meeting.
//
//   cluster netns   br0 10.200.0.1/24          (the control plane listens here)
//   node i (1..)    eth0 10.200.0.(10+i)/24    pod CIDR 10.244.i.0/24
//   pod k on node i eth0 10.244.i.k/24 (k = 2..254), default via 10.244.i.1
//   node side       vp<k> 10.244.i.1/32, route 10.244.i.k/32 dev vp<k>
//   services        VIPs from 10.96.0.0/16, first 10.96.0.10
import { AmbitError } from '@ambit/core';

export const BRIDGE_NAME = 'br0';
export const BRIDGE_PREFIX = 24;
export const CLUSTER_ADDRESS = '10.200.0.1';
export const NODE_UPLINK = 'eth0';
export const POD_INTERFACE = 'eth0';
export const SERVICE_CIDR = '10.96.0.0/16';
export const FIRST_POD_HOST = 2;
export const LAST_POD_HOST = 254;
export const MAX_NODES = 240;
export const CLUSTER_DOMAIN = 'cluster.local';
/** Where the control plane serves discovery and the CA, at the cluster address. */
export const CONTROL_PLANE_PORT = 15012;

const FIRST_VIP = ipToNumber('10.96.0.10');
const LAST_VIP = ipToNumber('10.96.255.254');

/** Bridge address of node `index` (1-based). */
export function nodeAddress(index: number): string {
  checkNodeIndex(index);
  return `10.200.0.${10 + index}`;
}

export function podCidr(index: number): string {
  checkNodeIndex(index);
  return `10.244.${index}.0/24`;
}

/** The pods' gateway on node `index`, present on every pod veth of that node. */
export function podGateway(index: number): string {
  checkNodeIndex(index);
  return `10.244.${index}.1`;
}

export function podAddress(nodeIndex: number, host: number): string {
  checkNodeIndex(nodeIndex);
  if (!Number.isInteger(host) || host < FIRST_POD_HOST || host > LAST_POD_HOST) {
    throw new AmbitError('invalid-argument', `pod host number ${host} is outside ${FIRST_POD_HOST}-${LAST_POD_HOST}`);
  }
  return `10.244.${nodeIndex}.${host}`;
}

/** Node-side interface name of pod `host` (names are per namespace, so they repeat across nodes). */
export function podHostInterface(host: number): string {
  return `vp${host}`;
}

/** Cluster-side (bridge port) interface name of node `index`. */
export function nodeBridgePort(index: number): string {
  return `vn${index}`;
}

/** Lowest free pod host number on a node, or undefined when the /24 is full. */
export function freePodHost(used: Iterable<number>): number | undefined {
  const taken = new Set(used);
  for (let host = FIRST_POD_HOST; host <= LAST_POD_HOST; host++) if (!taken.has(host)) return host;
  return undefined;
}

/** Lowest free service VIP, or undefined when the range is exhausted. */
export function freeVip(used: Iterable<string>): string | undefined {
  const taken = new Set([...used].map(ipToNumber));
  for (let n = FIRST_VIP; n <= LAST_VIP; n++) {
    if ((n & 0xff) === 0 || (n & 0xff) === 0xff) continue;
    if (!taken.has(n)) return numberToIp(n);
  }
  return undefined;
}

function checkNodeIndex(index: number): void {
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) {
    throw new AmbitError('invalid-argument', `node index ${index} is outside 1-${MAX_NODES}`, { hint: `a local cluster has at most ${MAX_NODES} nodes` });
  }
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

// The loopback plan (no root, no namespaces): Linux routes all of 127/8 to
// lo, so every address below can be bound by any user. Block b (2-254) is the
// cluster's own second octet, so two loopback clusters do not meet:
//
//   control plane   127.b.0.1
//   node i (1..)    127.b.i.1        pod CIDR 127.b.i.0/24
//   pod k on node i 127.b.i.k (k = 2..254)
//   services        VIPs from 127.b.250.10 to 127.b.254.254
export const LOOPBACK_MAX_NODES = 240;
/** Every pod's SOCKS5 proxy (its node's ztunnel, at the pod's address), as ALL_PROXY=socks5h://<pod IP>:15080. */
export const LOOPBACK_SOCKS5_PORT = 15080;

export interface LoopbackPlan {
  clusterAddress: string;
  nodeAddress(index: number): string;
  podCidr(index: number): string;
  podAddress(nodeIndex: number, host: number): string;
  freeVip(used: Iterable<string>): string | undefined;
}

export function loopbackPlan(block: number): LoopbackPlan {
  if (!Number.isInteger(block) || block < 2 || block > 254) throw new AmbitError('invalid-argument', `loopback block ${block} is outside 2-254`);
  const node = (index: number): number => {
    if (!Number.isInteger(index) || index < 1 || index > LOOPBACK_MAX_NODES) {
      throw new AmbitError('invalid-argument', `node index ${index} is outside 1-${LOOPBACK_MAX_NODES}`, { hint: `a loopback cluster has at most ${LOOPBACK_MAX_NODES} nodes` });
    }
    return index;
  };
  const first = ipToNumber(`127.${block}.250.10`);
  const last = ipToNumber(`127.${block}.254.254`);
  return {
    clusterAddress: `127.${block}.0.1`,
    nodeAddress: (index) => `127.${block}.${node(index)}.1`,
    podCidr: (index) => `127.${block}.${node(index)}.0/24`,
    podAddress: (index, host) => {
      if (!Number.isInteger(host) || host < FIRST_POD_HOST || host > LAST_POD_HOST) {
        throw new AmbitError('invalid-argument', `pod host number ${host} is outside ${FIRST_POD_HOST}-${LAST_POD_HOST}`);
      }
      return `127.${block}.${node(index)}.${host}`;
    },
    freeVip: (used) => {
      const taken = new Set([...used].map(ipToNumber));
      for (let n = first; n <= last; n++) if ((n & 0xff) !== 0 && (n & 0xff) !== 0xff && !taken.has(n)) return numberToIp(n);
      return undefined;
    },
  };
}

/** The block of a loopback cluster address (127.b.0.1). */
export function loopbackBlock(clusterAddress: string): number {
  const match = /^127\.(\d{1,3})\.0\.1$/.exec(clusterAddress);
  if (match === null) throw new AmbitError('invalid-resource', `${clusterAddress} is not a loopback cluster address (127.b.0.1)`);
  return Number(match[1]);
}
