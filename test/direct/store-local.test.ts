// The local store: the shared contract, then what only an embedded,
// file-backed store has to prove: persistence, versions across restarts,
// the state lock, and refusals that leave nothing behind.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { isAmbitError } from '@ambit/core';
import { rejectsWith } from '@ambit/core/testing';
import { LocalStore, type Service } from '@ambit/control-plane';
import { storeContract, Collector, namespace, pod, service } from '../support/store-contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ambit-store-'));
}

storeContract('local', async ({ historySize }) => {
  const dir = await tempDir();
  const store = await LocalStore.open(dir, historySize === undefined ? {} : { historySize });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('LocalStore', () => {
  const dirs: string[] = [];
  const stores: LocalStore[] = [];

  async function open(dir?: string, options: Parameters<typeof LocalStore.open>[1] = {}): Promise<{ store: LocalStore; dir: string }> {
    const where = dir ?? await tempDir();
    if (dir === undefined) dirs.push(where);
    const store = await LocalStore.open(where, options);
    stores.push(store);
    return { store, dir: where };
  }

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('with requireNamespace, refuses an object in a namespace that does not exist, as the API server does, writing nothing', async () => {
    const { store } = await open(undefined, { requireNamespace: true });
    const before = (await store.list('Service')).resourceVersion;
    await rejectsWith(store.create(service('echo', 'shop')), 'not-found', /namespace shop not found, so Service shop\/echo cannot be created in it/);
    assert.equal((await store.list('Service')).resourceVersion, before, 'nothing written');
    await store.create(service('echo', 'default'));
    await store.create(service('dns', 'kube-system'));
    await store.create(namespace('shop'));
    await store.create(service('echo', 'shop'));
    await store.create(pod('p', 'shop', { app: 'x' }));
    assert.deepEqual((await store.list('Service')).items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort(), ['default/echo', 'kube-system/dns', 'shop/echo']);
    await store.delete('Namespace', 'shop');
    await rejectsWith(store.create(service('echo', 'shop')), 'not-found', /namespace shop not found/);
  });

  it('keeps every object across a reopen, with the same uid and version', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo', { 'ambit.dev/dataplane-mode': 'ambient' }));
    const created = await store.create(service('echo', 'demo', { app: 'echo' }));
    await store.updateStatus('Service', 'echo', 'demo', { conditions: [] });
    await store.create(service('gone', 'demo'));
    await store.delete('Service', 'gone', 'demo');
    const before = await store.list('Service');
    await store.close();

    const { store: reopened } = await open(dir);
    const after = await reopened.list('Service');
    assert.deepEqual(after.items, before.items);
    assert.equal(after.items[0]?.metadata.uid, created.metadata.uid);
    assert.deepEqual((await reopened.get('Namespace', 'demo'))?.metadata.labels, { 'ambit.dev/dataplane-mode': 'ambient' });
    assert.equal(await reopened.get('Service', 'gone', 'demo'), undefined);
  });

  it('keeps handing out higher versions after a restart', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    const last = await store.create(service('a', 'demo'));
    await store.delete('Service', 'a', 'demo');
    const deletedAt = Number((await store.list('Service')).resourceVersion);
    await store.close();

    const { store: reopened } = await open(dir);
    const listed = Number((await reopened.list('Service')).resourceVersion);
    assert.ok(listed >= deletedAt, `list version ${listed} >= ${deletedAt}`);
    const next = await reopened.create(service('a', 'demo'));
    assert.ok(Number(next.metadata.resourceVersion) > deletedAt, `${next.metadata.resourceVersion} > ${deletedAt}`);
    assert.notEqual(next.metadata.uid, last.metadata.uid);
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const patched = await reopened.patch('Service', 'a', 'demo', { metadata: { labels: { i: String(i) } } });
      versions.push(Number(patched.metadata.resourceVersion));
    }
    assert.deepEqual(versions, [...versions].sort((x, y) => x - y));
  });

  it('fails a watch from a version before the restart with gone, and serves one from after', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    const old = (await store.list('Service')).resourceVersion;
    await store.create(service('a', 'demo'));
    await store.close();

    const { store: reopened } = await open(dir);
    const events = new Collector();
    reopened.watch('Service', { resourceVersion: old }, events);
    const error = await events.waitForError();
    assert.ok(isAmbitError(error, 'gone'), String(error));

    const fresh = new Collector();
    const watch = reopened.watch('Service', { resourceVersion: (await reopened.list('Service')).resourceVersion }, fresh);
    await reopened.create(service('b', 'demo'));
    assert.equal((await fresh.waitFor(1))[0]?.object.metadata.name, 'b');
    watch.close();
  });

  it('serves a watch from the oldest version still in history, and not one before', async () => {
    const { store } = await open(undefined, { historySize: 3 });
    await store.create(namespace('demo'));
    const before = (await store.list('Service')).resourceVersion;
    const a = await store.create(service('a', 'demo'));
    for (const name of ['b', 'c', 'd']) await store.create(service(name, 'demo'));
    const atFloor = new Collector();
    const tooOld = new Collector();
    const w1 = store.watch('Service', { resourceVersion: a.metadata.resourceVersion ?? '' }, atFloor);
    const w2 = store.watch('Service', { resourceVersion: before }, tooOld);
    assert.deepEqual((await atFloor.waitFor(3)).map((e) => e.object.metadata.name), ['b', 'c', 'd']);
    assert.match((await tooOld.waitForError()).message, /too old, history starts after/);
    w1.close();
    w2.close();
  });

  it('starts a watch from version 0 with the current objects', async () => {
    const { store } = await open();
    await store.create(namespace('demo'));
    await store.create(service('a', 'demo', { mesh: 'on' }));
    await store.create(service('b', 'demo'));
    const events = new Collector();
    const watch = store.watch('Service', { resourceVersion: '0', labelSelector: 'mesh=on' }, events);
    await store.create(service('c', 'demo', { mesh: 'on' }));
    assert.deepEqual((await events.waitFor(2)).map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'ADDED c']);
    watch.close();
  });

  it('deletes a namespace with everything in it, and refuses the namespaces Kubernetes keeps', async () => {
    const { store, dir } = await open();
    await store.create(namespace('shop'));
    await store.create(namespace('other'));
    await store.create(service('api', 'shop'));
    await store.create(pod('api-0', 'shop'));
    await store.create(service('api', 'other'));
    const events = new Collector();
    const watch = store.watch('Service', { resourceVersion: '0' }, events);
    await events.waitFor(2);
    await store.delete('Namespace', 'shop');
    assert.deepEqual((await events.waitFor(3)).slice(2).map((e) => `${e.type} ${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`), ['DELETED shop/api']);
    watch.close();
    assert.equal(await store.get('Namespace', 'shop'), undefined);
    assert.deepEqual((await store.list('Pod')).items, []);
    assert.deepEqual((await store.list('Service')).items.map((s) => s.metadata.namespace), ['other'], 'another namespace keeps its objects');
    assert.deepEqual(await readdir(join(dir, 'objects', 'Service', 'shop')), [], 'the files go too');

    await store.create(namespace('default'));
    await store.create(service('kept', 'default'));
    const refused = await rejectsWith(store.delete('Namespace', 'default'), 'invalid-argument');
    assert.match(refused.message, /namespace default cannot be deleted/);
    assert.ok(await store.get('Service', 'kept', 'default'), 'nothing deleted');
  });

  it('refuses a second opener of the same directory while the first holds it', async () => {
    const { store, dir } = await open();
    const error = await rejectsWith(LocalStore.open(dir), 'unavailable', /locked by process \d+/);
    assert.equal(error.details.pid, process.pid);
    await store.close();
    await open(dir);
  });

  it('refuses another process, and takes over the lock of a dead one', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    // A child holds the lock until told to go.
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const { LocalStore } = await import(${JSON.stringify(import.meta.resolve('@ambit/control-plane'))});
      const store = await LocalStore.open(${JSON.stringify(dir)});
      process.stdout.write('open\\n');
      process.stdin.once('data', async () => { await store.close(); process.exit(0); });
    `], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('child did not open the store within 10 s')), 10_000);
        child.stdout.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
      });
      await rejectsWith(LocalStore.open(dir), 'unavailable', new RegExp(`locked by process ${child.pid}`));
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    // Killed without releasing: its lock is stale now.
    assert.equal((await readFile(join(dir, 'lock'), 'utf8')).trim(), String(child.pid));
    const { store } = await open(dir);
    await store.create(namespace('demo'));
  });

  it('takes over a lock whose pid is not running', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    await writeFile(join(dir, 'lock'), '2147483646\n');
    const { store } = await open(dir);
    assert.equal((await readFile(join(dir, 'lock'), 'utf8')).trim(), String(process.pid));
    await store.close();
    await assert.rejects(readFile(join(dir, 'lock')), /ENOENT/, 'close releases the lock');
  });

  it('refuses an invalid object and writes nothing', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    const before = (await store.list('Service')).resourceVersion;
    const files = await readdir(dir, { recursive: true });
    const bad: Service = { ...service('echo', 'demo'), spec: { ports: [{ name: 'http', port: 70_000 }] } };
    await rejectsWith(store.create(bad), 'invalid-resource', /^Service demo\/echo: spec\.ports\[0\]\.port: expected a number from 1 to 65535$/);
    await rejectsWith(store.create({ ...service('echo', 'demo'), metadata: { name: 'echo' } }), 'invalid-resource', /metadata\.namespace: required/);
    await rejectsWith(store.create({ ...namespace('x'), apiVersion: 'v2' }), 'invalid-resource', /apiVersion/);

    const good = await store.create(service('echo', 'demo'));
    await rejectsWith(store.update({ ...good, spec: { ports: [{ port: 0 }] } }), 'invalid-resource', /spec\.ports\[0\]\.port/);
    await rejectsWith(store.patch('Service', 'echo', 'demo', { spec: { ports: [{ port: 'http' }] } }), 'invalid-resource', /spec\.ports\[0\]\.port/);
    await rejectsWith(store.patch('Service', 'echo', 'demo', { metadata: { name: 'other' } }), 'invalid-resource', /cannot change metadata\.name/);
    await rejectsWith(store.updateStatus('Service', 'echo', 'demo', { conditions: [{ type: 'X', status: 'maybe' }] }), 'invalid-resource', /status\.conditions\[0\]\.status/);
    assert.deepEqual(await store.get('Service', 'echo', 'demo'), good);
    assert.equal((await store.list('Service')).resourceVersion, good.metadata.resourceVersion);
    assert.equal(Number(good.metadata.resourceVersion), Number(before) + 1, 'refusals consume no version');
    const after = await readdir(dir, { recursive: true });
    assert.deepEqual(after.filter((f) => !files.includes(f)).sort(), ['objects/Service', 'objects/Service/demo', 'objects/Service/demo/echo.json']);
  });

  it('removes the temp files of an interrupted write on open', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    await store.close();
    const stray = join(dir, 'objects', 'Namespace', 'demo.json.4242.7.tmp');
    await writeFile(stray, '{"half": ');
    const { store: reopened } = await open(dir);
    await assert.rejects(readFile(stray), /ENOENT/);
    assert.equal((await reopened.list('Namespace')).items.length, 1);
  });

  it('refuses to open a state directory with a damaged object file, naming the file', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    await store.close();
    await writeFile(join(dir, 'objects', 'Namespace', 'demo.json'), '{"kind": "Namespace", ');
    await rejectsWith(LocalStore.open(dir), 'invalid-resource', /objects\/Namespace\/demo\.json is unreadable/);
    // The failed open released its lock: a second try fails the same way, not with "locked".
    await rejectsWith(LocalStore.open(dir), 'invalid-resource', /is unreadable/);
  });

  it('stores one readable JSON file per object', async () => {
    const { store, dir } = await open();
    await store.create(namespace('demo'));
    const created = await store.create(service('echo', 'demo'));
    const file = JSON.parse(await readFile(join(dir, 'objects', 'Service', 'demo', 'echo.json'), 'utf8')) as Service;
    assert.deepEqual(file, created);
    assert.ok((await readdir(join(dir, 'objects', 'Namespace'))).includes('demo.json'));
  });

  it('does not bump the version for a write that changes nothing', async () => {
    const { store } = await open();
    await store.create(namespace('demo'));
    const created = await store.create(service('echo', 'demo'));
    const same = await store.update(created);
    assert.equal(same.metadata.resourceVersion, created.metadata.resourceVersion);
    const patched = await store.patch('Service', 'echo', 'demo', { spec: { selector: { app: 'echo' } } });
    assert.equal(patched.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  it('drops a watcher that falls too far behind with gone, without slowing writers', async () => {
    const { store } = await open(undefined, { watchQueueLimit: 5 });
    await store.create(namespace('demo'));
    const { resourceVersion } = await store.list('Service');
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => { release = resolve; });
    const slow = new Collector();
    const fast = new Collector();
    // A handler returning a promise holds back its own watch only.
    store.watch('Service', { resourceVersion }, { onEvent: (event) => { slow.onEvent(event); return stuck as unknown as void; }, onError: slow.onError });
    const fastWatch = store.watch('Service', { resourceVersion }, fast);
    for (let i = 0; i < 20; i++) await store.create(service(`s${i}`, 'demo'));
    assert.equal((await fast.waitFor(20)).length, 20);
    const error = await slow.waitForError();
    assert.ok(isAmbitError(error, 'gone'), String(error));
    assert.match(error.message, /fell 5 events behind/);
    assert.equal(slow.events.length, 1);
    release();
    fastWatch.close();
  });

  it('refuses operations after close and ends open watches with unavailable', async () => {
    const { store } = await open();
    const events = new Collector();
    store.watch('Namespace', { resourceVersion: (await store.list('Namespace')).resourceVersion }, events);
    await store.create(namespace('last'));
    await store.close();
    assert.ok(isAmbitError(await events.waitForError(), 'unavailable'));
    assert.deepEqual(events.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED last'], 'what was committed is delivered first');
    await rejectsWith(store.get('Service', 'x', 'demo'), 'unavailable');
    await rejectsWith(store.create(namespace('demo')), 'unavailable');
  });

  it('refuses a namespaced lookup without a namespace and a malformed watch version', async () => {
    const { store } = await open();
    await rejectsWith(store.get('Service', 'echo'), 'invalid-argument', /namespace is required/);
    assert.throws(() => store.watch('Service', { resourceVersion: 'abc' }, new Collector()), (error: unknown) => isAmbitError(error, 'invalid-argument'));
  });
});
