import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmbitError, ManualClock } from '@ambit/core';
import { objectKey, type Kind, type KubeObject } from '../resources.js';
import type { ListOptions, ListResult, Store, Watch, WatchHandlers, WatchOptions } from './store.js';
import { LocalStore } from './local.js';
import { Informer } from './informer.js';

// Delegates to a real store; tests break its watches and lists on demand.
class FlakyStore implements Store {
  readonly backend = 'local' as const;
  failLists = 0;
  lists = 0;
  watches = 0;
  private readonly open = new Set<WatchHandlers>();

  constructor(private readonly inner: Store) {}

  breakWatches(error: Error): void {
    for (const handlers of [...this.open]) {
      this.open.delete(handlers);
      handlers.onError(error);
    }
  }

  get openWatches(): number {
    return this.open.size;
  }

  get: Store['get'] = (kind, name, namespace) => this.inner.get(kind, name, namespace);
  create: Store['create'] = (object) => this.inner.create(object);
  update: Store['update'] = (object) => this.inner.update(object);
  patch: Store['patch'] = (kind, name, namespace, patch) => this.inner.patch(kind, name, namespace, patch);
  updateStatus: Store['updateStatus'] = (kind, name, namespace, status, version) => this.inner.updateStatus(kind, name, namespace, status, version);
  delete: Store['delete'] = (kind, name, namespace, options) => this.inner.delete(kind, name, namespace, options);
  close = (): Promise<void> => this.inner.close();

  list<T extends KubeObject = KubeObject>(kind: Kind, options?: ListOptions): Promise<ListResult<T>> {
    this.lists++;
    if (this.failLists > 0) {
      this.failLists--;
      return Promise.reject(new AmbitError('unavailable', 'list refused by the test'));
    }
    return this.inner.list<T>(kind, options);
  }

  watch<T extends KubeObject = KubeObject>(kind: Kind, options: WatchOptions, handlers: WatchHandlers<T>): Watch {
    this.watches++;
    const entry = handlers as WatchHandlers;
    let closed = false;
    const inner = this.inner.watch<T>(kind, options, {
      onEvent: (event) => {
        if (!closed) handlers.onEvent(event);
      },
      onError: (error) => {
        if (closed) return;
        this.open.delete(entry);
        handlers.onError(error);
      },
    });
    this.open.add(entry);
    return {
      close: () => {
        closed = true;
        this.open.delete(entry);
        inner.close();
      },
    };
  }
}

