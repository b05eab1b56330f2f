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
// Options: --help (OPTIONS below) and test/bench/README.md.
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLUSTER_OPTIONS, clusterValues, parseBenchArgs, positiveInt, shouldWrite, usage, wantsHelp } from './args.js';
import {
  aliveCheck, clusterMain, describeMetrics, describeRun, exitWith, IDLE_SETTLE_MS, interleaved, progressLog, publication, publishRun, runFields,
  type ClusterRun, type Test,
} from './cluster-run.js';
import { writeCertificates } from './fixtures.js';
import { iperf3, wrk } from './load.js';
import { buildMeshCluster, CLIENT_NODE, routeUrl, type MeshCluster, type Route } from './mesh-cluster.js';
import { holdConnections, measureIperf3, measureOpenLoop, measureWrk, memoryDump, proxyMemory } from './mesh-measure.js';
import {
  addPairedDifferences, markdownSection, MESH_LABELS, TEST, verdicts, type HoldResult, type MemoryDump, type MeshOptions, type MeshReport,
} from './mesh-report.js';
import { procStatus, resetPeak, type ProcessSet } from './processes.js';
import { openLoopTestOf, ratesOf } from './rates-report.js';
import type { PoolStats } from '@ambit/hbone';
import type { PathName } from './report.js';

const PUBLICATION = publication<MeshReport, PathName>('mesh', markdownSection, verdicts);
const log = progressLog('mesh');

interface Options extends MeshOptions {
  write: boolean;
  reportOnly: boolean;
  heapSnapshotDir: string | undefined;
  timeoutSeconds: number;
}

const OPTIONS = {
  ...CLUSTER_OPTIONS,
  hold: { type: 'string', value: 'N', help: 'connections held open for the memory measurement (default 1000)' },
  'same-node': { type: 'boolean', help: 'also iperf3 with client and server on one node (the default)' },
  'no-same-node': { type: 'boolean', help: 'skip the same-node iperf3' },
  'heap-snapshot': { type: 'string', value: 'DIR', help: 'the ztunnels also write V8 heap snapshots into DIR (prints only unless --write)' },
  'mesh-node-flags': { type: 'string', value: 'FLAGS', help: 'extra Node flags for the control plane and ztunnels through NODE_OPTIONS' },
  'connect-connections': { type: 'string', value: 'N', help: 'the new-connections test\'s concurrency (default 16)' },
  'no-connect': { type: 'boolean', help: 'skip the new-connections test' },
} as const;
const BENCH = { command: 'pnpm bench:mesh', script: 'test/dist/bench/mesh.js', readme: 'ztunnel in the local cluster (issue 4)' };

function parseOptions(argv: string[]): Options {
  const values = parseBenchArgs(argv, OPTIONS);
  const quick = values.quick;
  return {
    ...clusterValues(values, quick, 1200),
    holdConnections: positiveInt('hold', values.hold, 1000),
    sameNode: values['no-same-node'] === true ? false : values['same-node'] ?? true,
    connectConnections: values['no-connect'] === true ? 0 : positiveInt('connect-connections', values['connect-connections'], 16),
    heapSnapshotDir: values['heap-snapshot'] === undefined ? undefined : resolve(values['heap-snapshot']),
    ...(values['mesh-node-flags'] === undefined ? {} : { meshNodeFlags: values['mesh-node-flags'] }),
    // A smoke run must not replace the recorded numbers unless asked to; nor a run whose
    // heap snapshots (each one allocates in the ztunnel) inflate its memory figures.
    write: shouldWrite(values, quick || values['heap-snapshot'] !== undefined),
  };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(usage(BENCH, OPTIONS));
    return 0;
  }
  const options = parseOptions(argv);
  return clusterMain('mesh', options, PUBLICATION, log, [options.heapSnapshotDir], (run) => benchmark(options, run));
}

