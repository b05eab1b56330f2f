// The `ambit` command in process (the function its bin runs), with what it
// printed and its exit code.
import { run } from '@ambit/cli';

export interface CliResult { code: number; out: string; err: string }

/** `signal` ends a command that runs until stopped (`logs --follow`); `onOut` sees output as it comes. */
export async function runAmbit(argv: readonly string[], signal?: AbortSignal, onOut?: (text: string) => void): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run([...argv], { out: (t) => { out += t; onOut?.(t); }, err: (t) => { err += t; }, ...(signal === undefined ? {} : { signal }) });
  return { code, out, err };
}
