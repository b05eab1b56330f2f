// `ambit label` against a real local store: set, overwrite only when asked,
// remove, what was not there, a concurrent change re-read; bad arguments are
// usage errors that change nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWith } from '@ambit/core/testing';
import { LocalStore, type Store } from '@ambit/control-plane';
import { UsageError } from '../errors.js';
import { label, parseLabelChanges } from './label.js';

describe('label', () => {
  let dir: string;
  let store: LocalStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-label-'));
    store = await LocalStore.open(dir);
    await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'a' } } });
    await store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop', labels: { app: 'api' } }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } });
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const labelsOf = async (kind: 'Namespace' | 'Service', name: string, namespace?: string): Promise<Record<string, string> | undefined> => (await store.get(kind, name, namespace))?.metadata.labels;

  it('sets and removes labels, as kubectl label reports it', async () => {
    assert.deepEqual(await label(store, 'Namespace', 'shop', 'default', parseLabelChanges(['ambit.dev/use-waypoint=waypoint']), false), { result: 'namespace/shop labeled', notes: [] });
    assert.deepEqual(await labelsOf('Namespace', 'shop'), { team: 'a', 'ambit.dev/use-waypoint': 'waypoint' });
    assert.deepEqual(await label(store, 'Namespace', 'shop', 'default', parseLabelChanges(['ambit.dev/use-waypoint-', 'gone-']), false), { result: 'namespace/shop unlabeled', notes: ['label "gone" not found'] });
    assert.deepEqual(await labelsOf('Namespace', 'shop'), { team: 'a' });
    assert.deepEqual(await label(store, 'Namespace', 'shop', 'default', parseLabelChanges(['team=a']), false), { result: 'namespace/shop not labeled', notes: [] });
  });

  it('changes a label that has another value only with --overwrite; without it, changes nothing', async () => {
    const refused = await rejectsWith(label(store, 'Service', 'api', 'shop', parseLabelChanges(['tier=web', 'app=shop']), false), 'conflict', /service\/api: app already has a value \(api\), and --overwrite is not given/);
    assert.match(refused.hint ?? '', /--overwrite/);
    assert.deepEqual(await labelsOf('Service', 'api', 'shop'), { app: 'api' }, 'tier was not set either');
    assert.deepEqual((await label(store, 'Service', 'api', 'shop', parseLabelChanges(['tier=web', 'app=shop']), true)).result, 'service/api labeled');
    assert.deepEqual(await labelsOf('Service', 'api', 'shop'), { app: 'shop', tier: 'web' });
  });

  it('judges again on the object as it is when it changed between read and write', async () => {
    let raced = false;
    const racing: Store = Object.create(store) as Store;
    racing.get = async (...args: Parameters<Store['get']>) => {
      const object = await store.get(...args);
      if (!raced) {
        raced = true;
        await store.patch('Service', 'api', 'shop', { metadata: { labels: { owner: 'someone' } } });
      }
      return object as never;
    };
    await rejectsWith(label(racing, 'Service', 'api', 'shop', parseLabelChanges(['owner=me']), false), 'conflict', /owner already has a value \(someone\)/);
    assert.equal((await labelsOf('Service', 'api', 'shop'))?.owner, 'someone');
  });

  it('names a missing object and how to list what exists', async () => {
    const missing = await rejectsWith(label(store, 'Service', 'nope', 'shop', parseLabelChanges(['a=b']), false), 'not-found', /no Service shop\/nope/);
    assert.match(missing.hint ?? '', /ambit get services -n shop/);
  });

  it('refuses arguments that are not KEY=VALUE or KEY-, bad keys and values, and a key named twice', () => {
    for (const args of [[], ['plain'], ['Bad Key=x'], ['k=not valid'], ['a=1', 'a-'], ['-']]) {
      assert.throws(() => parseLabelChanges(args), UsageError, JSON.stringify(args));
    }
    assert.deepEqual(parseLabelChanges(['a=1', 'b=', 'c-']), { set: { a: '1', b: '' }, remove: ['c'] });
  });
});
