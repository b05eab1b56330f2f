import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store/store.js';
import { WaypointController } from './controller.js';

describe('WaypointController', () => {
  it('start() returns when the controller is stopped before its informers listed (leadership lost, shutdown)', async () => {
    let lists = 0;
    // A store whose lists never answer (an API server that is unreachable).
    const store = { backend: 'kubernetes', list: () => { lists++; return new Promise(() => undefined); } } as unknown as Store;
    const controller = new WaypointController(store, { image: 'ambit:test', trustDomain: 'cluster.local', debounceMs: 10, gateways: () => [] });
    const started = controller.start();
    assert.equal(lists, 3, 'one list per kind it owns');
    controller.stop();
    const settled = await Promise.race([started.then(() => 'returned'), new Promise((resolve) => setTimeout(resolve, 2_000, 'still waiting'))]);
    assert.equal(settled, 'returned');
  });
});
