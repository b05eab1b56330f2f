// Processes inside the cluster's network namespaces. `ip netns exec` enters
// the namespace (and bind-mounts /etc/netns/<ns>/*) and then execs the
// program, so the pid we get is the program's own. Long-running processes
// are detached into their own process group with output appended to a log
// file, so they outlive the process that started them (`ambit up` exits);
// teardown finds them again by pid or by namespace.
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, systemCode } from '@ambit/core';
import { run, type CommandResult } from './command.js';
import { LOGS_DIR, type ProcessTarget } from './state.js';

export interface SpawnedProcess {
  pid: number;
  log: string;
  /** Settles when the process exits (only observable from the process that spawned it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ExecOptions {
  /** Default 30 s; the command is killed and the call rejects with `timeout`. */
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** How long a TERM'ed process gets before KILL. */
export const STOP_GRACE_MS = 3_000;

/**
 * Where a process's output goes: logs/<namespace>/<pod>[.<logName>].log,
 * logs/_node/<node>/<logName or program>.log, logs/_cluster/<logName or program>.log.
 * Kubernetes names never start with '_', so these never meet a namespace's directory.
 */
export function logPath(stateDir: string, target: ProcessTarget, argv: readonly string[], logName: string | undefined): string {
  const logs = join(stateDir, LOGS_DIR);
  const program = logName ?? basename(argv[0] ?? 'process');
  switch (target.kind) {
    case 'pod': return join(logs, target.namespace, `${target.name}${logName === undefined ? '' : `.${logName}`}.log`);
    case 'node': return join(logs, '_node', target.node, `${program}.log`);
    case 'cluster': return join(logs, '_cluster', `${program}.log`);
    case 'host': return join(logs, '_host', `${program}.log`);
  }
}

export async function spawnInNetns(netns: string, argv: readonly string[], env: Record<string, string>, log: string): Promise<SpawnedProcess> {
  if (argv.length === 0) throw new AmbitError('invalid-argument', 'spawn needs a command (argv is empty)');
  await fs.mkdir(dirname(log), { recursive: true });
  const fd = openSync(log, 'a', 0o644);
  try {
    // netns '' is the machine's own namespace.
    const [command, ...args] = netns === '' ? argv : ['ip', 'netns', 'exec', netns, ...argv];
    const child = spawn(command as string, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
      detached: true,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1));
      child.once('error', (error) => reject(new AmbitError('unavailable', `cannot start ${argv.join(' ')} in ${netns || 'the host namespace'}: ${error.message}`, {
        cause: error,
        hint: 'the local cluster needs root and the ip command (iproute2)',
      })));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.unref();
    return { pid, log, exited };
  } finally {
    closeSync(fd);
  }
}

export async function execInNetns(netns: string, argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
  if (argv.length === 0) throw new AmbitError('invalid-argument', 'exec needs a command (argv is empty)');
  const [command, ...args] = netns === '' ? argv : ['ip', 'netns', 'exec', netns, ...argv];
  return run(command as string, args, {
    timeoutMs: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
    env: { ...process.env, ...(options.env ?? {}) },
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}

/** Pids of the processes inside a namespace (empty if it does not exist). */
export async function netnsPids(netns: string): Promise<number[]> {
  const result = await run('ip', ['netns', 'pids', netns], { timeoutMs: 10_000 }).catch(() => undefined);
  if (result?.code !== 0) return [];
  return result.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** Whether `pid` is a live (not zombie) process. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (error) {
    if (systemCode(error) === 'ENOENT' || systemCode(error) === 'ESRCH') return false;
    throw error;
  }
}

/** The command line of `pid`, or undefined when it is gone. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((part) => part !== '');
  } catch {
    return undefined;
  }
}

/**
 * Whether a recorded process is still the one we started: alive, and running
 * the recorded argv, so a reused pid is never taken for ours. `ip netns exec`
 * execs the program, so /proc shows the program's argv — or, for a moment
 * right after spawning, still `ip netns exec <netns> <argv>`.
 */
export async function isRecordedProcess(record: { pid: number; netns: string; argv: readonly string[] }): Promise<boolean> {
  const actual = await commandLine(record.pid);
  if (actual === undefined || record.argv.length === 0 || !(await isAlive(record.pid))) return false;
  const startsWith = (expected: readonly string[]): boolean =>
    actual.length >= expected.length && expected.every((part, i) => actual[i] === part);
  return startsWith(record.argv) || startsWith(['ip', 'netns', 'exec', record.netns, ...record.argv]);
}

/**
 * TERM (to the process group when the process leads one), wait up to
 * `graceMs`, then KILL. Returns the pids still alive afterwards.
 */
export async function stopProcesses(pids: readonly number[], graceMs = STOP_GRACE_MS): Promise<number[]> {
  const unique = [...new Set(pids)].filter((pid) => pid > 1 && pid !== process.pid);
  for (const pid of unique) signal(pid, 'SIGTERM');
  let alive = await survivors(unique);
  const deadline = Date.now() + graceMs;
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = await survivors(alive);
  }
  for (const pid of alive) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 2_000;
  while (alive.length > 0 && Date.now() < killDeadline) {
    await sleep(50);
    alive = await survivors(alive);
  }
  return alive;
}

function signal(pid: number, name: NodeJS.Signals): void {
  // Detached processes lead their own group: signal the group so children go
  // too; only a process that leads no group is signalled alone (once: a
  // second signal could land after its handler and kill it mid-drain).
  try {
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

async function survivors(pids: readonly number[]): Promise<number[]> {
  const alive: number[] = [];
  for (const pid of pids) if (await isAlive(pid)) alive.push(pid);
  return alive;
}

/**
 * The TCP ports `pid` itself listens on (its sockets in LISTEN state, IPv4 or IPv6), read from
 * /proc as a kubelet's `tcpSocket` probe would find them, in whatever network namespace the
 * process is; empty when it is gone.
 */
export async function listeningTcpPorts(pid: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await fs.readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (fields[3] !== '0A' || local === undefined || !inodes.has(fields[9] ?? '')) continue;
      ports.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}
