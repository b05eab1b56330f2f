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
