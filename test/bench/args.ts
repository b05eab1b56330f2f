// Command-line conventions shared by the benchmark entry points.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake on a benchmark's command line: reported as its message and a pointer to --help, without a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** What a benchmark's --help names: how it is run and where its options are described. */
export interface BenchCommand {
  /** e.g. `pnpm bench:mesh`. */
  command: string;
  /** e.g. `test/dist/bench/mesh.js`. */
  script: string;
  /** The section of test/bench/README.md that describes the options. */
  readme: string;
}

/** Asked for help? (Checked before parsing, so `--help` works beside any other option.) */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** One option as parseArgs takes it, with what --help says of it: the value's name and what it does (its default included). */
type BenchOption = OptionsConfig[string] & { help: string; value?: string };

/** Each option, its value and what it does; test/bench/README.md says more. */
export function usage(bench: BenchCommand, options: Record<string, BenchOption>): string {
  const rows = [...Object.entries(options), ['help', { type: 'boolean', help: 'this text' }] as const].map(([name, option]) => {
    const flag = `--${name}${option.type === 'string' ? ` ${option.value ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(30)} ${option.help}`;
  });
  return [`usage: ${bench.command} [options]   (node ${bench.script})`, '', ...rows, '', `More in test/bench/README.md, "${bench.readme}".`, ''].join('\n');
}

type StrictConfig<T extends OptionsConfig> = { args: string[]; options: T; strict: true; allowPositionals: false };

/** parseArgs, strict: an unknown option, a missing value or a stray argument is a UsageError. */
export function parseBenchArgs<const T extends OptionsConfig>(argv: string[], options: T): ReturnType<typeof parseArgs<StrictConfig<T>>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
    throw error;
  }
}

/** How a benchmark that failed says so: a usage mistake as its message and a pointer to --help, anything else with its stack. */
export function failureText(error: unknown): string {
  if (error instanceof UsageError) return `${error.message} (--help lists the options)`;
  return error instanceof Error ? error.stack ?? error.message : String(error);
}

/** A positive integer option, or `fallback` when absent; a clear error otherwise. */
export function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} ${text} must be a positive integer`);
  return n;
}

/** Node flags given as one string (`--a=1 --b`), one per command-line argument; each must be a `-` option. */
export function nodeFlags(name: string, text: string | undefined): string[] {
  const flags = (text ?? '').split(/\s+/).filter((f) => f !== '');
  const stray = flags.find((f) => !f.startsWith('-'));
  if (stray !== undefined) throw new UsageError(`--${name} ${JSON.stringify(text)}: ${JSON.stringify(stray)} is not a flag; give values with =, e.g. --max-semi-space-size=4`);
  return flags;
}

/** A comma-separated list of positive integers, e.g. `500,2000`. */
export function positiveIntList(name: string, text: string): number[] {
  const items = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (items.length === 0) throw new UsageError(`--${name} ${JSON.stringify(text)} must list at least one positive integer, e.g. 500,2000`);
  return items.map((t) => positiveInt(name, t, 0));
}

/** Results are recorded unless --no-write, or unless --quick without --write (a smoke run never replaces recorded numbers). */
export function shouldWrite(values: { write?: boolean | undefined; 'no-write'?: boolean | undefined }, quick: boolean): boolean {
  return values['no-write'] === true ? false : values.write ?? !quick;
}

/** The options every load benchmark takes: test length, repetitions, warm-up, CPU pinning, smoke run, recording. */
export const LOAD_OPTIONS = {
  duration: { type: 'string', value: 'SECONDS', help: 'per test (default 10; 3 with --quick)' },
  repeat: { type: 'string', value: 'N', help: 'repetitions, paths interleaved; medians and min–max reported (default 3; 1 with --quick)' },
  warmup: { type: 'string', value: 'SECONDS', help: 'unrecorded load per path first (default 2; 1 with --quick); 0 disables' },
  'pin-load': { type: 'string', value: 'CPUS', help: 'taskset -c list for the load generators and servers (default: no pinning)' },
  'pin-proxies': { type: 'string', value: 'CPUS', help: 'taskset -c list for the proxies (default: no pinning)' },
  quick: { type: 'boolean', default: false, help: 'smoke run: shorter and once; prints only unless --write' },
  write: { type: 'boolean', help: 'update docs/performance.md and the results JSON (the default unless --quick)' },
  'no-write': { type: 'boolean', help: 'print only' },
} as const;

/** Seconds per test, repetitions and warm-up seconds (0 disables it); --quick shortens all three. */
export function loadTiming(
  values: { duration?: string | undefined; repeat?: string | undefined; warmup?: string | undefined }, quick: boolean,
): { durationSeconds: number; repeat: number; warmupSeconds: number } {
  return {
    durationSeconds: positiveInt('duration', values.duration, quick ? 3 : 10),
    repeat: positiveInt('repeat', values.repeat, quick ? 1 : 3),
    warmupSeconds: values.warmup === '0' ? 0 : positiveInt('warmup', values.warmup, quick ? 1 : 2),
  };
}

/** The options of the benchmarks on a local cluster (mesh, waypoint), beyond LOAD_OPTIONS. */
export const CLUSTER_OPTIONS = {
  ...LOAD_OPTIONS,
  rate: { type: 'string', value: 'N', help: 'the open-loop test\'s requests/s (default 1000, where the targets are read)' },
  settle: { type: 'string', value: 'SECONDS', help: 'each open-loop test runs its schedule this long first, reported apart (default 3; 1 with --quick); 0 disables' },
  'extra-rates': { type: 'string', value: 'LIST', help: 'more open-loop rates, e.g. 500,2000 (default none)' },
  'rate-connections': { type: 'string', value: 'N', help: 'the open-loop test\'s connections (default 16)' },
  connections: { type: 'string', value: 'N', help: 'wrk\'s connections for the maximum requests/s (default 64)' },
  'log-level': { type: 'string', default: 'info', value: 'LEVEL', help: 'the mesh processes\' log level (default info)' },
  'ztunnel-node-flags': { type: 'string', value: 'FLAGS', help: 'extra Node/V8 flags on the ztunnels\' command lines, after their own, e.g. \'--max-semi-space-size=4 --trace-gc\'' },
  timeout: { type: 'string', value: 'SECONDS', help: 'the run is interrupted and cleaned up past this (default 1200 mesh, 900 waypoint)' },
  'report-only': { type: 'boolean', default: false, help: 'measure nothing; render the section again from the results JSON' },
} as const;

/** The open-loop tests' settle window by default (seconds; see open-loop.ts). */
export const DEFAULT_SETTLE_SECONDS = 3;

/** What a local-cluster benchmark records of its options. */
export interface ClusterLoadOptions {
  durationSeconds: number;
  repeat: number;
  warmupSeconds: number;
  rate: number;
  /**
   * Seconds each open-loop test runs its schedule before the measured window (reported apart): the path's
   * processes sat idle while the other paths were measured. Absent in results recorded before it existed (none then).
   */
  settleSeconds?: number;
  /** More open-loop rates measured beside `rate` (tests named `open-loop-<rate>`); `rate` stays the one the targets use. */
  extraRates?: number[];
  rateConnections: number;
  wrkConnections: number;
  logLevel: string;
  /** Extra Node/V8 flags on the ztunnels' command lines, after their own (LocalMesh's ztunnelNodeFlags). */
  ztunnelNodeFlags?: string;
  pinLoad?: string;
  pinProxies?: string;
}

export interface ClusterValues extends ClusterLoadOptions {
  timeoutSeconds: number;
  reportOnly: boolean;
}

/** CLUSTER_OPTIONS parsed: the open-loop rate (1000/s over 16 connections), wrk's 64 connections, pinning, --timeout. */
export function clusterValues(
  values: Parameters<typeof loadTiming>[0] & {
    rate?: string | undefined; settle?: string | undefined; 'extra-rates'?: string | undefined; 'rate-connections'?: string | undefined; connections?: string | undefined; 'log-level': string;
    'pin-load'?: string | undefined; 'pin-proxies'?: string | undefined; timeout?: string | undefined; 'report-only': boolean;
    'ztunnel-node-flags'?: string | undefined;
  },
  quick: boolean, timeoutSeconds: number,
): ClusterValues {
  return {
    ...loadTiming(values, quick),
    rate: positiveInt('rate', values.rate, 1000),
    settleSeconds: values.settle === '0' ? 0 : positiveInt('settle', values.settle, quick ? 1 : DEFAULT_SETTLE_SECONDS),
    ...(values['extra-rates'] === undefined ? {} : { extraRates: positiveIntList('extra-rates', values['extra-rates']) }),
    rateConnections: positiveInt('rate-connections', values['rate-connections'], 16),
    wrkConnections: positiveInt('connections', values.connections, 64),
    logLevel: values['log-level'],
    ...(values['ztunnel-node-flags'] === undefined ? {} : { ztunnelNodeFlags: nodeFlags('ztunnel-node-flags', values['ztunnel-node-flags']).join(' ') }),
    ...(values['pin-load'] === undefined ? {} : { pinLoad: values['pin-load'] }),
    ...(values['pin-proxies'] === undefined ? {} : { pinProxies: values['pin-proxies'] }),
    timeoutSeconds: positiveInt('timeout', values.timeout, timeoutSeconds),
    reportOnly: values['report-only'],
  };
}
