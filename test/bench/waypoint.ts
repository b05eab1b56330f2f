// The waypoint benchmark (issue 5): 1 KiB HTTP responses from two nginx pods
// on node-2 to a client pod on node-1, in one local cluster and one run,
// through no mesh, ztunnel only, ztunnel + a waypoint routing by path, and
// HAProxy doing the waypoint's job (mutual TLS in and out, path routing).
// p50/p99 at a fixed open-loop rate, wrk's maximum requests/s, and the L7
// hops' CPU per request and memory. The section goes to docs/performance.md,
// the samples to test/bench/results/waypoint.json. Needs root (network
// namespaces, nftables) and haproxy, stunnel4, nginx, wrk.
//
//   pnpm build && pnpm bench:waypoint          # = node test/dist/bench/waypoint.js (about 6 minutes)
//   node test/dist/bench/waypoint.js --quick   # smoke run: 3 s, 1 repetition, prints only (under 2 minutes)
//
// Options: --help (OPTIONS below) and test/bench/README.md.
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLUSTER_OPTIONS, clusterValues, nodeFlags, parseBenchArgs, positiveInt, shouldWrite, usage, wantsHelp, type ClusterValues } from './args.js';
import {
  aliveCheck, clusterMain, describeMetrics, describeRun, exitWith, IDLE_SETTLE_MS, interleaved, progressLog, publication, publishRun, runFields,
  type ClusterRun, type Test,
} from './cluster-run.js';
import { writeCertificates, writeWrkPathsScript } from './fixtures.js';
import { wrk } from './load.js';
import { toolVersion } from './machine.js';
import { routeUrl } from './mesh-cluster.js';
import { cpuProfile, holdConnections, measureOpenLoop, measureWrk, proxyMemory, wrkScript } from './mesh-measure.js';
import type { HoldResult } from './mesh-report.js';
import { procStatus, resetPeak } from './processes.js';
import { openLoopTestOf, ratesOf } from './rates-report.js';
import { buildWaypointCluster, REQUEST_PATHS, type WaypointPath, type WaypointRoute } from './waypoint-cluster.js';
import {
  addPairedDifferences, markdownSection, REQUEST_PATH_FOR_HOLD, TEST, verdicts, WAYPOINT_LABELS, type WaypointOptions, type WaypointReport,
} from './waypoint-report.js';

const PUBLICATION = publication<WaypointReport, WaypointPath>('waypoint', markdownSection, verdicts);
const log = progressLog('waypoint');

/** What is recorded, plus what only steers this run. */
type Options = WaypointOptions & ClusterValues & { cpuProfileDir: string | undefined; write: boolean };

const OPTIONS = {
  ...CLUSTER_OPTIONS,
  'waypoint-node-flags': { type: 'string', value: 'FLAGS', help: 'extra Node/V8 flags on the waypoint\'s command line, after its own' },
  'waypoint-cpu-profile': { type: 'string', value: 'DIR', help: 'V8 CPU profiles of the waypoint into DIR (prints only unless --write)' },
  hold: { type: 'string', value: 'N', help: 'idle keep-alive connections held through the L7 paths for the memory measurement (default 1000); 0 skips it' },
} as const;
const BENCH = { command: 'pnpm bench:waypoint', script: 'test/dist/bench/waypoint.js', readme: 'Waypoint (issue 5)' };

function parseOptions(argv: string[]): Options {
  const values = parseBenchArgs(argv, OPTIONS);
  const quick = values.quick;
  return {
    ...clusterValues(values, quick, 900),
    ...(values['waypoint-node-flags'] === undefined ? {} : { waypointNodeFlags: nodeFlags('waypoint-node-flags', values['waypoint-node-flags']).join(' ') }),
    holdConnections: values.hold === '0' ? 0 : positiveInt('hold', values.hold, 1000),
    cpuProfileDir: values['waypoint-cpu-profile'] === undefined ? undefined : resolve(values['waypoint-cpu-profile']),
    // A smoke run must not replace the recorded numbers unless asked to; nor a profiled one (the profiler costs the waypoint CPU).
    write: shouldWrite(values, quick || values['waypoint-cpu-profile'] !== undefined),
  };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(usage(BENCH, OPTIONS));
    return 0;
  }
  const options = parseOptions(argv);
  return clusterMain('waypoint', options, PUBLICATION, log, [options.cpuProfileDir], (run) => benchmark(options, run));
}

