// One measurement of one route of the mesh benchmark: iperf3, the open-loop
// HTTP generator, wrk, or many idle connections held open. Load generators
// run in the route's client pod; the proxies' CPU time (from /proc/PID/stat)
// is counted over the measured window only.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { iperf3, wrk, type WrkScript } from './load.js';
import { HOLDER_SCRIPT, routeUrls, type HttpRoute, type Proxy, type Route } from './mesh-cluster.js';
import type { HoldResult, MemoryDump, ProxyMemory } from './mesh-report.js';
import { START_EVENT, type OpenLoopResult } from './open-loop.js';
import {
  cpuSeconds, machineBusySeconds, procStatus, resetPeak, RssSampler, type CpuAccount, type ProcessSet,
} from './processes.js';

const OPEN_LOOP_SCRIPT = fileURLToPath(new URL('./open-loop.js', import.meta.url));
const HOLD_SAMPLE_MS = 3_000;
const AFTER_CLOSE_MS = 2_000;
const HOLD_OPEN_TIMEOUT_MS = 120_000;
const DUMP_TIMEOUT_MS = 120_000;

export interface LoadOptions {
  seconds: number;
  pinLoad: string | undefined;
  /** The CPU time of everything the benchmark started (its cgroup), to tell other workloads apart; none if unavailable. */
  account: CpuAccount | undefined;
}

/**
 * CPU time of a route's proxies, of the whole machine and of other workloads
 * over a window; the machine's from the cpuacct root group when there is an
 * account (exact), else from /proc/stat. Proxies with a `metric` also get
 * their own CPU and their highest VmRSS (sampled every 100 ms) reported.
 */
class Meter {
  private proxyCpu: number[] = [];
  private machine = 0;
  private ours = 0;
  private started = 0n;
  private samplers: (RssSampler | undefined)[] = [];

  constructor(private readonly proxies: readonly Proxy[], private readonly account: CpuAccount | undefined) {}

  begin(): void {
    this.samplers = this.proxies.map((p) => (p.metric === undefined ? undefined : new RssSampler(p.pid)));
    this.proxyCpu = this.proxies.map((p) => cpuSeconds(p.pid));
    this.machine = this.machineSeconds();
    this.ours = this.account?.seconds() ?? 0;
    this.started = process.hrtime.bigint();
  }

  end(): Record<string, number> {
    const wallSeconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const machine = this.machineSeconds() - this.machine;
    const metrics: Record<string, number> = { wallSeconds, machineBusyCores: machine / wallSeconds };
    if (this.account !== undefined) metrics.otherProcessesCores = (machine - (this.account.seconds() - this.ours)) / wallSeconds;
    if (this.proxies.length === 0) return metrics;
    const used = this.proxies.map((p, i) => cpuSeconds(p.pid) - this.proxyCpu[i]!);
    this.proxies.forEach((p, i) => {
      const sampler = this.samplers[i];
      if (p.metric === undefined || sampler === undefined) return;
      sampler.stop();
      metrics[`${p.metric}CpuSeconds`] = used[i]!;
      metrics[`${p.metric}Cores`] = used[i]! / wallSeconds;
      // The last reading too: a window shorter than the sampling interval has no sample.
      const sampled = sampler.max('start');
      const now = procStatus(p.pid).rssKiB;
      metrics[`${p.metric}RssMiB`] = mib(Number.isNaN(sampled) ? now : Math.max(sampled, now));
    });
    metrics.proxyCpuSeconds = used.reduce((a, b) => a + b, 0);
    metrics.proxyCores = metrics.proxyCpuSeconds / wallSeconds;
    // The client-side proxy first, the server side second (one ztunnel is both ends on the same node).
    if (used.length === 2) {
      metrics.clientProxyCores = used[0]! / wallSeconds;
      metrics.serverProxyCores = used[1]! / wallSeconds;
    }
    return metrics;
  }

  private machineSeconds(): number {
    return this.account?.machineSeconds() ?? machineBusySeconds();
  }
}

/** CPU seconds per 1000 requests, for all the proxies and for each one reported on its own (`<metric>CpuSecondsPer1kRequests`). */
function perThousand(metrics: Record<string, number>, requests: number): void {
  if (requests <= 0) return;
  for (const [key, seconds] of Object.entries(metrics)) {
    if (key === 'proxyCpuSeconds') metrics.cpuSecondsPer1kRequests = seconds / (requests / 1000);
    else if (key.endsWith('CpuSeconds')) metrics[`${key}Per1kRequests`] = seconds / (requests / 1000);
  }
}

export async function measureIperf3(set: ProcessSet, route: Route, options: LoadOptions): Promise<Record<string, number>> {
  const meter = new Meter(route.proxies, options.account);
  meter.begin();
  const r = await iperf3(set, route.iperfPort, options.seconds, options.pinLoad, { host: route.host, netns: route.clientNetns });
  return {
    gbps: r.receivedBps / 1e9, sentGbps: r.sentBps / 1e9, ...(r.retransmits === undefined ? {} : { retransmits: r.retransmits }),
    ...meter.end(),
  };
}

