import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RESTART_DELAY_MS, RESTART_DELAY_MS, restartDelay } from './workers.js';

describe('waypoint worker restarts', () => {
  it('back off: the pause doubles with each early death in a row, up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map(restartDelay), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    assert.equal(restartDelay(1), RESTART_DELAY_MS);
    assert.equal(restartDelay(1_000), MAX_RESTART_DELAY_MS, 'no overflow past the cap');
  });
});
