import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store/store.js';
import { RootCertPublisher } from './publisher.js';

describe('RootCertPublisher', () => {
  it('start() returns when the publisher is stopped before its informer listed (leadership lost, shutdown)', async () => {
    let lists = 0;
    let writes = 0;
    // A store whose lists never answer (an API server that is unreachable); a write would be a bug.
    const store = {
      backend: 'kubernetes',
      list: () => { lists++; return new Promise(() => undefined); },
      create: () => { writes++; return Promise.reject(new Error('no writes expected')); },
    } as unknown as Store;
    const publisher = new RootCertPublisher(store, { rootPem: 'PEM', namespace: 'ambit-system', debounceMs: 10, retryMs: 50, gateways: () => [] });
    const started = publisher.start();
    assert.equal(lists, 1);
    publisher.stop();
    const settled = await Promise.race([started.then(() => 'returned'), new Promise((resolve) => setTimeout(resolve, 2_000, 'still waiting'))]);
    assert.equal(settled, 'returned');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(writes, 0, 'no round after stop');
  });
});
