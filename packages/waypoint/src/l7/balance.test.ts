import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatAuthority } from '@ambit/api';
import { rejectsWith } from '@ambit/core/testing';
import { failure, outcomeFor } from '../flags.js';
import { balance } from './balance.js';
import { Balancer } from './balancer.js';
import type { Backend, Exchange } from './exchange.js';
import { retry } from './retry.js';
import { boundary, exchange, respond, service, stub, text } from './testing.js';

const nobody = { workload: () => undefined };
const backendOf = (...endpoints: [string, boolean][]): Backend => ({ kind: 'service', service: service('echo', endpoints), port: 80 });
const upstreamOf = (ex: Exchange | undefined): string | undefined => (ex?.trace.upstream === undefined ? undefined : formatAuthority(ex.trace.upstream.address));

describe('load balancing layer', () => {
  it('sends each attempt to a healthy endpoint and records it as the upstream', async () => {
    const inner = stub();
    const handler = balance(new Balancer(nobody))(inner);
    const backend = backendOf(['10.0.0.1', false], ['10.0.0.2', true], ['10.0.0.3', false]);
    for (let i = 0; i < 20; i++) await handler(exchange({ backend }));
    assert.deepEqual(new Set(inner.calls.map(upstreamOf)), new Set(['10.0.0.2:8080']));
  });

  it('answers 503, flag UH, naming the backend, when no endpoint is healthy', async () => {
    const inner = stub();
    const handler = balance(new Balancer(nobody))(inner);
    const backend = backendOf(['10.0.0.1', false]);
    const error = await rejectsWith(handler(exchange({ backend })), 'no-upstream', /no healthy upstream for service demo\/echo port 80/);
    assert.deepEqual(outcomeFor(error), { status: 503, flag: 'UH' });
    assert.equal(inner.calls.length, 0);

    const ex = exchange({ backend: backendOf() });
    const response = await boundary(handler).handler(ex);
    assert.equal(response.status, 503);
    assert.match(await text(response.body), /no healthy upstream/);
    assert.deepEqual(ex.trace.flags, ['UH']);
  });

  it('refuses to guess when routing chose no backend', async () => {
    await rejectsWith(balance(new Balancer(nobody))(stub())(exchange()), 'internal', /no backend was chosen/);
  });

  it('ejects an endpoint after consecutive 5xx answers and uses it again after the ejection time', async () => {
    const clock = { now: 0 };
    const balancer = new Balancer(nobody, { consecutiveFailures: 2, ejectionMs: 5_000, random: () => 0, now: () => clock.now });
    const inner = stub((ex) => respond(upstreamOf(ex) === '10.0.0.1:8080' ? 500 : 200));
    const handler = balance(balancer)(inner);
    const backend = backendOf(['10.0.0.1', true], ['10.0.0.2', true]);
    const statuses = async (n: number): Promise<number[]> => {
      const result = [];
      for (let i = 0; i < n; i++) result.push((await handler(exchange({ backend }))).status);
      return result;
    };
    assert.deepEqual(await statuses(2), [500, 500]);
    assert.deepEqual(await statuses(3), [200, 200, 200], 'the failing endpoint is left out');
    clock.now += 5_000;
    assert.deepEqual(await statuses(1), [500], 'and comes back');
  });

  it('counts a failed attempt against its endpoint, but not one the client or a deadline cancelled', async () => {
    const balancer = new Balancer(nobody, { consecutiveFailures: 1 });
    const backend = backendOf(['10.0.0.1', true]);
    const cancelled = new AbortController();
    const cancelling = stub(() => {
      cancelled.abort(new Error('gone'));
      throw new Error('aborted');
    });
    await assert.rejects(balance(balancer)(cancelling)(exchange({ backend, signal: cancelled.signal })));
    assert.deepEqual(balancer.ejected(), []);
    const refused = stub(() => { throw failure('no-upstream', 'UF', 'connection refused'); });
    await assert.rejects(balance(balancer)(refused)(exchange({ backend })));
    assert.deepEqual(balancer.ejected(), ['10.0.0.1:8080']);
  });

  it('sends a retry to another endpoint than the one that failed', async () => {
    const tried: (string | undefined)[] = [];
    const inner = stub((ex) => {
      tried.push(upstreamOf(ex));
      return respond(upstreamOf(ex) === '10.0.0.1:8080' ? 503 : 200);
    });
    const handler = retry({ random: () => 0 })(balance(new Balancer(nobody, { random: () => 0 }))(inner));
    const ex = exchange({ backend: backendOf(['10.0.0.1', true], ['10.0.0.2', true]), rule: { retry: { attempts: 1, on: ['5xx'] } } });
    assert.equal((await handler(ex)).status, 200);
    assert.deepEqual(tried, ['10.0.0.1:8080', '10.0.0.2:8080']);
  });
});
