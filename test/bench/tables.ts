// Markdown for the local-cluster benchmarks' sections (mesh, waypoint): cells
// read from a Summary (median and min–max), ratios and signed differences,
// and the lines every such section opens with (when, where, how busy the
// machine was).
import { machineLine } from './machine.js';
import { fmt, type Machine, type Sample, type Stat, type Summary } from './report.js';

/** Above this many cores, processes outside the benchmark are called out as noise. */
export const OTHERS_NOTICE_CORES = 0.1;

/** What else the machine was doing: busy cores over 2 s before the run, other local clusters present. */
export interface Environment {
  backgroundBusyCores: number;
  otherClusterNamespaces: string[];
}

/** What the opening lines of a section need from a run. */
export interface RunHeader {
  date: string;
  command: string;
  wallSeconds: number;
  machine: Machine;
  environment: Environment;
  samples: readonly Sample<string>[];
}

/** A target of the issue, met or not (undefined: not measured), and the numbers behind it. */
export interface Verdict {
  label: string;
  met: boolean | undefined;
  detail: string;
}

/** A verdict as a markdown list item. */
export function verdictLine(v: Verdict): string {
  return `- ${v.label}: ${v.met === undefined ? 'not measured' : v.met ? '**met**' : '**missed**'} — ${v.detail}.`;
}

/** The sentence on CPU pinning. */
export function pinningLine(options: { pinLoad?: string; pinProxies?: string }, cores: number): string {
  return options.pinLoad === undefined && options.pinProxies === undefined
    ? `No CPU pinning: with ${cores} cores the load generator, the servers and the proxies all compete for the same CPUs.`
    : `CPU pinning with \`taskset\`: load generators and servers on CPUs ${options.pinLoad ?? 'all'}, proxies on ${options.pinProxies ?? 'all'}.`;
}

/** A `### title` subsection. */
export function subsection(title: string, lines: readonly string[]): string[] {
  return [`### ${title}`, '', ...lines, ''];
}

/** One test/path/metric of a summary, as a statistic, its median, or a table cell. */
export class SummaryCells<P extends string> {
  constructor(private readonly summary: Summary<P>) {}

  get(test: string, path: P, metric: string): Stat | undefined {
    return this.summary[test]?.[path]?.[metric];
  }

  median(test: string, path: P, metric: string): number | undefined {
    return this.get(test, path, metric)?.median;
  }

  /** "median (min–max)", or "–" when not measured. */
  cell(test: string, path: P, metric: string, digits: number): string {
    const s = this.get(test, path, metric);
    return s === undefined ? '–' : `${fmt(s.median, digits)}${range(s, digits)}`;
  }
}

/** A number, "+" before positive differences when `sign`; "–" when not measured. */
export function value(x: number | undefined, digits: number, sign = false): string {
  return x === undefined ? '–' : `${sign && x >= 0 ? '+' : ''}${fmt(x, digits)}`;
}

/** x / y as "1.23×"; "–" when either is missing or y is 0. */
export function ratio(x: number | undefined, y: number | undefined, digits = 2): string {
  return x === undefined || y === undefined || y === 0 ? '–' : `${fmt(x / y, digits)}×`;
}

/** Other workloads' cores: the estimate can dip a little below zero (tick-based against exact accounting). */
export function nonNegative(x: number | undefined): string {
  return x === undefined ? '–' : fmt(Math.max(0, x), 2);
}

/** " (min–max)" with more than one repetition, else nothing. */
export function range(s: Stat, digits: number): string {
  return s.n > 1 ? ` (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : '';
}

/** The sum of a metric over every repetition (error counts). */
export function total<P extends string>(samples: readonly Sample<P>[], test: string, path: P, metric: string): number | undefined {
  const values = samples.filter((s) => s.test === test && s.path === path).map((s) => s.metrics[metric]).filter((v) => v !== undefined);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/** The heading, then when, with what, on which machine, and whether anything else was running. */
export function headerLines(heading: string, report: RunHeader): string[] {
  const { machine, environment: env } = report;
  const otherValues = report.samples.map((s) => s.metrics.otherProcessesCores).filter((v) => v !== undefined);
  const others = Math.max(0, ...otherValues);
  const noisy = env.backgroundBusyCores > 0.2 || env.otherClusterNamespaces.length > 0;
  return [
    heading,
    '',
    `Measured ${report.date} with \`${report.command}\` (${fmt(report.wallSeconds / 60, 1)} min).`,
    '',
    machineLine(machine),
    noisy
      ? `\n**The machine was not idle**: ${fmt(env.backgroundBusyCores, 2)} cores busy before the run`
        + `${env.otherClusterNamespaces.length > 0 ? `, and ${env.otherClusterNamespaces.length} namespaces of other local clusters existed` : ''}; figures may be noisy.`
      : `Before the run the machine was idle (${fmt(env.backgroundBusyCores, 2)} cores busy, no other local cluster).`,
    otherValues.length === 0
      ? 'Other workloads on the machine were not measured (no cpuacct cgroup).'
      : others > OTHERS_NOTICE_CORES
        ? `\n**Other workloads on the machine used up to ${fmt(others, 2)} cores during a measurement** ("other processes" in the `
          + 'CPU table): the affected cells are noisier than the rest.'
        : `Other workloads on the machine used at most ${fmt(others, 2)} cores during any measurement.`,
  ];
}
