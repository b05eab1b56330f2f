// The `ambit` command in process (the function its bin runs), with what it
// printed and its exit code.
import { run } from '@ambit/cli';

export interface CliResult { code: number; out: string; err: string }

export async function runAmbit(argv: readonly string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run([...argv], { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}
