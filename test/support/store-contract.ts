// The behaviour every Store backend must show, as one node:test suite.
// Backend-neutral on purpose: the local store and the Kubernetes backend
// (against the fake API server in test/support) both run it. Versions are
// treated as opaque strings; namespaces are created before objects in them,
// as a real API server requires; cluster-scoped deletes use Node, because a
// real Namespace deletion is not immediate.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { rejectsWith } from '@ambit/core/testing';
import { isAmbitError } from '@ambit/core';
import { Informer, objectKey } from '@ambit/control-plane';
import type { Condition, InformerOptions, KubeObject, Kind, Service, Store, Watch, WatchEvent, WatchOptions } from '@ambit/control-plane';

export interface StoreContractOptions {
  /**
   * Keep at most about this many watch events of history (the Kubernetes fake
   * API server compacts to the same effect), so a watch from an older
   * version fails with `gone`.
   */
  historySize?: number;
}

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
}

export type StoreSetup = (options: StoreContractOptions) => Promise<StoreFixture>;

const WAIT_MS = 5_000;

export function storeContract(name: string, setup: StoreSetup): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture | undefined;
    let store: Store;
    const watches: Watch[] = [];

    async function open(options: StoreContractOptions = {}): Promise<Store> {
      await close();
      fixture = await setup(options);
      store = fixture.store;
      return store;
    }

    async function close(): Promise<void> {
      for (const watch of watches.splice(0)) watch.close();
      const current = fixture;
      fixture = undefined;
      if (current !== undefined) {
        await current.store.close();
        await current.cleanup();
      }
    }

    function watch(kind: Kind, options: WatchOptions): Collector {
      const collector = new Collector();
      watches.push(store.watch(kind, options, collector));
      return collector;
    }

    beforeEach(async () => {
      await open();
      await store.create(namespace('demo'));
      await store.create(namespace('other'));
    });
    afterEach(close);

    describe('create and get', () => {
      it('assigns uid, resourceVersion, creationTimestamp and generation 1 to a namespaced object', async () => {
        const created = await store.create(service('echo', 'demo', { app: 'echo' }));
        assert.equal(created.metadata.name, 'echo');
        assert.equal(created.metadata.namespace, 'demo');
        assert.ok(created.metadata.uid !== undefined && created.metadata.uid !== '', 'uid assigned');
        assert.ok(created.metadata.resourceVersion !== undefined && created.metadata.resourceVersion !== '', 'resourceVersion assigned');
        assert.ok(created.metadata.creationTimestamp !== undefined && !Number.isNaN(Date.parse(created.metadata.creationTimestamp)));
        assert.equal(created.metadata.generation, 1);
        assert.deepEqual(created.spec, service('echo', 'demo', { app: 'echo' }).spec);

        const got = await store.get<Service>('Service', 'echo', 'demo');
        assert.ok(got !== undefined);
        assert.equal(got.metadata.uid, created.metadata.uid);
        assert.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
        assert.deepEqual(got.spec, created.spec);
        assert.deepEqual(got.metadata.labels, { app: 'echo' });
      });

      it('creates and gets cluster-scoped objects without a namespace', async () => {
        const created = await store.create(node('node-a'));
        assert.equal(created.metadata.namespace, undefined);
        const got = await store.get('Node', 'node-a');
        assert.equal(got?.metadata.uid, created.metadata.uid);
        const ns = await store.get('Namespace', 'demo');
        assert.equal(ns?.metadata.name, 'demo');
      });

      it('keeps fields it does not know', async () => {
        const object = service('echo', 'demo');
        (object.spec as Record<string, unknown>).sessionAffinity = 'None';
        const created = await store.create(object);
        assert.equal((created.spec as Record<string, unknown>).sessionAffinity, 'None');
        const got = await store.get('Service', 'echo', 'demo');
        assert.equal((got?.spec as Record<string, unknown>).sessionAffinity, 'None');
      });

      it('returns undefined for a missing object', async () => {
        assert.equal(await store.get('Service', 'missing', 'demo'), undefined);
        assert.equal(await store.get('Node', 'missing'), undefined);
      });

      it('keeps the same name apart in different namespaces', async () => {
        const a = await store.create(service('echo', 'demo'));
        const b = await store.create(service('echo', 'other'));
        assert.notEqual(a.metadata.uid, b.metadata.uid);
        assert.equal((await store.get('Service', 'echo', 'other'))?.metadata.uid, b.metadata.uid);
      });

      it('refuses a second create of the same name with already-exists', async () => {
        await store.create(service('echo', 'demo'));
        await rejectsWith(store.create(service('echo', 'demo')), 'already-exists');
        await store.create(node('node-a'));
        await rejectsWith(store.create(node('node-a')), 'already-exists');
      });
    });

    describe('update', () => {
      it('replaces spec and metadata, bumps generation on spec change only', async () => {
        const created = await store.create(service('echo', 'demo', { app: 'echo' }));
        const relabelled = await store.update({ ...created, metadata: { ...created.metadata, labels: { app: 'echo', tier: 'x' } } });
        assert.deepEqual(relabelled.metadata.labels, { app: 'echo', tier: 'x' });
        assert.equal(relabelled.metadata.generation, 1, 'metadata-only change keeps generation');
        assert.notEqual(relabelled.metadata.resourceVersion, created.metadata.resourceVersion);
        assert.equal(relabelled.metadata.uid, created.metadata.uid);
        assert.equal(relabelled.metadata.creationTimestamp, created.metadata.creationTimestamp);

        const respecced = await store.update({ ...relabelled, spec: { ...relabelled.spec, ports: [{ name: 'http', port: 8080 }] } });
        assert.equal(respecced.metadata.generation, 2);
        assert.deepEqual(respecced.spec?.ports, [{ name: 'http', port: 8080 }]);
        const got = await store.get<Service>('Service', 'echo', 'demo');
        assert.deepEqual(got?.spec?.ports, [{ name: 'http', port: 8080 }]);
        assert.equal(got?.metadata.resourceVersion, respecced.metadata.resourceVersion);
      });

      it('refuses a stale resourceVersion with conflict and keeps the newer write', async () => {
        const created = await store.create(service('echo', 'demo'));
        const first = await store.update({ ...created, metadata: { ...created.metadata, labels: { winner: 'first' } } });
        await rejectsWith(store.update({ ...created, metadata: { ...created.metadata, labels: { winner: 'second' } } }), 'conflict');
        const got = await store.get('Service', 'echo', 'demo');
        assert.deepEqual(got?.metadata.labels, { winner: 'first' });
        assert.equal(got?.metadata.resourceVersion, first.metadata.resourceVersion);
      });

      it('fails with not-found for a missing object', async () => {
        await rejectsWith(store.update(service('missing', 'demo')), 'not-found');
      });

      it('lets exactly one of several concurrent updates from the same read win', async () => {
        const created = await store.create(service('echo', 'demo'));
        const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) =>
          store.update({ ...created, metadata: { ...created.metadata, labels: { writer: String(i) } } })));
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, 'one winner');
        assert.ok(lost.every((r) => isAmbitError(r.reason, 'conflict')), lost.map((r) => String(r.reason)).join('; '));
        const winner = won[0]?.status === 'fulfilled' ? won[0].value : undefined;
        assert.deepEqual((await store.get('Service', 'echo', 'demo'))?.metadata.labels, winner?.metadata.labels);
      });

      it('does not change status', async () => {
        const created = await store.create(service('echo', 'demo'));
        const withStatus = await store.updateStatus<Service>('Service', 'echo', 'demo', { conditions: [condition('WaypointBound', 'True')] });
        const updated = await store.update<Service>({ ...withStatus, status: { conditions: [condition('WaypointBound', 'False')] } });
        assert.deepEqual(updated.status, { conditions: [condition('WaypointBound', 'True')] });
        assert.deepEqual((await store.get<Service>('Service', 'echo', 'demo'))?.status, { conditions: [condition('WaypointBound', 'True')] });
        assert.equal(updated.metadata.uid, created.metadata.uid);
      });

      it('updates cluster-scoped objects', async () => {
        const created = await store.create(node('node-a'));
        const updated = await store.update({ ...created, metadata: { ...created.metadata, labels: { zone: 'a' } } });
        assert.deepEqual((await store.get('Node', 'node-a'))?.metadata.labels, { zone: 'a' });
        assert.notEqual(updated.metadata.resourceVersion, created.metadata.resourceVersion);
      });
    });

    describe('patch', () => {
      it('merges maps, deletes keys set to null and replaces arrays (RFC 7386)', async () => {
        const created = await store.create(service('echo', 'demo', { app: 'echo', drop: 'me' }));
        const patched = await store.patch<Service>('Service', 'echo', 'demo', {
          metadata: { labels: { drop: null, added: 'yes' } },
          spec: { ports: [{ name: 'grpc', port: 9090 }] },
        });
        assert.deepEqual(patched.metadata.labels, { app: 'echo', added: 'yes' });
        assert.deepEqual(patched.spec?.ports, [{ name: 'grpc', port: 9090 }]);
        assert.deepEqual(patched.spec?.selector, { app: 'echo' }, 'untouched fields stay');
        assert.equal(patched.metadata.generation, 2);
        assert.equal(patched.metadata.uid, created.metadata.uid);
        assert.deepEqual((await store.get<Service>('Service', 'echo', 'demo'))?.metadata.labels, { app: 'echo', added: 'yes' });
      });

      it('keeps generation when only metadata changes', async () => {
        await store.create(service('echo', 'demo'));
        const patched = await store.patch('Service', 'echo', 'demo', { metadata: { annotations: { note: 'x' } } });
        assert.equal(patched.metadata.generation, 1);
        assert.deepEqual(patched.metadata.annotations, { note: 'x' });
      });

      it('treats metadata.resourceVersion in the patch as a precondition', async () => {
        const created = await store.create(service('echo', 'demo'));
        await store.patch('Service', 'echo', 'demo', { metadata: { labels: { a: '1' } } });
        await rejectsWith(
          store.patch('Service', 'echo', 'demo', { metadata: { resourceVersion: created.metadata.resourceVersion, labels: { a: '2' } } }),
          'conflict',
        );
        const current = await store.get('Service', 'echo', 'demo');
        assert.deepEqual(current?.metadata.labels, { a: '1' });
        const ok = await store.patch('Service', 'echo', 'demo', { metadata: { resourceVersion: current?.metadata.resourceVersion, labels: { a: '3' } } });
        assert.equal(ok.metadata.labels?.a, '3');
      });

      it('does not change status', async () => {
        await store.create(service('echo', 'demo'));
        await store.updateStatus('Service', 'echo', 'demo', { conditions: [condition('WaypointBound', 'True')] });
        const patched = await store.patch<Service>('Service', 'echo', 'demo', { status: { conditions: [] }, metadata: { labels: { b: '1' } } });
        assert.deepEqual(patched.status, { conditions: [condition('WaypointBound', 'True')] });
      });

      it('fails with not-found for a missing object', async () => {
        await rejectsWith(store.patch('Service', 'missing', 'demo', { metadata: { labels: { a: 'b' } } }), 'not-found');
      });

      it('patches cluster-scoped objects', async () => {
        await store.create(node('node-a'));
        const patched = await store.patch('Node', 'node-a', undefined, { metadata: { labels: { zone: 'b' } } });
        assert.deepEqual(patched.metadata.labels, { zone: 'b' });
      });
    });

    describe('status', () => {
      it('replaces status only, keeping spec and generation', async () => {
        const created = await store.create(service('echo', 'demo'));
        const updated = await store.updateStatus<Service>('Service', 'echo', 'demo', { conditions: [condition('WaypointBound', 'True')] });
        assert.deepEqual(updated.status, { conditions: [condition('WaypointBound', 'True')] });
        assert.deepEqual(updated.spec, created.spec);
        assert.equal(updated.metadata.generation, 1);
        assert.notEqual(updated.metadata.resourceVersion, created.metadata.resourceVersion);
        const replaced = await store.updateStatus<Service>('Service', 'echo', 'demo', { conditions: [condition('Other', 'False')] });
        assert.deepEqual(replaced.status, { conditions: [condition('Other', 'False')] });
        assert.deepEqual((await store.get('Service', 'echo', 'demo'))?.status, { conditions: [condition('Other', 'False')] });
      });

      it('checks resourceVersion when given', async () => {
        const created = await store.create(service('echo', 'demo'));
        await store.patch('Service', 'echo', 'demo', { metadata: { labels: { a: '1' } } });
        await rejectsWith(store.updateStatus('Service', 'echo', 'demo', { conditions: [] }, created.metadata.resourceVersion), 'conflict');
        const current = await store.get('Service', 'echo', 'demo');
        const ok = await store.updateStatus('Service', 'echo', 'demo', { conditions: [] }, current?.metadata.resourceVersion);
        assert.deepEqual(ok.status, { conditions: [] });
      });

      it('ignores status on create', async () => {
        const object: Service = { ...service('echo', 'demo'), status: { conditions: [condition('WaypointBound', 'True')] } };
        const created = await store.create(object);
        assert.ok(created.status === undefined || Object.keys(created.status).length === 0 || created.status.conditions === undefined,
          `status on create is dropped, got ${JSON.stringify(created.status)}`);
      });

      it('fails with not-found for a missing object', async () => {
        await rejectsWith(store.updateStatus('Service', 'missing', 'demo', {}), 'not-found');
      });
    });

    describe('delete', () => {
      it('removes namespaced and cluster-scoped objects', async () => {
        await store.create(service('echo', 'demo'));
        await store.create(node('node-a'));
        await store.delete('Service', 'echo', 'demo');
        await store.delete('Node', 'node-a');
        assert.equal(await store.get('Service', 'echo', 'demo'), undefined);
        assert.equal(await store.get('Node', 'node-a'), undefined);
        await store.create(service('echo', 'demo'));
      });

      it('fails with not-found for a missing object', async () => {
        await rejectsWith(store.delete('Service', 'missing', 'demo'), 'not-found');
      });

      it('honours the resourceVersion precondition', async () => {
        const created = await store.create(service('echo', 'demo'));
        const updated = await store.patch('Service', 'echo', 'demo', { metadata: { labels: { a: '1' } } });
        await rejectsWith(store.delete('Service', 'echo', 'demo', { resourceVersion: created.metadata.resourceVersion }), 'conflict');
        assert.ok(await store.get('Service', 'echo', 'demo'), 'still there after a refused delete');
        await store.delete('Service', 'echo', 'demo', { resourceVersion: updated.metadata.resourceVersion });
        assert.equal(await store.get('Service', 'echo', 'demo'), undefined);
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        await store.create(service('a', 'demo', { app: 'a', tier: 'front' }));
        await store.create(service('b', 'demo', { app: 'b', tier: 'back' }));
        await store.create(service('c', 'other', { app: 'c' }));
      });

      it('lists all namespaces, or one', async () => {
        const all = await store.list('Service');
        assert.deepEqual(names(all.items), ['demo/a', 'demo/b', 'other/c']);
        assert.ok(all.resourceVersion !== '');
        assert.deepEqual(names((await store.list('Service', { namespace: 'demo' })).items), ['demo/a', 'demo/b']);
        assert.deepEqual(names((await store.list('Service', { namespace: 'nowhere' })).items), []);
      });

      it('filters by label selector', async () => {
        const select = async (labelSelector: string, namespace?: string): Promise<string[]> =>
          names((await store.list('Service', { labelSelector, ...(namespace === undefined ? {} : { namespace }) })).items);
        assert.deepEqual(await select('app=a'), ['demo/a']);
        assert.deepEqual(await select('app==b'), ['demo/b']);
        assert.deepEqual(await select('tier'), ['demo/a', 'demo/b']);
        assert.deepEqual(await select('!tier'), ['other/c']);
        assert.deepEqual(await select('tier!=front'), ['demo/b', 'other/c']);
        assert.deepEqual(await select('app in (a,c)'), ['demo/a', 'other/c']);
        assert.deepEqual(await select('app notin (a,c)'), ['demo/b']);
        assert.deepEqual(await select('app in (a,c),tier'), ['demo/a']);
        assert.deepEqual(await select('tier', 'other'), []);
        assert.deepEqual(await select(''), ['demo/a', 'demo/b', 'other/c']);
      });

      it('lists cluster-scoped kinds', async () => {
        await store.create(node('node-a', { zone: 'a' }));
        await store.create(node('node-b', { zone: 'b' }));
        assert.deepEqual(names((await store.list('Node')).items), ['node-a', 'node-b']);
        assert.deepEqual(names((await store.list('Node', { labelSelector: 'zone=b' })).items), ['node-b']);
        const namespaces = names((await store.list('Namespace')).items);
        assert.ok(namespaces.includes('demo') && namespaces.includes('other'), namespaces.join(', '));
      });

      it('refuses a malformed selector', async () => {
        await assert.rejects(store.list('Service', { labelSelector: 'app in (a' }), (error: unknown) => isAmbitError(error));
      });
    });

    describe('watch', () => {
      it('delivers ADDED, MODIFIED and DELETED in order after the listed version', async () => {
        await store.create(service('before', 'demo'));
        const { resourceVersion } = await store.list('Service');
        const events = watch('Service', { resourceVersion });
        const created = await store.create(service('echo', 'demo'));
        const patched = await store.patch('Service', 'echo', 'demo', { metadata: { labels: { a: '1' } } });
        const statused = await store.updateStatus('Service', 'echo', 'demo', { conditions: [] });
        await store.delete('Service', 'echo', 'demo');
        const got = await events.waitFor(4);
        assert.deepEqual(got.map(summary), ['ADDED demo/echo', 'MODIFIED demo/echo', 'MODIFIED demo/echo', 'DELETED demo/echo']);
        assert.equal(got[0]?.object.metadata.resourceVersion, created.metadata.resourceVersion);
        assert.equal(got[1]?.object.metadata.resourceVersion, patched.metadata.resourceVersion);
        assert.deepEqual(got[1]?.object.metadata.labels, { a: '1' });
        assert.equal(got[2]?.object.metadata.resourceVersion, statused.metadata.resourceVersion);
        assert.equal(got[3]?.object.metadata.uid, created.metadata.uid);
        await events.quiet();
        assert.equal(events.events.length, 4, 'nothing from before the version, nothing twice');
        assert.equal(events.error, undefined);
      });

      it('resumes from a version in the middle', async () => {
        const { resourceVersion } = await store.list('Service');
        await store.create(service('one', 'demo'));
        const two = await store.create(service('two', 'demo'));
        await store.create(service('three', 'demo'));
        await store.delete('Service', 'one', 'demo');
        const events = watch('Service', { resourceVersion: two.metadata.resourceVersion ?? '' });
        assert.deepEqual((await events.waitFor(2)).map(summary), ['ADDED demo/three', 'DELETED demo/one']);
        const fromStart = watch('Service', { resourceVersion });
        assert.deepEqual((await fromStart.waitFor(4)).map(summary), ['ADDED demo/one', 'ADDED demo/two', 'ADDED demo/three', 'DELETED demo/one']);
        await store.create(service('four', 'demo'));
        assert.deepEqual((await events.waitFor(3)).map(summary).at(-1), 'ADDED demo/four', 'then live events');
      });

      it('filters by namespace', async () => {
        const { resourceVersion } = await store.list('Service');
        const events = watch('Service', { resourceVersion, namespace: 'other' });
        await store.create(service('a', 'demo'));
        await store.create(service('b', 'other'));
        await store.delete('Service', 'a', 'demo');
        await store.delete('Service', 'b', 'other');
        assert.deepEqual((await events.waitFor(2)).map(summary), ['ADDED other/b', 'DELETED other/b']);
        await events.quiet();
        assert.equal(events.events.length, 2);
      });

      it('filters by label selector: leaving it is DELETED, entering it is ADDED', async () => {
        const { resourceVersion } = await store.list('Service');
        const events = watch('Service', { resourceVersion, labelSelector: 'mesh=on' });
        await store.create(service('never', 'demo', { mesh: 'off' }));
        await store.create(service('echo', 'demo', { mesh: 'on' }));
        await store.patch('Service', 'echo', 'demo', { metadata: { labels: { v: '2' } } });
        await store.patch('Service', 'echo', 'demo', { metadata: { labels: { mesh: 'off' } } });
        await store.patch('Service', 'never', 'demo', { metadata: { labels: { v: '2' } } });
        await store.patch('Service', 'echo', 'demo', { metadata: { labels: { mesh: 'on' } } });
        await store.delete('Service', 'echo', 'demo');
        await store.delete('Service', 'never', 'demo');
        const got = await events.waitFor(5);
        assert.deepEqual(got.map(summary), ['ADDED demo/echo', 'MODIFIED demo/echo', 'DELETED demo/echo', 'ADDED demo/echo', 'DELETED demo/echo']);
        assert.equal(got[2]?.object.metadata.labels?.mesh, 'off', 'the DELETED event carries the object that stopped matching');
        await events.quiet();
        assert.equal(events.events.length, 5);
      });

      it('watches cluster-scoped kinds', async () => {
        const { resourceVersion } = await store.list('Node');
        const events = watch('Node', { resourceVersion });
        await store.create(node('node-a'));
        await store.delete('Node', 'node-a');
        assert.deepEqual((await events.waitFor(2)).map(summary), ['ADDED node-a', 'DELETED node-a']);
      });

      it('only sees its own kind', async () => {
        const { resourceVersion } = await store.list('Pod');
        const events = watch('Pod', { resourceVersion });
        await store.create(service('echo', 'demo'));
        await store.create(pod('p', 'demo'));
        assert.deepEqual((await events.waitFor(1)).map(summary), ['ADDED demo/p']);
        await events.quiet();
        assert.equal(events.events.length, 1);
      });

      it('stops delivering after close()', async () => {
        const { resourceVersion } = await store.list('Service');
        const events = new Collector();
        const handle = store.watch('Service', { resourceVersion }, events);
        await store.create(service('a', 'demo'));
        await events.waitFor(1);
        handle.close();
        await store.create(service('b', 'demo'));
        await events.quiet();
        assert.equal(events.events.length, 1);
        assert.equal(events.error, undefined);
      });

      it('fails a watch from a version older than the history with gone', async () => {
        await open({ historySize: 4 });
        await store.create(namespace('demo'));
        const { resourceVersion } = await store.list('Service');
        for (let i = 0; i < 12; i++) await store.create(service(`s${i}`, 'demo'));
        const events = watch('Service', { resourceVersion });
        const error = await events.waitForError();
        assert.ok(isAmbitError(error, 'gone'), `expected gone, got ${String(error)}`);
        // A relist gives a version that works again.
        const relisted = await store.list('Service');
        assert.equal(relisted.items.length, 12);
        const again = watch('Service', { resourceVersion: relisted.resourceVersion });
        await store.create(service('late', 'demo'));
        assert.deepEqual((await again.waitFor(1)).map(summary), ['ADDED demo/late']);
      });
    });

    describe('informer', () => {
      const informers: Informer[] = [];
      afterEach(() => {
        for (const informer of informers.splice(0)) informer.stop();
      });

      function inform(kind: Kind, options: InformerOptions = {}): { informer: Informer; events: string[] } {
        const informer = new Informer(store, kind, { backoff: { initialMs: 10, maxMs: 100 }, ...options });
        informers.push(informer);
        const events: string[] = [];
        informer.on((event) => events.push(`${event.type} ${objectKey(event.object)}`));
        return { informer: informer.start(), events };
      }

      it('lists into its cache, syncs, then follows changes', async () => {
        await store.create(service('a', 'demo'));
        await store.create(service('b', 'other'));
        const { informer, events } = inform('Service');
        await withTimeout(informer.synced, 'informer sync');
        assert.ok(informer.hasSynced);
        assert.deepEqual(informer.list().map(objectKey), ['demo/a', 'other/b']);
        assert.deepEqual(informer.list('other').map(objectKey), ['other/b']);
        assert.equal(informer.get('a', 'demo')?.metadata.name, 'a');
        assert.deepEqual(events, ['add demo/a', 'add other/b']);

        await store.create(service('c', 'demo'));
        const patched = await store.patch('Service', 'a', 'demo', { metadata: { labels: { v: '2' } } });
        await store.delete('Service', 'b', 'other');
        await eventually(() => events.length === 5, () => events.join(', '));
        assert.deepEqual(events.slice(2), ['add demo/c', 'update demo/a', 'delete other/b']);
        assert.equal(informer.get('a', 'demo')?.metadata.resourceVersion, patched.metadata.resourceVersion);
        assert.equal(informer.get('b', 'other'), undefined);
        assert.deepEqual(informer.list().map(objectKey), ['demo/a', 'demo/c']);
      });

      it('caches only what its namespace and selector select', async () => {
        await store.create(service('a', 'demo', { mesh: 'on' }));
        await store.create(service('b', 'demo'));
        await store.create(service('c', 'other', { mesh: 'on' }));
        const { informer, events } = inform('Service', { namespace: 'demo', labelSelector: 'mesh=on' });
        await withTimeout(informer.synced, 'informer sync');
        assert.deepEqual(informer.list().map(objectKey), ['demo/a']);
        await store.patch('Service', 'b', 'demo', { metadata: { labels: { mesh: 'on' } } });
        await store.patch('Service', 'a', 'demo', { metadata: { labels: { mesh: null } } });
        await eventually(() => events.length === 3, () => events.join(', '));
        assert.deepEqual(events, ['add demo/a', 'add demo/b', 'delete demo/a']);
        assert.deepEqual(informer.list().map(objectKey), ['demo/b']);
      });

      it('informs about cluster-scoped kinds and stops on stop()', async () => {
        const { informer, events } = inform('Node');
        await withTimeout(informer.synced, 'informer sync');
        await store.create(node('node-a'));
        await eventually(() => events.length === 1, () => events.join(', '));
        assert.equal(informer.get('node-a')?.metadata.name, 'node-a');
        informer.stop();
        await store.create(node('node-b'));
        await new Promise((resolve) => setTimeout(resolve, 150));
        assert.deepEqual(events, ['add node-a']);
      });

      it('hands out frozen objects', async () => {
        await store.create(service('a', 'demo'));
        const { informer } = inform('Service');
        await withTimeout(informer.synced, 'informer sync');
        const cached = informer.get('a', 'demo');
        assert.ok(cached !== undefined && Object.isFrozen(cached) && Object.isFrozen(cached.metadata));
      });
    });
  });
}

