// The control-plane benchmark (issue 3): push latency (change → last
// subscriber acked) and control-plane RSS with 10 000 workloads, 1 000
// services and 100 ztunnel subscribers, plus a 10× smaller run for
// comparison. The table goes to docs/performance.md, the samples to
// test/bench/results/control-plane.json.
//
//   pnpm build && pnpm bench:cp              # = node test/dist/bench/control-plane.js (a few minutes)
//   node test/dist/bench/control-plane.js --quick     # small scale only, 5 changes, prints only
//
// Options: --help (OPTIONS below) and test/bench/README.md.
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LABEL_DATAPLANE_MODE, writeBootstrapToken } from '@ambit/control-plane';
import { namespaceName, populate, type Cluster, type Scale } from './cp-cluster.js';
import type { ChangeArgs, ChangeResult, HostReady } from './cp-host.js';
import type { Check, SubscribersInit } from './cp-subscribers.js';
import {
  markdownSection, percentiles, type ChangeSample, type CpReport, type ScaleResult,
} from './cp-report.js';
import { IpcClient, nowMs } from './ipc.js';
import {
  cpuSeconds, procStatus, ProcessSet, resetPeak, RssSampler, run, setClockTicks, type Managed,
} from './processes.js';
import { benchFiles, writeJson, writeSection } from './report.js';
import { failureText, parseBenchArgs, positiveInt, shouldWrite, usage, UsageError, wantsHelp } from './args.js';

const HOST_SCRIPT = fileURLToPath(new URL('./cp-host.js', import.meta.url));
const SUBSCRIBERS_SCRIPT = fileURLToPath(new URL('./cp-subscribers.js', import.meta.url));
const { docFile: DOC_FILE, resultsFile: RESULTS_FILE } = benchFiles('control-plane');
const IDLE_SETTLE_MS = 3_000;
const CHANGE_TIMEOUT_MS = 30_000;

export const SCALES: Record<string, Scale> = {
  small: { name: 'small', pods: 1_000, services: 100, nodes: 10 },
  large: { name: 'large', pods: 10_000, services: 1_000, nodes: 100 },
};

interface Options {
  changes: number;
  intervalMs: number;
  subscriberProcs: number;
  scales: Scale[];
  cpuProfDir: string | undefined;
  timeoutSeconds: number;
  debounce: string;
  /** Extra node flags for the control-plane process, e.g. --max-old-space-size=192. */
  hostNodeFlags: string[];
  write: boolean;
  /** Render docs/performance.md again from the JSON results, measuring nothing. */
  reportOnly: boolean;
}

const OPTIONS = {
  changes: { type: 'string', value: 'K', help: 'changes per scale (default 20; 5 with --quick)' },
  interval: { type: 'string', default: '1000', value: 'MS', help: 'one change per interval (default 1000)' },
  'subscriber-procs': { type: 'string', default: '1', value: 'N', help: 'processes the subscribers are spread over (default 1)' },
  scales: { type: 'string', value: 'LIST', help: 'small (1k workloads) and/or large (10k) (default small,large; small with --quick)' },
  'cpu-prof': { type: 'string', value: 'DIR', help: 'V8 CPU profiles of each control-plane process into DIR' },
  timeout: { type: 'string', default: '900', value: 'SECONDS', help: 'the whole run is killed past this (default 900)' },
  debounce: { type: 'string', default: '100ms', value: 'DURATION', help: 'the control plane\'s coalescing window (default 100ms)' },
  'host-node-flags': { type: 'string', value: 'FLAGS', help: 'extra Node flags for the control-plane process' },
  quick: { type: 'boolean', default: false, help: 'small scale only, 5 changes; prints only unless --write' },
  'report-only': { type: 'boolean', default: false, help: 'measure nothing; render the section again from the results JSON' },
  write: { type: 'boolean', help: 'update docs/performance.md and the results JSON (the default unless --quick)' },
  'no-write': { type: 'boolean', help: 'print only' },
} as const;
const BENCH = { command: 'pnpm bench:cp', script: 'test/dist/bench/control-plane.js', readme: 'Control plane at scale (issue 3)' };

