// The cluster's network, built with iproute2 only inside namespaces we
// create. Veth pairs are created with both ends already in their target
// namespaces (`ip link add A netns X type veth peer name B netns Y`), so no
// interface or address ever appears in the machine's root namespace.
import { AmbitError, systemCode } from '@ambit/core';
import {
  BRIDGE_NAME, BRIDGE_PREFIX, CLUSTER_ADDRESS, NODE_UPLINK, POD_INTERFACE, nodeBridgePort, podHostInterface,
} from './addressing.js';
import { ipBatch, run, runChecked, sysctl } from './command.js';
import type { NodeState, PodState } from './state.js';

/** Every namespace name from `ip netns list` (first column). */
export async function listNetns(): Promise<string[]> {
  let result;
  try {
    result = await runChecked('ip', ['netns', 'list'], { what: 'list network namespaces' });
  } catch (error) {
    // Without iproute2 there are no namespaces of ours to find (a loopback cluster needs none).
    if (systemCode((error as { cause?: unknown }).cause) === 'ENOENT') return [];
    throw error;
  }
  return result.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((name) => name !== '');
}

export async function addNetns(netns: string): Promise<void> {
  await runChecked('ip', ['netns', 'add', netns], { what: `create network namespace ${netns}` });
  await ipBatch(netns, ['link set lo up'], `bring up loopback in ${netns}`);
}

/** Deletes a namespace; true when it existed. Its interfaces, routes and nft rules go with it. */
export async function deleteNetns(netns: string): Promise<boolean> {
  const result = await run('ip', ['netns', 'del', netns], { timeoutMs: 30_000 });
  if (result.code === 0) return true;
  if (/No such file or directory|Invalid argument/.test(result.stderr) && !(await listNetns()).includes(netns)) return false;
  throw new AmbitError('unavailable', `cannot delete network namespace ${netns}: ${result.stderr.trim()}`, {
    hint: 'a process may still hold it; check `ip netns pids ' + netns + '`',
    details: { stderr: result.stderr },
  });
}

/** The cluster namespace: a bridge with the cluster address. */
export async function createClusterNetwork(netns: string): Promise<void> {
  await addNetns(netns);
  await ipBatch(netns, [
    `link add ${BRIDGE_NAME} type bridge`,
    `addr add ${CLUSTER_ADDRESS}/${BRIDGE_PREFIX} dev ${BRIDGE_NAME}`,
    `link set ${BRIDGE_NAME} up`,
  ], `create the bridge in ${netns}`);
}

/**
 * A node: namespace with forwarding on and reverse-path filtering off (pod
 * traffic arrives on many interfaces), a veth into the bridge, and routes to
 * the other nodes' pod CIDRs through their bridge addresses.
 */
export async function createNodeNetwork(clusterNetns: string, node: NodeState, peers: readonly NodeState[]): Promise<void> {
  await addNetns(node.netns);
  await sysctl(node.netns, {
    'net.ipv4.ip_forward': 1,
    'net.ipv4.conf.all.rp_filter': 0,
    'net.ipv4.conf.default.rp_filter': 0,
    'net.ipv4.conf.lo.rp_filter': 0,
  }, `enable forwarding in ${node.netns}`);
  const port = nodeBridgePort(node.index);
  await runChecked('ip', ['link', 'add', NODE_UPLINK, 'netns', node.netns, 'type', 'veth', 'peer', 'name', port, 'netns', clusterNetns], {
    what: `create the uplink of ${node.netns}`,
  });
  await ipBatch(clusterNetns, [`link set ${port} master ${BRIDGE_NAME}`, `link set ${port} up`, `route replace ${node.podCidr} via ${node.address}`],
    `attach ${node.name} to the bridge`);
  await ipBatch(node.netns, [
    `addr add ${node.address}/${BRIDGE_PREFIX} dev ${NODE_UPLINK}`,
    `link set ${NODE_UPLINK} up`,
    ...peers.filter((peer) => peer.name !== node.name).map((peer) => `route replace ${peer.podCidr} via ${peer.address} dev ${NODE_UPLINK}`),
  ], `address ${node.netns}`);
  await sysctl(node.netns, { [`net.ipv4.conf.${NODE_UPLINK}.rp_filter`]: 0 }, `configure ${NODE_UPLINK} in ${node.netns}`);
}

/**
 * A pod: namespace, eth0 with its /24 and a default route through the node;
 * on the node, the gateway address (/32) on the pod's veth, a /32 route to
 * the pod, and proxy ARP so pods on the same node reach each other through
 * the node (their /24 says on-link, the node answers for its neighbours).
 */
export async function createPodNetwork(node: NodeState, pod: PodState): Promise<void> {
  const hostIf = podHostInterface(pod.host);
  await addNetns(pod.netns);
  await runChecked('ip', ['link', 'add', POD_INTERFACE, 'netns', pod.netns, 'type', 'veth', 'peer', 'name', hostIf, 'netns', node.netns], {
    what: `create the veth of ${pod.netns}`,
  });
  await ipBatch(node.netns, [`addr add ${node.gateway}/32 dev ${hostIf}`, `link set ${hostIf} up`, `route replace ${pod.ip}/32 dev ${hostIf} src ${node.gateway}`],
    `connect ${pod.namespace}/${pod.name} on ${node.name}`);
  await sysctl(node.netns, { [`net.ipv4.conf.${hostIf}.proxy_arp`]: 1, [`net.ipv4.conf.${hostIf}.rp_filter`]: 0 }, `configure ${hostIf} in ${node.netns}`);
  await ipBatch(pod.netns, [
    `addr add ${pod.ip}/24 dev ${POD_INTERFACE}`,
    `link set ${POD_INTERFACE} up`,
    `route add default via ${node.gateway} dev ${POD_INTERFACE}`,
  ], `address ${pod.netns}`);
}