async function benchmark(options: Options, run: ClusterRun): Promise<void> {
  const described = await describeRun(run, options, log);
  const { set, dir, built, started } = run;
  const { tools } = described.machine;
  tools.haproxy = await toolVersion(set, 'haproxy', ['-v'], /HAProxy version (\S+)/);
  tools['haproxy OpenSSL'] = await toolVersion(set, 'haproxy', ['-vv'], /Running on OpenSSL version : OpenSSL (\S+)/);
  if (tools.haproxy === '?') throw new Error('haproxy is not installed (apt-get install -y haproxy)');

  const pem = await writeCertificates(dir);
  const pathsScript = await writeWrkPathsScript(dir);
  const topology = await buildWaypointCluster(set, dir, pem, {
    logLevel: options.logLevel, heapSnapshotDir: undefined, meshNodeFlags: undefined, waypointNodeFlags: options.waypointNodeFlags,
    ztunnelNodeFlags: options.ztunnelNodeFlags,
    cpuProfileDir: options.cpuProfileDir, pinLoad: options.pinLoad, pinProxies: options.pinProxies, log,
  }, (parts) => { built.cluster = parts.cluster; if (parts.mesh !== undefined) built.mesh = parts.mesh; });
  const l7 = [topology.waypoint, topology.haproxy];
  const proxies = [...topology.ztunnels, ...l7];
  const checkAlive = aliveCheck(set, topology.servers, proxies);

  await sleep(IDLE_SETTLE_MS);
  const idle = l7.map(proxyMemory);
  log(`idle: ${idle.map((m) => `${m.name} VmRSS ${m.rssMiB.toFixed(1)} MiB (VmHWM ${m.hwmMiB.toFixed(1)})`).join(', ')}`);
  const holds: HoldResult<WaypointPath>[] = [];
  const holdCount = options.holdConnections ?? 0;
  for (const route of topology.routes.filter((r) => holdCount > 0 && (r.path === 'waypoint' || r.path === 'haproxy'))) {
    checkAlive();
    // No memory dumps: only the ztunnels answer SIGUSR2 with one, and to anything else it is fatal.
    const proxies = route.proxies.map(({ log: _log, ...proxy }) => proxy);
    const hold = await holdConnections(set, { ...route, proxies, holdPort: route.httpPort }, holdCount, {
      pinLoad: options.pinLoad, http: REQUEST_PATH_FOR_HOLD,
    });
    holds.push(hold);
    log(`${hold.held} keep-alive connections held through ${WAYPOINT_LABELS[route.path]} (open in ${(hold.openMs / 1000).toFixed(1)} s): `
      + `${hold.proxies.map((p) => `${p.name} ${p.beforeMiB.toFixed(1)} → ${p.heldMiB.toFixed(1)} MiB`).join('; ')}`);
  }
  // From here VmHWM measures the load tests, and a CPU profile too.
  for (const proxy of l7) resetPeak(proxy.pid);
  if (options.cpuProfileDir !== undefined) log(`waypoint CPU profile of the set-up: ${await cpuProfile(topology.waypoint)}`);

  if (options.warmupSeconds > 0) {
    log(`warm-up: ${options.warmupSeconds} s of wrk per path`);
    for (const route of topology.routes) {
      await wrk(set, routeUrl(route), options.wrkConnections, options.warmupSeconds, options.pinLoad, { netns: route.clientNetns, ...wrkScript(route, pathsScript) });
    }
  }

  const load = { seconds: options.durationSeconds, pinLoad: options.pinLoad, account: built.account };
  const tests: Test<WaypointRoute, WaypointPath>[] = [
    ...ratesOf(options).map((rate) => ({
      test: openLoopTestOf(rate, options.rate), routes: topology.routes,
      measure: (route: WaypointRoute) => measureOpenLoop(set, route, { ...load, rate, connections: options.rateConnections, settleSeconds: options.settleSeconds ?? 0 }),
    })),
    { test: TEST.wrk, routes: topology.routes, measure: (route) => measureWrk(set, route, { ...load, connections: options.wrkConnections, pathsScript }) },
  ];
  const samples = await interleaved(options.repeat, tests, checkAlive,
    (s) => log(`#${s.repetition} ${s.test.padEnd(9)} ${WAYPOINT_LABELS[s.path].padEnd(21)} ${describeMetrics(s.metrics)}`));
  checkAlive();
  if (options.cpuProfileDir !== undefined) log(`waypoint CPU profile of the warm-up and load tests: ${await cpuProfile(topology.waypoint)}`);
  const endPeakMiB = Object.fromEntries(l7.map((p) => [p.name, procStatus(p.pid).hwmKiB / 1024]));

  addPairedDifferences(samples);
  const report: WaypointReport = {
    ...runFields('waypoint.js', started, described),
    options: stripRunOnly(options),
    l7Node: topology.waypoint.node,
    requestPaths: REQUEST_PATHS,
    samples,
    idle,
    holds,
    endPeakMiB,
  };
  await publishRun(PUBLICATION, report, options.write, log);
}

function stripRunOnly(options: Options): WaypointOptions {
  const { write: _write, timeoutSeconds: _timeout, reportOnly: _reportOnly, cpuProfileDir: _profiles, ...rest } = options;
  return rest;
}

exitWith(main, log);
