// What a benchmark ran on: CPU, kernel, Node and the versions of the tools
// it drives, for the header of its section in docs/performance.md.
import { fstatSync } from 'node:fs';
import os from 'node:os';
import { run, type ProcessSet } from './processes.js';
import type { Machine, MachineCosts } from './report.js';

const SYSCALLS = 30_000;
const FAULT_PAGES = 16_384;
const PAGE_BYTES = 4096;

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
    costs: measureCosts(),
    tools: {
      iperf3: await version('iperf3', ['--version'], /iperf (\S+)/),
      wrk: await version('wrk', ['-v'], /wrk (\S+)/),
      nginx: await version('nginx', ['-v'], /nginx\/(\S+)/),
      stunnel: await version(stunnelBinary(), ['-version'], /stunnel (\S+)/),
      'stunnel OpenSSL': await version(stunnelBinary(), ['-version'], /Running\s+with OpenSSL (\S+)/),
    },
  };
}

/**
 * What the kernel (and the hypervisor under it) charges for the two things a
 * Node proxy does most besides computing: a system call and a first touch of
 * a fresh page. Every proxy on the data path pays them per request (reads,
 * writes, epoll; heap and buffer pages), so tails and CPU per request are
 * only comparable between runs on machines where these are alike. Measured
 * in this process, best of three (about a second on a machine slow at both).
 */
export function measureCosts(): MachineCosts {
  let syscallUs = Number.POSITIVE_INFINITY;
  let pageFaultUs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    let start = performance.now();
    for (let i = 0; i < SYSCALLS; i++) fstatSync(0);
    syscallUs = Math.min(syscallUs, ((performance.now() - start) * 1000) / SYSCALLS);
    // Above glibc's mmap threshold: fresh anonymous pages, each faulted in by the first write.
    const fresh = Buffer.allocUnsafeSlow(FAULT_PAGES * PAGE_BYTES);
    start = performance.now();
    for (let offset = 0; offset < fresh.length; offset += PAGE_BYTES) fresh[offset] = 1;
    pageFaultUs = Math.min(pageFaultUs, ((performance.now() - start) * 1000) / FAULT_PAGES);
  }
  return { syscallUs, pageFaultUs };
}

/** The "Machine:" line of a section: cores, CPU, kernel, Node, the cost of a system call and a page fault, tools. */
export function machineLine(machine: Machine, tools: Record<string, string> = machine.tools, cores = `${machine.cores} cores`): string {
  return `Machine: ${cores} (${machine.cpuModel}), Linux ${machine.kernel}, Node ${machine.node} (OpenSSL ${machine.nodeOpenssl})`
    + `${machine.costs === undefined ? '' : `; ${costsText(machine.costs)}`}; `
    + `${Object.entries(tools).map(([k, v]) => `${k} ${v}`).join(', ')}.`;
}

/** Beyond these, the machine is far slower at both than an ordinary host (about 1 µs or less for each). */
const SLOW_SYSCALL_US = 2;
const SLOW_PAGE_FAULT_US = 4;

/** Both costs; on a machine slow at either, said in bold, since every path's tail then grows with it. */
export function costsText(costs: MachineCosts): string {
  const text = `a system call ${costs.syscallUs.toFixed(2)} µs (\`fstatSync\` from Node), a page fault ${costs.pageFaultUs.toFixed(2)} µs (first write to a fresh page)`;
  return costs.syscallUs > SLOW_SYSCALL_US || costs.pageFaultUs > SLOW_PAGE_FAULT_US
    ? `**${text}: several times an ordinary host's (about 1 µs or less each), so latencies, tails above all, and CPU per request are not comparable with runs on one**`
    : text;
}
