import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rounds } from './rounds.js';

describe('Rounds', () => {
  it('coalesces scheduled rounds into one after the debounce window', async () => {
    let count = 0;
    const rounds = new Rounds(() => { count++; return Promise.resolve(); }, 20);
    for (let i = 0; i < 5; i++) rounds.schedule();
    assert.equal(count, 0, 'nothing before the window ends');
    await sleep(80);
    assert.equal(count, 1);
    rounds.stop();
  });

  it('runs one at a time; asks during a round give exactly one more round after it', async () => {
    let active = 0;
    let most = 0;
    let count = 0;
    const rounds = new Rounds(async () => {
      active++;
      most = Math.max(most, active);
      count++;
      await sleep(30);
      active--;
    }, 5);
    const first = rounds.run();
    assert.equal(rounds.run(), first, 'a second ask joins the running round');
    void rounds.run();
    await first;
    await sleep(80);
    assert.deepEqual([count, most], [2, 1]);
    rounds.stop();
  });

  it('runs nothing scheduled once stopped', async () => {
    let count = 0;
    const rounds = new Rounds(() => { count++; return Promise.resolve(); }, 10);
    rounds.schedule();
    rounds.stop();
    rounds.schedule();
    await sleep(40);
    assert.deepEqual([count, rounds.stopped], [0, true]);
  });
});
