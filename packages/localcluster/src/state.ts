// `<stateDir>/cluster.json`: everything needed to use or remove a local
// cluster from another process (the CLI, a test after a crash). Replaced
// atomically (temp file + rename) after every change.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
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
}

export interface NamespaceState {
  name: string;
  labels: Record<string, string>;
}

export type ProcessTarget =
  | { kind: 'cluster' }
  | { kind: 'node'; node: string }
  | { kind: 'pod'; namespace: string; name: string };

export interface ProcessState {
  pid: number;
  target: ProcessTarget;
  netns: string;
  argv: string[];
  log: string;
  startedAt: string;
}

export interface ClusterState {
  version: typeof STATE_VERSION;
  id: string;
  createdAt: string;
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

export async function writeState(stateDir: string, state: ClusterState): Promise<void> {
  const file = stateFile(stateDir);
  const temp = `${file}.${process.pid}.${++tempSeq}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await fs.rename(temp, file);
}

export async function removeState(stateDir: string): Promise<void> {
  await fs.rm(stateFile(stateDir), { force: true });
}
