// What a benchmark ran on: CPU, kernel, Node and the versions of the tools
// it drives, for the header of its section in docs/performance.md.
import os from 'node:os';
import { run, type ProcessSet } from './processes.js';
import type { Machine } from './report.js';

/** The stunnel binary: `stunnel4` (Debian's name) unless STUNNEL says otherwise. */
export function stunnelBinary(): string {
  return process.env.STUNNEL ?? 'stunnel4';
}

/** What `pattern`'s first group finds in a tool's version output; '?' when it is missing or says nothing that matches. */
export async function toolVersion(set: ProcessSet, command: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const r = await run(set, { name: `${command}-version`, command, args }, 5_000);
    return pattern.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? '?';
  } catch {
    return '?';
  }
}

export async function describeMachine(set: ProcessSet): Promise<Machine> {
  const version = (command: string, args: string[], pattern: RegExp): Promise<string> => toolVersion(set, command, args, pattern);
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? '?',
    cores: os.availableParallelism(),
    kernel: os.release(),
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    tools: {
      iperf3: await version('iperf3', ['--version'], /iperf (\S+)/),
      wrk: await version('wrk', ['-v'], /wrk (\S+)/),
      nginx: await version('nginx', ['-v'], /nginx\/(\S+)/),
      stunnel: await version(stunnelBinary(), ['-version'], /stunnel (\S+)/),
      'stunnel OpenSSL': await version(stunnelBinary(), ['-version'], /Running\s+with OpenSSL (\S+)/),
    },
  };
}
