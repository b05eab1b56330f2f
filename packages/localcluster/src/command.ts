// Running the system tools the local cluster is built with (ip, nft, sysctl).
// One place turns a failed command into an AmbitError carrying its stderr and
// a hint, so every network step reports the same way.
import { spawn } from 'node:child_process';
import { AmbitError } from '@ambit/core';

export interface CommandResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Killed with SIGKILL after this long; the promise rejects with `timeout`. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

const ROOT_HINT = 'the local cluster needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the iproute2 and nftables tools';

/** Runs a program to completion. Rejects only if it cannot start or times out. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => { /* the exit status says what went wrong */ });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new AmbitError('unavailable', `cannot run ${command}: ${error.message}`, { cause: error, hint: ROOT_HINT }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
      if (timedOut) {
        reject(new AmbitError('timeout', `${[command, ...args].join(' ')} did not finish within ${timeoutMs} ms`, { details: { ...result } }));
      } else {
        resolve(result);
      }
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a program and requires exit code 0; the error names the command and quotes its stderr. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions & { what?: string } = {}): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const what = options.what ?? [command, ...args].join(' ');
    const stderr = result.stderr.trim() || result.stdout.trim() || `exit ${String(result.code ?? result.signal)}`;
    throw new AmbitError('unavailable', `cannot ${what}: ${stderr}`, {
      hint: ROOT_HINT,
      details: { command, args: [...args], stderr: result.stderr, ...(options.input === undefined ? {} : { input: options.input }) },
    });
  }
  return result;
}

/** `ip -n <netns> -batch -` with one command per line: one process for many changes. */
export async function ipBatch(netns: string | undefined, lines: readonly string[], what: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns === undefined ? ['-batch', '-'] : ['-n', netns, '-batch', '-'];
  await runChecked('ip', args, { input: `${lines.join('\n')}\n`, what });
}

/** sysctl -w inside a namespace (/proc/sys/net is per namespace). */
export async function sysctl(netns: string, settings: Record<string, string | number>, what: string): Promise<void> {
  const pairs = Object.entries(settings).map(([key, value]) => `${key}=${String(value)}`);
  await runChecked('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', ...pairs], { what });
}

/** nft -f - inside a namespace. */
export async function nftApply(netns: string, script: string, what: string): Promise<void> {
  await runChecked('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { input: script, what });
}
