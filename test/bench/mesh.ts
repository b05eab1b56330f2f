// The mesh benchmark (issue 4): ztunnel in a local cluster, side by side
// with no mesh and with a stunnel4 pair placed like the two ztunnels, client
// pod on node-1 and server pod on node-2. iperf3 throughput, 1 KiB HTTP at a
// fixed open-loop rate (latency percentiles, proxy CPU per request), wrk's
// maximum requests/s, and proxy memory idle and with 1000 connections held.
// The section goes to docs/performance.md, the samples to
// test/bench/results/mesh.json. Needs root (network namespaces, nftables).
//
//   pnpm build && pnpm bench:mesh          # = node test/dist/bench/mesh.js (about 7 minutes)
//   node test/dist/bench/mesh.js --quick   # smoke run: 3 s, 1 repetition, prints only (under 2 minutes)
//
// Options: see parseOptions and test/bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster, LocalMesh } from '@ambit/localcluster';
import { LOAD_OPTIONS, loadTiming, positiveInt, shouldWrite } from './args.js';
import { writeCertificates } from './fixtures.js';
import { iperf3, wrk } from './load.js';
import { describeMachine } from './machine.js';
import { buildMeshCluster, routeUrl, type MeshCluster, type Route } from './mesh-cluster.js';
import { holdConnections, measureIperf3, measureOpenLoop, measureWrk, memoryDump, proxyMemory } from './mesh-measure.js';
import {
  addPairedDifferences, markdownSection, MESH_LABELS, OTHERS_NOTICE_CORES, TEST, verdicts, type HoldResult, type MemoryDump, type MeshOptions, type MeshReport,
} from './mesh-report.js';
import { CpuAccount, machineBusySeconds, procStatus, ProcessSet, resetPeak, run, setClockTicks } from './processes.js';
import { publish, summarize, writeSection, type Sample } from './report.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_PACKAGE_DIR = join(ROOT, 'test');
const DOC_FILE = join(ROOT, 'docs', 'performance.md');
const RESULTS_FILE = join(ROOT, 'test', 'bench', 'results', 'mesh.json');
const SETTLE_MS = 500;
const IDLE_SETTLE_MS = 2_000;

interface Options extends MeshOptions {
  write: boolean;
  reportOnly: boolean;
  heapSnapshotDir: string | undefined;
  timeoutSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...LOAD_OPTIONS,
      rate: { type: 'string' },
      'rate-connections': { type: 'string' },
      connections: { type: 'string' },
      hold: { type: 'string' },
      'same-node': { type: 'boolean' },
      'no-same-node': { type: 'boolean' },
      'log-level': { type: 'string', default: 'info' },
      'heap-snapshot': { type: 'string' },
      'mesh-node-flags': { type: 'string' },
      timeout: { type: 'string' },
      'report-only': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick;
  return {
    ...loadTiming(values, quick),
    rate: positiveInt('rate', values.rate, 1000),
    rateConnections: positiveInt('rate-connections', values['rate-connections'], 16),
    wrkConnections: positiveInt('connections', values.connections, 64),
    holdConnections: positiveInt('hold', values.hold, 1000),
    sameNode: values['no-same-node'] === true ? false : values['same-node'] ?? true,
    logLevel: values['log-level'],
    heapSnapshotDir: values['heap-snapshot'] === undefined ? undefined : resolve(values['heap-snapshot']),
    ...(values['mesh-node-flags'] === undefined ? {} : { meshNodeFlags: values['mesh-node-flags'] }),
    ...(values['pin-load'] === undefined ? {} : { pinLoad: values['pin-load'] }),
    ...(values['pin-proxies'] === undefined ? {} : { pinProxies: values['pin-proxies'] }),
    timeoutSeconds: positiveInt('timeout', values.timeout, 1200),
    // A smoke run must not replace the recorded numbers unless asked to; nor a run whose
    // heap snapshots (each one allocates in the ztunnel) inflate its memory figures.
    write: shouldWrite(values, quick || values['heap-snapshot'] !== undefined),
    reportOnly: values['report-only'],
  };
}

