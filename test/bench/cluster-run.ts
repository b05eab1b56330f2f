// One run of a benchmark on a local cluster (mesh, waypoint): a temp dir, a
// cpuacct cgroup for everything the run starts, the --timeout, SIGINT/SIGTERM,
// and a cleanup that always runs: the processes it started stopped, the mesh
// stopped, the cluster torn down (a failure if any namespace is left) and the
// temp dir removed. Also what every such run measures the same way: the
// machine and how busy it was, and paths measured in interleaved repetitions.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster, LocalMesh } from '@ambit/localcluster';
import { failureText } from './args.js';
import { costsText, describeMachine } from './machine.js';
import { CpuAccount, machineBusySeconds, ProcessSet, run, setClockTicks, type Managed } from './processes.js';
import { benchFiles, publish, summarize, writeSection, type Machine, type Sample, type Summary } from './report.js';
import { OTHERS_NOTICE_CORES, type Environment, type RunHeader, type Verdict } from './tables.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_PACKAGE_DIR = join(ROOT, 'test');
const SETTLE_MS = 500;
/** How long the proxies get to settle after set-up before their idle memory is read. */
export const IDLE_SETTLE_MS = 2_000;

/** What has to be undone, filled in as it is built. */
export interface Built {
  /** This process's cgroup: everything started from here on is counted as the benchmark's CPU. */
  account: CpuAccount | undefined;
  cluster?: LocalCluster;
  mesh?: LocalMesh;
  tornDown: boolean;
}

/** What the measuring body of a run gets. */
export interface ClusterRun {
  set: ProcessSet;
  /** The run's temp dir (certificates, configs, the cluster's state), removed at the end. */
  dir: string;
  built: Built;
  /** Date.now() at the start. */
  started: number;
}

export interface RunOptions {
  /** Names the cgroup and the temp dir, e.g. `mesh`. */
  name: string;
  timeoutSeconds: number;
  log: (message: string) => void;
}

/**
 * Runs `body` and cleans up however it ends (an error, --timeout, a signal;
 * a second signal exits at once, after a synchronous teardown). Returns the
 * exit code: 1 if the body failed or anything was left behind.
 */
export async function runInCluster(options: RunOptions, body: (run: ClusterRun) => Promise<void>): Promise<number> {
  const { log } = options;
  const started = Date.now();
  const set = new ProcessSet();
  const dir = await mkdtemp(join(os.tmpdir(), `ambit-${options.name}-`));
  const built: Built = { account: CpuAccount.create(`ambit-bench-${options.name}-${process.pid}`), tornDown: false };
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
    await Promise.race([body({ set, dir, built, started }), interrupted]);
  } catch (error) {
    log(`failed: ${failureText(error)}`);
    code = 1;
  } finally {
    clearTimeout(timer);
    code = Math.max(code, await cleanUp(set, built, dir, log));
    process.off('exit', onExit);
  }
  log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  return code;
}

/**
 * The entry point's work once options are parsed: --report-only renders the
 * section again; otherwise, as root, the output directories asked for are
 * made and the benchmark runs in runInCluster.
 */
export async function clusterMain<R extends { samples: Sample<P>[] }, P extends string>(
  name: string, options: { reportOnly: boolean; timeoutSeconds: number }, publication: Publication<R, P>, log: (message: string) => void,
  outputDirs: readonly (string | undefined)[], benchmark: (run: ClusterRun) => Promise<void>,
): Promise<number> {
  if (options.reportOnly) return rewriteSection(publication, log);
  if (process.getuid?.() !== 0) throw new Error(`the ${name} benchmark needs root (network namespaces, veth pairs, nftables)`);
  for (const dir of outputDirs) if (dir !== undefined) await mkdir(dir, { recursive: true });
  return runInCluster({ name, timeoutSeconds: options.timeoutSeconds, log }, benchmark);
}