/** The open-loop generator in the client pod; proxy CPU from its first scheduled request to its exit. */
export async function measureOpenLoop(
  set: ProcessSet, route: HttpRoute<string>, options: LoadOptions & { rate: number; connections: number; settleSeconds: number },
): Promise<Record<string, number>> {
  const meter = new Meter(route.proxies, options.account);
  const generator = set.start({
    name: `open-loop:${route.path}`,
    command: process.execPath,
    args: [OPEN_LOOP_SCRIPT, ...routeUrls(route).flatMap((url) => ['--url', url]), '--rate', String(options.rate), '--connections', String(options.connections),
      '--duration', String(options.seconds), '--settle', String(options.settleSeconds)],
    netns: route.clientNetns,
    cpus: options.pinLoad,
  });
  await generator.waitForLine(new RegExp(START_EVENT.replace(/[{}]/g, '\\$&')), 30_000 + options.settleSeconds * 1000);
  meter.begin();
  const code = await generator.exited;
  const window = meter.end();
  const last = generator.tail().split('\n').reverse().find((line) => line.startsWith('{"sent"'));
  if (code !== 0 || last === undefined) throw new Error(`open-loop through ${route.path} exited with ${code}:\n${generator.tail()}`);
  const r = JSON.parse(last) as OpenLoopResult;
  const metrics: Record<string, number> = {
    p50Ms: r.latencyMs.p50, p90Ms: r.latencyMs.p90, p99Ms: r.latencyMs.p99, p999Ms: r.latencyMs.p999, maxMs: r.latencyMs.max,
    meanMs: r.latencyMs.mean, achievedRate: r.achievedRate, completed: r.completed, errors: r.errors,
    fromSendP50Ms: r.fromSendMs.p50, fromSendP99Ms: r.fromSendMs.p99, lagP99Ms: r.schedulerLagMs.p99, lagMaxMs: r.schedulerLagMs.max, ...window,
    ...(r.settle === undefined ? {} : {
      settleP50Ms: r.settle.latencyMs.p50, settleP99Ms: r.settle.latencyMs.p99, settleMaxMs: r.settle.latencyMs.max, settleErrors: r.settle.errors,
    }),
  };
  perThousand(metrics, r.completed);
  return metrics;
}

/**
 * wrk in the client pod; a route with several request paths needs
 * `pathsScript` (fixtures.ts's writeWrkPathsScript) to take them in turn.
 */
