import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatAuthority, socketAddress } from '@ambit/api';
import { Balancer, type BalancerOptions } from './balancer.js';
import type { Backend, Endpoint } from './exchange.js';
import { service, workload } from './testing.js';

const nobody = { workload: () => undefined };
const at = (ip: string, port = 8080): Endpoint => ({ address: socketAddress(ip, port), workload: undefined });
const names = (endpoints: readonly (Endpoint | undefined)[]): string[] => endpoints.map((e) => (e === undefined ? '-' : formatAuthority(e.address)));

/** A balancer on a clock the test moves, drawing `draw` (0: always the first usable endpoint). */
function balancer(options: BalancerOptions = {}): { balancer: Balancer; clock: { now: number } } {
  const clock = { now: 1_000 };
  return { balancer: new Balancer(nobody, { random: () => 0, now: () => clock.now, ...options }), clock };
}

function fail(b: Balancer, endpoint: Endpoint, times: number): void {
  for (let i = 0; i < times; i++) b.begin(endpoint)('failure');
}

describe('balancer: endpoints of a backend', () => {
  it('lists the healthy endpoints only, at the service port\'s target port, with their workloads', () => {
    const a = workload('echo-0', { ip: '10.0.0.1' });
    const lookup = { workload: (uid: string) => (uid === a.uid ? a : undefined) };
    const echo = service('echo', [['10.0.0.1', true], ['10.0.0.2', false], ['10.0.0.3', true]]);
    const endpoints = new Balancer(lookup).endpoints({ kind: 'service', service: echo, port: 80 });
    assert.deepEqual(names(endpoints), ['10.0.0.1:8080', '10.0.0.3:8080']);
    assert.equal(endpoints[0]?.workload, a);
    assert.equal(endpoints[1]?.workload, undefined);
  });

  it('takes an endpoint\'s own port for a named target port, and skips endpoints without one', () => {
    const echo = service('echo', [['10.0.0.1', true], ['10.0.0.2', true]], { ports: [{ port: 80, targetPort: 0, targetPortName: 'http' }] });
    const first = echo.endpoints[0];
    if (first !== undefined) first.ports = { 80: 9090 };
    assert.deepEqual(names(new Balancer(nobody).endpoints({ kind: 'service', service: echo, port: 80 })), ['10.0.0.1:9090']);
  });

  it('has none for a port the service does not have', () => {
    const echo = service('echo', [['10.0.0.1', true]]);
    assert.deepEqual(new Balancer(nobody).endpoints({ kind: 'service', service: echo, port: 81 }), []);
  });

  it('gives a workload backend its first address at the called port', () => {
    const pod = workload('pod', { addresses: ['10.0.0.7', '10.0.0.8'] });
    const backend: Backend = { kind: 'workload', workload: pod, port: 8443 };
    const endpoints = new Balancer(nobody).endpoints(backend);
    assert.deepEqual(names(endpoints), ['10.0.0.7:8443']);
    assert.equal(endpoints[0]?.workload, pod);
    assert.deepEqual(new Balancer(nobody).endpoints({ ...backend, workload: { ...pod, addresses: [] } }), []);
  });
});

