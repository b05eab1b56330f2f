// Command-line conventions shared by the benchmark entry points.

/** A positive integer option, or `fallback` when absent; a clear error otherwise. */
export function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${text} must be a positive integer`);
  return n;
}

/** Node flags given as one string (`--a=1 --b`), one per command-line argument; each must be a `-` option. */
export function nodeFlags(name: string, text: string | undefined): string[] {
  const flags = (text ?? '').split(/\s+/).filter((f) => f !== '');
  const stray = flags.find((f) => !f.startsWith('-'));
  if (stray !== undefined) throw new Error(`--${name} ${JSON.stringify(text)}: ${JSON.stringify(stray)} is not a flag; give values with =, e.g. --max-semi-space-size=4`);
  return flags;
}

/** A comma-separated list of positive integers, e.g. `500,2000`. */
export function positiveIntList(name: string, text: string): number[] {
  const items = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (items.length === 0) throw new Error(`--${name} ${JSON.stringify(text)} must list at least one positive integer, e.g. 500,2000`);
  return items.map((t) => positiveInt(name, t, 0));
}

/** Results are recorded unless --no-write, or unless --quick without --write (a smoke run never replaces recorded numbers). */
export function shouldWrite(values: { write?: boolean | undefined; 'no-write'?: boolean | undefined }, quick: boolean): boolean {
  return values['no-write'] === true ? false : values.write ?? !quick;
}

/** The options every load benchmark takes: test length, repetitions, warm-up, CPU pinning, smoke run, recording. */
export const LOAD_OPTIONS = {
  duration: { type: 'string' },
  repeat: { type: 'string' },
  warmup: { type: 'string' },
  'pin-load': { type: 'string' },
  'pin-proxies': { type: 'string' },
  quick: { type: 'boolean', default: false },
  write: { type: 'boolean' },
  'no-write': { type: 'boolean' },
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
  rate: { type: 'string' },
  settle: { type: 'string' },
  'extra-rates': { type: 'string' },
  'rate-connections': { type: 'string' },
  connections: { type: 'string' },
  'log-level': { type: 'string', default: 'info' },
  'ztunnel-node-flags': { type: 'string' },
  timeout: { type: 'string' },
  'report-only': { type: 'boolean', default: false },
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
