// The waypoint on a real kernel (root only): a two-node local cluster with
// the control plane, a ztunnel per node and the kubelet. A Gateway of class
// ambit-waypoint makes the control plane's waypoint controller create a
// Deployment and a Service, which the kubelet runs as a pod; labelling the
// namespace sends its service traffic through it. Clients in pods know
// nothing of the mesh; what the echo servers see, what they answer and the
// proxies' metrics prove what the waypoint did.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Condition, Deployment, Gateway, HTTPBackendRef, HTTPRoute } from '@ambit/control-plane';
import { LocalCluster, LocalMesh, type ClusterProcess } from '@ambit/localcluster';
import { eventually, localclusterBin, netnsSkipReason, tearDownChecked } from '../support/netns.js';

const skip = netnsSkipReason('netns/waypoint');

type PodName = `${string}/${string}`;
const NS = 'shop';
const WAYPOINT_ID = `spiffe://cluster.local/ns/${NS}/sa/waypoint`;
const CLIENT_ID = `spiffe://cluster.local/ns/${NS}/sa/client`;
const GATEWAY_LABEL = 'gateway.networking.k8s.io/gateway-name';

interface EchoBody { pod: string; version: string; method: string; path: string; headers: Record<string, string> }
interface Answer { status: number; location?: string; body?: EchoBody | string; error?: string }

