import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { socketAddress } from '@ambit/api';
import { failure } from '../flags.js';
import type { WaypointMetrics } from '../metrics.js';
import { deliver, type Exchange } from './exchange.js';
import { labelsOf, responseFlags } from './telemetry.js';
import { boundary, CLIENT, exchange, httpRoute, received, respond, service, stub, text, workload } from './testing.js';

async function requestLabels(metrics: WaypointMetrics): Promise<Record<string, string | number>[]> {
  return (await metrics.requests.get()).values.map((v) => ({ ...v.labels, count: v.value }));
}

async function sumOf(metrics: WaypointMetrics, histogram: 'responseBytes' | 'requestBytes'): Promise<number | undefined> {
  return (await metrics[histogram].get()).values.find((v) => v.metricName?.endsWith('_sum'))?.value;
}

/** An exchange that went through routing and balancing to v1-0 at 10.0.0.1:8080. */
function routed(): Exchange {
  const v1 = service('v1', [['10.0.0.1', true]]);
  const ex = exchange({ request: { method: 'POST', path: '/items', body: Buffer.from('{"a":1}') }, destination: { service: service('echo') } });
  const matched = httpRoute({});
  const rule = matched.rules[0];
  if (rule !== undefined) ex.trace.route = { route: matched, rule };
  ex.trace.backend = { kind: 'service', service: v1, port: 80 };
  ex.trace.upstream = { address: socketAddress('10.0.0.1', 8080), workload: workload('v1-0', { ip: '10.0.0.1', serviceAccount: 'v1' }) };
  return ex;
}

describe('telemetry layer: the error boundary', () => {
  it('answers a failure with its status and flag, its message as the body, and counts a refusal by its reason', async () => {
    const { handler, metrics } = boundary(stub(() => {
      throw failure('denied', 'DENY', 'RBAC: access denied', { status: 403, details: { reason: 'denied-by-policy' } });
    }));
    const ex = exchange();
    const response = await handler(ex);
    assert.equal(response.status, 403);
    assert.equal(await text(response.body), 'RBAC: access denied\n');
    assert.deepEqual(ex.trace.flags, ['DENY']);
    assert.deepEqual((await metrics.refusals.get()).values.map((v) => [v.labels.reason, v.value]), [['denied-by-policy', 1]]);
  });

  it('answers an unexpected error 503, flag UF, without its message', async () => {
    const { handler, metrics, lines } = boundary(stub(() => { throw new TypeError('secret internals'); }));
    const ex = exchange();
    const response = await handler(ex);
    assert.equal(response.status, 503);
    assert.equal(await text(response.body), 'upstream failure\n');
    assert.deepEqual(ex.trace.flags, ['UF']);
    assert.deepEqual((await metrics.refusals.get()).values, []);
    assert.equal(lines[0]?.error, 'secret internals', 'the access log keeps the cause');
  });
});

