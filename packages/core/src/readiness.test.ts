import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readiness } from './readiness.js';

describe('readiness', () => {
  it('is ready once every blocker cleared, and never again after draining', async () => {
    const readiness = new Readiness();
    const a = readiness.block('discovery sync');
    const b = readiness.block('capture');
    assert.equal(readiness.notReady(), 'waiting for discovery sync, capture');
    assert.deepEqual(readiness.blockers(), ['discovery sync', 'capture']);
    const ready = readiness.whenReady();
    a();
    a();
    assert.equal(readiness.notReady(), 'waiting for capture');
    b();
    await ready;
    assert.equal(readiness.notReady(), undefined);
    assert.equal(readiness.ready, true);
    readiness.startDraining();
    assert.equal(readiness.notReady(), 'draining');
    assert.equal(readiness.ready, false);
  });
});