export async function measureWrk(
  set: ProcessSet, route: HttpRoute<string>, options: LoadOptions & { connections: number; pathsScript?: string; headers?: readonly string[] },
): Promise<Record<string, number>> {
  const meter = new Meter(route.proxies, options.account);
  meter.begin();
  const r = await wrk(set, routeUrls(route)[0]!, options.connections, options.seconds, options.pinLoad, {
    netns: route.clientNetns, ...wrkScript(route, options.pathsScript), ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
  const metrics: Record<string, number> = {
    rps: r.requestsPerSec, p50Ms: r.p50Ms, p90Ms: r.p90Ms, p99Ms: r.p99Ms, requests: r.requests, errors: r.errors, ...meter.end(),
  };
  perThousand(metrics, r.requests);
  return metrics;
}

/** The paths script and the route's paths, when it has more than one. */
export function wrkScript(route: HttpRoute<string>, pathsScript: string | undefined): { script?: WrkScript } {
  const paths = route.requestPaths ?? [];
  if (paths.length <= 1) return {};
  if (pathsScript === undefined) throw new Error(`${route.path} takes ${paths.length} request paths in turn: wrk needs the paths script`);
  return { script: { file: pathsScript, args: paths } };
}

export function proxyMemory(proxy: Proxy): ProxyMemory {
  const s = procStatus(proxy.pid);
  return { name: proxy.name, node: proxy.node, rssMiB: mib(s.rssKiB), hwmMiB: mib(s.hwmKiB), anonMiB: mib(s.anonKiB), fileMiB: mib(s.fileKiB) };
}

/**
 * Where a ztunnel's memory is (process.memoryUsage before and after a full
 * GC), asked for with SIGUSR2 and read back from its log file; undefined for
 * a process without the preloaded handler (see mesh-memdump.ts).
 */
export async function memoryDump(proxy: Proxy): Promise<MemoryDump | undefined> {
  if (proxy.log === undefined) return undefined;
  const line = await signalForLine(proxy, '{"memdump":', 'memory dump');
  const dump = JSON.parse(line) as { before: { memory: NodeJS.MemoryUsage }; afterGc: { memory: NodeJS.MemoryUsage }; snapshot?: string };
  const m = (u: NodeJS.MemoryUsage): MemoryDump['before'] => ({
    rssMiB: u.rss / 2 ** 20, heapTotalMiB: u.heapTotal / 2 ** 20, heapUsedMiB: u.heapUsed / 2 ** 20,
    externalMiB: u.external / 2 ** 20, arrayBuffersMiB: u.arrayBuffers / 2 ** 20,
  });
  return { name: proxy.name, before: m(dump.before.memory), afterGc: m(dump.afterGc.memory), ...(dump.snapshot === undefined ? {} : { snapshot: dump.snapshot }) };
}

/**
 * Where a waypoint started with waypoint-profile.ts preloaded wrote its CPU
 * profile since the last call (or start-up), asked for with SIGUSR2.
 */
export async function cpuProfile(proxy: Proxy): Promise<string> {
  return (JSON.parse(await signalForLine(proxy, '{"cpuprofile":', 'CPU profile')) as { cpuprofile: string }).cpuprofile;
}

/** Sends SIGUSR2 to a proxy with a preloaded handler and returns the first line starting with `prefix` that its log gets afterwards. */
async function signalForLine(proxy: Proxy, prefix: string, what: string): Promise<string> {
  if (proxy.log === undefined) throw new Error(`${proxy.name} has no log file to read its ${what} from`);
  const offset = (await readFile(proxy.log)).length;
  process.kill(proxy.pid, 'SIGUSR2');
  const deadline = Date.now() + DUMP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(100);
    const line = (await readFile(proxy.log)).subarray(offset).toString('utf8').split('\n').find((l) => l.startsWith(prefix));
    if (line !== undefined) return line;
  }
  throw new Error(`${proxy.name} wrote no ${what} to ${proxy.log} within ${DUMP_TIMEOUT_MS} ms of SIGUSR2`);
}

export interface HoldOptions {
  pinLoad: string | undefined;
  /** Prove each connection with one keep-alive GET of this path instead of an echoed byte (for an L7 hop). */
  http?: string;
  /** Asks the proxies how many connections they track. */
  countConnections?: () => Promise<Record<string, number>>;
}

/**
 * `count` connections from the client pod through the route, each proven end
 * to end, held while the proxies' VmRSS is sampled every 100 ms; then (after
 * a memory dump of the proxies that answer one) closed.
 */
export async function holdConnections<P extends string>(
  set: ProcessSet, route: Pick<Route, 'clientNetns' | 'host' | 'holdPort' | 'proxies'> & { path: P }, count: number, options: HoldOptions,
): Promise<HoldResult<P>> {
  const { pinLoad, countConnections } = options;
  const before = route.proxies.map(proxyMemory);
  const peakReset = route.proxies.every((p) => resetPeak(p.pid));
  const samplers = route.proxies.map((p) => new RssSampler(p.pid));
  const holder = set.start({
    name: `holder:${route.path}`,
    command: process.execPath,
    args: [HOLDER_SCRIPT, 'hold', '--target', `${route.host}:${route.holdPort}`, '--count', String(count), ...(options.http === undefined ? [] : ['--http', options.http])],
    netns: route.clientNetns,
    cpus: pinLoad,
  });
  try {
    const heldLine = await holder.waitForLine(/"event":"held"/, HOLD_OPEN_TIMEOUT_MS);
    const held = JSON.parse(heldLine) as { count: number; openMs: number };
    for (const s of samplers) s.phase('held');
    const tracked = countConnections === undefined ? undefined : await countConnections();
    await sleep(HOLD_SAMPLE_MS);
    for (const s of samplers) s.phase('closing');
    const duringHold = route.proxies.map((p) => procStatus(p.pid));
    const dumps: MemoryDump[] = [];
    for (const proxy of route.proxies) {
      const dump = await memoryDump(proxy);
      if (dump !== undefined) dumps.push(dump);
    }
    await holder.stop();
    const released = holder.tail().split('\n').find((line) => line.includes('"event":"released"'));
    const dropped = released === undefined ? Number.NaN : (JSON.parse(released) as { droppedWhileHeld: number }).droppedWhileHeld;
    await sleep(AFTER_CLOSE_MS);
    return {
      path: route.path, requested: count, held: held.count, openMs: held.openMs, droppedWhileHeld: dropped, peakReset,
      ...(tracked === undefined ? {} : { trackedByProxy: tracked }),
      ...(dumps.length === 0 ? {} : { memoryDumps: dumps }),
      proxies: route.proxies.map((p, i) => ({
        name: p.name, node: p.node,
        beforeMiB: before[i]!.rssMiB,
        heldMiB: mib(samplers[i]!.max('held')),
        heldAnonMiB: mib(duringHold[i]!.anonKiB),
        peakMiB: mib(duringHold[i]!.hwmKiB),
        afterCloseMiB: mib(procStatus(p.pid).rssKiB),
      })),
    };
  } finally {
    for (const s of samplers) s.stop();
    await holder.stop();
  }
}

function mib(kib: number): number {
  return kib / 1024;
}
