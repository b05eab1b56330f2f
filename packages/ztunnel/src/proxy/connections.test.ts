import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { AmbitError, createLogger } from '@ambit/core';
import { ZtunnelMetrics } from '../metrics.js';
import { service, workload } from '../testing.js';
import { ConnectionTable, RECENT_MAX, RECENT_MS, trafficLabels, type ConnectionContext } from './connections.js';
import { refusal, refusalReasonFor, responseFlagFor } from './flags.js';

function memoryLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _encoding, callback) { chunks.push(chunk.toString()); callback(); } });
  return { logger: createLogger({ level: 'info', destination }), lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const client = workload('client', { ip: '10.0.0.1' });
const echo = workload('echo', { ip: '10.0.1.2', node: 'node-b' });
const context: ConnectionContext = {
  direction: 'outbound', via: 'socks5', src: '10.0.0.1:40000', dst: '10.96.0.10:80', upstream: '10.0.1.2:8080', hop: '10.0.1.2:15008',
  source: { workload: client, identity: client.identity },
  destination: { workload: echo, identity: echo.identity, service: service('echo', { vips: ['10.96.0.10'] }) },
  securityPolicy: 'mutual_tls',
};

async function sample(metrics: ZtunnelMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

describe('connection accounting', () => {
  it('counts opened with no flag, closed and bytes with the final one, and writes one access-log line', async () => {
    const metrics = new ZtunnelMetrics();
    const { logger, lines } = memoryLogger();
    const table = new ConnectionTable(metrics, logger);
    const connection = table.open('c1', context);
    assert.deepEqual(table.counts(), { outbound: 1, inbound: 0 });
    assert.equal(table.list()[0]?.destinationService, 'echo.demo.svc.cluster.local');
    assert.equal(table.list()[0]?.state, 'open');
    connection.close({ sent: 7, received: 5 });
    connection.close({ sent: 100, received: 100 });
    assert.deepEqual(table.counts(), { outbound: 0, inbound: 0 });
    assert.deepEqual(table.list().map((c) => [c.id, c.state, c.sent, c.received, c.flag]), [['c1', 'closed', 7, 5, '-']], 'listed as closed, once, for a while');
    assert.deepEqual(table.list(Date.now() + RECENT_MS + 1), [], 'and forgotten after a minute');
    const labels = {
      reporter: 'source', source_workload: 'client', source_workload_namespace: 'demo', source_principal: client.identity,
      destination_workload: 'echo', destination_principal: echo.identity, destination_service: 'echo.demo.svc.cluster.local',
      destination_service_namespace: 'demo', connection_security_policy: 'mutual_tls', response_flags: '-',
    };
    assert.equal(await sample(metrics, 'istio_tcp_connections_opened_total', labels), 1);
    assert.equal(await sample(metrics, 'istio_tcp_connections_closed_total', labels), 1, 'closing twice counts once');
    assert.equal(await sample(metrics, 'istio_tcp_sent_bytes_total', labels), 7);
    assert.equal(await sample(metrics, 'istio_tcp_received_bytes_total', labels), 5);
    const access = lines().filter((l) => l.component === 'access');
    assert.equal(access.length, 1);
    assert.equal(access[0]?.response_flags, '-');
    assert.equal(access[0]?.bytes_sent, 7);
    assert.deepEqual((access[0]?.src as { workload: string }).workload, 'demo/client');
  });

  it('keeps at most RECENT_MAX closed connections, newest last, after the open ones', () => {
    const table = new ConnectionTable(new ZtunnelMetrics(), memoryLogger().logger);
    const open = table.open('open', context);
    for (let i = 0; i < RECENT_MAX + 5; i++) table.open(`c${i}`, context).close({ sent: 0, received: 0 });
    const listed = table.list();
    assert.equal(listed.length, RECENT_MAX + 1);
    assert.deepEqual([listed[0]?.id, listed[1]?.id, listed.at(-1)?.id], ['open', 'c5', `c${RECENT_MAX + 4}`]);
    open.close({ sent: 0, received: 0 });
  });

  it('reports a refused connection with its flag and the refusal with its reason', async () => {
    const metrics = new ZtunnelMetrics();
    const { logger, lines } = memoryLogger();
    const table = new ConnectionTable(metrics, logger);
    const error = refusal('denied', 'denied-by-policy', 'DENY', 'policy demo/deny denies it');
    table.refused('outbound', refusalReasonFor(error), { conn: 'c2' }, error);
    table.open('c2', context).close({ sent: 0, received: 0, error });
    assert.equal(await sample(metrics, 'istio_tcp_connections_closed_total', { response_flags: 'DENY' }), 1);
    assert.equal(await sample(metrics, 'ambit_ztunnel_refusals_total', { direction: 'outbound', reason: 'denied-by-policy' }), 1);
    const warn = lines().filter((l) => l.level === 'warn');
    assert.equal(warn.length, 1);
    assert.match(String(warn[0]?.msg), /refused: policy demo\/deny denies it/);
    assert.equal(warn[0]?.reason, 'denied-by-policy');
  });

  it('builds labelled children once per label set', () => {
    const metrics = new ZtunnelMetrics();
    const labels = trafficLabels(context);
    assert.equal(labels.destination_workload_namespace, 'demo');
    const first = metrics.traffic(labels, '-');
    assert.equal(metrics.traffic({ ...labels }, '-'), first);
    assert.notEqual(metrics.traffic(labels, 'DENY'), first);
  });
});

describe('response flags', () => {
  const cases: [unknown, string, string][] = [
    [refusal('no-upstream', 'no-healthy-endpoint', 'NR', 'x'), 'NR', 'no-healthy-endpoint'],
    [new AmbitError('denied', 'tunnel refused with 401'), 'DENY', 'denied'],
    [new AmbitError('no-upstream', 'ECONNREFUSED'), 'CONNECT', 'upstream-connect-failed'],
    [new AmbitError('timeout', 'slow'), 'CONNECT', 'upstream-timeout'],
    [new AmbitError('tls-identity-mismatch', 'wrong peer'), 'TLS_FAILURE', 'tls-failure'],
    [new AmbitError('issuance-failed', 'no cert'), 'TLS_FAILURE', 'no-certificate'],
    [new AmbitError('closed', 'draining'), 'DRAIN', 'draining'],
    [new Error('plain'), 'CONNECT', 'upstream-connect-failed'],
  ];
  for (const [error, flag, reason] of cases) {
    it(`${(error as Error).message} → ${flag} / ${reason}`, () => {
      assert.equal(responseFlagFor(error), flag);
      assert.equal(refusalReasonFor(error), reason);
    });
  }
});