/** The clock-tick rate for /proc CPU times, the machine's description and how busy it is before the run; logged with the run's length. */
export async function describeRun(
  { set, built, dir }: ClusterRun, timing: { repeat: number; durationSeconds: number }, log: (message: string) => void,
): Promise<{ machine: Machine; environment: Environment }> {
  const tck = await run(set, { name: 'getconf', command: 'getconf', args: ['CLK_TCK'] }, 5_000);
  setClockTicks(Number(tck.stdout.trim()));
  const machine = await describeMachine(set);
  log(`${machine.cores} cores (${machine.cpuModel}); ${Object.entries(machine.tools).map(([k, v]) => `${k} ${v}`).join(', ')}; node ${machine.node}`);
  if (machine.costs !== undefined) log(costsText(machine.costs).replaceAll('**', ''));
  const environment = await describeEnvironment(set, built.account);
  log(`before the run: ${environment.backgroundBusyCores.toFixed(2)} cores busy, ${environment.otherClusterNamespaces.length} namespaces of other local clusters`
    + `${environment.backgroundBusyCores > 0.2 || environment.otherClusterNamespaces.length > 0 ? ' (figures may be noisy)' : ''}`);
  log(`${timing.repeat} repetition(s) of ${timing.durationSeconds} s per test; temp dir ${dir}`);
  return { machine, environment };
}

/** A test and the paths it runs on; `measure` takes one measurement of one path. */
export interface Test<R extends { path: P }, P extends string> {
  test: string;
  routes: readonly R[];
  measure: (route: R) => Promise<Record<string, number>>;
}

/**
 * `repeat` repetitions of every test on every path, the paths' order rotated
 * each repetition so none always runs first (or right after another's load).
 * `before` runs before each measurement (a liveness check); each sample is logged.
 */
export async function interleaved<R extends { path: P }, P extends string>(
  repeat: number, tests: readonly Test<R, P>[], before: () => void, log: (sample: Sample<P>) => void,
): Promise<Sample<P>[]> {
  const samples: Sample<P>[] = [];
  for (let repetition = 1; repetition <= repeat; repetition++) {
    for (const { test, routes, measure } of tests) {
      const order = routes.map((_, i) => routes[(i + repetition - 1) % routes.length]!);
      for (const route of order) {
        before();
        await sleep(SETTLE_MS);
        const sample: Sample<P> = { test, path: route.path, repetition, metrics: await measure(route) };
        samples.push(sample);
        log(sample);
      }
    }
  }
  return samples;
}

/** One measurement's metrics as a log line. */
export function describeMetrics(metrics: Record<string, number>): string {
  const parts: string[] = [];
  const ms = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(3));
  if (metrics.gbps !== undefined) parts.push(`${metrics.gbps.toFixed(2)} Gbit/s`);
  if (metrics.achievedRate !== undefined) {
    parts.push(`${metrics.achievedRate.toFixed(0)} req/s p50 ${ms(metrics.p50Ms)} p99 ${ms(metrics.p99Ms)} max ${ms(metrics.maxMs)} ms, lag max ${ms(metrics.lagMaxMs)} ms`);
    if (metrics.settleP99Ms !== undefined) parts.push(`settling first: p50 ${ms(metrics.settleP50Ms)} p99 ${ms(metrics.settleP99Ms)} max ${ms(metrics.settleMaxMs)} ms`);
  } else if (metrics.rps !== undefined) {
    parts.push(`${metrics.rps.toFixed(0)} req/s p50 ${ms(metrics.p50Ms)} p99 ${ms(metrics.p99Ms)} ms`);
  }
  if (metrics.errors !== undefined && metrics.errors > 0) parts.push(`${metrics.errors} errors`);
  if (metrics.proxyCores !== undefined) parts.push(`proxies ${metrics.proxyCores.toFixed(2)} cores`);
  if (metrics.cpuSecondsPer1kRequests !== undefined) parts.push(`${metrics.cpuSecondsPer1kRequests.toFixed(3)} CPU s / 1000 req`);
  if (metrics.l7Cores !== undefined) parts.push(`L7 hop ${metrics.l7Cores.toFixed(2)} cores, ${(metrics.l7CpuSecondsPer1kRequests ?? Number.NaN).toFixed(3)} CPU s / 1000 req`);
  if (metrics.machineBusyCores !== undefined) parts.push(`machine ${metrics.machineBusyCores.toFixed(2)} cores`);
  if (metrics.otherProcessesCores !== undefined) {
    parts.push(`${metrics.otherProcessesCores > OTHERS_NOTICE_CORES ? 'OTHER PROCESSES' : 'others'} ${metrics.otherProcessesCores.toFixed(2)} cores`);
  }
  return parts.join(', ');
}

