// Two ztunnels in process, without capture, against a real control plane on
// the local backend. Pods are loopback addresses (Linux routes all of 127/8
// to lo): node-a's are 127.0.1.x, node-b's 127.0.2.x, the echo service's VIP
// is 127.0.9.1. Both ztunnels serve HBONE on one shared port at their pods'
// addresses; clients are pods connecting to their node's SOCKS5 from their
// own address.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger } from '@ambit/core';
import { writeBootstrapToken, type Store } from '@ambit/control-plane';
import { parseZtunnelConfig, startZtunnel, type Ztunnel } from '@ambit/ztunnel';
import { createNamespace, createPod, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/net.js';
import { testKeys } from '../support/pki.js';
import {
  adminJson, echoOn, freePort, httpGet, metricValue, roundTrip, socketPathOf, socks5Connect, SocksRefused, type EchoServer,
} from '../support/ztunnel.js';
import { formatAuthority, socketAddress, type SocketAddress } from '@ambit/api';

const TD = 'spiffe://cluster.local';
const CLIENT = `${TD}/ns/demo/sa/client`;
const ECHO = `${TD}/ns/demo/sa/echo`;
const LOCAL = `${TD}/ns/demo/sa/local-echo`;
const INTRUDER = `${TD}/ns/other/sa/intruder`;
const NODE = `${TD}/ns/ambit-system/sa/ztunnel`;

const ip = {
  client: '127.0.1.1', local: '127.0.1.2', intruder: '127.0.1.3',
  echo: '127.0.2.1', legacy: '127.0.2.9', unknown: '127.0.7.7', vip: '127.0.9.1',
};

interface CertificateRow { kind: string; identity: string; state: string; serial?: string; notAfter?: string }

describe('ztunnel on loopback (two nodes, SOCKS5, no capture)', () => {
  let run: RunningControlPlane;
  let store: Store;
  let dir: string;
  let rootsFile: string;
  let hbonePort: number;
  let podSocksPort: number;
  let port: number;
  const echoes: EchoServer[] = [];
  const ztunnels = new Map<string, Ztunnel>();

  async function startFor(node: string, overrides: Record<string, string> = {}): Promise<Ztunnel> {
    const { file } = await writeBootstrapToken(run.stateDir, { node });
    const config = parseZtunnelConfig({
      node, 'control-plane': `127.0.0.1:${run.cp.address.port}`, 'ca-root-file': rootsFile, 'bootstrap-token-file': file,
      'hbone-port': String(hbonePort), 'socks5-pods': String(podSocksPort), socks5: '127.0.0.1:0', metrics: '127.0.0.1:0', readiness: '127.0.0.1:0',
      'admin-socket': join(dir, `${node}.sock`), 'connect-timeout': '3s', 'drain-deadline': '3s', 'log-level': 'silent', ...overrides,
    });
    const ztunnel = await startZtunnel(config, { logger: process.env.ZT_LOG ? createLogger({ level: 'debug' }) : silentLogger, generateKeys: testKeys, discoveryBackoff: { initialMs: 50, maxMs: 300, jitter: 0 } });
    ztunnels.set(node, ztunnel);
    return ztunnel;
  }

  const z = (node: string): Ztunnel => ztunnels.get(node)!;
  const metrics = async (node: string): Promise<string> => (await httpGet({ port: z(node).addresses.metrics.port }, '/metrics')).body;
  const socks = (node: string, from: string, to: { ip: string; port: number }): Promise<Socket> =>
    socks5Connect(z(node).addresses.socks5!, to, from);
  const certificates = (node: string): Promise<CertificateRow[]> => adminJson<CertificateRow[]>(z(node).admin, '/certificates');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-zt-'));
    run = await runControlPlane();
    store = run.cp.store;
    rootsFile = join(dir, 'roots.pem');
    await writeFile(rootsFile, run.cp.ca.roots.join(''));
    hbonePort = await freePort();
    podSocksPort = await freePort();
    // One application port for every pod, so the service's targetPort fits all of them.
    const first = await echoOn(ip.echo);
    port = first.address.port;
    echoes.push(first);
    for (const address of [ip.local, ip.legacy, ip.unknown]) echoes.push(await echoOn(address, port));

    await createNamespace(store, 'demo', { 'ambit.dev/dataplane-mode': 'ambient' });
    await createNamespace(store, 'other', { 'ambit.dev/dataplane-mode': 'ambient' });
    await createNamespace(store, 'plain');
    await createPod(store, { name: 'client', namespace: 'demo', node: 'node-a', ip: ip.client, serviceAccount: 'client', labels: { app: 'client' } });
    await createPod(store, { name: 'local-echo', namespace: 'demo', node: 'node-a', ip: ip.local, serviceAccount: 'local-echo', labels: { app: 'local-echo' } });
    await createPod(store, { name: 'intruder', namespace: 'other', node: 'node-a', ip: ip.intruder, serviceAccount: 'intruder' });
    await createPod(store, { name: 'echo', namespace: 'demo', node: 'node-b', ip: ip.echo, serviceAccount: 'echo', labels: { app: 'echo' } });
    await createPod(store, { name: 'legacy', namespace: 'plain', node: 'node-b', ip: ip.legacy, serviceAccount: 'legacy' });
    await store.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'demo' },
      spec: { selector: { app: 'echo' }, clusterIP: ip.vip, ports: [{ port: 80, targetPort: port }] },
    });

    await startFor('node-a');
    await startFor('node-b');
    await Promise.all([z('node-a').ready(), z('node-b').ready()]);
    // Converged: every pod and the service are known, and the local certificates are issued.
    await eventually(() => z('node-a').mesh.serviceByVip(ip.vip)?.endpoints.length === 1 && z('node-a').mesh.workloadByAddress(ip.legacy) !== undefined, 10_000);
    await eventually(async () => (await certificates('node-a')).filter((c) => c.state === 'available').length === 4, 10_000);
    await eventually(async () => (await certificates('node-b')).filter((c) => c.state === 'available').length === 2, 10_000);
  });

  after(async () => {
    for (const ztunnel of ztunnels.values()) await ztunnel.close();
    for (const echo of echoes) await echo.close();
    await run.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is not ready before the first discovery sync, and says why', async () => {
    const closed = await freePort();
    const stuck = await startFor('node-c', { 'control-plane': `127.0.0.1:${closed}` });
    const readiness = await httpGet({ port: stuck.addresses.readiness.port }, '/healthz/ready');
    assert.equal(readiness.status, 503);
    assert.match(readiness.body, /not ready: waiting for .*discovery sync/);
    assert.equal((await httpGet(stuck.admin, '/healthz/ready')).status, 503);
    await stuck.close();
    ztunnels.delete('node-c');
    assert.equal(existsSync(socketPathOf(stuck.admin)), false, 'the admin socket is removed on close');
  });

  it('is ready after the first sync, serving the local pods over HBONE on their own addresses', async () => {
    for (const node of ['node-a', 'node-b']) {
      const readiness = await httpGet({ port: z(node).addresses.readiness.port }, '/healthz/ready');
      assert.equal(readiness.status, 200, readiness.body);
    }
    const hbone = (node: string): string[] => z(node).addresses.hbone.map((a) => `${a.ip}:${a.port}`).sort();
    assert.deepEqual(hbone('node-a'), [ip.client, ip.local, ip.intruder].map((a) => `${a}:${hbonePort}`).sort());
    assert.deepEqual(hbone('node-b'), [`${ip.echo}:${hbonePort}`], 'legacy is not enrolled: no listener');
    assert.deepEqual(z('node-a').capture.status().enrolled, [ip.client, ip.local, ip.intruder].sort(), 'the capture\'s enrolled set follows discovery');
    assert.deepEqual(z('node-b').capture.status().enrolled, [ip.echo]);
  });

  it('carries enrolled → enrolled across nodes through HBONE with mutual TLS', async () => {
    const socket = await socks('node-a', ip.client, { ip: ip.echo, port });
    assert.equal(await roundTrip(socket, 'hello across nodes'), 'hello across nodes');
    const destination = { reporter: 'destination', source_principal: CLIENT, destination_principal: ECHO, connection_security_policy: 'mutual_tls', response_flags: '-' };
    await eventually(async () => metricValue(await metrics('node-b'), 'istio_tcp_connections_closed_total', destination) >= 1 || undefined);
    const text = await metrics('node-b');
    assert.equal(metricValue(text, 'istio_tcp_connections_opened_total', { ...destination, source_workload: 'client', destination_workload: 'echo' }), 1);
    assert.equal(metricValue(text, 'istio_tcp_received_bytes_total', destination), 'hello across nodes'.length);
    assert.equal(metricValue(text, 'istio_tcp_sent_bytes_total', destination), 'hello across nodes'.length);
    await eventually(async () => metricValue(await metrics('node-a'), 'istio_tcp_connections_closed_total', { ...destination, reporter: 'source' }) === 1 || undefined);
  });

  it('takes the same-node path in process, reported by both sides as mutual TLS', async () => {
    const socket = await socks('node-a', ip.client, { ip: ip.local, port });
    assert.equal(await roundTrip(socket, 'next door'), 'next door');
    const labels = { source_principal: CLIENT, destination_principal: LOCAL, destination_workload: 'local-echo', connection_security_policy: 'mutual_tls' };
    await eventually(async () => metricValue(await metrics('node-a'), 'istio_tcp_connections_closed_total', { ...labels, reporter: 'destination' }) === 1 || undefined);
    const text = await metrics('node-a');
    assert.equal(metricValue(text, 'istio_tcp_connections_closed_total', { ...labels, reporter: 'source' }), 1);
    assert.equal(metricValue(await metrics('node-b'), 'istio_tcp_connections_opened_total', { destination_principal: LOCAL }), 0, 'node-b never saw it');
  });

  it('resolves a service VIP to a healthy endpoint and reports the service', async () => {
    const socket = await socks('node-a', ip.client, { ip: ip.vip, port: 80 });
    assert.equal(await roundTrip(socket, 'via the VIP'), 'via the VIP');
    const labels = { reporter: 'destination', destination_service: 'echo.demo.svc.cluster.local', destination_service_namespace: 'demo', destination_principal: ECHO };
    await eventually(async () => metricValue(await metrics('node-b'), 'istio_tcp_connections_closed_total', labels) >= 1 || undefined);
    assert.equal(metricValue(await metrics('node-a'), 'istio_tcp_connections_closed_total', { ...labels, reporter: 'source' }), 1);
  });

  it('passes traffic to a pod outside the mesh, and to unknown addresses, as plain TCP', async () => {
    assert.equal(await roundTrip(await socks('node-a', ip.client, { ip: ip.legacy, port }), 'to legacy'), 'to legacy');
    assert.equal(await roundTrip(await socks('node-a', ip.client, { ip: ip.unknown, port }), 'to nowhere known'), 'to nowhere known');
    await eventually(async () => {
      const text = await metrics('node-a');
      return metricValue(text, 'istio_tcp_connections_closed_total', { reporter: 'source', destination_workload: 'legacy', connection_security_policy: 'none' }) === 1
        && metricValue(text, 'istio_tcp_connections_closed_total', { reporter: 'source', destination_workload: 'unknown', connection_security_policy: 'none' }) === 1
        || undefined;
    });
    assert.equal(metricValue(await metrics('node-b'), 'istio_tcp_connections_opened_total', { destination_workload: 'legacy' }), 0);
  });

  it('refuses SOCKS5 from an address that is not an enrolled pod of its node (it has no identity)', async () => {
    await assert.rejects(socks('node-a', '127.0.0.1', { ip: ip.echo, port }), (error: unknown) => error instanceof SocksRefused && error.reply === 2);
    await assert.rejects(socks('node-a', ip.legacy, { ip: ip.echo, port }), (error: unknown) => error instanceof SocksRefused && error.reply === 2);
    assert.equal(metricValue(await metrics('node-a'), 'ambit_ztunnel_refusals_total', { direction: 'outbound', reason: 'unknown-source' }), 2);
  });

  it('serves SOCKS5 at every pod of its node (loopback mode): the pod is the address connected to', async () => {
    const at = (podIp: string): SocketAddress => socketAddress(podIp, podSocksPort);
    const listening = (node: string): string[] => z(node).addresses.socks5Pods.map(formatAuthority).sort();
    assert.deepEqual(listening('node-a'), [ip.client, ip.local, ip.intruder].map((a) => `${a}:${podSocksPort}`).sort());
    assert.deepEqual(listening('node-b'), [ip.echo, ip.legacy].map((a) => `${a}:${podSocksPort}`).sort(), 'pods outside the mesh too');
    const mtls = { reporter: 'destination', source_principal: CLIENT, destination_principal: ECHO, destination_service: 'echo.demo.svc.cluster.local' };
    const before = metricValue(await metrics('node-b'), 'istio_tcp_connections_closed_total', mtls);
    // From 127.0.0.1, as curl with ALL_PROXY=socks5h://<pod IP>:<port> would; a short name resolves in the pod's namespace.
    assert.equal(await roundTrip(await socks5Connect(at(ip.client), { name: 'echo', port: 80 }), 'by name'), 'by name');
    await eventually(async () => metricValue(await metrics('node-b'), 'istio_tcp_connections_closed_total', mtls) === before + 1 || undefined);
  });

  it('connects a pod outside the mesh directly, as itself, with service VIPs resolved (kube-proxy\'s job)', async () => {
    const peers = echoes[0]!.peers.length;
    const socket = await socks5Connect(socketAddress(ip.legacy, podSocksPort), { name: 'echo.demo.svc.cluster.local', port: 80 });
    assert.equal(await roundTrip(socket, 'plain'), 'plain');
    assert.equal(echoes[0]!.peers.slice(peers).at(-1), ip.legacy, 'the echo saw the pod\'s own address');
    await eventually(async () => metricValue(await metrics('node-b'), 'istio_tcp_connections_closed_total', {
      reporter: 'source', source_workload: 'legacy', destination_workload: 'echo', connection_security_policy: 'none',
    }) === 1 || undefined);
  });

  it('refuses a name no service has, with "host unreachable", a metric and a log line', async () => {
    await assert.rejects(socks5Connect(socketAddress(ip.client, podSocksPort), { name: 'nothing.demo.svc.cluster.local', port: 80 }),
      (error: unknown) => error instanceof SocksRefused && error.reply === 4);
    assert.equal(metricValue(await metrics('node-a'), 'ambit_ztunnel_refusals_total', { direction: 'outbound', reason: 'unknown-name' }), 1);
  });

  it('enforces an L4 DENY by source namespace at the destination', async () => {
    await store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-other', namespace: 'demo' },
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['other'] } }] }] },
    });
    await eventually(() => z('node-b').mesh.authorizations().some((a) => a.key === 'demo/deny-other') || undefined, 10_000);
    await assert.rejects(socks('node-a', ip.intruder, { ip: ip.echo, port }), (error: unknown) => error instanceof SocksRefused && error.reply === 2);
    await eventually(async () => {
      const text = await metrics('node-b');
      return metricValue(text, 'istio_tcp_connections_closed_total', { reporter: 'destination', source_principal: INTRUDER, response_flags: 'DENY' }) === 1
        && metricValue(text, 'ambit_ztunnel_refusals_total', { direction: 'inbound', reason: 'denied-by-policy' }) === 1
        || undefined;
    });
    assert.equal(metricValue(await metrics('node-a'), 'istio_tcp_connections_closed_total', { reporter: 'source', source_principal: INTRUDER, response_flags: 'DENY' }), 1);
    // Other namespaces' policies do not touch demo's own clients.
    assert.equal(await roundTrip(await socks('node-a', ip.client, { ip: ip.echo, port }), 'still allowed'), 'still allowed');
  });

  it('holds certificates only for the workloads of its own node', async () => {
    const identities = async (node: string): Promise<string[]> => (await certificates(node)).map((c) => c.identity).sort();
    assert.deepEqual(await identities('node-a'), [CLIENT, LOCAL, INTRUDER, NODE].sort());
    assert.deepEqual(await identities('node-b'), [ECHO, NODE].sort());
    const rows = await certificates('node-a');
    assert.ok(rows.every((c) => c.state === 'available' && typeof c.serial === 'string' && typeof c.notAfter === 'string'));
    assert.equal(rows.filter((c) => c.kind === 'node').length, 1);
    const dump = await adminJson<{ node: string; localWorkloads: string[] }>(z('node-b').admin, '/config_dump');
    assert.equal(dump.node, 'node-b');
    assert.deepEqual(dump.localWorkloads, ['demo/echo']);
  });

  it('forgets a deleted pod\'s certificate and closes its HBONE listener', async () => {
    await store.delete('Pod', 'local-echo', 'demo');
    await eventually(async () => !(await certificates('node-a')).some((c) => c.identity === LOCAL) || undefined, 10_000);
    await eventually(() => !z('node-a').addresses.hbone.some((a) => a.ip === ip.local) || undefined);
    assert.deepEqual(z('node-a').capture.status().enrolled, [ip.client, ip.intruder].sort());
  });

  it('drains HBONE inbound: new tunnels are refused, an open one finishes', async () => {
    const open = await socks('node-a', ip.client, { ip: ip.echo, port });
    open.resume();
    const echoed = new Promise<string>((resolve) => open.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    open.write('before');
    assert.equal(await echoed, 'before');
    const drained = z('node-b').drain(10_000);
    await eventually(() => z('node-b').addresses.hbone.length === 0 || undefined);
    await assert.rejects(socks('node-a', ip.client, { ip: ip.echo, port }), (error: unknown) => error instanceof SocksRefused && error.reply === 5);
    assert.equal(await roundTrip(open, 'during the drain'), 'during the drain');
    const result = await drained;
    assert.equal(result.graceful, true);
    assert.equal(metricValue(await metrics('node-a'), 'istio_tcp_connections_closed_total', { reporter: 'source', destination_principal: ECHO, response_flags: 'CONNECT' }), 1);
  });

  it('drains: stops accepting at once, lets an open connection finish, then closes', async () => {
    const open = await socks('node-a', ip.client, { ip: ip.legacy, port });
    open.resume();
    const echoed = new Promise<string>((resolve) => open.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    open.write('before');
    assert.equal(await echoed, 'before');
    const ztunnel = z('node-a');
    const drained = ztunnel.drain(10_000);
    await eventually(async () => (await httpGet({ port: ztunnel.addresses.readiness.port }, '/healthz/ready')).status === 503 || undefined);
    await assert.rejects(socks('node-a', ip.client, { ip: ip.legacy, port }), /ECONNREFUSED/);
    assert.equal(await roundTrip(open, 'during the drain'), 'during the drain');
    const result = await drained;
    assert.equal(result.graceful, true);
    assert.equal(existsSync(socketPathOf(ztunnel.admin)), false);
  });
});