/** What has to be undone, filled in as it is built. */
interface Built {
  /** This process's cgroup: everything started from here on is counted as the benchmark's CPU. */
  account: CpuAccount | undefined;
  cluster?: LocalCluster;
  mesh?: LocalMesh;
  tornDown: boolean;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.reportOnly) {
    // The section again from the recorded samples (after a change to how it is written, not to the numbers).
    const { summary: _old, ...report } = JSON.parse(await readFile(RESULTS_FILE, 'utf8')) as MeshReport & { summary: unknown };
    await writeSection(DOC_FILE, markdownSection(report, summarize(report.samples)));
    log(`rewrote the section of ${DOC_FILE} from ${RESULTS_FILE}`);
    return 0;
  }
  if (process.getuid?.() !== 0) throw new Error('the mesh benchmark needs root (network namespaces, veth pairs, nftables)');
  const started = Date.now();
  if (options.heapSnapshotDir !== undefined) await mkdir(options.heapSnapshotDir, { recursive: true });
  const set = new ProcessSet();
  const dir = await mkdtemp(join(os.tmpdir(), 'ambit-mesh-'));
  const built: Built = { account: CpuAccount.create(`ambit-bench-mesh-${process.pid}`), tornDown: false };
  // Last resort when the process exits without cleaning up (a second signal, an unhandled error).
  const onExit = (): void => {
    set.killAllNow();
    if (built.cluster !== undefined && !built.tornDown) teardownNow(built.cluster.id, built.cluster.stateDir);
    rmSync(dir, { recursive: true, force: true });
    built.account?.close();
  };
  process.once('exit', onExit);
  let interrupt: (reason: Error) => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => { interrupt = reject; });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(130);
    log(`${signal}: cleaning up (send it again to exit at once)`);
    interrupt(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = setTimeout(() => interrupt(new Error(`the run took longer than --timeout ${options.timeoutSeconds} s`)), options.timeoutSeconds * 1000);
  let code = 0;
  try {
    await Promise.race([benchmark(options, set, dir, built, started), interrupted]);
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    code = 1;
  } finally {
    clearTimeout(timer);
    code = Math.max(code, await cleanUp(set, built, dir));
    process.off('exit', onExit);
  }
  log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  return code;
}

