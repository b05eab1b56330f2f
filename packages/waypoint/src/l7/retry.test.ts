import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { RetryPolicy } from '@ambit/api';
import { findAmbitError } from '@ambit/core';
import { rejectsWith } from '@ambit/core/testing';
import { failure, outcomeFor } from '../flags.js';
import type { Backend, Exchange, Layer, ProxyResponse } from './exchange.js';
import { retry, type RetryOptions } from './retry.js';
import { sleep } from './sleep.js';
import { elapsedSince, exchange, respond, service, stub, text, type ExchangeOptions, type Stub } from './testing.js';

const echo: Backend = { kind: 'service', service: service('echo'), port: 80 };
const connectFailure = (): Error => failure('no-upstream', 'UF', 'cannot connect', { status: 503, details: { retryOn: 'connect-failure' } });
const reset = (): Error => failure('protocol', 'UC', 'reset by peer', { status: 503, details: { retryOn: 'reset' } });

/** No backoff unless a test asks for it. */
const layer = (options: RetryOptions = {}): Layer => retry({ random: () => 0, ...options });
const request = (policy: RetryPolicy | undefined, options: ExchangeOptions = {}): Exchange =>
  exchange({ backend: echo, rule: policy === undefined ? {} : { retry: policy }, ...options });

/** Answers the statuses in turn (the last one from then on). */
const statuses = (...list: number[]): Stub => stub((_, call) => respond(list[Math.min(call, list.length) - 1] ?? 500));

/** Answers 503 to each request's first try and 200 to its retries (after `retried`). */
function failsFirst(retried: (exchange: Exchange) => Promise<void> | void = () => undefined): Stub {
  const inner: Stub = stub(async (ex) => {
    if (inner.calls.filter((c) => c.trace === ex.trace).length === 1) return respond(503);
    await retried(ex);
    return respond(200);
  });
  return inner;
}

