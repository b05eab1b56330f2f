import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { rejectsWith } from '@ambit/core/testing';
import { outcomeFor } from '../flags.js';
import { sleep } from './sleep.js';
import { boundary, elapsedSince, exchange, never, respond, stub, text } from './testing.js';
import { requestTimeout } from './timeout.js';

describe('request timeout layer', { timeout: 10_000 }, () => {
  it('answers 504, flag UT, when the next handler is slower than the rule\'s timeout', async () => {
    const started = performance.now();
    const error = await rejectsWith(requestTimeout()(never)(exchange({ rule: { timeoutMs: 50 } })), 'timeout', /request timeout after 50 ms/);
    assert.deepEqual(outcomeFor(error), { status: 504, flag: 'UT' });
    assert.ok(elapsedSince(started) < 1500, 'the deadline ended it, not the handler');
  });

  it('is what the client gets at the boundary: 504 with UT in the flags', async () => {
    const { handler } = boundary(requestTimeout()(never));
    const ex = exchange({ rule: { timeoutMs: 50 } });
    const response = await handler(ex);
    assert.equal(response.status, 504);
    assert.match(await text(response.body), /upstream request timeout after 50 ms/);
    assert.deepEqual(ex.trace.flags, ['UT']);
  });

  it('cancels the attempt in flight through the signal it hands on', async () => {
    const slow = stub(async (ex) => {
      await sleep(2000, ex.signal);
      return respond(200);
    });
    const error = await rejectsWith(requestTimeout()(slow)(exchange({ rule: { timeoutMs: 50 } })), 'timeout');
    const inner = slow.calls[0]?.signal;
    assert.equal(inner?.aborted, true);
    assert.equal(inner.reason, error);
  });

  it('passes the response through when the handler is faster, and its deadline ends with it', async () => {
    const answer = respond(200, 'ok');
    const fast = stub(() => answer);
    const response = await requestTimeout()(fast)(exchange({ rule: { timeoutMs: 50 } }));
    assert.equal(response, answer);
    await delay(150);
    assert.equal(fast.calls[0]?.signal.aborted, false, 'no deadline fires after the response headers');
  });

  it('passes a handler\'s own failure through unchanged', async () => {
    const failing = stub(() => { throw new Error('refused'); });
    await assert.rejects(requestTimeout()(failing)(exchange({ rule: { timeoutMs: 2000 } })), /^Error: refused$/);
  });

  for (const [name, timeoutMs] of [['no rule timeout', undefined], ['a zero timeout', 0]] as const) {
    it(`${name}: no deadline, the exchange goes on as it is`, async () => {
      const inner = stub();
      const ex = timeoutMs === undefined ? exchange({ rule: {} }) : exchange({ rule: { timeoutMs } });
      await requestTimeout()(inner)(ex);
      assert.equal(inner.calls[0], ex);
    });
  }

  it('ends with the client\'s reason when the client goes away first', async () => {
    const client = new AbortController();
    const gone = new Error('client went away');
    setTimeout(() => client.abort(gone), 20);
    await assert.rejects(requestTimeout()(never)(exchange({ rule: { timeoutMs: 2000 }, signal: client.signal })), (error) => error === gone);
  });
});