async function benchmark(options: Options, set: ProcessSet, dir: string, built: Built, started: number): Promise<void> {
  const tck = await run(set, { name: 'getconf', command: 'getconf', args: ['CLK_TCK'] }, 5_000);
  setClockTicks(Number(tck.stdout.trim()));
  const machine = await describeMachine(set);
  log(`${machine.cores} cores (${machine.cpuModel}); ${Object.entries(machine.tools).map(([k, v]) => `${k} ${v}`).join(', ')}; node ${machine.node}`);
  const environment = await describeEnvironment(set, built.account);
  log(`before the run: ${environment.backgroundBusyCores.toFixed(2)} cores busy, ${environment.otherClusterNamespaces.length} namespaces of other local clusters`
    + `${environment.backgroundBusyCores > 0.2 || environment.otherClusterNamespaces.length > 0 ? ' (figures may be noisy)' : ''}`);
  log(`${options.repeat} repetition(s) of ${options.durationSeconds} s per test; temp dir ${dir}`);

  const pem = await writeCertificates(dir);
  const topology = await buildMeshCluster(set, dir, pem, {
    logLevel: options.logLevel, heapSnapshotDir: options.heapSnapshotDir, meshNodeFlags: options.meshNodeFlags, pinLoad: options.pinLoad, pinProxies: options.pinProxies,
    sameNode: options.sameNode, log,
  }, (parts) => { built.cluster = parts.cluster; if (parts.mesh !== undefined) built.mesh = parts.mesh; });
  const proxies = topology.routes.flatMap((r) => r.proxies);
  const checkAlive = (): void => {
    set.checkAlive(topology.servers);
    for (const proxy of proxies) {
      if (!existsSync(`/proc/${proxy.pid}`)) throw new Error(`${proxy.name} (pid ${proxy.pid}) is no longer running`);
    }
  };

  await sleep(IDLE_SETTLE_MS);
  const idle = proxies.map(proxyMemory);
  log(`idle: ${idle.map((m) => `${m.name} VmRSS ${m.rssMiB.toFixed(1)} MiB (VmHWM ${m.hwmMiB.toFixed(1)})`).join(', ')}`);
  const idleDumps: MemoryDump[] = [];
  for (const z of topology.ztunnels) {
    const dump = await memoryDump(z);
    if (dump !== undefined) idleDumps.push(dump);
  }

  const holds: HoldResult[] = [];
  for (const route of topology.routes.filter((r) => r.proxies.length > 0)) {
    checkAlive();
    const hold = await holdConnections(set, route, options.holdConnections, {
      pinLoad: options.pinLoad, ...(route.path === 'hbone' ? { countConnections: () => trackedByZtunnels(topology) } : {}),
    });
    holds.push(hold);
    log(`${options.holdConnections} held through ${MESH_LABELS[route.path]} (open in ${(hold.openMs / 1000).toFixed(1)} s): `
      + `${hold.proxies.map((p) => `${p.name} ${p.beforeMiB.toFixed(1)} → ${p.heldMiB.toFixed(1)} MiB, after close ${p.afterCloseMiB.toFixed(1)}`).join('; ')}`);
  }
  // From here VmHWM measures the load tests.
  for (const proxy of proxies) resetPeak(proxy.pid);

  if (options.warmupSeconds > 0) {
    log(`warm-up: ${options.warmupSeconds} s of iperf3 and wrk per path`);
    for (const route of topology.routes) {
      await iperf3(set, route.iperfPort, options.warmupSeconds, options.pinLoad, { host: route.host, netns: route.clientNetns });
      await wrk(set, routeUrl(route), options.wrkConnections, options.warmupSeconds, options.pinLoad, { netns: route.clientNetns });
    }
  }

  const samples: Sample[] = [];
  const load = { seconds: options.durationSeconds, pinLoad: options.pinLoad, account: built.account };
  const tests: [string, Route[], (route: Route) => Promise<Record<string, number>>][] = [
    [TEST.iperf3, topology.routes, (route) => measureIperf3(set, route, load)],
    [TEST.iperf3SameNode, topology.sameNodeRoutes, (route) => measureIperf3(set, route, load)],
    [TEST.openLoop, topology.routes, (route) => measureOpenLoop(set, route, { ...load, rate: options.rate, connections: options.rateConnections })],
    [TEST.wrk, topology.routes, (route) => measureWrk(set, route, { ...load, connections: options.wrkConnections })],
  ];
  for (let repetition = 1; repetition <= options.repeat; repetition++) {
    for (const [test, routes, measure] of tests) {
      // Rotate the order so no path always runs first (or right after another's load).
      const order = routes.map((_, i) => routes[(i + repetition - 1) % routes.length]!);
      for (const route of order) {
        checkAlive();
        await sleep(SETTLE_MS);
        const metrics = await measure(route);
        samples.push({ test, path: route.path, repetition, metrics });
        log(`#${repetition} ${test.padEnd(16)} ${MESH_LABELS[route.path].padEnd(15)} ${describe(metrics)}`);
      }
    }
  }
  checkAlive();
  const endPeakMiB = Object.fromEntries(proxies.map((p) => [p.name, procStatus(p.pid).hwmKiB / 1024]));

  addPairedDifferences(samples);
  const report: MeshReport = {
    date: new Date().toISOString(),
    command: `node test/dist/bench/mesh.js ${process.argv.slice(2).join(' ')}`.trim(),
    wallSeconds: (Date.now() - started) / 1000,
    machine,
    options: stripRunOnly(options),
    environment,
    samples,
    idle,
    idleDumps,
    holds,
    endPeakMiB,
  };
  const summary = summarize(samples);
  const section = markdownSection(report, summary);
  log(await publish(section, { ...report, summary }, { write: options.write, docFile: DOC_FILE, resultsFile: RESULTS_FILE }));
  for (const v of verdicts(report, summary)) log(`target ${v.label}: ${v.met === undefined ? 'not measured' : v.met ? 'met' : 'MISSED'} (${v.detail})`);
}

