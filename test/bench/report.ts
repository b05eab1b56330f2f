// Results of the overlay benchmark: raw samples, their median and range,
// the markdown section for docs/performance.md and the JSON results file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine } from './machine.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Where a benchmark records its section and its samples: `docs/<doc>` and
 * `test/bench/results/<name>.json`, unless the suite (suite.ts) points them
 * elsewhere with AMBIT_BENCH_DOC and AMBIT_BENCH_RESULTS_DIR, so that nothing
 * is replaced before every part of the suite has run.
 */
export function benchFiles(name: string, doc = 'performance.md'): { docFile: string; resultsFile: string } {
  return {
    docFile: process.env.AMBIT_BENCH_DOC ?? join(ROOT, 'docs', doc),
    resultsFile: join(process.env.AMBIT_BENCH_RESULTS_DIR ?? join(ROOT, 'test', 'bench', 'results'), `${name}.json`),
  };
}

export const PATHS = ['direct', 'stunnel', 'hbone'] as const;
export type PathName = (typeof PATHS)[number];

export const PATH_LABELS: Record<PathName, string> = {
  direct: 'no tunnel',
  stunnel: 'stunnel4 mTLS pair',
  hbone: 'HBONE pair',
};

/** One measurement of one path: `test` is `iperf3` or `wrk-c<connections>`. */
export interface Sample<P extends string = PathName> {
  test: string;
  path: P;
  repetition: number;
  metrics: Record<string, number>;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  kernel: string;
  node: string;
  nodeOpenssl: string;
  /** Measured by machine.ts; absent in results recorded before it was. */
  costs?: MachineCosts;
  tools: Record<string, string>;
}

/** Microseconds per system call and per page fault on the machine that ran the benchmark (machine.ts). */
export interface MachineCosts {
  syscallUs: number;
  pageFaultUs: number;
}

export interface Report {
  date: string;
  command: string;
  machine: Machine;
  options: { durationSeconds: number; repeat: number; warmupSeconds: number; connections: number[]; pinLoad?: string; pinProxies?: string };
  samples: Sample[];
  /** Peak RSS (VmHWM) of each proxy process at the end of the run, MiB. */
  peakRssMiB: Record<string, number | undefined>;
}

/** test → path → metric → statistics over the repetitions. */
export type Summary<P extends string = PathName> = Record<string, Partial<Record<P, Record<string, Stat>>>>;

export function summarize<P extends string = PathName>(samples: readonly Sample<P>[]): Summary<P> {
  const summary: Summary<P> = {};
  const groups = new Map<string, number[]>();
  for (const sample of samples) {
    for (const [metric, value] of Object.entries(sample.metrics)) {
      const key = JSON.stringify([sample.test, sample.path, metric]);
      const values = groups.get(key) ?? [];
      values.push(value);
      groups.set(key, values);
    }
  }
  for (const [key, values] of groups) {
    const [test, path, metric] = JSON.parse(key) as [string, P, string];
    const byPath = (summary[test] ??= {});
    const metrics = (byPath[path] ??= {});
    metrics[metric] = stat(values);
  }
  return summary;
}

