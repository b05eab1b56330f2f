// A waypoint in process against a real control plane on the local backend,
// with the backends' ztunnel (node-b, no capture) in process too. Pods are
// loopback addresses: node-a's 127.0.1.x, node-b's 127.0.2.x; the waypoint
// 127.0.3.1; service VIPs 127.0.9.x. The waypoint is a Gateway in the store
// that the demo namespace's services are bound to; with no kubelet to run
// the waypoint controller's pods, the controller is off and the test runs
// the waypoint itself, publishing its address in the Gateway's status as
// whoever runs a waypoint would. Clients open HBONE tunnels to the waypoint
// directly with a workload certificate the control plane's CA issued, with
// :authority = the VIP they call. HTTPRoutes and waypoint policies are
// applied to the waypoint's mesh index directly (their translation has its
// own tests); the services they name are in the waypoint's scope because
// they are bound, and the client's workload because every workload is.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createLogger, silentLogger, SpiffeId } from '@ambit/core';
import { socketAddress, type Authorization, type HttpRoute, type Resource } from '@ambit/api';
import { writeBootstrapToken, type Gateway, type Store } from '@ambit/control-plane';
import { MeshIndex } from '@ambit/cp-client';
import { HbonePool } from '@ambit/hbone';
import { CertificateManager, type WorkloadCertificate } from '@ambit/identity';
import { parseWaypointConfig, startWaypoint, StreamAgent, type Waypoint } from '@ambit/waypoint';
import { parseZtunnelConfig, startZtunnel, type Ztunnel } from '@ambit/ztunnel';
import { createNamespace, createPod, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/net.js';
import { testKeys } from '../support/pki.js';
import { freePort, httpGet, metricValue } from '../support/ztunnel.js';

const TD = 'spiffe://cluster.local';
const WAYPOINT = `${TD}/ns/demo/sa/waypoint`;
const CLIENT = `${TD}/ns/demo/sa/client`;

const ip = {
  client: '127.0.1.1', waypoint: '127.0.3.1', v1: '127.0.2.1', v2: '127.0.2.2', flaky: '127.0.2.3', slow: '127.0.2.4', broken: '127.0.2.5',
  vip: { echo: '127.0.9.1', v1: '127.0.9.2', v2: '127.0.9.3', flaky: '127.0.9.4', slow: '127.0.9.5', broken: '127.0.9.6' },
};

interface Echoed { pod: string; method: string; path: string; headers: http.IncomingHttpHeaders }

describe('waypoint on loopback (HBONE in, L7 routing and policy, HBONE out)', () => {
  let run: RunningControlPlane;
  let store: Store;
  let dir: string;
  let ztunnel: Ztunnel;
  let waypoint: Waypoint;
  let pool: HbonePool;
  let clientCert: WorkloadCertificate;
  let httpPort: number;
  let tcpPort: number;
  const servers: net.Server[] = [];
  const hits = new Map<string, number>();

  const tunnel = (vip: string, port: number): Promise<Duplex> => pool.connect({
    source: clientCert,
    destination: { address: waypoint.addresses.hbone, identity: SpiffeId.parse(WAYPOINT) },
    target: socketAddress(vip, port),
    metadata: { forwardedFor: ip.client },
  });
  const agentFor = (vip: string): http.Agent => new StreamAgent(() => tunnel(vip, 80), { keepAlive: true, maxSockets: 64 });
  const metrics = async (port: number): Promise<string> => (await httpGet({ port }, '/metrics')).body;

  function request(agent: http.Agent, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reused: boolean }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ agent, host: 'echo.demo.svc.cluster.local', path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function backend(name: string, address: string, behaviour: (count: number) => { status: number; delayMs?: number }): Promise<void> {
    const server = http.createServer((req, res) => {
      const count = (hits.get(name) ?? 0) + 1;
      hits.set(name, count);
      const { status, delayMs = 0 } = behaviour(count);
      const body: Echoed = { pod: name, method: req.method ?? '', path: req.url ?? '', headers: req.headers };
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)), delayMs);
    });
    server.on('clientError', (error: Error & { rawPacket?: Buffer }) => {
      if (process.env.WP_LOG !== undefined) process.stderr.write(`backend ${name}: ${error.message} ${JSON.stringify(error.rawPacket?.toString())}\n`);
    });
    await new Promise<void>((resolve) => server.listen(httpPort, address, resolve));
    servers.push(server);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-wp-'));
    run = await runControlPlane({ settings: { 'waypoint-image': 'off' } });
    store = run.cp.store;
    const rootsFile = join(dir, 'roots.pem');
    await writeFile(rootsFile, run.cp.ca.roots.join(''));
    const hbonePort = await freePort();
    httpPort = await freePort(ip.v1);
    tcpPort = await freePort(ip.v1);
    const ok = (): { status: number } => ({ status: 200 });
    await backend('echo-v1', ip.v1, ok);
    await backend('echo-v2', ip.v2, ok);
    await backend('flaky', ip.flaky, (n) => ({ status: n % 2 === 1 ? 503 : 200 }));
    await backend('slow', ip.slow, () => ({ status: 200, delayMs: 1_500 }));
    await backend('broken', ip.broken, () => ({ status: 503, delayMs: 30 }));
    for (const address of [ip.v1, ip.v2]) {
      const echo = net.createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
      await new Promise<void>((resolve) => echo.listen(tcpPort, address, resolve));
      servers.push(echo);
    }

    // Every service in demo is bound to the waypoint, the route backends echo-v1 and echo-v2 included.
    await createNamespace(store, 'demo', { 'ambit.dev/dataplane-mode': 'ambient', 'ambit.dev/use-waypoint': 'waypoint' });
    await store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'demo' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    await store.updateStatus<Gateway>('Gateway', 'waypoint', 'demo', { addresses: [{ type: 'IPAddress', value: ip.waypoint }] });
    await createPod(store, { name: 'client', namespace: 'demo', node: 'node-a', ip: ip.client, serviceAccount: 'client', labels: { app: 'client' } });
    const pods: [string, string, Record<string, string>][] = [
      ['echo-v1', ip.v1, { app: 'echo', version: 'v1' }], ['echo-v2', ip.v2, { app: 'echo', version: 'v2' }],
      ['flaky', ip.flaky, { app: 'flaky' }], ['slow', ip.slow, { app: 'slow' }], ['broken', ip.broken, { app: 'broken' }],
    ];
    for (const [name, address, labels] of pods) await createPod(store, { name, namespace: 'demo', node: 'node-b', ip: address, serviceAccount: name, labels });
    const services: [string, string, Record<string, string>][] = [
      ['echo', ip.vip.echo, { app: 'echo' }], ['echo-v1', ip.vip.v1, { app: 'echo', version: 'v1' }], ['echo-v2', ip.vip.v2, { app: 'echo', version: 'v2' }],
      ['flaky', ip.vip.flaky, { app: 'flaky' }], ['slow', ip.vip.slow, { app: 'slow' }], ['broken', ip.vip.broken, { app: 'broken' }],
    ];
    for (const [name, vip, selector] of services) {
      await store.create({
        apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'demo' },
        spec: { selector, clusterIP: vip, ports: [{ name: 'http', port: 80, targetPort: httpPort }, { name: 'tcp', port: 7000, targetPort: tcpPort }] },
      });
    }

    // The backends' node tunnel: HBONE on each pod address at hbonePort.
    const { file: nodeToken } = await writeBootstrapToken(run.stateDir, { node: 'node-b' });
    ztunnel = await startZtunnel(parseZtunnelConfig({
      node: 'node-b', 'control-plane': `127.0.0.1:${run.cp.address.port}`, 'ca-root-file': rootsFile, 'bootstrap-token-file': nodeToken,
      'hbone-port': String(hbonePort), socks5: 'off', metrics: '127.0.0.1:0', readiness: '127.0.0.1:0',
      'admin-socket': join(dir, 'node-b.sock'), 'connect-timeout': '3s', 'log-level': 'silent',
    }), { logger: silentLogger, generateKeys: testKeys, discoveryBackoff: { initialMs: 50, maxMs: 300, jitter: 0 } });

    // The waypoint, bootstrapped with a workload token for its gateway identity.
    const { file: waypointToken } = await writeBootstrapToken(run.stateDir, { identity: SpiffeId.parse(WAYPOINT) });
    waypoint = await startWaypoint(parseWaypointConfig({
      gateway: 'demo/waypoint', 'control-plane': `127.0.0.1:${run.cp.address.port}`, 'ca-root-file': rootsFile,
      'bootstrap-token-file': waypointToken, hbone: `${ip.waypoint}:0`, 'upstream-hbone-port': String(hbonePort),
      metrics: '127.0.0.1:0', readiness: '127.0.0.1:0', 'admin-socket': join(dir, 'waypoint.sock'), 'connect-timeout': '2s', 'log-level': 'silent',
    }), { logger: process.env.WP_LOG === undefined ? silentLogger : createLogger({ level: 'debug' }), generateKeys: testKeys, index: new MeshIndex(), discoveryBackoff: { initialMs: 50, maxMs: 300, jitter: 0 } });

    // The client's certificate, from the CA through node-a's credential (the client pod runs there).
    const { ca } = await run.ztunnel('node-a');
    const manager = new CertificateManager({ source: ca.source(), generateKeys: testKeys });
    clientCert = await manager.fetch(SpiffeId.parse(CLIENT));
    manager.close();
    pool = new HbonePool({ connectTimeoutMs: 3_000 });

    await Promise.all([ztunnel.ready(), waypoint.ready()]);
    await eventually(() => waypoint.mesh.serviceByVip(ip.vip.echo)?.endpoints.length === 2 && waypoint.mesh.serviceByVip(ip.vip.broken)?.endpoints.length === 1 || undefined, 10_000);
    await eventually(() => ztunnel.addresses.hbone.length === 5 || undefined, 10_000);
    applyToWaypoint(routes(), policies());
  });

  after(async () => {
    pool?.close();
    await waypoint?.close();
    await ztunnel?.close();
    for (const server of servers) await new Promise<void>((resolve) => { server.close(() => resolve()); (server as http.Server).closeAllConnections?.(); });
    await run?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function applyToWaypoint(httpRoutes: HttpRoute[], authorizations: Authorization[]): void {
    const upserts: Resource[] = [
      ...httpRoutes.map((value) => ({ kind: 'route' as const, value })),
      ...authorizations.map((value) => ({ kind: 'authorization' as const, value })),
    ];
    waypoint.mesh.apply({ type: 'update', version: `${waypoint.mesh.version ?? '0'}+test`, snapshot: false, upserts, removals: [] });
  }

  it('is ready with its own certificate and serves only its own identity', async () => {
    assert.equal(waypoint.notReady(), undefined);
    assert.equal((await httpGet({ port: waypoint.addresses.readiness.port }, '/healthz/ready')).status, 200);
    const certificates = JSON.parse((await httpGet(waypoint.admin, '/certificates')).body) as { identity: string; state: string }[];
    assert.deepEqual(certificates.map((c) => [c.identity, c.state]), [[WAYPOINT, 'available']]);
  });

  it('receives the services bound to its Gateway and the client\'s workload, and keeps the routes and policy applied', () => {
    const bindings = Object.values(ip.vip).map((vip) => waypoint.mesh.serviceByVip(vip)?.waypoint?.gateway);
    assert.deepEqual(bindings, Object.values(ip.vip).map(() => 'demo/waypoint'));
    assert.equal(waypoint.mesh.workloadByAddress(ip.client)?.identity, CLIENT, 'bound to nothing, yet in scope: the waypoint names its callers');
    assert.deepEqual(waypoint.mesh.routes().map((r) => r.key).sort(), ['demo/broken', 'demo/echo', 'demo/flaky', 'demo/slow']);
    assert.deepEqual(waypoint.mesh.authorizations().map((a) => a.key), ['demo/deny-admin-post']);
  });

  it('routes by path and by header to v1 and v2, modifying headers both ways', async () => {
    const agent = agentFor(ip.vip.echo);
    const plain = await request(agent, '/hello');
    assert.equal(plain.status, 200, plain.body);
    assert.equal((JSON.parse(plain.body) as Echoed).pod, 'echo-v1');
    const byPath = await request(agent, '/v2/thing');
    assert.equal((JSON.parse(byPath.body) as Echoed).pod, 'echo-v2');
    assert.equal(byPath.headers['x-route'], 'v2-path', 'response header modifier');
    const byHeader = await request(agent, '/hello', { headers: { 'x-version': 'v2' } });
    const echoed = JSON.parse(byHeader.body) as Echoed;
    assert.equal(echoed.pod, 'echo-v2');
    assert.equal(echoed.headers['x-added'], 'yes', 'request header modifier');
    assert.equal(echoed.headers['x-forwarded-for'], ip.client);
    agent.destroy();
  });

  it('answers a redirect itself (counted with its status) and forwards a rewritten URL', async () => {
    const agent = agentFor(ip.vip.echo);
    const moved = await request(agent, '/old/page?x=1');
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, 'http://echo.demo.svc.cluster.local/new/page?x=1');
    assert.equal(moved.headers['x-route'], 'moved', 'the rule\'s response header modifier applies to its redirect');
    assert.equal(moved.body, '');
    const rewritten = await request(agent, '/api/items?q=1');
    assert.equal(rewritten.status, 200, rewritten.body);
    const echoed = JSON.parse(rewritten.body) as Echoed;
    assert.deepEqual([echoed.pod, echoed.path, echoed.headers.host], ['echo-v2', '/v2api/items?q=1', 'api.internal']);
    agent.destroy();
    const text = await metrics(waypoint.addresses.metrics.port);
    assert.equal(metricValue(text, 'istio_requests_total', { reporter: 'waypoint', destination_service: 'echo.demo.svc.cluster.local', response_code: '301', response_flags: '-' }), 1);
  });

  it('splits by weight within a 99.9% binomial bound, over one keep-alive connection', async () => {
    const agent = new StreamAgent(() => tunnel(ip.vip.echo, 80), { keepAlive: true, maxSockets: 1 });
    let v2 = 0;
    let reused = 0;
    const n = 200;
    for (let i = 0; i < n; i++) {
      const response = await request(agent, '/split');
      assert.equal(response.status, 200);
      if ((JSON.parse(response.body) as Echoed).pod === 'echo-v2') v2++;
      if (response.reused) reused++;
    }
    // 90/10: mean 20, sd sqrt(200 * 0.1 * 0.9) = 4.24; ±3.29 sd.
    assert.ok(v2 >= 6 && v2 <= 34, `v2 got ${v2} of ${n}`);
    assert.equal(reused, n - 1, 'HTTP/1.1 keep-alive: one tunnel for every request');
    agent.destroy();
  });

  it('retries a flaky backend\'s 503s into 200s', async () => {
    const agent = agentFor(ip.vip.flaky);
    hits.set('flaky', 0);
    for (let i = 0; i < 6; i++) assert.equal((await request(agent, `/try-${i}`)).status, 200);
    assert.equal(hits.get('flaky'), 12, 'every request failed once and was retried once');
    const text = await metrics(waypoint.addresses.metrics.port);
    assert.equal(metricValue(text, 'istio_requests_total', { reporter: 'waypoint', destination_service: 'flaky.demo.svc.cluster.local', response_code: '200' }), 6);
    agent.destroy();
  });

  it('limits retries with the retry budget when a backend fails for everyone', async () => {
    const agent = agentFor(ip.vip.broken);
    hits.set('broken', 0);
    const n = 20;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => request(agent, `/b-${i}`)));
    assert.ok(results.every((r) => r.status === 503));
    const attempts = hits.get('broken') ?? 0;
    assert.ok(attempts < n * 2, `the budget held retries to ${attempts - n} for ${n} requests (unbounded: ${n * 5})`);
    const text = await metrics(waypoint.addresses.metrics.port);
    assert.ok(metricValue(text, 'ambit_waypoint_retry_overflow_total') > 0);
    assert.ok(metricValue(text, 'istio_requests_total', { destination_service: 'broken.demo.svc.cluster.local', response_code: '503', response_flags: 'UO' }) > 0);
    agent.destroy();
  });

  it('answers malformed HTTP/1 with 400 and oversized headers with 431, closes the connection, and counts both', async () => {
    const exchange = async (bytes: string): Promise<string> => {
      const t = await tunnel(ip.vip.echo, 80);
      let answer = '';
      t.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1'); });
      const ended = new Promise((resolve) => { t.once('end', resolve); t.once('close', resolve); });
      t.write(bytes);
      await ended;
      t.destroy();
      return answer;
    };
    const malformed = await exchange('GET /x HTTP/1.1\r\nhost: echo\r\nno colon in this header\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const oversized = await exchange(`GET /x HTTP/1.1\r\nhost: echo\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(oversized, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const text = await metrics(waypoint.addresses.metrics.port);
    assert.equal(metricValue(text, 'ambit_waypoint_refusals_total', { reason: 'malformed-request' }), 1);
    assert.equal(metricValue(text, 'ambit_waypoint_refusals_total', { reason: 'headers-too-large' }), 1);
  });

  it('keeps serving after many clients go away at once: idle, mid-request, mid-head, mid-body, and before a byte; none counts as a refusal', async () => {
    const refusals = async () => metricValue(await metrics(waypoint.addresses.metrics.port), 'ambit_waypoint_refusals_total');
    const refusedBefore = await refusals();
    const many = 150;
    const agent = new StreamAgent(() => tunnel(ip.vip.echo, 80), { keepAlive: true, maxSockets: many });
    const answered = await Promise.all(Array.from({ length: many }, (_, i) => request(agent, `/burst-${i}`)));
    assert.ok(answered.every((r) => r.status === 200));
    // Mid-request: the slow backend has not answered when the client resets its tunnel.
    const slow = await Promise.all(Array.from({ length: 50 }, () => tunnel(ip.vip.slow, 80)));
    for (const t of slow) { t.on('error', () => undefined); t.write('GET /slow HTTP/1.1\r\nhost: slow\r\n\r\n'); }
    // Mid-head and before a byte: half a request line, or nothing, then gone.
    const partial = await Promise.all(Array.from({ length: 50 }, () => tunnel(ip.vip.echo, 80)));
    partial.forEach((t, i) => { t.on('error', () => undefined); if (i % 2 === 0) t.write('GET /half'); });
    // Mid-body: a head promising 100 bytes, 10 of them, then gone.
    const midBody = await Promise.all(Array.from({ length: 20 }, () => tunnel(ip.vip.echo, 80)));
    for (const t of midBody) { t.on('error', () => undefined); t.write('POST /body HTTP/1.1\r\nhost: echo\r\ncontent-length: 100\r\n\r\n0123456789'); }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const t of [...slow, ...partial, ...midBody]) t.destroy();
    agent.destroy();
    await eventually(() => pool.stats().streams === 0 || undefined, 5_000);
    const after = agentFor(ip.vip.echo);
    assert.equal((await request(after, '/still-here')).status, 200);
    after.destroy();
    assert.equal(await refusals(), refusedBefore, 'a client going away is not a refused request');
  });

  it('answers 504 at the route timeout', async () => {
    // A slow machine may time out some of the previous test's abandoned /slow requests too (504 UT rather than DC):
    // wait until no request is left open at the waypoint (no count moves for longer than the route's 300 ms timeout),
    // then count from there.
    const requests = async () => metricValue(await metrics(waypoint.addresses.metrics.port), 'istio_requests_total');
    let last = await requests();
    await eventually(async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const now = await requests();
      const settled = now === last;
      last = now;
      return settled || undefined;
    }, 10_000);
    const timedOut = async () => metricValue(await metrics(waypoint.addresses.metrics.port), 'istio_requests_total', { response_code: '504', response_flags: 'UT' });
    const before = await timedOut();
    const agent = agentFor(ip.vip.slow);
    const started = Date.now();
    const response = await request(agent, '/slow');
    assert.equal(response.status, 504);
    assert.ok(Date.now() - started < 1_200, 'well before the backend answers');
    await eventually(async () => (await timedOut()) === before + 1 || undefined);
    agent.destroy();
  });

  it('denies POST /admin by an L7 DENY policy while GET passes, and counts it', async () => {
    const agent = agentFor(ip.vip.echo);
    const denied = await request(agent, '/admin/users', { method: 'POST' });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /demo\/deny-admin-post/);
    assert.equal((await request(agent, '/admin/users')).status, 200);
    const text = await metrics(waypoint.addresses.metrics.port);
    assert.equal(metricValue(text, 'istio_requests_total', { response_code: '403', response_flags: 'DENY', source_principal: CLIENT }), 1);
    assert.equal(metricValue(text, 'ambit_waypoint_refusals_total', { reason: 'denied-by-policy' }), 1);
    agent.destroy();
  });

  it('reaches backends with its own identity over HBONE, seen by their ztunnel', async () => {
    const text = await metrics(ztunnel.addresses.metrics.port);
    assert.ok(metricValue(text, 'istio_tcp_connections_opened_total', {
      reporter: 'destination', source_principal: WAYPOINT, destination_principal: `${TD}/ns/demo/sa/echo-v1`, connection_security_policy: 'mutual_tls',
    }) >= 1);
    assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', { source_principal: CLIENT }), 0, 'the client never reached the backend directly');
  });

  it('reports request metrics with reporter="waypoint" and the standard labels', async () => {
    const text = await metrics(waypoint.addresses.metrics.port);
    const labels = {
      reporter: 'waypoint', source_principal: CLIENT, source_workload: 'client', source_workload_namespace: 'demo',
      destination_workload: 'echo-v1', destination_principal: `${TD}/ns/demo/sa/echo-v1`, destination_service: 'echo-v1.demo.svc.cluster.local',
      response_code: '200', response_flags: '-', connection_security_policy: 'mutual_tls',
    };
    assert.ok(metricValue(text, 'istio_requests_total', labels) >= 1);
    assert.ok(metricValue(text, 'istio_request_duration_milliseconds_count', labels) >= 1);
    assert.ok(metricValue(text, 'istio_response_bytes_sum', labels) > 0);
  });

  it('serves HTTP/2 clients with prior knowledge (h2c)', async () => {
    const stream = await tunnel(ip.vip.echo, 80);
    const session = http2.connect('http://echo.demo.svc.cluster.local', { createConnection: () => stream });
    const ask = (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
      const req = session.request({ ':path': path, ...headers });
      let status = 0;
      let body = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
    const [a, b] = await Promise.all([ask('/h2'), ask('/h2', { 'x-version': 'v2' })]);
    assert.equal(a.status, 200);
    assert.equal((JSON.parse(a.body) as Echoed).pod, 'echo-v1');
    assert.equal((JSON.parse(b.body) as Echoed).pod, 'echo-v2');
    session.close();
  });

  it('forwards anything that is not HTTP as raw TCP to the called service', async () => {
    const stream = await tunnel(ip.vip.echo, 7000);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => stream.once('end', resolve));
    stream.end('\x00\x01 raw bytes, not HTTP');
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), '\x00\x01 raw bytes, not HTTP');
    await eventually(async () => metricValue(await metrics(waypoint.addresses.metrics.port), 'istio_tcp_connections_closed_total', { reporter: 'waypoint', source_principal: CLIENT }) >= 1 || undefined);
  });

  it('refuses a tunnel to an address it does not know with 503', async () => {
    await assert.rejects(tunnel('127.0.7.7', 80), /503|no service VIP/);
  });
});