describe('balancer: picking and outlier ejection', () => {
  const a = at('10.0.0.1');
  const b = at('10.0.0.2');

  it('picks nothing from nothing, and the one endpoint there is', () => {
    const { balancer: lb } = balancer();
    assert.equal(lb.pick([]), undefined);
    assert.equal(lb.pick([b]), b);
  });

  it('ejects an endpoint after consecutive failures, and takes it back after the ejection time', () => {
    const { balancer: lb, clock } = balancer({ consecutiveFailures: 3, ejectionMs: 10_000 });
    fail(lb, a, 2);
    assert.equal(lb.pick([a, b]), a, 'two failures are not enough');
    fail(lb, a, 1);
    assert.deepEqual(lb.ejected(), ['10.0.0.1:8080']);
    for (let i = 0; i < 10; i++) assert.equal(lb.pick([a, b]), b);
    clock.now += 9_999;
    assert.equal(lb.pick([a, b]), b, 'still ejected just before the time is up');
    clock.now += 1;
    assert.deepEqual(lb.ejected(), []);
    assert.equal(lb.pick([a, b]), a);
  });

  it('reports its own ejection once, with the endpoint and when it ends', () => {
    const reported: [string, number, Endpoint][] = [];
    const { balancer: lb } = balancer({ consecutiveFailures: 2, ejectionMs: 10_000, onEject: (e, endpoint) => reported.push([e.endpoint, e.until, endpoint]) });
    fail(lb, a, 1);
    assert.deepEqual(reported, []);
    fail(lb, a, 1);
    assert.deepEqual(reported, [['10.0.0.1:8080', 11_000, a]]);
  });

  it('applies an ejection made elsewhere until it ends, without reporting it, and keeps a later one of its own', () => {
    const reported: string[] = [];
    const { balancer: lb, clock } = balancer({ consecutiveFailures: 2, ejectionMs: 10_000, onEject: (e) => reported.push(e.endpoint) });
    lb.eject({ endpoint: '10.0.0.1:8080', until: 6_000 });
    assert.deepEqual(lb.ejected(), ['10.0.0.1:8080']);
    assert.equal(lb.pick([a, b]), b);
    lb.eject({ endpoint: '10.0.0.2:8080', until: clock.now });
    assert.deepEqual(lb.ejected(), ['10.0.0.1:8080'], 'one already over is ignored');
    fail(lb, b, 2);
    lb.eject({ endpoint: '10.0.0.2:8080', until: 2_000 });
    clock.now = 5_000;
    assert.deepEqual(lb.ejected(), ['10.0.0.1:8080', '10.0.0.2:8080'], 'an earlier end does not shorten its own');
    clock.now = 6_000;
    assert.deepEqual(lb.ejected(), ['10.0.0.2:8080']);
    assert.deepEqual(reported, ['10.0.0.2:8080'], 'only its own ejection is reported');
  });

  it('starts counting failures afresh for an endpoint ejected elsewhere', () => {
    const { balancer: lb, clock } = balancer({ consecutiveFailures: 2, ejectionMs: 10_000 });
    fail(lb, a, 1);
    lb.eject({ endpoint: '10.0.0.1:8080', until: 2_000 });
    clock.now = 2_000;
    fail(lb, a, 1);
    assert.deepEqual(lb.ejected(), [], 'the failure before the ejection no longer counts');
  });

  it('counts only failures in a row: a success starts again, a neutral outcome does not count', () => {
    const { balancer: lb } = balancer({ consecutiveFailures: 3 });
    fail(lb, a, 2);
    lb.begin(a)('success');
    fail(lb, a, 2);
    lb.begin(a)('neutral');
    assert.deepEqual(lb.ejected(), []);
    fail(lb, a, 1);
    assert.deepEqual(lb.ejected(), ['10.0.0.1:8080']);
  });

  it('counts an attempt once however often it is ended', () => {
    const { balancer: lb } = balancer({ consecutiveFailures: 2 });
    const end = lb.begin(a);
    end('failure');
    end('failure');
    assert.deepEqual(lb.ejected(), []);
  });

  it('uses every endpoint again when all are ejected (panic mode)', () => {
    const { balancer: lb } = balancer({ consecutiveFailures: 1 });
    fail(lb, a, 1);
    fail(lb, b, 1);
    assert.equal(lb.ejected().length, 2);
    assert.equal(lb.pick([a, b]), a);
  });

  it('avoids the previous attempt\'s endpoint when there is another', () => {
    const { balancer: lb } = balancer();
    assert.equal(lb.pick([a, b], a), b);
    assert.equal(lb.pick([a, b], b), a);
    assert.equal(lb.pick([a], a), a, 'the only one is still used');
  });

  it('of two random choices takes the one with fewer requests in flight', () => {
    const draws = [0, 0.5];
    let i = 0;
    const { balancer: lb } = balancer({ random: () => draws[i++ % draws.length] ?? 0 });
    const end = lb.begin(a);
    assert.equal(lb.pick([a, b]), b, 'a is busy');
    end('success');
    assert.equal(lb.pick([a, b]), a, 'a tie goes to the first choice');
  });
});