function parseOptions(argv: string[]): Options {
  const values = parseBenchArgs(argv, OPTIONS);
  const quick = values.quick;
  const positive = positiveInt;
  const scales = (values.scales ?? (quick ? 'small' : 'small,large')).split(',').map((name) => {
    const scale = SCALES[name.trim()];
    if (scale === undefined) throw new UsageError(`--scales: unknown scale ${name} (known: ${Object.keys(SCALES).join(', ')})`);
    return scale;
  });
  return {
    changes: positive('changes', values.changes, quick ? 5 : 20),
    intervalMs: positive('interval', values.interval, 1000),
    subscriberProcs: positive('subscriber-procs', values['subscriber-procs'], 1),
    scales,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    timeoutSeconds: positive('timeout', values.timeout, 900),
    debounce: values.debounce,
    hostNodeFlags: values['host-node-flags']?.split(/\s+/).filter((f) => f !== '') ?? [],
    write: shouldWrite(values, quick),
    reportOnly: values['report-only'],
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(usage(BENCH, OPTIONS));
    return;
  }
  const options = parseOptions(argv);
  if (options.reportOnly) {
    const report = JSON.parse(await readFile(RESULTS_FILE, 'utf8')) as CpReport;
    await writeSection(DOC_FILE, markdownSection(report));
    log(`rewrote the section of ${DOC_FILE} from ${RESULTS_FILE}`);
    return;
  }
  const set = new ProcessSet();
  const dir = await mkdtemp(join(os.tmpdir(), 'ambit-bench-cp-'));
  const onExit = (): void => {
    set.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  // The whole run is bounded: past the limit everything is killed and the run fails.
  const watchdog = setTimeout(() => {
    console.error(`control-plane benchmark: still running after ${options.timeoutSeconds} s; giving up`);
    process.exit(124);
  }, options.timeoutSeconds * 1000);
  watchdog.unref();
  try {
    await benchmark(options, set, dir);
  } finally {
    clearTimeout(watchdog);
    await set.stopAll();
    await rm(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}

async function benchmark(options: Options, set: ProcessSet, dir: string): Promise<void> {
  const tck = await run(set, { name: 'getconf', command: 'getconf', args: ['CLK_TCK'] }, 5_000);
  setClockTicks(Number(tck.stdout.trim()));
  const machine = {
    cpuModel: os.cpus()[0]?.model.trim() ?? '?', cores: os.availableParallelism(), memoryGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(), node: process.version,
  };
  log(`${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB.toFixed(0)} GiB; temp dir ${dir}`);
  if (options.cpuProfDir !== undefined) await mkdir(options.cpuProfDir, { recursive: true });

  const results: ScaleResult[] = [];
  for (const scale of options.scales) results.push(await runScale(scale, options, set, join(dir, scale.name)));

  const report: CpReport = {
    date: new Date().toISOString(),
    command: `node test/dist/bench/control-plane.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    options: {
      changes: options.changes, intervalMs: options.intervalMs, subscriberProcs: options.subscriberProcs, debounce: options.debounce,
      hostNodeFlags: options.hostNodeFlags,
    },
    results,
  };
  const section = markdownSection(report);
  console.log(`\n${section}`);
  if (options.write) {
    await writeJson(RESULTS_FILE, report);
    await writeSection(DOC_FILE, section);
    log(`wrote ${DOC_FILE} and ${RESULTS_FILE}`);
  } else {
    log('not written (smoke run); pass --write to record it');
  }
}

async function runScale(scale: Scale, options: Options, set: ProcessSet, dir: string): Promise<ScaleResult> {
  log(`── ${scale.name}: ${scale.pods} pods, ${scale.services} services, ${scale.nodes} nodes/subscribers`);
  const stateDir = join(dir, 'state');
  let started = nowMs();
  const cluster = await populate(join(stateDir, 'store'), scale);
  const populateMs = nowMs() - started;
  log(`populated the local store: ${cluster.objects} objects in ${(populateMs / 1000).toFixed(1)} s`);
  const tokens: Record<string, string> = {};
  for (const node of cluster.nodes) tokens[node] = (await writeBootstrapToken(stateDir, { node })).token;

  // The control plane.
  const profile = options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-name', `cp-${scale.name}-${process.pid}.cpuprofile`];
  const hostProcess = set.start({
    name: `cp-host-${scale.name}`, command: process.execPath, ipc: true,
    args: ['--expose-gc', ...options.hostNodeFlags, ...profile, HOST_SCRIPT, '--state-dir', stateDir, '--debounce', options.debounce, '--log-level', 'warn'],
  });
  const host = new IpcClient(hostProcess.child, hostProcess.name);
  const ready = await Promise.race([host.notice<HostReady>('ready', 180_000), failOnExit(hostProcess)]);
  const pid = hostProcess.pid;
  log(`control plane ready in ${(ready.startMs / 1000).toFixed(1)} s (pid ${pid}): ${ready.workloads} workloads, ${ready.services} services; `
    + `a snapshot is ${(ready.snapshotBytes / 2 ** 20).toFixed(1)} MiB`);
  if (ready.workloads !== scale.pods || ready.services !== scale.services) {
    throw new Error(`the control plane sees ${ready.workloads} workloads and ${ready.services} services, expected ${scale.pods} and ${scale.services}`);
  }
  const metricsUrl = `http://127.0.0.1:${ready.metricsPort}/metrics`;
  const sampler = new RssSampler(pid);
  const atStart = { status: procStatus(pid), metrics: await scrape(metricsUrl), cpu: cpuSeconds(pid) };

  // The subscribers, in one or more processes.
  const groups = split(cluster.nodes, options.subscriberProcs);
  const workers = groups.map((nodes, i) => {
    const managed = set.start({ name: `subscribers-${scale.name}-${i}`, command: process.execPath, args: [SUBSCRIBERS_SCRIPT], ipc: true });
    return { managed, ipc: new IpcClient(managed.child, managed.name), nodes };
  });
  const all = [hostProcess, ...workers.map((w) => w.managed)];
  started = nowMs();
  await Promise.all(workers.map((w) => w.ipc.request('bootstrap', {
    address: ready.address, roots: ready.roots, trustDomain: ready.trustDomain,
    tokens: Object.fromEntries(w.nodes.map((node) => [node, tokens[node]!])),
  } satisfies SubscribersInit, 120_000)));
  const bootstrapMs = nowMs() - started;
  log(`${cluster.nodes.length} node certificates bootstrapped in ${(bootstrapMs / 1000).toFixed(1)} s`);

  // Initial sync: every subscriber at once, as after a control-plane restart.
  sampler.phase('sync');
  const cpuBeforeSync = cpuSeconds(pid);
  const syncStart = nowMs();
  const [subscribed, serverAcked] = await Promise.all([
    Promise.all(workers.map((w) => w.ipc.request<{ firstSynced: { node: string; at: number; workloads: number }[] }>('subscribe', undefined, 300_000))),
    host.request<{ version: string; at: number }>('waitAcked', { subscribers: cluster.nodes.length, timeoutMs: 300_000 }, 310_000),
  ]);
  set.checkAlive(all);
  const firstSynced = subscribed.flatMap((s) => s.firstSynced);
  const incomplete = firstSynced.filter((s) => s.workloads !== scale.pods);
  if (incomplete.length > 0) throw new Error(`${incomplete.length} subscribers hold the wrong number of workloads after the first sync (${incomplete[0]!.workloads})`);
  const syncTimes = firstSynced.map((s) => s.at - syncStart);
  const sync = {
    lastClientMs: Math.max(...syncTimes), medianClientMs: percentiles(syncTimes).median, serverAllAckedMs: serverAcked.at - syncStart,
    cpuSeconds: cpuSeconds(pid) - cpuBeforeSync,
  };
  log(`first full sync of ${firstSynced.length} subscribers: last at ${fmtMs(sync.lastClientMs)} (median ${fmtMs(sync.medianClientMs)}), server saw every ACK at ${fmtMs(sync.serverAllAckedMs)}`);
  const afterSync = procStatus(pid);

  // Idle: after the sync settled.
  sampler.phase('idle');
  await sleep(IDLE_SETTLE_MS);
  const idle = { status: procStatus(pid), metrics: await scrape(metricsUrl), host: await host.request<{ memory: NodeJS.MemoryUsage }>('stats') };
  log(`idle: VmRSS ${mib(idle.status.rssKiB)} MiB (heap used ${mib(idle.host.memory.heapUsed / 1024)} MiB), VmHWM so far ${mib(idle.status.hwmKiB)} MiB`);
  // Reset the peak so VmHWM measures the change phase alone (Linux: clear_refs 5).
  const hwmReset = resetPeak(pid);

  // Changes.
  sampler.phase('changes');
  const cpuBeforeChanges = cpuSeconds(pid);
  const changesStart = nowMs();
  const samples: ChangeSample[] = [];
  const podLabelled = new Set<string>();
  const enrolled = new Set(cluster.enrolled);
  for (let k = 0; k < options.changes; k++) {
    set.checkAlive(all);
    sampler.phase('changes', String(k));
    const issueAt = nowMs();
    const change = nextChange(k, cluster, podLabelled, enrolled);
    const result = await host.request<ChangeResult>('change', { ...change.args, timeoutMs: CHANGE_TIMEOUT_MS } satisfies ChangeArgs, CHANGE_TIMEOUT_MS + 5_000);
    const synced = (await Promise.all(workers.map((w) => w.ipc.request<{ node: string; at: number | null }[]>('syncedAt', result.version)))).flat();
    const missing = synced.filter((s) => s.at === null);
    if (missing.length > 0) throw new Error(`change ${k}: ${missing.length} subscribers never synced ${result.version} although the server saw their ACKs`);
    const checks = await Promise.all(workers.map((w) => w.ipc.request<{ passed: number; of: number }>('check', change.check)));
    const passed = checks.reduce((sum, c) => sum + c.passed, 0);
    if (passed !== cluster.nodes.length) throw new Error(`change ${k} (${change.describe}): only ${passed} of ${cluster.nodes.length} subscribers show it`);
    const clientTimes = synced.map((s) => s.at! - issueAt);
    const sample: ChangeSample = {
      k, kind: change.kind, target: change.describe, workloadsChanged: change.workloads, version: result.version,
      commitMs: result.committedAt - issueAt, pushedMs: result.pushedAt - issueAt, ackMs: result.allAckedAt - issueAt,
      lastClientMs: Math.max(...clientTimes), medianClientMs: percentiles(clientTimes).median,
      ...(result.translationMs === undefined ? {} : { translationMs: result.translationMs }),
    };
    samples.push(sample);
    const rss = (): string => `RSS max ${(sampler.max(`changes#${k}`) / 1024).toFixed(0)} MiB`;
    log(`change ${String(k).padStart(2)} ${change.describe.padEnd(44)} pushed ${fmtMs(sample.pushedMs)}, last ACK ${fmtMs(sample.ackMs)}, `
      + `last client ${fmtMs(sample.lastClientMs)}, translation ${sample.translationMs === undefined ? '?' : fmtMs(sample.translationMs)}, ${rss()}`);
    const wait = issueAt + options.intervalMs - nowMs();
    if (wait > 0) await sleep(wait);
    sample.rssMaxMiB = sampler.max(`changes#${k}`) / 1024;
  }
  const changesWallS = (nowMs() - changesStart) / 1000;
  const afterChanges = { status: procStatus(pid), metrics: await scrape(metricsUrl), cpu: cpuSeconds(pid) };
  const changesCpu = afterChanges.cpu - cpuBeforeChanges;
  const hostEnd = await host.request<{ memory: NodeJS.MemoryUsage }>('stats');
  // Then a forced full GC: what is left is retained, the rest was garbage not yet collected.
  const afterGc = await host.request<{ memory: NodeJS.MemoryUsage }>('gc');
  await sleep(500);
  const afterGcStatus = procStatus(pid);
  log(`after the changes: VmRSS ${mib(afterChanges.status.rssKiB)} MiB, heap used ${mib(hostEnd.memory.heapUsed / 1024)} of ${mib(hostEnd.memory.heapTotal / 1024)} MiB; `
    + `after a forced full GC: VmRSS ${mib(afterGcStatus.rssKiB)} MiB, heap used ${mib(afterGc.memory.heapUsed / 1024)} of ${mib(afterGc.memory.heapTotal / 1024)} MiB`);
  sampler.stop();
  const subscriberStats = await Promise.all(workers.map((w) => w.ipc.request<{ memory: NodeJS.MemoryUsage }>('stats')));
  const subscriberPeakMiB = workers.map((w) => procStatus(w.managed.pid).hwmKiB / 1024);
  const subscriberCpu = workers.map((w) => cpuSeconds(w.managed.pid));

  // Stop everything (the control plane cleanly, so a CPU profile is written).
  await Promise.all(workers.map((w) => w.ipc.request('stop').catch(() => undefined)));
  await host.request('stop', undefined, 30_000).catch(() => undefined);
  await Promise.race([hostProcess.exited, sleep(10_000)]);
  for (const w of workers) await w.managed.stop();
  await hostProcess.stop();
  await rm(dir, { recursive: true, force: true });

  const metric = (m: Metrics, name: string): number | undefined => m.get(name);
  const delta = (name: string, a: Metrics, b: Metrics): number | undefined => {
    const x = metric(a, name);
    const y = metric(b, name);
    return x === undefined || y === undefined ? undefined : y - x;
  };
  const translationsDuringChanges = delta('ambit_translation_duration_seconds_count', idle.metrics, afterChanges.metrics);
  const translationSecondsDuringChanges = delta('ambit_translation_duration_seconds_sum', idle.metrics, afterChanges.metrics);
  const acksDuringChanges = delta('ambit_discovery_push_to_ack_seconds_count', idle.metrics, afterChanges.metrics);
  const ackSecondsDuringChanges = delta('ambit_discovery_push_to_ack_seconds_sum', idle.metrics, afterChanges.metrics);
  return {
    scale, objects: cluster.objects, namespaces: cluster.namespaces.length, populateMs, startMs: ready.startMs, bootstrapMs,
    snapshotMiB: ready.snapshotBytes / 2 ** 20,
    subscriberProcs: workers.length,
    sync,
    changes: samples,
    latency: {
      ack: percentiles(samples.map((s) => s.ackMs)),
      lastClient: percentiles(samples.map((s) => s.lastClientMs)),
      pushed: percentiles(samples.map((s) => s.pushedMs)),
      ackPodLabel: percentiles(samples.filter((s) => s.kind === 'pod-label').map((s) => s.ackMs)),
      ackNamespace: percentiles(samples.filter((s) => s.kind === 'namespace-enrollment').map((s) => s.ackMs)),
    },
    rssMiB: {
      ready: atStart.status.rssKiB / 1024,
      readyPrometheus: bytesMiB(metric(atStart.metrics, 'process_resident_memory_bytes')),
      syncPeak: afterSync.hwmKiB / 1024,
      syncSampledMax: sampler.max('sync') / 1024,
      idle: idle.status.rssKiB / 1024,
      idlePrometheus: bytesMiB(metric(idle.metrics, 'process_resident_memory_bytes')),
      idleHeapUsed: idle.host.memory.heapUsed / 2 ** 20,
      changesPeak: hwmReset ? afterChanges.status.hwmKiB / 1024 : undefined,
      changesSampledMax: sampler.max('changes') / 1024,
      changesEnd: afterChanges.status.rssKiB / 1024,
      changesEndPrometheus: bytesMiB(metric(afterChanges.metrics, 'process_resident_memory_bytes')),
      afterForcedGc: afterGcStatus.rssKiB / 1024,
      overallPeak: Math.max(afterSync.hwmKiB, afterChanges.status.hwmKiB) / 1024,
    },
    heapMiB: { idle: heapOf(idle.host.memory), changesEnd: heapOf(hostEnd.memory), afterForcedGc: heapOf(afterGc.memory) },
    translation: {
      startupMeanMs: mean(metric(atStart.metrics, 'ambit_translation_duration_seconds_sum'), metric(atStart.metrics, 'ambit_translation_duration_seconds_count')),
      changesCount: translationsDuringChanges,
      changesMeanMs: mean(translationSecondsDuringChanges, translationsDuringChanges),
      changes: percentiles(samples.flatMap((s) => (s.translationMs === undefined ? [] : [s.translationMs]))),
    },
    pushToAckMetric: { acks: acksDuringChanges, meanMs: mean(ackSecondsDuringChanges, acksDuringChanges) },
    cpu: {
      controlPlaneStartupSeconds: atStart.cpu, controlPlaneSyncSeconds: sync.cpuSeconds,
      controlPlaneChangesCores: changesCpu / changesWallS, subscriberTotalSeconds: subscriberCpu.reduce((a, b) => a + b, 0),
    },
    subscriberPeakRssMiB: subscriberPeakMiB,
    subscriberHeapUsedMiB: subscriberStats.map((s) => s.memory.heapUsed / 2 ** 20),
  };
}

interface Change {
  kind: ChangeSample['kind'];
  describe: string;
  workloads: number;
  args: Omit<ChangeArgs, 'timeoutMs'>;
  check: Check;
}

/**
 * Even k: label or unlabel one pod (one workload changes); odd k: enrol or
 * withdraw a namespace (its 200 workloads change protocol). Every ztunnel
 * receives every workload, so each change reaches every subscriber.
 */
function nextChange(k: number, cluster: Cluster, podLabelled: Set<string>, enrolled: Set<string>): Change {
  const namespace = namespaceName(Math.floor(k / 2) % cluster.namespaces.length);
  const [podKey, uid] = Object.entries(cluster.podUids).find(([key]) => key.startsWith(`${namespace}/`))!;
  const pod = podKey.split('/')[1]!;
  if (k % 2 === 0) {
    const label = !podLabelled.has(podKey);
    if (label) podLabelled.add(podKey);
    else podLabelled.delete(podKey);
    const value = label ? `v${k}` : null;
    return {
      kind: 'pod-label', describe: `${label ? 'label' : 'unlabel'} pod ${podKey}`, workloads: 1,
      args: { kind: 'Pod', name: pod, namespace, patch: { metadata: { labels: { 'bench-change': value } } } },
      check: { uid, label: 'bench-change', value },
    };
  }
  const enrol = !enrolled.has(namespace);
  if (enrol) enrolled.add(namespace);
  else enrolled.delete(namespace);
  return {
    kind: 'namespace-enrollment', describe: `${enrol ? 'enrol' : 'withdraw'} namespace ${namespace}`, workloads: 200,
    args: { kind: 'Namespace', name: namespace, patch: { metadata: { labels: { [LABEL_DATAPLANE_MODE]: enrol ? 'ambient' : null } } } },
    check: { uid, protocol: enrol ? 'HBONE' : 'TCP' },
  };
}

// --- measurement helpers -----------------------------------------------------------

type Metrics = Map<string, number>;

/** The unlabelled samples of a Prometheus text exposition (`name value`), plus `_sum`/`_count` of histograms. */
async function scrape(url: string): Promise<Metrics> {
  const response = await fetch(url);
  const text = await response.text();
  const metrics: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const [name, value] = line.split(' ');
    if (name !== undefined && value !== undefined) metrics.set(name, Number(value));
  }
  return metrics;
}

function failOnExit(managed: Managed): Promise<never> {
  return managed.exited.then(() => {
    throw new Error(`${managed.name} exited during start-up:\n${managed.tail()}`);
  });
}

function split<T>(items: readonly T[], parts: number): T[][] {
  const groups: T[][] = Array.from({ length: Math.min(parts, items.length) }, () => []);
  items.forEach((item, i) => groups[i % groups.length]!.push(item));
  return groups;
}

function heapOf(memory: NodeJS.MemoryUsage): { used: number; total: number; external: number; arrayBuffers: number } {
  const m = (bytes: number): number => bytes / 2 ** 20;
  return { used: m(memory.heapUsed), total: m(memory.heapTotal), external: m(memory.external), arrayBuffers: m(memory.arrayBuffers) };
}

function mean(sum: number | undefined, count: number | undefined): number | undefined {
  return sum === undefined || count === undefined || count === 0 ? undefined : (sum / count) * 1000;
}

function bytesMiB(bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : bytes / 2 ** 20;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(0);
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(0)} ms`;
}

function log(message: string): void {
  console.log(`[bench:cp] ${message}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(`control-plane benchmark failed: ${failureText(error)}`);
  process.exit(1);
});
