import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FaultPolicy } from '@ambit/api';
import { injectFaults } from './fault.js';
import { elapsedSince, exchange, respond, stub, text } from './testing.js';

/** Randomness that draws `values` in turn. */
const draws = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
};

describe('fault injection layer', { timeout: 10_000 }, () => {
  it('aborts at 100%: answers the status, flag FI, without forwarding', async () => {
    const inner = stub();
    const ex = exchange({ rule: { fault: { abort: { percent: 100, status: 418 } } } });
    const response = await injectFaults()(inner)(ex);
    assert.equal(response.status, 418);
    assert.equal(await text(response.body), 'fault filter abort\n');
    assert.deepEqual(ex.trace.flags, ['FI']);
    assert.equal(inner.calls.length, 0);
  });

  it('never aborts at 0%', async () => {
    const inner = stub(() => respond(200));
    const ex = exchange({ rule: { fault: { abort: { percent: 0, status: 418 } } } });
    assert.equal((await injectFaults({ random: () => 0 })(inner)(ex)).status, 200);
    assert.deepEqual(ex.trace.flags, []);
    assert.equal(inner.calls.length, 1);
  });

  it('delays at 100%: flag DI, then forwards', async () => {
    const inner = stub(() => respond(200));
    const ex = exchange({ rule: { fault: { delay: { percent: 100, delayMs: 50 } } } });
    const started = performance.now();
    assert.equal((await injectFaults()(inner)(ex)).status, 200);
    assert.ok(elapsedSince(started) >= 40, 'it waited for the delay');
    assert.deepEqual(ex.trace.flags, ['DI']);
    assert.equal(inner.calls.length, 1);
  });

  it('never delays at 0%', async () => {
    const inner = stub(() => respond(200));
    const ex = exchange({ rule: { fault: { delay: { percent: 0, delayMs: 2000 } } } });
    const started = performance.now();
    assert.equal((await injectFaults({ random: () => 0 })(inner)(ex)).status, 200);
    assert.ok(elapsedSince(started) < 1500);
    assert.deepEqual(ex.trace.flags, []);
  });

  const shares: [number, number, boolean][] = [[30, 0.29, true], [30, 0.3, false], [100, 0.9999, true], [0, 0, false]];
  for (const [percent, draw, injected] of shares) {
    it(`${percent}% with a draw of ${draw}: ${injected ? 'aborted' : 'forwarded'}`, async () => {
      const ex = exchange({ rule: { fault: { abort: { percent, status: 503 } } } });
      const response = await injectFaults({ random: () => draw })(stub(() => respond(200)))(ex);
      assert.equal(response.status, injected ? 503 : 200);
    });
  }

  it('draws for the delay and the abort separately', async () => {
    const fault: FaultPolicy = { delay: { percent: 50, delayMs: 1 }, abort: { percent: 50, status: 503 } };
    const delayedOnly = exchange({ rule: { fault } });
    assert.equal((await injectFaults({ random: draws(0.1, 0.9) })(stub(() => respond(200)))(delayedOnly)).status, 200);
    assert.deepEqual(delayedOnly.trace.flags, ['DI']);
    const both = exchange({ rule: { fault } });
    assert.equal((await injectFaults({ random: draws(0.1, 0.1) })(stub(() => respond(200)))(both)).status, 503);
    assert.deepEqual(both.trace.flags, ['DI', 'FI']);
  });

  it('ends the delay when the client goes away, without forwarding', async () => {
    const client = new AbortController();
    const gone = new Error('client went away');
    setTimeout(() => client.abort(gone), 20);
    const inner = stub();
    const started = performance.now();
    const ex = exchange({ rule: { fault: { delay: { percent: 100, delayMs: 2000 } } }, signal: client.signal });
    await assert.rejects(injectFaults()(inner)(ex), (error) => error === gone);
    assert.ok(elapsedSince(started) < 1500);
    assert.equal(inner.calls.length, 0);
  });

  it('without a fault policy, forwards the exchange as it is', async () => {
    const inner = stub();
    const ex = exchange({ rule: {} });
    await injectFaults({ random: () => 0 })(inner)(ex);
    assert.equal(inner.calls[0], ex);
    assert.deepEqual(ex.trace.flags, []);
  });
});
