// Name resolution without a DNS server: `ip netns exec` bind-mounts
// /etc/netns/<netns>/hosts over /etc/hosts (and resolv.conf likewise), so each
// pod gets a hosts file naming every Service VIP. The files are rewritten in
// place, never replaced by rename: a running process sees the bind mount of
// the original inode, and must see the new services too.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { systemCode } from '@ambit/core';
import { CLUSTER_DOMAIN } from './addressing.js';
import type { PodState, ServiceState } from './state.js';

export const ETC_NETNS = '/etc/netns';

/**
 * A resolver that fails at once: glibc reads the hosts file first; a name not
 * there goes to 127.0.0.1:53 inside the namespace, which refuses immediately
 * instead of timing out against the machine's real resolver.
 */
export const POD_RESOLV_CONF = [
  '# written by ambit localcluster: names come from /etc/hosts only',
  'nameserver 127.0.0.1',
  `search ${CLUSTER_DOMAIN}`,
  'options attempts:1 timeout:1',
  '',
].join('\n');

export function hostsFile(pod: Pick<PodState, 'namespace' | 'name' | 'ip'>, services: readonly ServiceState[]): string {
  const lines = [
    '# written by ambit localcluster',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${pod.ip}\t${pod.name}`,
  ];
  const sorted = [...services].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  for (const service of sorted) {
    const names = [`${service.name}.${service.namespace}.svc.${CLUSTER_DOMAIN}`, `${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}`];
    if (service.namespace === pod.namespace) names.push(service.name);
    lines.push(`${service.vip}\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function etcNetnsDir(netns: string): string {
  return join(ETC_NETNS, netns);
}

/** Writes (in place) the pod's hosts file and resolv.conf. */
export async function writePodResolution(netns: string, hosts: string): Promise<void> {
  const dir = etcNetnsDir(netns);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await writeInPlace(join(dir, 'hosts'), hosts);
  await writeInPlace(join(dir, 'resolv.conf'), POD_RESOLV_CONF);
}

export async function removeEtcNetns(netns: string): Promise<void> {
  await fs.rm(etcNetnsDir(netns), { recursive: true, force: true });
}

/** Names in /etc/netns (empty when the directory does not exist). */
export async function listEtcNetns(): Promise<string[]> {
  try {
    return await fs.readdir(ETC_NETNS);
  } catch (error) {
    if (systemCode(error) === 'ENOENT') return [];
    throw error;
  }
}

async function writeInPlace(file: string, content: string): Promise<void> {
  // 'w' truncates the existing inode rather than replacing it.
  const handle = await fs.open(file, 'w', 0o644);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}
