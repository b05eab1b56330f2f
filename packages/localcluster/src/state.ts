// `<stateDir>/cluster.json`: everything needed to use or remove a local
// cluster from another process (the CLI, a test after a crash). Replaced
// atomically (temp file + rename) after every change.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, systemCode } from '@ambit/core';

export const STATE_FILE = 'cluster.json';
export const STATE_VERSION = 1;
export const LOGS_DIR = 'logs';

export interface NodeState {
  name: string;
  /** 1-based; addresses derive from it (see addressing.ts). */
  index: number;
  netns: string;
  address: string;
  podCidr: string;
  gateway: string;
}

export interface PortState {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface PodState {
  namespace: string;
  name: string;
  node: string;
  netns: string;
  ip: string;
  /** Host number within the node's /24; the node-side interface is `vp<host>`. */
  host: number;
  serviceAccount: string;
  labels: Record<string, string>;
  ports: PortState[];
  ready: boolean;
  /** See AddPodOptions.container. */
  container?: { name: string; image?: string };
  /** See AddPodOptions.adopted. */
  adopted?: boolean;
  /** Its object was written to the store: from then on it is the pod's, and deleting it deletes the pod. */
  stored?: boolean;
}

export interface ServicePortState {
  name?: string;
  port: number;
  /** A number, or the name of a container port; default: `port`. */
  targetPort?: number | string;
  protocol: 'TCP' | 'UDP';
}

export interface ServiceState {
  namespace: string;
  name: string;
  vip: string;
  selector: Record<string, string>;
  ports: ServicePortState[];
  labels: Record<string, string>;
  /** See AddServiceOptions.adopted. */
  adopted?: boolean;
  /** Its object was written to the store: from then on it is the service's, and deleting it deletes the service. */
  stored?: boolean;
}

export interface NamespaceState {
  name: string;
  /** The labels it was made with; once stored, its object's labels are the namespace's. */
  labels: Record<string, string>;
  /**
   * Written to the store: from then on the store's Namespace is the namespace, and one the store no
   * longer has was deleted (the kubelet removes its pods and services).
   */
  stored?: boolean;
}

export type ProcessTarget =
  | { kind: 'cluster' }
  | { kind: 'node'; node: string }
  | { kind: 'pod'; namespace: string; name: string }
  /** The machine's own namespace: the kubelet daemon, which builds pods (it adds no address there). */
  | { kind: 'host' };

export interface ProcessState {
  pid: number;
  target: ProcessTarget;
  netns: string;
  argv: string[];
  log: string;
  startedAt: string;
}

/**
 * How the cluster is built: network namespaces (root; capture by nftables) or
 * addresses on the loopback interface (any user; pods use their ztunnel's
 * SOCKS5 proxy, no capture). Absent in files written before the loopback mode: netns.
 */
export type NetworkMode = 'netns' | 'loopback';

export interface ClusterState {
  version: typeof STATE_VERSION;
  id: string;
  createdAt: string;
  network?: NetworkMode;
  clusterNetns: string;
  clusterAddress: string;
  nodes: NodeState[];
  namespaces: NamespaceState[];
  pods: PodState[];
  services: ServiceState[];
  processes: ProcessState[];
}

export function stateFile(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

export async function readState(stateDir: string): Promise<ClusterState | undefined> {
  const file = stateFile(stateDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (systemCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AmbitError('invalid-resource', `${file} is not JSON: ${(error as Error).message}`, {
      cause: error,
      hint: 'tear the cluster down by its id (teardownCluster(id)) and remove the file',
    });
  }
  const state = parsed as Partial<ClusterState> | null;
  if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION || typeof state.id !== 'string') {
    throw new AmbitError('invalid-resource', `${file} is not a version ${STATE_VERSION} local cluster state`, {
      hint: 'tear the cluster down by its id (teardownCluster(id)) and remove the file',
    });
  }
  return parsed as ClusterState;
}

let tempSeq = 0;

export const LOCK_FILE = 'cluster.lock';
const LOCK_WAIT_MS = 60_000;

/**
 * Takes the cluster's change lock: a file holding the owner's pid, created
 * exclusively. Several processes change one cluster (a CLI command, the
 * kubelet daemon), each re-reading cluster.json under the lock. A lock whose
 * pid is gone is taken over. Resolves with the release function.
 */
export async function lockState(stateDir: string, waitMs = LOCK_WAIT_MS): Promise<() => Promise<void>> {
  const file = join(stateDir, LOCK_FILE);
  const deadline = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return async () => { await fs.rm(file, { force: true }); };
    } catch (error) {
      if (systemCode(error) !== 'EEXIST') throw error;
    }
    const holder = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new AmbitError('timeout', `the local cluster in ${stateDir} is being changed by process ${holder} (${file})`, {
        hint: `wait for it to finish; if no such process exists, remove ${file}`,
      });
    }
    await sleep(delay);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return systemCode(error) === 'EPERM';
  }
}

export async function writeState(stateDir: string, state: ClusterState): Promise<void> {
  const file = stateFile(stateDir);
  const temp = `${file}.${process.pid}.${++tempSeq}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await fs.rename(temp, file);
}

export async function removeState(stateDir: string): Promise<void> {
  await fs.rm(stateFile(stateDir), { force: true });
}

/** Whether a pod's or service's object is its own: written by the cluster, or there first (adopted). */
export function isStored(entry: { adopted?: boolean; stored?: boolean }): boolean {
  return entry.adopted === true || entry.stored === true;
}
