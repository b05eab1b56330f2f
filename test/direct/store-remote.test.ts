// The store API socket: the same store contract through RemoteStore, then
// what only a remote client has to prove: errors keep their codes and hints,
// a control plane that is not running is `unavailable` with advice, and the
// socket is private to the state's owner.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWith } from '@ambit/core/testing';
import { LocalStore, RemoteStore, StoreApiServer } from '@ambit/control-plane';
import { storeContract, namespace, pod } from '../support/store-contract.js';
import { runControlPlane } from '../support/control-plane.js';

async function served(historySize?: number): Promise<{ local: LocalStore; remote: RemoteStore; api: StoreApiServer; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-remote-'));
  const local = await LocalStore.open(join(dir, 'store'), historySize === undefined ? {} : { historySize });
  const api = new StoreApiServer(local);
  await api.listen(join(dir, 'api.sock'));
  return { local, api, dir, remote: new RemoteStore(join(dir, 'api.sock')) };
}

storeContract('remote (API socket → local)', async ({ historySize }) => {
  const { local, remote, api, dir } = await served(historySize);
  return {
    store: remote,
    cleanup: async () => {
      await remote.close();
      await api.close();
      await local.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('RemoteStore', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('keeps error codes, messages and hints across the socket', async () => {
    const { local, remote, api, dir } = await served();
    cleanups.push(async () => { await remote.close(); await api.close(); await local.close(); await rm(dir, { recursive: true, force: true }); });
    await remote.create(namespace('demo'));
    await rejectsWith(remote.create(namespace('demo')), 'already-exists', /demo/);
    await rejectsWith(remote.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Bad_Name', namespace: 'demo' } }), 'invalid-resource', /name/);
    await rejectsWith(remote.create({ apiVersion: 'v1', kind: 'Nope', metadata: { name: 'x' } }), 'invalid-resource', /known kind/);
    assert.equal(await remote.get('Namespace', 'missing'), undefined);
    const created = await remote.create(pod('p', 'demo'));
    await rejectsWith(remote.delete('Pod', 'p', 'demo', { resourceVersion: '1' }), 'conflict', /p/);
    await remote.delete('Pod', 'p', 'demo', { resourceVersion: created.metadata.resourceVersion });
    assert.equal(await remote.get('Pod', 'p', 'demo'), undefined);
  });

  it('socket is owner-only and a missing control plane is unavailable with a hint', async () => {
    const { local, remote, api, dir } = await served();
    const mode = (await stat(join(dir, 'api.sock'))).mode & 0o777;
    assert.equal(mode, 0o600);
    await api.close();
    await local.close();
    const error = await rejectsWith(remote.list('Namespace'), 'unavailable', /cannot reach the control plane/);
    assert.match(error.hint ?? '', /ambit up/);
    await remote.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a running control plane serves its store on STATE/api.sock and translates what comes through it', async () => {
    const cp = await runControlPlane();
    cleanups.push(() => cp.close());
    const remote = new RemoteStore(join(cp.stateDir, 'api.sock'));
    cleanups.push(() => remote.close());
    await remote.create(namespace('demo', { 'ambit.dev/dataplane-mode': 'ambient' }));
    const listed = await cp.cp.store.list('Namespace');
    assert.ok(listed.items.some((n) => n.metadata.name === 'demo'));
  });
});
