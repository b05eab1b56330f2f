// Finding and removing local clusters, also after a crash: everything is found again
// by its `ambit-<id>-` prefix (`ip netns list`, /etc/netns), processes by
// `ip netns pids` and by the pids recorded in cluster.json (checked against
// their command line, so a reused pid is never killed). Idempotent: a second
// teardown finds nothing and reports nothing left.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, silentLogger, type Logger } from '@ambit/core';
import { etcNetnsDir, listEtcNetns } from './hosts.js';
import { clusterPrefix, generateClusterId, idOfNetns, validateClusterId } from './names.js';
import { deleteNetns, listNetns } from './network.js';
import { isRecordedProcess, netnsPids, stopProcesses } from './processes.js';
import { readState, removeState, stateFile, type ClusterState } from './state.js';

export interface TeardownReport {
  id: string;
  /** Namespaces deleted by this call. */
  removedNamespaces: string[];
  /** Processes stopped by this call. */
  stoppedPids: number[];
  /** Whatever could not be removed, each with the reason; empty when the cluster is gone. */
  leftovers: string[];
}

export interface LeftoverCluster {
  id: string;
  namespaces: string[];
  etcDirs: string[];
}

export interface TeardownOptions {
  logger?: Logger;
  /** How long TERM'ed processes get before KILL (default 3 s). */
  graceMs?: number;
}

/**
 * Tears down the cluster with this id, or the one whose state directory this
 * is. `target` is a cluster id (hex) or a path holding cluster.json.
 */
export async function teardownCluster(target: string | { id?: string; stateDir?: string }, options: TeardownOptions = {}): Promise<TeardownReport> {
  const logger = (options.logger ?? silentLogger).child({ component: 'localcluster' });
  const { id, stateDir, state } = await resolveTarget(target);
  const prefix = clusterPrefix(id);
  const leftovers: string[] = [];

  const namespaces = new Set((await listNetns()).filter((name) => name.startsWith(prefix)));
  // 1. Processes: everything inside our namespaces, plus recorded pids still running what we started.
  const pids = new Set<number>();
  for (const netns of namespaces) for (const pid of await netnsPids(netns)) pids.add(pid);
  for (const recorded of state?.processes ?? []) if (await isRecordedProcess(recorded)) pids.add(recorded.pid);
  const stillAlive = await stopProcesses([...pids], options.graceMs);
  for (const pid of stillAlive) leftovers.push(`process ${pid} survived SIGKILL`);

  // 2. Namespaces: pods first, then nodes, the cluster namespace last (their veths go with them).
  const removedNamespaces: string[] = [];
  const order = [...namespaces].sort((a, b) => rank(a, state) - rank(b, state) || a.localeCompare(b));
  for (const netns of order) {
    try {
      if (await deleteNetns(netns)) removedNamespaces.push(netns);
    } catch (error) {
      leftovers.push(`network namespace ${netns}: ${(error as Error).message}`);
    }
  }

  // 3. /etc/netns directories (hosts files).
  for (const name of await listEtcNetns()) {
    if (!name.startsWith(prefix)) continue;
    try {
      await fs.rm(etcNetnsDir(name), { recursive: true, force: true });
    } catch (error) {
      leftovers.push(`${etcNetnsDir(name)}: ${(error as Error).message}`);
    }
  }

  // 4. The state file, once nothing it describes is left; the logs stay for post-mortems.
  if (stateDir !== undefined && leftovers.length === 0 && state?.id === id) await removeState(stateDir);

  const report = { id, removedNamespaces, stoppedPids: [...pids].filter((pid) => !stillAlive.includes(pid)).sort((a, b) => a - b), leftovers };
  if (leftovers.length > 0) logger.warn(report, 'local cluster teardown left things behind');
  else logger.info({ id, namespaces: removedNamespaces.length, processes: report.stoppedPids.length }, 'local cluster torn down');
  return report;
}

/** Clusters with namespaces or /etc/netns entries on this machine (running or leftovers). */
export async function listClusters(): Promise<LeftoverCluster[]> {
  const clusters = new Map<string, LeftoverCluster>();
  const entry = (id: string): LeftoverCluster => {
    let cluster = clusters.get(id);
    if (cluster === undefined) clusters.set(id, cluster = { id, namespaces: [], etcDirs: [] });
    return cluster;
  };
  for (const name of await listNetns()) {
    const id = idOfNetns(name);
    if (id !== undefined) entry(id).namespaces.push(name);
  }
  for (const name of await listEtcNetns()) {
    const id = idOfNetns(name);
    if (id !== undefined) entry(id).etcDirs.push(join('/etc/netns', name));
  }
  return [...clusters.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** A fresh id whose prefix nothing on this machine uses. */
export async function unusedClusterId(): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = generateClusterId();
    if (!await clusterIdInUse(id)) return id;
  }
  throw new AmbitError('internal', 'could not find an unused cluster id in 20 attempts');
}

/** Whether namespaces or /etc/netns entries with this id's prefix exist. */
export async function clusterIdInUse(id: string): Promise<boolean> {
  const prefix = clusterPrefix(id);
  return (await listNetns()).some((name) => name.startsWith(prefix)) || (await listEtcNetns()).some((name) => name.startsWith(prefix));
}

async function resolveTarget(target: string | { id?: string; stateDir?: string }): Promise<{ id: string; stateDir?: string; state?: ClusterState }> {
  const spec = typeof target === 'string' ? (/^[0-9a-f]{4,12}$/.test(target) ? { id: target } : { stateDir: target }) : target;
  const state = spec.stateDir === undefined ? undefined : await readState(spec.stateDir);
  if (spec.stateDir !== undefined && state === undefined && spec.id === undefined) {
    throw new AmbitError('not-found', `no local cluster state at ${stateFile(spec.stateDir)}`, {
      hint: 'pass the cluster id instead (listClusters() shows the ones on this machine)',
    });
  }
  if (spec.id !== undefined && state !== undefined && state.id !== spec.id) {
    throw new AmbitError('invalid-argument', `${stateFile(spec.stateDir ?? '')} describes cluster ${state.id}, not ${spec.id}`);
  }
  const id = validateClusterId(spec.id ?? state?.id ?? '');
  return { id, ...(spec.stateDir === undefined ? {} : { stateDir: spec.stateDir }), ...(state === undefined ? {} : { state }) };
}

function rank(netns: string, state: ClusterState | undefined): number {
  if (netns === state?.clusterNetns || netns.endsWith('-cluster')) return 2;
  if (state?.nodes.some((node) => node.netns === netns) === true) return 1;
  return 0;
}