function routes(): HttpRoute[] {
  const svc = (name: string): { kind: 'Service'; key: string } => ({ kind: 'Service', key: `demo/${name}` });
  const to = (service: string, weight = 1): { service: string; port: number; weight: number } => ({ service: `demo/${service}`, port: 80, weight });
  const route = (name: string, parent: string, rules: HttpRoute['rules']): HttpRoute => ({ key: `demo/${name}`, namespace: 'demo', name, parents: [svc(parent)], hostnames: [], rules });
  return [
    route('echo', 'echo', [
      { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backends: [to('echo-v2')], responseHeaders: { set: [{ name: 'x-route', value: 'v2-path' }] } },
      { matches: [{ headers: [{ type: 'Exact', name: 'x-version', value: 'v2' }] }], backends: [to('echo-v2')], requestHeaders: { add: [{ name: 'x-added', value: 'yes' }] } },
      { matches: [{ path: { type: 'PathPrefix', value: '/split' } }], backends: [to('echo-v1', 90), to('echo-v2', 10)] },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/old' } }], backends: [],
        redirect: { statusCode: 301, path: { type: 'ReplacePrefixMatch', prefix: '/old', value: '/new' } }, responseHeaders: { set: [{ name: 'x-route', value: 'moved' }] },
      },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: [to('echo-v2')], rewrite: { hostname: 'api.internal', path: { type: 'ReplacePrefixMatch', prefix: '/api', value: '/v2api' } } },
      { matches: [], backends: [to('echo-v1')] },
    ]),
    route('flaky', 'flaky', [{ matches: [], backends: [to('flaky')], retry: { attempts: 2, on: ['5xx'], backoffMs: 5 } }]),
    route('slow', 'slow', [{ matches: [], backends: [to('slow')], timeoutMs: 300 }]),
    route('broken', 'broken', [{ matches: [], backends: [to('broken')], retry: { attempts: 4, on: ['5xx'], backoffMs: 1 } }]),
  ];
}

function policies(): Authorization[] {
  return [{
    key: 'demo/deny-admin-post', name: 'deny-admin-post', namespace: 'demo', action: 'DENY',
    scope: { kind: 'targets', namespace: 'demo', targets: [{ kind: 'Service', key: 'demo/echo' }] },
    // The port keeps it off the TCP port: on TCP, a DENY ignores its HTTP fields (stricter, as in Istio).
    rules: [{ from: [], to: [{ methods: ['POST'], paths: ['/admin*'], ports: [80] }] }],
  }];
}