async function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function eventually(check: () => boolean, describeState: () => string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms; state: ${describeState()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// --- objects -------------------------------------------------------------------

export function namespace(name: string, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels === undefined ? {} : { labels }) } };
}

export function node(name: string, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, ...(labels === undefined ? {} : { labels }) }, spec: {} };
}

export function service(name: string, ns: string, labels?: Record<string, string>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, ...(labels === undefined ? {} : { labels }) },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

export function pod(name: string, ns: string, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, ...(labels === undefined ? {} : { labels }) },
    spec: { nodeName: 'node-a', serviceAccountName: 'default', containers: [{ name: 'app', image: 'echo:1' }] },
  };
}

function condition(type: string, status: 'True' | 'False'): Condition {
  return { type, status, reason: 'Test', message: 'set by the contract' };
}

function names(items: KubeObject[]): string[] {
  return items.map((item) => (item.metadata.namespace === undefined ? item.metadata.name : `${item.metadata.namespace}/${item.metadata.name}`)).sort();
}

function summary(event: WatchEvent): string {
  const { namespace: ns, name } = event.object.metadata;
  return `${event.type} ${ns === undefined ? name : `${ns}/${name}`}`;
}

// --- watch collection --------------------------------------------------------------

/** Records a watch's events; waits are bounded so a broken backend fails instead of hanging. */
export class Collector {
  readonly events: WatchEvent[] = [];
  error: Error | undefined;
  private wake: (() => void) | undefined;

  onEvent = (event: WatchEvent): void => {
    this.events.push(event);
    this.wake?.();
  };

  onError = (error: Error): void => {
    this.error = error;
    this.wake?.();
  };

  async waitFor(count: number, timeoutMs = WAIT_MS): Promise<WatchEvent[]> {
    await this.until(() => this.events.length >= count || this.error !== undefined, timeoutMs,
      () => `expected ${count} events, got ${this.events.length}: ${this.events.map(summary).join(', ')}`);
    if (this.events.length < count) throw new Error(`watch failed after ${this.events.length} of ${count} events: ${String(this.error)}`);
    return this.events.slice(0, count);
  }

  async waitForError(timeoutMs = WAIT_MS): Promise<Error> {
    await this.until(() => this.error !== undefined, timeoutMs, () => `expected a watch error, got events: ${this.events.map(summary).join(', ')}`);
    return this.error!;
  }

  /** Lets in-flight deliveries land, so a test can assert that nothing more arrives. */
  async quiet(ms = 150): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private async until(done: () => boolean, timeoutMs: number, describeFailure: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${timeoutMs} ms: ${describeFailure()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 50));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
