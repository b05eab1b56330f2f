// Command-line conventions shared by the benchmark entry points.

/** A positive integer option, or `fallback` when absent; a clear error otherwise. */
export function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${text} must be a positive integer`);
  return n;
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