describe('retry layer', { timeout: 10_000 }, () => {
  it('retries 5xx answers until one succeeds', async () => {
    const inner = statuses(503, 500, 200);
    const ex = request({ attempts: 3, on: ['5xx'] });
    assert.equal((await layer()(inner)(ex)).status, 200);
    assert.equal(inner.calls.length, 3);
    assert.equal(ex.trace.retries, 2);
    assert.deepEqual(ex.trace.flags, []);
  });

  it('stops after `attempts` retries: the last answer stands, flagged URX', async () => {
    const inner = statuses(503);
    const ex = request({ attempts: 2, on: ['5xx'] });
    assert.equal((await layer()(inner)(ex)).status, 503);
    assert.equal(inner.calls.length, 3, 'the first try and two retries');
    assert.equal(ex.trace.retries, 2);
    assert.deepEqual(ex.trace.flags, ['URX']);
  });

  const notRetried: [string, RetryPolicy['on'], number][] = [
    ['a 4xx', ['5xx', 'gateway-error', 'connect-failure', 'reset'], 404],
    ['a 500 on gateway-error', ['gateway-error'], 500],
    ['a 503 on connect-failure only', ['connect-failure'], 503],
  ];
  for (const [name, on, status] of notRetried) {
    it(`does not retry ${name}`, async () => {
      const inner = statuses(status, 200);
      const ex = request({ attempts: 3, on });
      assert.equal((await layer()(inner)(ex)).status, status);
      assert.equal(inner.calls.length, 1);
      assert.deepEqual(ex.trace.flags, []);
    });
  }

  const errors: [string, RetryPolicy['on'], () => Error][] = [
    ['connect failures on connect-failure', ['connect-failure'], connectFailure],
    ['connect failures on gateway-error', ['gateway-error'], connectFailure],
    ['resets on reset', ['reset'], reset],
    ['resets on 5xx', ['5xx'], reset],
  ];
  for (const [name, on, error] of errors) {
    it(`retries ${name}`, async () => {
      const inner = stub((_, call) => {
        if (call === 1) throw error();
        return respond(200);
      });
      assert.equal((await layer()(inner)(request({ attempts: 1, on }))).status, 200);
      assert.equal(inner.calls.length, 2);
    });
  }

  it('does not retry a reset on connect-failure, nor an error with no retry class', async () => {
    for (const [on, error] of [[['connect-failure'], reset()], [['5xx'], new Error('bug')]] as const) {
      const inner = stub(() => { throw error; });
      await assert.rejects(layer()(inner)(request({ attempts: 3, on: [...on] })), (caught) => caught === error);
      assert.equal(inner.calls.length, 1);
    }
  });

  it('throws the last failure when the tries run out, flagged URX', async () => {
    const last = connectFailure();
    const inner = stub((_, call) => { throw call === 2 ? last : connectFailure(); });
    const ex = request({ attempts: 1, on: ['connect-failure'] });
    await assert.rejects(layer()(inner)(ex), (caught) => caught === last);
    assert.deepEqual(ex.trace.flags, ['URX']);
  });

  it('without a policy, or with attempts 0, tries once', async () => {
    for (const policy of [undefined, { attempts: 0, on: ['5xx'] } satisfies RetryPolicy]) {
      const inner = statuses(503, 200);
      assert.equal((await layer()(inner)(request(policy))).status, 503);
      assert.equal(inner.calls.length, 1);
    }
  });

  it('cancels a try at the per-try timeout and retries it', async () => {
    const inner = stub(async (ex, call) => {
      if (call === 1) await sleep(2000, ex.signal);
      return respond(200);
    });
    const started = performance.now();
    const ex = request({ attempts: 2, on: ['gateway-error'], perTryTimeoutMs: 50 });
    assert.equal((await layer()(inner)(ex)).status, 200);
    assert.ok(elapsedSince(started) < 1500, 'the per-try deadline ended the first try');
    assert.equal(inner.calls.length, 2);
    const first = inner.calls[0]?.signal;
    assert.equal(first?.aborted, true);
    assert.equal(findAmbitError(first.reason)?.details.retryOn, 'per-try-timeout');
    assert.equal(inner.calls[1]?.signal.aborted, false, 'each try has its own deadline');
    assert.equal(ex.signal.aborted, false, 'the request itself goes on');
  });

  it('answers 504, flag UT and URX, when every try times out', async () => {
    const inner = stub(async (ex) => {
      await sleep(2000, ex.signal);
      return respond(200);
    });
    const ex = request({ attempts: 1, on: ['5xx'], perTryTimeoutMs: 50 });
    const error = await rejectsWith(layer()(inner)(ex), 'timeout', /per-try timeout after 50 ms/);
    assert.deepEqual(outcomeFor(error), { status: 504, flag: 'UT' });
    assert.equal(inner.calls.length, 2);
    assert.deepEqual(ex.trace.flags, ['URX']);
  });

  it('stops retrying when the retry budget is spent: the answer stands, flagged UO, and the overflow is told', async () => {
    const overflows: string[] = [];
    const inner = statuses(503, 200);
    const ex = request({ attempts: 3, on: ['5xx'] });
    const response = await layer({ budget: { percent: 0, minConcurrent: 0 }, onOverflow: (backend) => overflows.push(backend) })(inner)(ex);
    assert.equal(response.status, 503);
    assert.equal(inner.calls.length, 1);
    assert.deepEqual(ex.trace.flags, ['UO']);
    assert.deepEqual(overflows, ['demo/echo:80']);
  });

  it('shares the budget among the requests to one backend, not across backends', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const inner = failsFirst(async (ex) => {
      if (inner.calls[0]?.trace === ex.trace) await held;
    });
    const handler = layer({ budget: { percent: 0, minConcurrent: 1 } })(inner);
    const policy: RetryPolicy = { attempts: 1, on: ['5xx'] };
    const first = handler(request(policy));
    await new Promise((resolve) => setImmediate(resolve));
    const refused = request(policy);
    assert.equal((await handler(refused)).status, 503, 'the one retry allowed is in flight');
    assert.deepEqual(refused.trace.flags, ['UO']);
    const other: Backend = { kind: 'service', service: service('other'), port: 80 };
    assert.equal((await handler(request(policy, { backend: other }))).status, 200, 'another backend has its own budget');
    release();
    assert.equal((await first).status, 200);
    assert.equal((await handler(request(policy))).status, 200, 'a finished retry gives its place back');
  });

  it('hands on the answer the budget refused to retry with its body intact', async () => {
    const inner = stub(() => respond(503, Readable.from([Buffer.from('try later')])));
    const response = await layer({ budget: { percent: 0, minConcurrent: 0 } })(inner)(request({ attempts: 1, on: ['5xx'] }));
    assert.equal(response.status, 503);
    assert.equal(await text(response.body), 'try later');
  });

  it('drains the bodies of the answers it retries', async () => {
    const bodies: Readable[] = [];
    const inner = stub((_, call) => {
      const body = Readable.from([Buffer.from(`answer ${call}`)]);
      bodies.push(body);
      return respond(call === 1 ? 503 : 200, body);
    });
    const response = await layer()(inner)(request({ attempts: 1, on: ['5xx'] }));
    assert.equal(bodies[0]?.readableFlowing, true, 'the retried answer is consumed');
    assert.equal(await text(response.body), 'answer 2');
  });

  it('backs off before a retry, and a deadline during the backoff ends the request', async () => {
    const inner = statuses(503, 200);
    const deadline = new AbortController();
    const reason = new Error('deadline');
    setTimeout(() => deadline.abort(reason), 50);
    const started = performance.now();
    const ex = request({ attempts: 1, on: ['5xx'], backoffMs: 2000 }, { signal: deadline.signal });
    await assert.rejects(layer({ random: () => 0.999 })(inner)(ex), (caught) => caught === reason);
    assert.ok(elapsedSince(started) < 1500);
    assert.equal(inner.calls.length, 1, 'the retry waited for its backoff');
    assert.equal(ex.trace.retries, 1);
  });

  it('frees the retry a deadline interrupted for the next request', async () => {
    let draw = 0.999;
    const handler = retry({ random: () => draw, budget: { percent: 0, minConcurrent: 1 } })(failsFirst());
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(new Error('deadline')), 20);
    await assert.rejects(handler(request({ attempts: 1, on: ['5xx'], backoffMs: 2000 }, { signal: deadline.signal })));
    draw = 0;
    const next = request({ attempts: 1, on: ['5xx'] });
    const response: ProxyResponse = await handler(next);
    assert.deepEqual(next.trace.flags, [], 'the budget allowed the retry');
    assert.equal(response.status, 200);
  });

  it('stops when the client has gone away', async () => {
    const client = new AbortController();
    const inner = stub(() => {
      client.abort(new Error('gone'));
      return respond(503);
    });
    assert.equal((await layer()(inner)(request({ attempts: 3, on: ['5xx'] }, { signal: client.signal }))).status, 503);
    assert.equal(inner.calls.length, 1);
  });
});
