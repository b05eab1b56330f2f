// Child processes for the benchmark: each in its own process group (so a
// kill reaches everything it started), output kept in a small ring for error
// messages, and every one of them killed when the run ends, however it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';

const TAIL_LINES = 40;
const KILL_GRACE_MS = 2_000;

export interface ProcessSpec {
  /** A short name for messages and results, e.g. `stunnel-client`. */
  name: string;
  command: string;
  args: string[];
  /** CPUs for `taskset -c`, e.g. "0" or "0,1". */
  cpus?: string | undefined;
  /** A network namespace to run in (`ip netns exec`, which execs: the pid is still the program's). */
  netns?: string | undefined;
  cwd?: string;
  /** Open a Node IPC channel (the child must be a Node program). */
  ipc?: boolean;
}

export class Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly lines: string[] = [];
  private exitCode: number | null | undefined;
  private readonly waiters: { match: RegExp; resolve: (line: string) => void }[] = [];

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    const [inNsCommand, inNsArgs] = spec.netns === undefined
      ? [spec.command, spec.args]
      : ['ip', ['netns', 'exec', spec.netns, spec.command, ...spec.args]];
    const [command, args] = spec.cpus === undefined
      ? [inNsCommand, inNsArgs]
      : ['taskset', ['-c', spec.cpus, inNsCommand, ...inNsArgs]];
    // detached: a new process group, so a group kill also reaches nginx's worker.
    this.child = spawn(command, args, {
      detached: true, stdio: spec.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'], cwd: spec.cwd,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.record(`spawn failed: ${error.message}`);
        this.exitCode = null;
        resolve(null);
      });
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? null;
        this.record(`exited with ${code === null ? `signal ${signal ?? '?'}` : `code ${code}`}`);
        resolve(code);
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.record(line);
      });
    }
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid: ${this.tail()}`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines it printed, for error messages. */
  tail(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first output line matching `match`; rejects if it exits or `timeoutMs` passes. */
  waitForLine(match: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((line) => match.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} printed no line matching ${match} within ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const waiter = { match, resolve: (line: string): void => { clearTimeout(timer); resolve(line); } };
      this.waiters.push(waiter);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before it was ready:\n${this.tail()}`));
      });
    });
  }

  /** SIGTERM to the group, SIGKILL after a grace period. */
  async stop(): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    signalGroup(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    // The leader may exit before the rest of its group (nginx workers).
    signalGroup(this.child.pid, 'SIGKILL');
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    for (const waiter of this.waiters.splice(0)) {
      if (waiter.match.test(line)) waiter.resolve(line);
      else this.waiters.push(waiter);
    }
  }
}

/** Every process the run started; `stopAll` ends them, `killAllNow` is for process exit. */
export class ProcessSet {
  private readonly all: Managed[] = [];