describe('waypoint: L7 for a namespace, on network namespaces', { skip }, () => {
  let stateDir: string;
  let cluster: LocalCluster;
  let mesh: LocalMesh;
  const workloads: ClusterProcess[] = [];
  const client = (...args: string[]): string[] => [process.execPath, localclusterBin('client'), ...args];

  /** Runs the sample client in `from`; one answer per request (failures included). */
  async function requests(from: PodName, url: string, ...args: string[]): Promise<Answer[]> {
    const result = await cluster.exec(from, client('http', url, '--timeout', '8000', ...args), { timeoutMs: 120_000 });
    const lines = result.stdout.trim().split('\n').filter((line) => line !== '');
    assert.ok(lines.length > 0, `no answer for ${url} from ${from}: ${result.stderr}`);
    return lines.map((line) => JSON.parse(line) as Answer);
  }

  async function one(url: string, ...args: string[]): Promise<Answer> {
    return (await requests(`${NS}/client`, url, ...args))[0] as Answer;
  }

  function echoBody(answer: Answer): EchoBody {
    assert.equal(typeof answer.body, 'object', `expected an echo answer, got ${JSON.stringify(answer)}`);
    return answer.body as EchoBody;
  }

  async function gateway(): Promise<Gateway | undefined> {
    try {
      return await mesh.store.get<Gateway>('Gateway', 'waypoint', NS);
    } catch {
      return undefined;
    }
  }

  function condition(object: { status?: { conditions?: Condition[] } } | undefined, type: string): Condition | undefined {
    return object?.status?.conditions?.find((c) => c.type === type);
  }

  async function waypointPod(): Promise<PodName> {
    await cluster.refresh();
    const pod = cluster.pods.find((p) => p.namespace === NS && p.labels[GATEWAY_LABEL] === 'waypoint');
    assert.ok(pod, 'the kubelet runs a waypoint pod');
    return `${pod.namespace}/${pod.name}`;
  }

  function adminGet(socketPath: string, path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      http.get({ socketPath, path, timeout: 5_000 }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { body += chunk; });
        response.on('end', () => resolve(body));
      }).on('error', reject);
    });
  }

  function sum(text: string, name: string, labels: Record<string, string>): number {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  const viaWaypoint = (answer: Answer): boolean =>
    typeof answer.body === 'object' && (answer.body.headers['x-forwarded-client-cert'] ?? '').startsWith(`By=${WAYPOINT_ID};`);

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-wp-'));
    cluster = await LocalCluster.create({ stateDir, nodes: 2 });
    // The kubelet as its own process (as `ambit up` runs it): this process and it both change the cluster.
    mesh = new LocalMesh(cluster, { logLevel: 'info', ztunnelSettings: { 'drain-deadline': '2s' }, kubelet: 'process' });
    await mesh.start();
    await cluster.addNamespace(NS, { 'ambit.dev/dataplane-mode': 'ambient' });
    await cluster.addPod({ namespace: NS, name: 'client', node: 'node-1', serviceAccount: 'client' });
    for (const version of ['v1', 'v2']) {
      const name = `echo-${version}`;
      await cluster.addPod({ namespace: NS, name, node: 'node-2', serviceAccount: 'echo', labels: { app: 'echo', version }, ports: [8080, 9000] });
      workloads.push(await cluster.spawn(`${NS}/${name}`, [process.execPath, localclusterBin('echo')]));
      await cluster.addService({ namespace: NS, name, selector: { app: 'echo', version }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
    }
    await cluster.addService({
      namespace: NS, name: 'echo', selector: { app: 'echo' },
      ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'tcp', port: 9000, targetPort: 9000 }],
    });
    await eventually(async () => (await one(`http://echo-v1.${NS}/`)).status === 200 || undefined, 'the echo servers answer', 30_000);

    await mesh.store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: NS },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const backend = (name: string, weight?: number): HTTPBackendRef => ({ name, port: 80, ...(weight === undefined ? {} : { weight }) });
    await mesh.store.create<HTTPRoute>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'echo', namespace: NS },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [backend('echo-v2')] },
          { matches: [{ headers: [{ name: 'x-version', value: 'v2' }] }], backendRefs: [backend('echo-v2')] },
          { matches: [{ path: { type: 'PathPrefix', value: '/split' } }], backendRefs: [backend('echo-v1', 90), backend('echo-v2', 10)] },
          { matches: [{ path: { type: 'Exact', value: '/flaky' } }], backendRefs: [backend('echo-v1')], retry: { attempts: 3, codes: [503] } },
          { matches: [{ path: { type: 'PathPrefix', value: '/status' } }], backendRefs: [backend('echo-v1')], retry: { attempts: 3, codes: [503] } },
          { matches: [{ path: { type: 'PathPrefix', value: '/delay' } }], backendRefs: [backend('echo-v1')], timeouts: { request: '500ms' } },
          { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }] },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/legacy' } }], backendRefs: [backend('echo-v2')],
            filters: [{ type: 'URLRewrite', urlRewrite: { hostname: `echo-v2.${NS}`, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }],
          },
          { backendRefs: [backend('echo-v1')] },
        ],
      },
    });
  });

  after(() => tearDownChecked(stateDir, cluster, mesh));

  it('the controller runs the Gateway as a pod behind a Service, and Programmed turns true with its address', async () => {
    const programmed = await eventually(async () => {
      const current = condition(await gateway(), 'Programmed');
      if (current?.status !== 'True') throw new Error(`Programmed is ${JSON.stringify(current)}`);
      return current;
    }, 'Gateway Programmed=True', 60_000);
    assert.match(programmed.message, /1 of 1 pod/);
    await cluster.refresh();
    const service = cluster.service(`${NS}/waypoint`);
    assert.deepEqual((await gateway())?.status?.addresses, [{ type: 'IPAddress', value: service.vip }]);
    assert.equal(condition(await gateway(), 'Accepted')?.status, 'True');
    const deployment = await mesh.store.get<Deployment>('Deployment', 'waypoint', NS);
    assert.equal(deployment?.status?.readyReplicas, 1);
    const pod = cluster.pod(await waypointPod());
    assert.equal(pod.serviceAccount, 'waypoint');
    assert.equal(pod.ready, true);
  });

  it('binding the namespace sends its service traffic through the waypoint, which the destination sees as the peer', async () => {
    await cluster.addNamespace(NS, { 'ambit.dev/use-waypoint': 'waypoint' });
    const answer = await eventually(async () => {
      const current = await one(`http://echo.${NS}/`);
      return viaWaypoint(current) ? current : undefined;
    }, 'traffic through the waypoint', 30_000);
    // The waypoint says who it is and whom it authenticated; the destination ztunnel saw the waypoint's identity.
    assert.equal(echoBody(answer).headers['x-forwarded-client-cert'], `By=${WAYPOINT_ID};URI=${CLIENT_ID}`);
    const destination = (await mesh.admin('node-2', '/metrics')).body;
    assert.ok(sum(destination, 'istio_tcp_connections_opened_total', { reporter: 'destination', source_principal: WAYPOINT_ID }) >= 1,
      'node-2 counted connections from the waypoint identity');
  });

  it('routes by path and by header to v1/v2, and defaults to v1', async () => {
    assert.equal(echoBody(await one(`http://echo.${NS}/`)).version, 'v1');
    assert.equal(echoBody(await one(`http://echo.${NS}/v2/page`)).version, 'v2');
    assert.equal(echoBody(await one(`http://echo.${NS}/page`, '--header', 'x-version: v2')).version, 'v2');
    assert.equal(echoBody(await one(`http://echo.${NS}/page`, '--header', 'x-version: v3')).version, 'v1');
  });

  it('answers a RequestRedirect itself and forwards a URLRewrite\'s path and Host', async () => {
    const moved = await one(`http://echo.${NS}/old/page?x=1`);
    assert.deepEqual([moved.status, moved.location], [301, `http://echo.${NS}/v2/page?x=1`]);
    const rewritten = echoBody(await one(`http://echo.${NS}/legacy/page?x=1`));
    assert.deepEqual([rewritten.version, rewritten.path, rewritten.headers.host], ['v2', '/v2/page?x=1', `echo-v2.${NS}`]);
  });

  it('splits 90/10 within a statistically sound bound', async () => {
    const count = 300;
    const answers = await requests(`${NS}/client`, `http://echo.${NS}/split`, '--count', String(count), '--keep-alive');
    assert.equal(answers.length, count);
    const v2 = answers.filter((a) => echoBody(a).version === 'v2').length;
    // Binomial(300, 0.1): mean 30, sd 5.2; [10, 55] is beyond ±3.8 sd on both sides (false failure < 1e-4).
    assert.ok(v2 >= 10 && v2 <= 55, `v2 got ${v2} of ${count}`);
  });

  it('retries turn a flaky backend\'s 503s into successes', async () => {
    const answers = await requests(`${NS}/client`, `http://echo.${NS}/flaky`, '--count', '10', '--keep-alive');
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
  });

  it('the retry budget caps retries when a backend fails for everyone', async () => {
    const metricsBefore = await adminGet(mesh.waypointAdminSocket(await waypointPod()), '/metrics');
    // 12 concurrent clients, each request failing slowly: retries may be at most a fifth of active requests (never fewer than 3).
    const runs = await Promise.all(Array.from({ length: 12 }, () => requests(`${NS}/client`, `http://echo.${NS}/status/503?delay=300`, '--count', '3', '--keep-alive')));
    assert.ok(runs.flat().every((a) => a.status === 503), 'a backend that always fails still fails');
    const metricsAfter = await adminGet(mesh.waypointAdminSocket(await waypointPod()), '/metrics');
    const overflow = sum(metricsAfter, 'ambit_waypoint_retry_overflow_total', {}) - sum(metricsBefore, 'ambit_waypoint_retry_overflow_total', {});
    assert.ok(overflow > 0, 'the budget refused retries');
  });

  it('a slow backend gets 504 at the route timeout', async () => {
    const started = Date.now();
    const answer = await one(`http://echo.${NS}/delay/5000`);
    assert.equal(answer.status, 504);
    assert.ok(Date.now() - started < 4_500, 'answered at the timeout, not when the backend did');
  });

  it('an L7 DENY refuses POST /admin with 403 naming the policy, while GET passes', async () => {
    await mesh.store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'no-admin-writes', namespace: NS },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }],
        action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'], paths: ['/admin*'] } }] }],
      },
    });
    const denied = await eventually(async () => {
      const current = await one(`http://echo.${NS}/admin/users`, '--method', 'POST');
      return current.status === 403 ? current : undefined;
    }, 'the policy in force', 30_000);
    assert.match(typeof denied.body === 'string' ? denied.body : JSON.stringify(denied.body), /no-admin-writes/);
    assert.equal((await one(`http://echo.${NS}/admin/users`)).status, 200);
    assert.equal((await one(`http://echo.${NS}/other`, '--method', 'POST')).status, 200);
    // A byte stream has no method or path: a DENY with L7 fields refuses it (fail closed, as Istio does for TCP).
    const tcp = await cluster.exec(`${NS}/client`, client('tcp', `echo.${NS}:9000`, '--send', 'raw\n', '--timeout', '5000'), { timeoutMs: 20_000 });
    assert.notEqual(tcp.stdout, 'raw\n', 'raw TCP refused while the policy applies');
    await mesh.store.delete('AuthorizationPolicy', 'no-admin-writes', NS);
    await eventually(async () => ((await one(`http://echo.${NS}/admin/users`, '--method', 'POST')).status === 200 || undefined), 'the policy gone', 30_000);
  });

  it('request metrics carry reporter="waypoint", the source and the response codes', async () => {
    const text = await adminGet(mesh.waypointAdminSocket(await waypointPod()), '/metrics');
    const base = { reporter: 'waypoint', source_principal: CLIENT_ID, source_workload_namespace: NS };
    assert.ok(sum(text, 'istio_requests_total', { ...base, response_code: '200' }) >= 5);
    assert.ok(sum(text, 'istio_requests_total', { ...base, response_code: '403' }) >= 1);
    assert.ok(sum(text, 'istio_requests_total', { ...base, response_code: '504' }) >= 1);
    assert.ok(sum(text, 'istio_request_duration_milliseconds_count', { reporter: 'waypoint' }) >= 5);
  });

  it('HTTP/1.1 keep-alive and h2c clients both work through it', async () => {
    for (const mode of ['--keep-alive', '--h2c']) {
      const answers = await requests(`${NS}/client`, `http://echo.${NS}/v2/${mode.slice(2)}`, '--count', '5', mode);
      assert.deepEqual(answers.map((a) => [a.status, echoBody(a).version]), Array(5).fill([200, 'v2']), mode);
      assert.ok(answers.every(viaWaypoint), `${mode}: through the waypoint`);
    }
  });

  it('a raw TCP protocol still passes through (L4 fallback)', async () => {
    const result = await cluster.exec(`${NS}/client`, client('tcp', `echo.${NS}:9000`, '--send', 'not http at all\n', '--timeout', '8000'), { timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'not http at all\n');
    const text = await adminGet(mesh.waypointAdminSocket(await waypointPod()), '/metrics');
    assert.ok(sum(text, 'istio_tcp_connections_opened_total', { reporter: 'waypoint' }) >= 1, 'counted by the waypoint');
    assert.ok(sum(text, 'ambit_waypoint_refusals_total', {}) >= 1, 'the refusal under the DENY policy was counted');
  });

  it('runs two workers; a busy client\'s tunnels spill over to a second connection, served by the other worker', async () => {
    // 40 TCP connections held open at once from one pod (over the 32 a ztunnel puts on one
    // connection to a waypoint), then the waypoint's admin API, asked from the same script.
    const script = [
      "const net = require('node:net'); const http = require('node:http');",
      'const [host, port, admin] = process.argv.slice(1); const sockets = []; let echoed = 0;',
      "setTimeout(() => { console.error('only ' + echoed + ' echoed'); process.exit(1); }, 20000).unref();",
      'for (let i = 0; i < 40; i++) {',
      "  const socket = net.connect(Number(port), host); sockets.push(socket); socket.on('error', (e) => { console.error(e.message); process.exit(1); });",
      "  socket.write('hold\\n'); socket.once('data', () => { if (++echoed === 40) dump(); });",
      '}',
      "function dump() { http.get({ socketPath: admin, path: '/config_dump' }, (r) => { let body = ''; r.on('data', (c) => { body += c; });",
      "  r.on('end', () => { console.log(JSON.stringify(JSON.parse(body).workers.map((w) => w.hbone.server.tunnels))); for (const s of sockets) s.destroy(); }); }); }",
    ].join('\n');
    const admin = mesh.waypointAdminSocket(await waypointPod());
    const result = await cluster.exec(`${NS}/client`, [process.execPath, '-e', script, `echo.${NS}`, '9000', admin], { timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    const tunnels = JSON.parse(result.stdout) as number[];
    assert.equal(tunnels.length, 2, 'two workers');
    assert.ok(tunnels.every((n) => n > 0) && tunnels[0]! + tunnels[1]! >= 40, `both workers carry tunnels: ${result.stdout}`);
  });

  it('use-waypoint=none returns traffic to the direct path without a restart, and binding again restores it', async () => {
    await cluster.addNamespace(NS, { 'ambit.dev/use-waypoint': 'none' });
    const direct = await eventually(async () => {
      const current = await one(`http://echo.${NS}/v2/direct`);
      return viaWaypoint(current) ? undefined : current;
    }, 'direct traffic', 30_000);
    assert.equal(direct.status, 200);
    // Direct: no L7 routing (either version), and no L7 policy.
    assert.equal((await one(`http://echo.${NS}/admin/users`, '--method', 'POST')).status, 200);
    await cluster.addNamespace(NS, { 'ambit.dev/use-waypoint': 'waypoint' });
    await eventually(async () => (viaWaypoint(await one(`http://echo.${NS}/`)) ? true : undefined), 'through the waypoint again', 30_000);
  });

  it('deleting the Gateway removes its pod and Service; traffic goes direct', async () => {
    const pod = await waypointPod();
    await mesh.store.delete('Gateway', 'waypoint', NS);
    const gone = (check: () => boolean) => async (): Promise<true | undefined> => {
      await cluster.refresh();
      return check() ? undefined : true;
    };
    await eventually(gone(() => cluster.pods.some((p) => `${p.namespace}/${p.name}` === pod)), 'the waypoint pod removed', 30_000);
    await eventually(gone(() => cluster.services.some((s) => s.namespace === NS && s.name === 'waypoint')), 'its Service removed', 30_000);
    const answer = await eventually(async () => {
      const current = await one(`http://echo.${NS}/`);
      return current.status === 200 && !viaWaypoint(current) ? current : undefined;
    }, 'direct traffic after the waypoint is gone', 30_000);
    assert.equal(answer.status, 200);
  });
});
