// Shared by the root-only suites in test/netns: why a suite must skip, where
// the sample binaries are, and small polling helpers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** Why the netns suites cannot run here, or undefined when they can. Printed once per process. */
export function netnsSkipReason(suite: string): string | undefined {
  const reason = findSkipReason();
  if (reason !== undefined && !printed.has(suite)) {
    printed.add(suite);
    console.warn(`\n*** SKIPPING ${suite}: ${reason} ***\n`);
  }
  return reason;
}

const printed = new Set<string>();

function findSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, nftables); run the suite as root';
  for (const [tool, args] of [['ip', ['-V']], ['nft', ['--version']], ['sysctl', ['--version']]] as const) {
    const result = spawnSync(tool, args, { stdio: 'ignore' });
    if (result.error !== undefined || result.status !== 0) return `the ${tool} command is missing (install ${tool === 'nft' ? 'nftables' : 'iproute2/procps'})`;
  }
  return undefined;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Compiled sample workload of the local cluster: `echo` or `client`. */
export function localclusterBin(name: 'echo' | 'client'): string {
  const path = `${repoRoot}packages/localcluster/dist/bin/${name}.js`;
  if (!existsSync(path)) throw new Error(`${path} is missing; build first (npx tsc -b)`);
  return path;
}

/** A compiled helper script from test/support (e.g. `capture-agent`). */
export function supportScript(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/** Polls `check` until it returns a value other than undefined, or fails with the last error. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`;
      throw new Error(`${what} did not happen within ${timeoutMs} ms${detail}`);
    }
    await sleep(100);
  }
}

/** One JSON command line to a unix-socket control channel, one JSON answer line back. */
export function controlRequest<T = unknown>(socketPath: string, command: Record<string, unknown>, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(`${JSON.stringify(command)}\n`));
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      socket.end();
      const answer = JSON.parse(buffer.slice(0, newline)) as { ok: boolean; error?: string; result?: T };
      if (answer.ok) resolve(answer.result as T);
      else reject(new Error(answer.error ?? 'command failed'));
    });
    socket.on('error', reject);
  });
}

/**
 * A suite's end: stops the mesh, tears the cluster down and proves nothing
 * of it is left (no namespace, so no link or nft table; no process), keeps
 * the logs when AMBIT_KEEP_LOGS=DIR asks for a post-mortem, removes the state.
 */
export async function tearDownChecked(
  stateDir: string | undefined, cluster: { id: string; teardown(): Promise<{ leftovers: string[] }> } | undefined, mesh?: { stop(): Promise<void> },
): Promise<void> {
  if (mesh !== undefined) await mesh.stop().catch(() => undefined);
  if (cluster !== undefined && stateDir !== undefined) {
    const report = await cluster.teardown();
    assert.deepEqual(report.leftovers, [], 'teardown left nothing behind');
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(netns, new RegExp(`ambit-${cluster.id}-`), 'no namespace (and so no link or nft table) of this cluster is left');
    const processes = spawnSync('pgrep', ['-f', join(stateDir, '')], { encoding: 'utf8' }).stdout.trim();
    assert.equal(processes, '', 'no process of this cluster is left');
  }
  if (stateDir === undefined) return;
  if (process.env.AMBIT_KEEP_LOGS !== undefined) await cp(join(stateDir, 'logs'), process.env.AMBIT_KEEP_LOGS, { recursive: true });
  await rm(stateDir, { recursive: true, force: true });
}
