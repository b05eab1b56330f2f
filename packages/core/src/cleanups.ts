// Start-up registers a cleanup for each thing it opens; shutdown, or a
// start-up that fails half-way, runs them in reverse order. A failing step is
// logged and the rest still run, so one stuck resource never leaks the others.
import { causeChain } from './errors.js';
import type { Logger } from './log.js';

export interface Cleanup {
  /** Names the step in the warning when it fails. */
  name: string;
  run(): unknown;
}

/** Runs and empties `cleanups`, last registered first. */
export async function runCleanups(cleanups: Cleanup[], log: Logger): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup.run();
    } catch (error) {
      log.warn({ step: cleanup.name, err: causeChain(error).join(': ') }, 'shutdown step failed');
    }
  }
}