const service = (name: string, labels?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'demo', ...(labels === undefined ? {} : { labels }) }, spec: { ports: [{ port: 80 }] },
});

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Informer', () => {
  let dir: string | undefined;
  let store: LocalStore | undefined;
  let informer: Informer | undefined;

  async function setup(): Promise<{ flaky: FlakyStore; clock: ManualClock; events: string[]; informer: Informer }> {
    dir = await mkdtemp(join(tmpdir(), 'ambit-informer-'));
    store = await LocalStore.open(dir);
    const flaky = new FlakyStore(store);
    const clock = new ManualClock();
    informer = new Informer(flaky, 'Service', { clock, backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 } });
    const events: string[] = [];
    informer.on((event) => events.push(`${event.type} ${objectKey(event.object)}`));
    return { flaky, clock, events, informer };
  }

  afterEach(async () => {
    informer?.stop();
    await store?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    informer = undefined;
    store = undefined;
    dir = undefined;
  });

  it('relists after gone and emits only what changed meanwhile', async () => {
    const { flaky, clock, events, informer } = await setup();
    await flaky.create(service('kept'));
    await flaky.create(service('changed'));
    await flaky.create(service('removed'));
    informer.start();
    await informer.synced;
    assert.deepEqual(events.splice(0), ['add demo/changed', 'add demo/kept', 'add demo/removed']);
    await until(() => flaky.openWatches === 1, 'the watch');

    flaky.breakWatches(new AmbitError('gone', 'too old (test)'));
    await flaky.patch('Service', 'changed', 'demo', { metadata: { labels: { v: '2' } } });
    await flaky.delete('Service', 'removed', 'demo');
    await flaky.create(service('added'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(events, [], 'nothing while the watch is down');
    assert.equal(flaky.lists, 1);

    await clock.advance(100);
    await until(() => events.length === 3, `synthetic events, got ${events.join(', ')}`);
    assert.deepEqual(events.splice(0), ['add demo/added', 'update demo/changed', 'delete demo/removed']);
    assert.equal(flaky.lists, 2);
    assert.equal(informer.lists, 2);
    assert.deepEqual(informer.list().map(objectKey), ['demo/added', 'demo/changed', 'demo/kept']);

    // And it watches again from the new list.
    await until(() => flaky.openWatches === 1, 'the second watch');
    await flaky.delete('Service', 'kept', 'demo');
    await until(() => events.length === 1, 'a live event after the relist');
    assert.deepEqual(events, ['delete demo/kept']);
  });

  it('retries a failing list with growing backoff until it works', async () => {
    const { flaky, clock, informer } = await setup();
    await flaky.create(service('a'));
    flaky.failLists = 3;
    informer.start();
    await until(() => flaky.lists === 1, 'the first list');
    await clock.advance(99);
    assert.equal(flaky.lists, 1, 'waits the initial backoff');
    await clock.advance(1);
    await until(() => flaky.lists === 2, 'the second list');
    await clock.advance(199);
    assert.equal(flaky.lists, 2, 'then twice as long');
    await clock.advance(1);
    await until(() => flaky.lists === 3, 'the third list');
    assert.equal(informer.hasSynced, false);
    await clock.advance(400);
    await informer.synced;
    assert.deepEqual(informer.list().map(objectKey), ['demo/a']);
  });

  it('relists after any watch error, and a failure thrown by watch() itself', async () => {
    const { flaky, clock, informer } = await setup();
    informer.start();
    await informer.synced;
    await until(() => flaky.openWatches === 1, 'the watch');
    flaky.breakWatches(new AmbitError('unavailable', 'connection reset (test)'));
    await clock.advance(100);
    await until(() => flaky.lists === 2 && flaky.openWatches === 1, 'relist and rewatch');
    assert.equal(flaky.watches, 2);
  });

  it('is ready (true) once the first list is applied, and ready false when stopped before it', async () => {
    const { flaky, clock, informer } = await setup();
    informer.start();
    assert.equal(await informer.ready, true);
    const early = new Informer(flaky, 'Service', { clock, backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 } });
    flaky.failLists = 1_000;
    early.start();
    await until(() => flaky.lists === 2, 'the failing list');
    early.stop();
    assert.equal(await early.ready, false);
    assert.equal(early.hasSynced, false);
    await clock.advance(10_000);
    assert.equal(flaky.lists, 2, 'no retry after stop');
  });

  it('stops cleanly: no watch, no retry', async () => {
    const { flaky, clock, informer } = await setup();
    informer.start();
    await informer.synced;
    await until(() => flaky.openWatches === 1, 'the watch');
    flaky.breakWatches(new AmbitError('gone', 'test'));
    informer.stop();
    await clock.advance(10_000);
    assert.equal(flaky.lists, 1);
    assert.equal(flaky.openWatches, 0);
    assert.equal(clock.pending, 0);
  });

  it('keeps going when a listener throws', async () => {
    const { flaky, informer } = await setup();
    const seen: string[] = [];
    informer.on(() => {
      throw new Error('listener bug');
    });
    informer.on((event) => seen.push(event.type));
    informer.start();
    await informer.synced;
    await flaky.create(service('a'));
    await until(() => seen.length === 1, 'the add');
    assert.equal(informer.get('a', 'demo')?.metadata.name, 'a');
  });
});