export async function netnsList(set: ProcessSet): Promise<string[]> {
  const result = await run(set, { name: 'ip-netns-list', command: 'ip', args: ['netns', 'list'] }, 10_000);
  return result.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((name) => name !== '');
}

/** Stops everything this run started and removes the cluster; 1 if anything was left behind. */
async function cleanUp(set: ProcessSet, built: Built, dir: string, log: (message: string) => void): Promise<number> {
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

async function describeEnvironment(set: ProcessSet, account: CpuAccount | undefined): Promise<Environment> {
  const machine = (): number => account?.machineSeconds() ?? machineBusySeconds();
  const before = machine();
  await sleep(2_000);
  const backgroundBusyCores = (machine() - before) / 2;
  const otherClusterNamespaces = (await netnsList(set)).filter((name) => name.startsWith('ambit-'));
  return { backgroundBusyCores, otherClusterNamespaces };
}

/** What a benchmark's entry point plugs into the shared reporting: where results go and how they read. */
export interface Publication<R extends { samples: Sample<P>[] }, P extends string> {
  docFile: string;
  resultsFile: string;
  render: (report: R, summary: Summary<P>) => string;
  verdicts: (report: R, summary: Summary<P>) => readonly Verdict[];
}

/** A benchmark's section in docs/performance.md and its samples in test/bench/results/<name>.json. */
export function publication<R extends { samples: Sample<P>[] }, P extends string>(
  name: string, render: Publication<R, P>['render'], verdicts: Publication<R, P>['verdicts'],
): Publication<R, P> {
  return { ...benchFiles(name), render, verdicts };
}

/** --report-only: the section again from the recorded samples (after a change to how it is written, not to the numbers). */
export async function rewriteSection<R extends { samples: Sample<P>[] }, P extends string>(
  publication: Publication<R, P>, log: (message: string) => void,
): Promise<number> {
  const { summary: _old, ...report } = JSON.parse(await readFile(publication.resultsFile, 'utf8')) as R & { summary: unknown };
  await writeSection(publication.docFile, publication.render(report as unknown as R, summarize(report.samples as Sample<P>[])));
  log(`rewrote the section of ${publication.docFile} from ${publication.resultsFile}`);
  return 0;
}

/** Prints the section, records it and the samples (unless `write` is false) and logs each target's verdict. */
export async function publishRun<R extends { samples: Sample<P>[] }, P extends string>(
  publication: Publication<R, P>, report: R, write: boolean, log: (message: string) => void,
): Promise<void> {
  const summary = summarize(report.samples);
  const section = publication.render(report, summary);
  log(await publish(section, { ...report, summary }, { write, docFile: publication.docFile, resultsFile: publication.resultsFile }));
  for (const v of publication.verdicts(report, summary)) log(`target ${v.label}: ${v.met === undefined ? 'not measured' : v.met ? 'met' : 'MISSED'} (${v.detail})`);
}

/** The fields every report opens with: when, the command line, how long, where, how busy. */
export function runFields(script: string, started: number, described: { machine: Machine; environment: Environment }): Omit<RunHeader, 'samples'> {
  return {
    date: new Date().toISOString(),
    command: `node test/dist/bench/${script} ${process.argv.slice(2).join(' ')}`.trim(),
    wallSeconds: (Date.now() - started) / 1000,
    ...described,
  };
}

/** A check that every managed server and every proxy still runs; throws naming the first that does not. */
export function aliveCheck(set: ProcessSet, servers: readonly Managed[], proxies: readonly { name: string; pid: number }[]): () => void {
  return () => {
    set.checkAlive(servers);
    for (const proxy of proxies) {
      if (!existsSync(`/proc/${proxy.pid}`)) throw new Error(`${proxy.name} (pid ${proxy.pid}) is no longer running`);
    }
  };
}

/** A benchmark's progress log on stderr, prefixed with its name. */
export function progressLog(name: string): (message: string) => void {
  return (message) => process.stderr.write(`[bench:${name}] ${message}\n`);
}

/** Runs an entry point's main and exits with its code (1 if it throws). */
export function exitWith(main: () => Promise<number>, log: (message: string) => void): void {
  main().then((code) => process.exit(code), (error: unknown) => {
    log(`failed: ${failureText(error)}`);
    process.exit(1);
  });
}