/** Stops everything this run started and removes the cluster; 1 if anything was left behind. */
async function cleanUp(set: ProcessSet, built: Built, dir: string): Promise<number> {
  let code = 0;
  await set.stopAll();
  if (built.mesh !== undefined) await built.mesh.stop().catch((error: unknown) => log(`stopping the mesh: ${String(error)}`));
  if (built.cluster !== undefined) {
    const id = built.cluster.id;
    try {
      const report = await built.cluster.teardown();
      built.tornDown = true;
      if (report.leftovers.length > 0) {
        log(`teardown left: ${report.leftovers.join('; ')}`);
        code = 1;
      }
    } catch (error) {
      log(`teardown failed: ${String(error)}`);
      code = 1;
    }
    const left = (await netnsList(set)).filter((name) => name.startsWith(`ambit-${id}-`));
    if (left.length > 0) {
      log(`namespaces still present: ${left.join(', ')}`);
      code = 1;
    } else {
      log(`cluster ${id} torn down; no namespace left`);
    }
  }
  await rm(dir, { recursive: true, force: true });
  if (built.account !== undefined && !built.account.close()) log('could not remove the benchmark\'s cpuacct cgroup (a process of it still runs?)');
  return code;
}

/** Synchronous teardown in a child process, for the 'exit' handler (which cannot wait for promises). */
function teardownNow(id: string, stateDir: string): void {
  const script = `import { teardownCluster } from '@ambit/localcluster'; await teardownCluster({ id: ${JSON.stringify(id)}, stateDir: ${JSON.stringify(stateDir)} });`;
  spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: TEST_PACKAGE_DIR, stdio: 'inherit', timeout: 60_000 });
}

async function describeEnvironment(set: ProcessSet, account: CpuAccount | undefined): Promise<MeshReport['environment']> {
  const machine = (): number => account?.machineSeconds() ?? machineBusySeconds();
  const before = machine();
  await sleep(2_000);
  const backgroundBusyCores = (machine() - before) / 2;
  const otherClusterNamespaces = (await netnsList(set)).filter((name) => name.startsWith('ambit-'));
  return { backgroundBusyCores, otherClusterNamespaces };
}

async function netnsList(set: ProcessSet): Promise<string[]> {
  const result = await run(set, { name: 'ip-netns-list', command: 'ip', args: ['netns', 'list'] }, 10_000);
  return result.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((name) => name !== '');
}

/** Connections each ztunnel tracks right now (admin /connections). */
async function trackedByZtunnels(topology: MeshCluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const z of topology.ztunnels) counts[z.node] = (await topology.mesh.adminJson<unknown[]>(z.node, '/connections')).length;
  return counts;
}

function stripRunOnly(options: Options): MeshOptions {
  const { write: _write, timeoutSeconds: _timeout, heapSnapshotDir: _snapshots, reportOnly: _reportOnly, ...rest } = options;
  return rest;
}

function describe(metrics: Record<string, number>): string {
  const parts: string[] = [];
  const ms = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(3));
  if (metrics.gbps !== undefined) parts.push(`${metrics.gbps.toFixed(2)} Gbit/s`);
  if (metrics.achievedRate !== undefined) {
    parts.push(`${metrics.achievedRate.toFixed(0)} req/s p50 ${ms(metrics.p50Ms)} p99 ${ms(metrics.p99Ms)} max ${ms(metrics.maxMs)} ms, lag max ${ms(metrics.lagMaxMs)} ms`);
  } else if (metrics.rps !== undefined) {
    parts.push(`${metrics.rps.toFixed(0)} req/s p50 ${ms(metrics.p50Ms)} p99 ${ms(metrics.p99Ms)} ms`);
  }
  if (metrics.errors !== undefined && metrics.errors > 0) parts.push(`${metrics.errors} errors`);
  if (metrics.proxyCores !== undefined) parts.push(`proxies ${metrics.proxyCores.toFixed(2)} cores`);
  if (metrics.cpuSecondsPer1kRequests !== undefined) parts.push(`${metrics.cpuSecondsPer1kRequests.toFixed(3)} CPU s / 1000 req`);
  if (metrics.machineBusyCores !== undefined) parts.push(`machine ${metrics.machineBusyCores.toFixed(2)} cores`);
  if (metrics.otherProcessesCores !== undefined) {
    parts.push(`${metrics.otherProcessesCores > OTHERS_NOTICE_CORES ? 'OTHER PROCESSES' : 'others'} ${metrics.otherProcessesCores.toFixed(2)} cores`);
  }
  return parts.join(', ');
}

function log(message: string): void {
  process.stderr.write(`[bench:mesh] ${message}\n`);
}

main().then((code) => process.exit(code), (error: unknown) => {
  log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exit(1);
});