export function stat(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** The whole "## HBONE overlay (issue 2)" section, heading included. */
export function markdownSection(report: Report, summary: Summary): string {
  const { options, machine } = report;
  const get = (test: string, path: PathName, metric: string): Stat | undefined => summary[test]?.[path]?.[metric];
  const cell = (test: string, path: PathName, metric: string, digits: number): string => {
    const s = get(test, path, metric);
    if (s === undefined) return '–';
    return s.n > 1 ? `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : fmt(s.median, digits);
  };
  const wrkTests = options.connections.map((c) => `wrk-c${c}`);
  const split = (test: string, path: PathName): string => {
    const client = get(test, path, 'clientCores')?.median;
    const server = get(test, path, 'serverCores')?.median;
    return client === undefined || server === undefined ? '' : ` = ${fmt(client, 2)} + ${fmt(server, 2)}`;
  };

  const main = [
    `| Path | iperf3, 1 stream (Gbit/s) | ${options.connections.map((c) => `wrk c${c} req/s | c${c} p50 ms | c${c} p99 ms`).join(' | ')} |`,
    `|---|---:|${options.connections.map(() => '---:|---:|---:').join('|')}|`,
    ...PATHS.map((path) => `| ${PATH_LABELS[path]} | ${cell('iperf3', path, 'gbps', 2)} | ${wrkTests
      .map((t) => `${cell(t, path, 'rps', 0)} | ${cell(t, path, 'p50Ms', 3)} | ${cell(t, path, 'p99Ms', 3)}`).join(' | ')} |`),
  ];

  const tunnels = PATHS.filter((p) => p !== 'direct');
  const cost = [
    `| Path | CPU during iperf3 (cores) | ${options.connections.map((c) => `CPU c${c} (cores) | CPU ms / 1000 req c${c}`).join(' | ')} | peak RSS client / server (MiB) |`,
    `|---|---:|${options.connections.map(() => '---:|---:').join('|')}|---:|`,
    ...tunnels.map((path) => {
      const rss = [`${path}-client`, `${path}-server`].map((name) => report.peakRssMiB[name]).map((v) => (v === undefined ? '?' : fmt(v, 0)));
      const cores = (test: string): string => `${cell(test, path, 'proxyCores', 2)}${split(test, path)}`;
      return `| ${PATH_LABELS[path]} | ${cores('iperf3')} | ${wrkTests
        .map((t) => `${cores(t)} | ${cell(t, path, 'cpuMsPer1kRequests', 1)}`).join(' | ')} | ${rss.join(' / ')} |`;
    }),
  ];

  const busy = [
    `| Path | iperf3 | ${options.connections.map((c) => `wrk c${c}`).join(' | ')} |`,
    `|---|---:|${options.connections.map(() => '---:').join('|')}|`,
    ...PATHS.map((path) => `| ${PATH_LABELS[path]} | ${['iperf3', ...wrkTests].map((t) => cell(t, path, 'machineBusyCores', 2)).join(' | ')} |`),
  ];

  const ratio = (test: string, metric: string, a: PathName, b: PathName): string => {
    const x = get(test, a, metric)?.median;
    const y = get(test, b, metric)?.median;
    return x === undefined || y === undefined || y === 0 ? '–' : `${fmt(x / y, 2)}×`;
  };
  const ratioRows: [string, string, string][] = [
    ['iperf3 throughput', 'iperf3', 'gbps'],
    ...options.connections.flatMap((c): [string, string, string][] => [
      [`c${c} requests/s`, `wrk-c${c}`, 'rps'],
      [`c${c} p50 latency`, `wrk-c${c}`, 'p50Ms'],
      [`c${c} p99 latency`, `wrk-c${c}`, 'p99Ms'],
    ]),
  ];
  const ratios = [
    '| Metric (median) | HBONE / stunnel | HBONE / no tunnel | stunnel / no tunnel |',
    '|---|---:|---:|---:|',
    ...ratioRows.map(([label, test, metric]) =>
      `| ${label} | ${ratio(test, metric, 'hbone', 'stunnel')} | ${ratio(test, metric, 'hbone', 'direct')} | ${ratio(test, metric, 'stunnel', 'direct')} |`),
  ];

  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');
  const compare = (test: string, metric: string, strict: boolean): boolean | undefined => {
    const h = get(test, 'hbone', metric)?.median;
    const s = get(test, 'stunnel', metric)?.median;
    if (h === undefined || s === undefined) return undefined;
    return strict ? h > s : h >= s;
  };
  const errors = wrkTests.flatMap((t) => PATHS.map((p) => get(t, p, 'errors')?.max ?? 0)).reduce((a, b) => a + b, 0);

  return [
    '## HBONE overlay (issue 2)',
    '',
    `Measured ${report.date} with \`${report.command}\`.`,
    '',
    machineLine(machine),
    '',
    '### Method',
    '',
    'Three paths to the same servers, all on 127.0.0.1, measured in one run:',
    '',
    '- **no tunnel**: the load generator talks to iperf3/nginx directly.',
    '- **stunnel4 mTLS pair**: a client stunnel and a server stunnel, each its own process, TLS 1.3 only with '
      + '`ciphersuites = TLS_AES_128_GCM_SHA256` (the suite our mesh TLS negotiates), each side presenting its mesh '
      + 'certificate and verifying the peer\'s chain against the mesh root (`verifyChain = yes`, `CAfile`). '
      + 'One TLS connection per TCP connection.',
    '- **HBONE pair**: `test/bench/hbone-pair.ts` as two processes, like two nodes\' ztunnels: the client role accepts '
      + 'plain TCP and opens an HTTP/2 CONNECT tunnel per connection through `HbonePool` (tunnels share pooled mTLS '
      + 'connections); the server role is an `HboneServer` dialling the `:authority`. Same certificates as stunnel; '
      + 'additionally checks the peer\'s SPIFFE identity.',
    '',
    `Tests: \`iperf3 -c … -P 1 -t ${options.durationSeconds} -O 1 -J\` (single TCP stream, receiver goodput); `
      + `\`wrk -t2 -c{${options.connections.join(',')}} -d${options.durationSeconds}s --latency\` fetching a 1 KiB file from nginx `
      + '(1 worker, `access_log off`, keep-alive for the whole run, so no reconnects are measured). '
      + `Each path gets a ${options.warmupSeconds} s warm-up of each tool first (not recorded); then `
      + `${options.repeat} repetition(s), paths interleaved (order rotated each repetition). Cells show the median and, `
      + 'with more than one repetition, the min–max range. wrk latencies are closed-loop (subject to coordinated omission): '
      + 'compare them between paths, not as absolute service times.',
    '',
    'CPU figures are the tunnel processes\' own CPU time (utime + stime of both processes, all threads, from '
      + '`/proc/PID/stat`) over the wall time of the test, shown as total = client process + server process (medians, so '
      + 'the parts need not add up exactly); "CPU ms / 1000 req" divides that CPU time by the requests wrk completed. '
      + 'Peak RSS is `VmHWM` at the end of the run. "Whole machine busy" is all cores\' non-idle time from `/proc/stat` over '
      + 'the test: near the core count means the run was CPU-bound overall.',
    '',
    options.pinLoad === undefined && options.pinProxies === undefined
      ? 'No CPU pinning: the load generators, servers and proxies share all cores under the normal scheduler.'
      : `CPU pinning with \`taskset\`: load generators and servers (wrk, iperf3, nginx) on CPUs ${options.pinLoad ?? 'all'}, `
        + `tunnel processes on CPUs ${options.pinProxies ?? 'all'}.`,
    machine.cores <= 4
      ? `With ${machine.cores} cores everything competes for the same CPUs: the load generator, nginx/iperf3 and the two tunnel `
        + 'processes. stunnel is multi-threaded (a thread per connection); each HBONE process runs one Node event loop.'
      : '',
    '',
    '### Results',
    '',
    ...main,
    '',
    '### Ratios',
    '',
    ...ratios,
    '',
    'For latency a ratio below 1 is better; for throughput and requests/s above 1 is better.',
    '',
    '### Tunnel CPU and memory',
    '',
    ...cost,
    '',
    `Whole machine busy during each test (cores, of ${machine.cores}; load generator, servers and tunnels together):`,
    '',
    ...busy,
    '',
    '### Target',
    '',
    `- HBONE single-connection throughput ≥ stunnel4 pair: ${verdict(compare('iperf3', 'gbps', false))}.`,
    ...options.connections.map((c) => `- HBONE requests/s > stunnel4 pair at ${c} connections: ${verdict(compare(`wrk-c${c}`, 'rps', true))}.`),
    errors > 0 ? `- wrk reported ${errors} socket errors or non-2xx answers (see the JSON results).` : '- wrk reported no errors on any path.',
    '',
    'Raw samples: `test/bench/results/overlay.json`.',
    '',
  ].join('\n');
}

/**
 * Replaces the section (up to the next `## ` heading) in `file`, or adds it:
 * at the end, or with `first` before the first section. Creates the file if needed.
 */
export async function writeSection(file: string, section: string, placement: { first?: boolean } = {}): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Performance\n\nAmbit measured side by side with reference implementations, in one run on one machine, '
      + 'reported as ratios. Each section is written by its benchmark under `test/bench`; rerun it rather than editing the numbers.\n\n';
  }
  const heading = section.split('\n', 1)[0]!;
  const start = text.indexOf(`${heading}\n`);
  const firstSection = text.startsWith('## ') ? 0 : text.indexOf('\n## ') + 1;
  if (start === -1 && placement.first === true && firstSection > 0) {
    text = `${text.slice(0, firstSection)}${section.trimEnd()}\n\n${text.slice(firstSection)}`;
  } else if (start === -1) {
    text = `${text.trimEnd()}\n\n${section}`;
  } else {
    const next = text.indexOf('\n## ', start + heading.length);
    text = text.slice(0, start) + section + (next === -1 ? '' : `\n${text.slice(next + 1)}`);
  }
  await writeAtomic(file, `${text.trimEnd()}\n`);
}

/**
 * Prints a benchmark's section to stdout and, when `write`, records it: the
 * samples to `resultsFile`, the section into `docFile`. Returns a line for the log.
 */
export async function publish(section: string, results: unknown, target: { write: boolean; docFile: string; resultsFile: string }): Promise<string> {
  console.log(`\n${section}`);
  if (!target.write) return 'not written (smoke run); pass --write to record it';
  await writeJson(target.resultsFile, results);
  await writeSection(target.docFile, section);
  return `wrote ${target.docFile} and ${target.resultsFile}`;
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

/** A number with a fixed count of decimals and thousands separators. */
export function fmt(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
