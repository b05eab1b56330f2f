// Where commands act: the local cluster in a state directory (the embedded
// default). The store is the control plane's, through its API socket.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError } from '@ambit/core';
import { API_SOCKET_FILE, RemoteStore } from '@ambit/control-plane';
import { CONTROL_PLANE_DIR, LocalCluster, LocalMesh, STATE_FILE } from '@ambit/localcluster';

export const DEFAULT_STATE_DIR = '/var/lib/ambit';

export interface GlobalOptions {
  stateDir: string;
  output: string;
  debug: boolean;
}

export interface LocalContext {
  cluster: LocalCluster;
  mesh: LocalMesh;
  store: RemoteStore;
  close(): Promise<void>;
}

export function stateDirOf(options: { stateDir?: string }): string {
  return options.stateDir ?? process.env.AMBIT_STATE_DIR ?? DEFAULT_STATE_DIR;
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
  return { cluster, mesh, store, close: () => store.close() };
}