async function benchmark(options: Options, run: ClusterRun): Promise<void> {
  const { set, dir, built, started } = run;
  const described = await describeRun(run, options, log);

  const pem = await writeCertificates(dir);
  const topology = await buildMeshCluster(set, dir, pem, {
    logLevel: options.logLevel, heapSnapshotDir: options.heapSnapshotDir, meshNodeFlags: options.meshNodeFlags, ztunnelNodeFlags: options.ztunnelNodeFlags,
    pinLoad: options.pinLoad, pinProxies: options.pinProxies,
    sameNode: options.sameNode, log,
  }, (parts) => { built.cluster = parts.cluster; if (parts.mesh !== undefined) built.mesh = parts.mesh; });
  const proxies = topology.routes.flatMap((r) => r.proxies);
  const checkAlive = aliveCheck(set, topology.servers, proxies);

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

  const load = { seconds: options.durationSeconds, pinLoad: options.pinLoad, account: built.account };
  const connectConnections = options.connectConnections ?? 0;
  const tests: Test<Route, PathName>[] = [
    { test: TEST.iperf3, routes: topology.routes, measure: (route) => measureIperf3(set, route, load) },
    { test: TEST.iperf3SameNode, routes: topology.sameNodeRoutes, measure: (route) => measureIperf3(set, route, load) },
    ...ratesOf(options).map((rate) => ({
      test: openLoopTestOf(rate, options.rate), routes: topology.routes,
      measure: (route: Route) => measureOpenLoop(set, route, { ...load, rate, connections: options.rateConnections, settleSeconds: options.settleSeconds ?? 0 }),
    })),
    { test: TEST.wrk, routes: topology.routes, measure: (route) => measureWrk(set, route, { ...load, connections: options.wrkConnections }) },
    ...(connectConnections === 0 ? [] : [{
      test: TEST.connect, routes: topology.routes, measure: (route: Route) => measureConnect(set, topology, route, { ...load, connections: connectConnections }),
    }]),
  ];
  const samples = await interleaved(options.repeat, tests, checkAlive,
    (s) => log(`#${s.repetition} ${s.test.padEnd(16)} ${MESH_LABELS[s.path].padEnd(15)} ${describeMetrics(s.metrics)}`));
  checkAlive();
  const endPeakMiB = Object.fromEntries(proxies.map((p) => [p.name, procStatus(p.pid).hwmKiB / 1024]));

  addPairedDifferences(samples);
  const report: MeshReport = {
    ...runFields('mesh.js', started, described),
    options: stripRunOnly(options),
    samples,
    idle,
    idleDumps,
    holds,
    endPeakMiB,
  };
  await publishRun(PUBLICATION, report, options.write, log);
}

/**
 * One connection per request (wrk with `Connection: close`: nginx closes each
 * connection after its response). On the ztunnel path, also how many TLS
 * connections node-1's HBONE pool opened (and resumed) meanwhile: the tunnels
 * ride pooled connections, so new TCP connections need no new handshake.
 */
async function measureConnect(
  set: ProcessSet, topology: MeshCluster, route: Route, options: Parameters<typeof measureWrk>[2],
): Promise<Record<string, number>> {
  const pool = async (): Promise<PoolStats> => (await topology.mesh.adminJson<{ hbone: { pool: PoolStats } }>(CLIENT_NODE, '/config_dump')).hbone.pool;
  const before = route.path === 'hbone' ? await pool() : undefined;
  const metrics = await measureWrk(set, route, { ...options, headers: ['Connection: close'] });
  if (before !== undefined) {
    const after = await pool();
    metrics.poolOpened = after.opened - before.opened;
    metrics.poolResumed = after.resumed - before.resumed;
    metrics.poolConnections = after.connections;
  }
  return metrics;
}

/** Connections each ztunnel tracks right now (admin /connections). */
async function trackedByZtunnels(topology: MeshCluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const z of topology.ztunnels) counts[z.node] = (await topology.mesh.adminJson<{ state: string }[]>(z.node, '/connections')).filter((c) => c.state === 'open').length;
  return counts;
}

function stripRunOnly(options: Options): MeshOptions {
  const { write: _write, timeoutSeconds: _timeout, heapSnapshotDir: _snapshots, reportOnly: _reportOnly, ...rest } = options;
  return rest;
}

exitWith(main, log);