describe('telemetry layer: measuring', { timeout: 10_000 }, () => {
  it('reports a buffered answer at once: Istio request metrics and one access-log line', async () => {
    const answer = respond(201, 'created');
    const { handler, metrics, lines } = boundary(stub(() => answer));
    const ex = routed();
    ex.trace.retries = 1;
    ex.trace.flags.push('-');
    assert.equal(await handler(ex), answer);
    assert.deepEqual(await requestLabels(metrics), [{
      reporter: 'waypoint', source_workload: 'unknown', source_workload_namespace: 'demo', source_principal: CLIENT,
      destination_workload: 'v1-0', destination_workload_namespace: 'demo', destination_principal: 'spiffe://cluster.local/ns/demo/sa/v1',
      destination_service: 'v1.demo.svc.cluster.local', destination_service_namespace: 'demo', request_protocol: 'http',
      response_code: '201', response_flags: '-', connection_security_policy: 'mutual_tls', count: 1,
    }]);
    assert.equal(await sumOf(metrics, 'requestBytes'), 7);
    assert.equal(await sumOf(metrics, 'responseBytes'), 7);
    assert.equal(lines.length, 1);
    assert.deepEqual({ ...lines[0], time: undefined, duration_ms: undefined }, {
      level: 'info', time: undefined, msg: 'request complete', req: 'test', method: 'POST', path: '/items', authority: 'echo.demo.svc.cluster.local',
      status: 201, duration_ms: undefined, src: { principal: CLIENT, addr: '10.0.0.9' }, route: 'demo/echo-route', upstream: '10.0.0.1:8080',
      retries: 1, bytes_recv: 7, bytes_sent: 7, response_flags: '-',
    });
  });

  it('reports a streamed answer when its last byte has gone, with the bytes sent', async () => {
    const upstream = new PassThrough();
    const { handler, metrics, lines } = boundary(stub(() => respond(200, upstream)));
    const response = await handler(routed());
    upstream.write('hello, ');
    upstream.end('world');
    await nextTurn();
    assert.equal(lines.length, 0, 'nothing is reported while the body is still on its way');
    assert.equal(await received(response), 'hello, world');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.bytes_sent, 12);
    assert.equal(await sumOf(metrics, 'responseBytes'), 12);
    assert.equal((await requestLabels(metrics))[0]?.count, 1, 'reported once');
  });

  it('keeps every byte of a streamed body for a client that reads it later', async () => {
    const { handler } = boundary(stub(() => respond(200, Readable.from([Buffer.from('early '), Buffer.from('bytes')]))));
    const response = await handler(routed());
    await nextTurn();
    assert.equal(await received(response), 'early bytes');
  });

  it('flags UC when the upstream body fails part-way, and still reports the exchange', async () => {
    const upstream = new PassThrough();
    const { handler, metrics, lines } = boundary(stub(() => respond(200, upstream)));
    const ex = routed();
    const response = await handler(ex);
    assert.ok(!Buffer.isBuffer(response.body));
    const client = new PassThrough();
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.resume();
    deliver(response, client);
    upstream.write('partial');
    await nextTurn();
    upstream.destroy(new Error('upstream reset'));
    await closed;
    assert.deepEqual(ex.trace.flags, ['UC']);
    assert.equal(lines[0]?.response_flags, 'UC');
    assert.equal(lines[0]?.bytes_sent, 7, 'what reached the client before the reset');
    assert.equal((await requestLabels(metrics))[0]?.response_flags, 'UC');
  });
});

describe('telemetry: labels and flags', () => {
  const flagCases: [string[], string][] = [[[], '-'], [['-'], '-'], [['URX', 'UT', 'URX'], 'URX,UT'], [['DI', '-', 'FI'], 'DI,FI']];
  for (const [flags, expected] of flagCases) {
    it(`flags [${flags.join(' ')}] → ${expected}`, () => assert.equal(responseFlags(flags as Parameters<typeof responseFlags>[0]), expected));
  }

  it('labels an exchange that was refused before routing by what the client called', () => {
    const ex = exchange({ source: { principal: 'spiffe://cluster.local/ns/shop/sa/web' }, destination: { service: service('echo') } });
    const labels = labelsOf(ex, 403, 'DENY');
    assert.equal(labels.source_workload_namespace, 'shop', 'from the SPIFFE ID');
    assert.equal(labels.destination_service, 'echo.demo.svc.cluster.local');
    assert.equal(labels.destination_workload, 'unknown');
    assert.equal(labels.destination_workload_namespace, 'demo');
    assert.equal(labels.destination_principal, 'unknown');
    assert.equal(labels.response_code, '403');
  });

  it('labels the source by its workload when it is known, and a workload destination by the workload', () => {
    const pod = workload('db-0', { namespace: 'data', serviceAccount: 'db' });
    const ex = exchange({ source: { workload: workload('web', { namespace: 'shop' }) }, destination: { workload: pod } });
    const labels = labelsOf(ex, 200, '-');
    assert.deepEqual([labels.source_workload, labels.source_workload_namespace], ['web', 'shop']);
    assert.deepEqual([labels.destination_workload, labels.destination_workload_namespace, labels.destination_principal], ['db-0', 'data', 'spiffe://cluster.local/ns/data/sa/db']);
    assert.equal(labels.destination_service, 'unknown');
  });
});