  start(spec: ProcessSpec): Managed {
    const managed = new Managed(spec);
    this.all.push(managed);
    return managed;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((managed) => managed.stop()));
  }

  /** Synchronous last resort, for an 'exit' handler. */
  killAllNow(): void {
    for (const managed of this.all) if (managed.child.pid !== undefined) signalGroup(managed.child.pid, 'SIGKILL');
  }

  /** Any process that should be running but is not, as an error naming it. */
  checkAlive(names: readonly Managed[]): void {
    for (const managed of names) {
      if (!managed.running) throw new Error(`${managed.name} is no longer running:\n${managed.tail()}`);
    }
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`) and collects its output. */
export async function run(set: ProcessSet, spec: ProcessSpec, timeoutMs: number): Promise<RunResult> {
  const managed = set.start(spec);
  let stdout = '';
  let stderr = '';
  managed.child.stdout?.on('data', (chunk: string) => { stdout += chunk; });
  managed.child.stderr?.on('data', (chunk: string) => { stderr += chunk; });
  const timer = setTimeout(() => void managed.stop(), timeoutMs);
  const code = await managed.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once a TCP connect to 127.0.0.1:port succeeds. */
export async function waitForPort(port: number, owner: Managed, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!owner.running) throw new Error(`${owner.name} exited before listening on ${port}:\n${owner.tail()}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`${owner.name} is not listening on 127.0.0.1:${port} after ${timeoutMs} ms:\n${owner.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

let clockTicks: number | undefined;

/**
 * `pid` and its descendants, from /proc/PID/task/TID/children: a proxy's
 * cost is its whole process tree (a waypoint forks workers).
 */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const at = tree[i]!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${at}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        for (const child of readFileSync(`/proc/${at}/task/${task}/children`, 'utf8').trim().split(' ')) if (child !== '') tree.push(Number(child));
      } catch { /* gone */ }
    }
  }
  return tree;
}

/** `/proc/<member>/<file>` of each member of `pid`'s tree: throws if `pid` is gone, skips descendants that went. */
function treeFiles(pid: number, file: string): string[] {
  const texts: string[] = [];
  for (const member of processTree(pid)) {
    try {
      texts.push(readFileSync(`/proc/${member}/${file}`, 'utf8'));
    } catch (error) {
      if (member === pid) throw error;
    }
  }
  return texts;
}

/** CPU seconds used so far by `pid` and its descendants (all their threads), from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const stat of treeFiles(pid, 'stat')) {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / (clockTicks ?? 100);
}

/** Sets the clock-tick rate used by cpuSeconds (from `getconf CLK_TCK`). */
export function setClockTicks(ticks: number): void {
  if (Number.isFinite(ticks) && ticks > 0) clockTicks = ticks;
}

/** CPU seconds all cores have spent busy since boot (everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (ticks[i] ?? 0), 0);
  return busy / (clockTicks ?? 100);
}

const CPUACCT_ROOT = '/sys/fs/cgroup/cpuacct';

/**
 * A cgroup (v1 cpuacct) holding this process and everything it starts from
 * then on: their CPU time, exited processes included. Subtracted from the
 * machine's (the root group's), it leaves what other workloads used.
 */
export class CpuAccount {
  private constructor(private readonly dir: string) {}

  /** Moves this process into a new cgroup; undefined where cpuacct is not mounted or not writable. */
  static create(name: string): CpuAccount | undefined {
    const dir = `${CPUACCT_ROOT}/${name}`;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/cgroup.procs`, String(process.pid));
      return new CpuAccount(dir);
    } catch {
      return undefined;
    }
  }

  /** CPU seconds used by the members so far (exact, from the scheduler's run time). */
  seconds(): number {
    return Number(readFileSync(`${this.dir}/cpuacct.usage`, 'utf8').trim()) / 1e9;
  }

  /**
   * CPU seconds used by every task on the machine so far (the root group), on
   * the same exact clock; /proc/stat's tick sampling misses much of a load
   * made of many short wake-ups (1000 requests/s).
   */
  machineSeconds(): number {
    return Number(readFileSync(`${CPUACCT_ROOT}/cpuacct.usage`, 'utf8').trim()) / 1e9;
  }

  /** Moves this process back to the root group and removes the cgroup; false while other members remain. */
  close(): boolean {
    try {
      writeFileSync(`${CPUACCT_ROOT}/cgroup.procs`, String(process.pid));
      rmdirSync(this.dir);
      return true;
    } catch {
      return false;
    }
  }
}

/** Peak resident set size of `pid` and its descendants in MiB (VmHWM, summed), or undefined if it is gone. */
export function peakRssMiB(pid: number): number | undefined {
  try {
    return procStatus(pid).hwmKiB / 1024;
  } catch {
    return undefined;
  }
}

export interface ProcStatus {
  rssKiB: number;
  hwmKiB: number;
  /** The parts of VmRSS: anonymous memory (heap, stacks), file mappings (the binary, libraries), shared memory. */
  anonKiB: number;
  fileKiB: number;
  shmemKiB: number;
}

/**
 * VmRSS and VmHWM of `pid`, from /proc/PID/status (throws if it is gone),
 * each summed with its descendants' (pages they share count in each).
 */
export function procStatus(pid: number): ProcStatus {
  const sum: ProcStatus = { rssKiB: 0, hwmKiB: 0, anonKiB: 0, fileKiB: 0, shmemKiB: 0 };
  for (const text of treeFiles(pid, 'status')) {
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
    sum.rssKiB += field('VmRSS');
    sum.hwmKiB += field('VmHWM');
    sum.anonKiB += field('RssAnon');
    sum.fileKiB += field('RssFile');
    sum.shmemKiB += field('RssShmem');
  }
  return sum;
}

/** Resets VmHWM of `pid` and its descendants to their current RSS (Linux: clear_refs 5); false if refused. */
export function resetPeak(pid: number): boolean {
  try {
    for (const member of processTree(pid)) writeFileSync(`/proc/${member}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** VmRSS of a process (and its descendants) every 100 ms, the maximum kept per phase. */
export class RssSampler {
  private current = 'start';
  private detail: string | undefined;
  private readonly maxima = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.timer = setInterval(() => {
      try {
        const { rssKiB } = procStatus(pid);
        for (const key of [this.current, this.detail]) if (key !== undefined) this.maxima.set(key, Math.max(this.maxima.get(key) ?? 0, rssKiB));
      } catch { /* gone */ }
    }, 100);
  }

  /** Samples from now on count for `name` (and for `name#detail` too, when given). */
  phase(name: string, detail?: string): void {
    this.current = name;
    this.detail = detail === undefined ? undefined : `${name}#${detail}`;
  }

  max(phase: string): number {
    return this.maxima.get(phase) ?? Number.NaN;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
