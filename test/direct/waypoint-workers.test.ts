// The ambit-waypoint process with workers: a primary and two data-path
// processes sharing the HBONE listener. Connections are handed out to both
// workers; metrics, readiness and the admin API answer for all of them; an
// endpoint one worker ejects as an outlier is ejected by both, and by a
// replacement; a worker that dies is replaced, later each time it keeps
// dying; a worker that cannot start fails the start;
// SIGTERM drains every process and exits 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpiffeId } from '@ambit/core';
import { socketAddress } from '@ambit/api';
import { writeBootstrapToken, type Gateway } from '@ambit/control-plane';
import { HbonePool } from '@ambit/hbone';
import { CertificateManager } from '@ambit/identity';
import { StreamAgent } from '@ambit/waypoint';
import { isAlive } from '@ambit/localcluster';
import { createNamespace, createPod, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/net.js';
import { testKeys } from '../support/pki.js';
import { freePort, httpGet, metricValue } from '../support/ztunnel.js';

const BIN = fileURLToPath(new URL('../../../packages/waypoint/dist/bin/waypoint.js', import.meta.url));
const WAYPOINT = 'spiffe://cluster.local/ns/demo/sa/waypoint';
const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
/** A service bound to the waypoint whose one pod nothing serves (no ztunnel on its node's HBONE port). */
const GONE = { vip: '127.0.9.50', pod: '127.0.2.50', port: 8080 };

interface Dump {
  workers: {
    worker: number; pid: number; restarts: number; outliers: string[]; hbone: { server: { sessions: number } };
    discovery: { counts: { services: number } };
  }[];
  listeners: { hbone: string };
  routes: unknown[];
}

describe('ambit-waypoint with workers', () => {
  let run: RunningControlPlane;
  let dir: string;
  let roots: string;
  let token: string;

  before(async () => {
    run = await runControlPlane({ settings: { 'waypoint-image': 'off' } });
    dir = await mkdtemp(join(tmpdir(), 'ambit-wpworkers-'));
    roots = join(dir, 'roots.pem');
    await writeFile(roots, run.cp.ca.roots.join(''));
    await createNamespace(run.cp.store, 'demo', { 'ambit.dev/dataplane-mode': 'ambient' });
    await run.cp.store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'demo' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    // An address, as the controller gives a waypoint it runs: only then are services bound to it.
    await run.cp.store.updateStatus<Gateway>('Gateway', 'waypoint', 'demo', { addresses: [{ type: 'IPAddress', value: '127.0.0.1' }] });
    await createPod(run.cp.store, { name: 'client', namespace: 'demo', node: 'node-a', ip: '127.0.1.1', serviceAccount: 'client' });
    await createPod(run.cp.store, { name: 'gone', namespace: 'demo', node: 'node-b', ip: GONE.pod, serviceAccount: 'gone', labels: { app: 'gone' } });
    await run.cp.store.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'gone', namespace: 'demo', labels: { 'ambit.dev/use-waypoint': 'waypoint' } },
      spec: { selector: { app: 'gone' }, clusterIP: GONE.vip, ports: [{ name: 'http', port: 80, targetPort: GONE.port }] },
    });
    token = (await writeBootstrapToken(run.stateDir, { identity: SpiffeId.parse(WAYPOINT) })).file;
  });
  after(async () => {
    await run.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(hbonePort: number, admin: string): Promise<{ child: ChildProcessWithoutNullStreams; output: () => string }> {
    const closedPort = await freePort();
    const child = spawn(process.execPath, [
      BIN, '--gateway', 'demo/waypoint', '--control-plane', `127.0.0.1:${run.cp.address.port}`, '--ca-root-file', roots,
      '--bootstrap-token-file', token, '--hbone', `127.0.0.1:${hbonePort}`, '--metrics', '127.0.0.1:0', '--readiness', '127.0.0.1:0',
      '--admin-socket', admin, '--workers', '2', '--upstream-hbone-port', String(closedPort),
    ], { env: { ...process.env, AMBIT_WAYPOINT_LOG_LEVEL: 'info', AMBIT_WAYPOINT_DRAIN_DEADLINE: '2s' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    return { child, output: () => output };
  }

  it('serves HBONE from two workers under one primary, replaces a worker that dies, and drains all on SIGTERM', async () => {
    const hbonePort = await freePort();
    const admin = join(dir, 'wp.sock');
    const { child, output } = await start(hbonePort, admin);
    const pids: number[] = [];
    try {
      const line = await eventually(() => output().split('\n').find((l) => l.includes('"waypoint started"')), 30_000);
      const { readiness, metrics } = JSON.parse(line) as { readiness: string; metrics: string };
      const readinessPort = Number(readiness.split(':').pop());
      const metricsPort = Number(metrics.split(':').pop());
      await eventually(async () => (await httpGet({ port: readinessPort }, '/healthz/ready')).status === 200 || undefined, 30_000);

      const dumpOf = async (): Promise<Dump> => JSON.parse((await httpGet({ socketPath: admin }, '/config_dump')).body) as Dump;
      const first = await dumpOf();
      assert.equal(first.workers.length, 2);
      pids.push(...first.workers.map((w) => w.pid));
      assert.equal(new Set([...pids, child.pid]).size, 3, 'the primary and two workers are three processes');
      assert.deepEqual(await Promise.all(pids.map(isAlive)), [true, true]);
      assert.equal(first.listeners.hbone, `127.0.0.1:${hbonePort}`);
      assert.deepEqual(first.routes, []);

      // Two HBONE connections (two pool lanes): the primary hands one to each worker.
      // Each refuses a tunnel to an address it does not know; both refusals reach /metrics.
      const { ca } = await run.ztunnel('node-a');
      const manager = new CertificateManager({ source: ca.source(), generateKeys: testKeys });
      const source = await manager.fetch(SpiffeId.parse(CLIENT));
      manager.close();
      const pool = new HbonePool({ connectTimeoutMs: 3_000 });
      const tunnel = (target: string, port: number, lane: number): ReturnType<HbonePool['connect']> => pool.connect({
        source, destination: { address: socketAddress('127.0.0.1', hbonePort), identity: SpiffeId.parse(WAYPOINT) }, target: socketAddress(target, port), lane,
      });
      try {
        for (const lane of [0, 1]) await assert.rejects(tunnel('127.0.7.7', 80, lane), /503/);
        const sessions = (await dumpOf()).workers.map((w) => w.hbone.server.sessions);
        assert.deepEqual(sessions, [1, 1], 'each worker serves one of the two connections');
        for (const where of [{ port: metricsPort }, { socketPath: admin }]) {
          const text = (await httpGet(where, '/metrics')).body;
          assert.equal(metricValue(text, 'ambit_waypoint_refusals_total'), 2, 'the workers\' counters, summed');
          assert.equal(metricValue(text, 'ambit_waypoint_workers'), 2);
          assert.equal(metricValue(text, 'ambit_waypoint_discovery_connected'), 1);
        }

        // The admin API's /logging reaches the workers too.
        assert.equal((await httpGet({ socketPath: admin }, '/logging?level=debug', 'POST')).status, 200);
        assert.match((await httpGet({ socketPath: admin }, '/logging')).body, /"debug"/);

        // Five requests in a row fail on one worker's connection (the pod's node takes no HBONE): it ejects the
        // endpoint, and the other worker, which saw none of them, leaves it out too.
        await eventually(async () => (await dumpOf()).workers.every((w) => w.discovery.counts.services >= 1) || undefined, 10_000);
        const agent = new StreamAgent(() => tunnel(GONE.vip, 80, 0), { keepAlive: true, maxSockets: 1 });
        try {
          for (let i = 0; i < 5; i++) assert.equal((await httpGet({ agent, host: 'gone.demo.svc.cluster.local' }, '/')).status, 503, `request ${i + 1}`);
        } finally {
          agent.destroy();
        }
        const endpoint = `${GONE.pod}:${GONE.port}`;
        await eventually(async () => (await dumpOf()).workers.every((w) => w.outliers.includes(endpoint)) || undefined, 10_000);
        const ejected = output().split('\n').filter((l) => l.includes('"endpoint ejected as an outlier after consecutive failures"'));
        assert.equal(ejected.length, 1, output());
        assert.match(ejected[0]!, new RegExp(`"endpoint":"${endpoint}".*"workload":"demo/gone"`));
        await eventually(() => output().includes('"endpoint ejected by another worker"') || undefined, 10_000);
        const text = (await httpGet({ socketPath: admin }, '/metrics')).body;
        assert.match(text, /ambit_waypoint_outlier_ejections_total\{destination_workload="gone",destination_workload_namespace="demo"\} 1\n/,
          'counted once, by the worker that ejected');
      } finally {
        pool.close();
      }

      // A worker killed is replaced: not ready meanwhile, then ready with a new process.
      process.kill(pids[0]!, 'SIGKILL');
      await eventually(async () => (await httpGet({ port: readinessPort }, '/healthz/ready')).status === 503 || undefined, 10_000);
      await eventually(async () => (await httpGet({ port: readinessPort }, '/healthz/ready')).status === 200 || undefined, 30_000);
      const replaced = await dumpOf();
      assert.equal(replaced.workers.length, 2);
      const newPid = replaced.workers.find((w) => w.worker === 1)?.pid;
      assert.ok(newPid !== undefined && newPid !== pids[0] && await isAlive(newPid), `worker 1 runs again in a new process: ${output()}`);
      pids.push(newPid);
      assert.ok(replaced.workers.every((w) => w.outliers.includes(`${GONE.pod}:${GONE.port}`)), 'the replacement starts with the ejection still on');
      assert.equal(metricValue((await httpGet({ socketPath: admin }, '/metrics')).body, 'ambit_waypoint_worker_restarts_total'), 1);
      assert.match(output(), /"waypoint worker died \(signal SIGKILL\); replacing it in 1000 ms"/);
      // Killed again before it had served for a minute: a crash loop, so the pause doubles.
      process.kill(newPid, 'SIGKILL');
      await eventually(() => /"waypoint worker died \(signal SIGKILL\); replacing it in 2000 ms"/.test(output()) || undefined, 10_000);
      await eventually(async () => (await httpGet({ port: readinessPort }, '/healthz/ready')).status === 200 || undefined, 30_000);
      const again = await dumpOf();
      const third = again.workers.find((w) => w.worker === 1);
      assert.ok(third !== undefined && third.pid !== newPid && await isAlive(third.pid), `worker 1 runs again: ${output()}`);
      pids.push(third.pid);
      assert.deepEqual(again.workers.map((w) => w.restarts), [2, 0], 'the dump counts each slot\'s replacements');
      assert.equal(metricValue((await httpGet({ socketPath: admin }, '/metrics')).body, 'ambit_waypoint_worker_restarts_total'), 2);
      // The replacement logs at the level set at run time (debug): a discovery update shows it.
      const seen = output().length;
      await createPod(run.cp.store, { name: 'later', namespace: 'demo', node: 'node-a', ip: '127.0.1.2', serviceAccount: 'client' });
      await eventually(() => output().slice(seen).split('\n').some((l) => l.includes('"worker":1') && l.includes('"msg":"applied"')) || undefined, 10_000);

      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output());
      assert.match(output(), /"stopped"/);
      await eventually(async () => (await Promise.all(pids.map(isAlive))).every((live) => !live) || undefined, 10_000);
      assert.equal(existsSync(admin), false, 'the admin socket is removed');
    } finally {
      child.kill('SIGKILL');
      for (const pid of pids) if (await isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('fails to start, exit 1, when a worker cannot serve HBONE, and removes its admin socket', async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const { child, output } = await start(port, join(dir, 'busy.sock'));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 1, output());
      assert.match(output(), /cannot listen for HBONE on 127\.0\.0\.1:\d+: EADDRINUSE/);
      assert.match(output(), /waypoint worker \d exited \(exit code 1\) before it served HBONE/);
      assert.equal(existsSync(join(dir, 'busy.sock')), false);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
