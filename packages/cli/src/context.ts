// Where commands act. `--context local` (the default): the local mesh in a
// state directory, its store being the control plane's, through its API
// socket. `--context kube` (or `--kubeconfig FILE`): a Kubernetes cluster's
// API server, for the commands that only read and write objects.
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AmbitError, isAmbitError } from '@ambit/core';
import { API_SOCKET_FILE, RemoteStore, type KubeObject, type Store } from '@ambit/control-plane';
import { CONTROL_PLANE_DIR, LocalCluster, LocalMesh, STATE_FILE } from '@ambit/localcluster';
import type { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { usage } from './errors.js';

export const DEFAULT_STATE_DIR = '/var/lib/ambit';

/** Where a user without root keeps a (loopback) mesh: $XDG_STATE_HOME/ambit, else ~/.local/state/ambit. */
export function userStateDir(): string {
  const base = process.env.XDG_STATE_HOME !== undefined && process.env.XDG_STATE_HOME !== ''
    ? process.env.XDG_STATE_HOME
    : join(homedir(), '.local', 'state');
  return join(base, 'ambit');
}
export const CONTEXTS = ['local', 'kube'] as const;
export type ContextName = (typeof CONTEXTS)[number];

/** What every backend offers: the objects, and namespace labels. */
export interface Backend {
  readonly context: ContextName;
  readonly store: Store;
  /** The names of the namespaces that exist. */
  namespaces(): Promise<string[]>;
  /** Sets (string) or removes (null) labels of an existing namespace. */
  labelNamespace(name: string, labels: Record<string, string | null>): Promise<void>;
  close(): Promise<void>;
}

export interface LocalContext extends Backend {
  readonly context: 'local';
  cluster: LocalCluster;
  mesh: LocalMesh;
  store: RemoteStore;
}

export interface KubeContext extends Backend {
  readonly context: 'kube';
  store: KubernetesStore;
}

export interface ContextOptions {
  context?: string;
  kubeconfig?: string;
  stateDir?: string;
}

export function stateDirOf(options: { stateDir?: string }): string {
  return options.stateDir ?? process.env.AMBIT_STATE_DIR ?? (process.getuid?.() === 0 ? DEFAULT_STATE_DIR : userStateDir());
}

/** The context the global options select: kube when asked for or given a kubeconfig, else local. */
export function contextOf(options: ContextOptions): ContextName {
  const name = options.context ?? (options.kubeconfig === undefined ? 'local' : 'kube');
  if (!(CONTEXTS as readonly string[]).includes(name)) usage(`--context ${name} is not a context`, `use ${CONTEXTS.join(' or ')}`);
  if (name === 'local' && options.kubeconfig !== undefined) usage('--kubeconfig selects a cluster, but --context is local', 'drop one of them');
  return name as ContextName;
}

/** The running local cluster, or a clear error saying how to start one. */
export async function openLocal(stateDir: string): Promise<LocalContext> {
  try {
    await access(join(stateDir, STATE_FILE));
  } catch {
    throw new AmbitError('not-found', `no local mesh in ${stateDir}`, { hint: 'start one with `ambit up` (or pass --state-dir)' });
  }
  const store = new RemoteStore(join(stateDir, CONTROL_PLANE_DIR, API_SOCKET_FILE));
  const cluster = await LocalCluster.load(stateDir, { store });
  const mesh = new LocalMesh(cluster, { kubelet: 'process', store });
  return {
    context: 'local', cluster, mesh, store,
    namespaces: () => namespacesIn(store),
    labelNamespace: (name, labels) => labelNamespaceIn(store, name, labels, { where: 'the local mesh', hint: 'create it with `ambit apply -f` and a Namespace manifest' }),
    close: () => store.close(),
  };
}

/** A cluster's API server through a kubeconfig ($KUBECONFIG or ~/.kube/config without one). */
export async function openKube(kubeconfig: string | undefined): Promise<KubeContext> {
  // Loaded on demand: @kubernetes/client-node is large, and most commands act locally.
  const { KubernetesStore } = await import('@ambit/control-plane/kubernetes');
  const store = KubernetesStore.fromKubeconfig(kubeconfig);
  return {
    context: 'kube', store,
    namespaces: () => namespacesIn(store),
    labelNamespace: (name, labels) => labelNamespaceIn(store, name, labels, { where: `the cluster at ${store.serverUrl}`, hint: 'create it first (kubectl create namespace)' }),
    close: () => store.close(),
  };
}

async function namespacesIn(store: Store): Promise<string[]> {
  return (await store.list('Namespace')).items.map((n) => n.metadata.name);
}

/** Patches a Namespace's labels (null removes one); the store's object is the namespace, on either backend. */
async function labelNamespaceIn(store: Store, name: string, labels: Record<string, string | null>, missing: { where: string; hint: string }): Promise<void> {
  try {
    await store.patch<KubeObject>('Namespace', name, undefined, { metadata: { labels } });
  } catch (error) {
    if (isAmbitError(error, 'not-found')) throw new AmbitError('not-found', `no namespace ${JSON.stringify(name)} in ${missing.where}`, { hint: missing.hint });
    throw error;
  }
}

export async function openBackend(options: ContextOptions): Promise<LocalContext | KubeContext> {
  return contextOf(options) === 'kube' ? openKube(options.kubeconfig) : openLocal(stateDirOf(options));
}
