import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

function delays(backoff: Backoff, count: number): number[] {
  return Array.from({ length: count }, () => backoff.next());
}

describe('Backoff', () => {
  it('grows by the factor from initialMs and caps at maxMs', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.deepEqual(delays(backoff, 7), [100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('uses a custom factor', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 10_000, factor: 3, jitter: 0 });
    assert.deepEqual(delays(backoff, 5), [10, 30, 90, 270, 810]);
  });

  it('stays at maxMs forever instead of overflowing', () => {
    const backoff = new Backoff({ initialMs: 1, maxMs: 30_000, jitter: 0 });
    const all = delays(backoff, 2000);
    assert.equal(all.at(-1), 30_000);
    assert.ok(all.every((d) => Number.isFinite(d) && d <= 30_000));
  });

  it('counts attempts and starts over after reset()', () => {
    const backoff = new Backoff({ initialMs: 50, maxMs: 800, jitter: 0 });
    assert.equal(backoff.attempts, 0);
    delays(backoff, 3);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.deepEqual(delays(backoff, 2), [50, 100]);
  });

  it('keeps jittered delays within [base * (1 - jitter), base]', () => {
    // random() in [0, 1): 0 gives the full base, values near 1 give the floor.
    const lowest = new Backoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 0.999999 });
    assert.deepEqual(delays(lowest, 4), [50, 100, 200, 200]);
    const highest = new Backoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 0 });
    assert.deepEqual(delays(highest, 4), [100, 200, 400, 400]);
    const middle = new Backoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 0.5 });
    assert.deepEqual(delays(middle, 3), [75, 150, 300]);
  });

  it('defaults to half jitter and draws from the injected random once per attempt', () => {
    let calls = 0;
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, random: () => { calls++; return 0.999999; } });
    assert.equal(backoff.next(), 500);
    assert.equal(calls, 1);
  });

  it('with full jitter can go down to zero', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 1, random: () => 0.9999999 });
    assert.equal(backoff.next(), 0);
  });

  it('clamps jitter to [0, 1]', () => {
    const over = new Backoff({ initialMs: 100, maxMs: 100, jitter: 5, random: () => 0.5 });
    assert.equal(over.next(), 50);
    const under = new Backoff({ initialMs: 100, maxMs: 100, jitter: -1, random: () => 0.5 });
    assert.equal(under.next(), 100);
  });

  it('stays within bounds with the default Math.random', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 100, jitter: 0.3 });
    for (const d of delays(backoff, 500)) assert.ok(d >= 70 && d <= 100, `delay ${d} out of [70, 100]`);
  });

  const invalid: [string, { initialMs: number; maxMs: number }][] = [
    ['zero initialMs', { initialMs: 0, maxMs: 100 }],
    ['negative initialMs', { initialMs: -5, maxMs: 100 }],
    ['NaN initialMs', { initialMs: Number.NaN, maxMs: 100 }],
    ['maxMs below initialMs', { initialMs: 200, maxMs: 100 }],
    ['NaN maxMs', { initialMs: 100, maxMs: Number.NaN }],
  ];
  for (const [name, options] of invalid) {
    it(`refuses ${name} with a RangeError naming both values`, () => {
      assert.throws(() => new Backoff(options), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /0 < initialMs <= maxMs/);
        assert.ok(error.message.includes(`initialMs=${options.initialMs}`), error.message);
        assert.ok(error.message.includes(`maxMs=${options.maxMs}`), error.message);
        return true;
      });
    });
  }

  it('accepts initialMs equal to maxMs', () => {
    assert.equal(new Backoff({ initialMs: 100, maxMs: 100, jitter: 0 }).next(), 100);
  });
});
