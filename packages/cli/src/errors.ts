// How the CLI fails: one sentence and a hint, never a stack trace (unless
// --debug). Exit codes: 0 ok, 1 the operation failed, 2 usage.
import { AmbitError, findAmbitError } from '@ambit/core';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A command line the user must change (exit 2). */
export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function usage(message: string, hint?: string): never {
  throw new UsageError(message, hint);
}

/** `ambit: <message>` plus `hint: ...`, and the stack with --debug. */
export function describeFailure(error: unknown, debug: boolean): { text: string; code: number } {
  const lines: string[] = [];
  let code = EXIT_FAILURE;
  if (error instanceof UsageError) {
    code = EXIT_USAGE;
    lines.push(`ambit: ${error.message}`);
    if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
  } else {
    const ambit = findAmbitError(error);
    lines.push(`ambit: ${(ambit ?? (error as Error)).message ?? String(error)}`);
    if (ambit instanceof AmbitError && ambit.hint !== undefined) lines.push(`hint: ${ambit.hint}`);
    if (ambit?.code === 'invalid-argument' || ambit?.code === 'invalid-resource') code = EXIT_USAGE;
  }
  if (debug && error instanceof Error && error.stack !== undefined) lines.push(error.stack);
  return { text: `${lines.join('\n')}\n`, code };
}
