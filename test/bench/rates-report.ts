// Tables shared by the local-cluster benchmarks (mesh, waypoint) for the
// tests issue 8 added: the open-loop test at several rates (latency, and the
// CPU and peak RSS of each proxy at each rate) and new connections per second.
import { fmt, type Sample, type Summary } from './report.js';
import { SummaryCells, total, value } from './tables.js';

/** The open-loop tests: `open-loop` at the primary rate, `open-loop-<rate>` at the others. */
export function isOpenLoopTest(test: string): boolean {
  return test === 'open-loop' || test.startsWith('open-loop-');
}

/** The test measuring `rate`. */
export function openLoopTestOf(rate: number, primary: number): string {
  return rate === primary ? 'open-loop' : `open-loop-${rate}`;
}

/** The rates measured, ascending. */
export function ratesOf(options: { rate: number; extraRates?: readonly number[] }): number[] {
  return [...new Set([options.rate, ...options.extraRates ?? []])].sort((a, b) => a - b);
}

/**
 * For each open-loop sample, its p50/p99 minus those of `base` in the same
 * test and repetition (named `<metric><suffix>`, e.g. `p99AddedMs`).
 */
export function addDifferences<P extends string>(samples: Sample<P>[], path: (p: P) => boolean, base: P, suffix: string): void {
  for (const sample of samples) {
    if (!isOpenLoopTest(sample.test) || sample.path === base || !path(sample.path)) continue;
    const other = samples.find((s) => s.test === sample.test && s.path === base && s.repetition === sample.repetition);
    if (other === undefined) continue;
    for (const metric of ['p50Ms', 'p99Ms'] as const) {
      const [a, b] = [sample.metrics[metric], other.metrics[metric]];
      if (a !== undefined && b !== undefined) sample.metrics[metric.replace('Ms', suffix)] = a - b;
    }
  }
}

/** The processes a path reports on their own (`<metric>CpuSecondsPer1kRequests`), in a fixed order. */
const PROCESS_ORDER = ['client', 'l7', 'server'];
const PROCESS_LABELS: Record<string, string> = { client: 'node-1 side', l7: 'L7 hop', server: 'node-2 side' };

/**
 * Latency and cost at every rate: one row per path and rate. The per-process
 * column gives each separately reported proxy's CPU seconds per 1000 requests
 * and its highest VmRSS during that test.
 */
export function rateTable<P extends string>(
  samples: readonly Sample<P>[], summary: Summary<P>, options: { rate: number; extraRates?: readonly number[] }, paths: readonly P[], labels: Record<P, string>,
  baseline: P,
): string[] {
  const cells = new SummaryCells(summary);
  const rows: string[] = [];
  for (const path of paths) {
    for (const rate of ratesOf(options)) {
      const test = openLoopTestOf(rate, options.rate);
      if (summary[test]?.[path] === undefined) continue;
      const processes = PROCESS_ORDER.filter((m) => cells.median(test, path, `${m}CpuSecondsPer1kRequests`) !== undefined)
        .map((m) => `${PROCESS_LABELS[m]} ${fmt(cells.median(test, path, `${m}CpuSecondsPer1kRequests`)!, 3)} s · ${value(cells.get(test, path, `${m}RssMiB`)?.max, 0)} MiB`);
      rows.push(`| ${labels[path]} | ${rate} | ${value(cells.median(test, path, 'achievedRate'), 0)} | ${cells.cell(test, path, 'p50Ms', 3)} `
        + `| ${cells.cell(test, path, 'p90Ms', 3)} | ${cells.cell(test, path, 'p99Ms', 3)} | ${cells.cell(test, path, 'maxMs', 2)} `
        + `| ${path === baseline ? '–' : value(cells.median(test, path, 'p99AddedMs'), 3, true)} `
        + `| ${path === baseline ? '–' : cells.cell(test, path, 'cpuSecondsPer1kRequests', 3)} | ${processes.length === 0 ? '–' : processes.join('; ')} `
        + `| ${value(total(samples, test, path, 'errors'), 0)} |`);
    }
  }
  return [
    '| Path | rate (req/s) | achieved | p50 ms | p90 ms | p99 ms | max ms | p99 added over no mesh, ms | proxies\' CPU s / 1000 req '
      + '| per proxy: CPU s / 1000 req · highest RSS | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...rows,
  ];
}

/** New connections per second (wrk with `Connection: close`): one row per path. */
export function connectTable<P extends string>(
  samples: readonly Sample<P>[], summary: Summary<P>, test: string, paths: readonly P[], labels: Record<P, string>,
  handshakes: (path: P) => string,
): string[] {
  const cells = new SummaryCells(summary);
  return [
    '| Path | new connections/s | p50 / p99 ms | proxies\' CPU s / 1000 connections | proxies\' cores | TLS handshakes per 1000 connections | errors |',
    '|---|---:|---:|---:|---:|---|---:|',
    ...paths.filter((p) => summary[test]?.[p] !== undefined).map((path) => `| ${labels[path]} | ${cells.cell(test, path, 'rps', 0)} `
      + `| ${value(cells.median(test, path, 'p50Ms'), 3)} / ${value(cells.median(test, path, 'p99Ms'), 3)} `
      + `| ${cells.cell(test, path, 'cpuSecondsPer1kRequests', 3)} | ${value(cells.median(test, path, 'proxyCores'), 2)} | ${handshakes(path)} `
      + `| ${value(total(samples, test, path, 'errors'), 0)} |`),
  ];
}
