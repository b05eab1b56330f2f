import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceKey, type HttpRoute, type Service } from '@ambit/api';
import { rejectsWith } from '@ambit/core/testing';
import { outcomeFor } from '../flags.js';
import type { Backend, Exchange, Handler } from './exchange.js';
import { route, type RouteOptions } from './route.js';
import { exchange, httpRoute, service, stub, workload, type ExchangeOptions, type Stub } from './testing.js';

const echo = service('echo');
const services = new Map<string, Service>([echo, service('v1'), service('v2')].map((s) => [serviceKey(s), s]));
const split = httpRoute({ backends: [{ service: 'demo/v1', port: 8080, weight: 90 }, { service: 'demo/v2', port: 9090, weight: 10 }] });

function layer(routes: HttpRoute[], options: Partial<RouteOptions> = {}): Handler & { inner: Stub } {
  const inner = stub();
  const handler = route({ routes: () => routes, service: (key) => services.get(key), gateway: 'demo/waypoint', ...options })(inner);
  return Object.assign(handler, { inner });
}

const describeBackend = (backend: Backend | undefined): string | undefined =>
  backend === undefined ? undefined : `${backend.kind === 'service' ? serviceKey(backend.service) : backend.workload.uid}:${backend.port}`;

const toEcho = (options: ExchangeOptions = {}): Exchange => exchange({ destination: { service: echo }, ...options });

describe('routing layer', () => {
  it('without a route, sends the request to the called service at the called port', async () => {
    const handler = layer([]);
    const ex = toEcho({ destination: { service: echo, port: 8000 } });
    await handler(ex);
    assert.deepEqual(ex.trace.backend, { kind: 'service', service: echo, port: 8000 });
    assert.equal(ex.trace.route, undefined);
    assert.equal(handler.inner.calls[0], ex);
  });

  it('without a route, sends workload-addressed traffic to the workload', async () => {
    const pod = workload('pod');
    const ex = exchange({ destination: { workload: pod } });
    await layer([split])(ex);
    assert.deepEqual(ex.trace.backend, { kind: 'workload', workload: pod, port: 80 });
  });

  it('answers 404, flag NR, when the destination is unknown', async () => {
    const handler = layer([]);
    const error = await rejectsWith(handler(exchange({ request: { method: 'PUT', path: '/x' } })), 'not-found', /no route for PUT \/x/);
    assert.deepEqual(outcomeFor(error), { status: 404, flag: 'NR' });
    assert.equal(handler.inner.calls.length, 0);
  });

  const weights: [number, string][] = [[0, 'demo/v1:8080'], [0.899, 'demo/v1:8080'], [0.9, 'demo/v2:9090'], [0.999, 'demo/v2:9090']];
  for (const [draw, expected] of weights) {
    it(`picks the matched rule's backend by weight: draw ${draw} → ${expected}`, async () => {
      const ex = toEcho();
      await layer([split], { random: () => draw })(ex);
      assert.equal(describeBackend(ex.trace.backend), expected);
      assert.equal(ex.trace.route?.route, split);
      assert.equal(ex.trace.route.rule, split.rules[0]);
    });
  }

  it('matches the route on the request: a rule for another path leaves the called service', async () => {
    const onlyApi = httpRoute({ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: [{ service: 'demo/v2', port: 80, weight: 1 }] });
    const handler = layer([onlyApi]);
    const api = toEcho({ request: { path: '/api/items?page=2' } });
    await handler(api);
    assert.equal(describeBackend(api.trace.backend), 'demo/v2:80');
    const other = toEcho({ request: { path: '/apis' } });
    await handler(other);
    assert.equal(describeBackend(other.trace.backend), 'demo/echo:80');
  });

  it('matches Gateway route hostnames on the authority without its port, in any case', async () => {
    const byHost = httpRoute({ backends: [{ service: 'demo/v1', port: 80, weight: 1 }] }, {
      parents: [{ kind: 'Gateway', key: 'demo/waypoint' }], hostnames: ['shop.example.com'],
    });
    const ex = exchange({ request: { authority: 'Shop.Example.COM:8080' }, destination: { workload: workload('pod') } });
    await layer([byHost])(ex);
    assert.equal(describeBackend(ex.trace.backend), 'demo/v1:80');
  });

  it('answers 500, flag NR, for a rule without a backend with weight', async () => {
    for (const backends of [[], [{ service: 'demo/v1', port: 80, weight: 0 }]]) {
      const handler = layer([httpRoute({ backends })]);
      const error = await rejectsWith(handler(toEcho()), 'not-found', /has no backend with weight/);
      assert.deepEqual(outcomeFor(error), { status: 500, flag: 'NR' });
      assert.equal(handler.inner.calls.length, 0);
    }
  });

  it('answers 500, flag NR, for a backend naming an unknown service', async () => {
    const error = await rejectsWith(layer([httpRoute({ backends: [{ service: 'demo/gone', port: 80, weight: 1 }] })])(toEcho()), 'not-found', /names service demo\/gone/);
    assert.deepEqual(outcomeFor(error), { status: 500, flag: 'NR' });
  });

  it('records a redirecting rule without choosing a backend: the rewrite layer answers it', async () => {
    const redirecting = httpRoute({ backends: [], redirect: { statusCode: 302, scheme: 'https' } });
    const handler = layer([redirecting]);
    const ex = toEcho();
    await handler(ex);
    assert.equal(ex.trace.route?.rule, redirecting.rules[0]);
    assert.equal(ex.trace.backend, undefined);
    assert.equal(handler.inner.calls[0], ex);
  });

  it('reads the routes at every request', async () => {
    let routes: HttpRoute[] = [];
    const handler = route({ routes: () => routes, service: (key) => services.get(key), gateway: 'demo/waypoint', random: () => 0 })(stub());
    const before = toEcho();
    await handler(before);
    routes = [split];
    const after = toEcho();
    await handler(after);
    assert.deepEqual([before, after].map((ex) => describeBackend(ex.trace.backend)), ['demo/echo:80', 'demo/v1:8080']);
  });
});
