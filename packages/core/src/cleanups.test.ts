import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCleanups, type Cleanup } from './cleanups.js';
import { silentLogger } from './log.js';

describe('runCleanups', () => {
  it('runs every step last-registered first, past a failing one, and empties the list', async () => {
    const ran: string[] = [];
    const cleanups: Cleanup[] = [
      { name: 'first', run: () => { ran.push('first'); } },
      { name: 'broken', run: () => { throw new Error('stuck'); } },
      { name: 'last', run: () => Promise.resolve().then(() => { ran.push('last'); }) },
    ];
    await runCleanups(cleanups, silentLogger);
    assert.deepEqual(ran, ['last', 'first']);
    assert.equal(cleanups.length, 0);
  });
});
