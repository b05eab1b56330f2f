// `ambit down`: stops every process and removes every namespace, link, rule
// and (unless --keep-state) the state directory; says what it could not remove.
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError } from '@ambit/core';
import { STATE_FILE, teardownCluster } from '@ambit/localcluster';
import { green, yellow } from '../output.js';

export async function down(options: { stateDir: string; keepState: boolean; out?: (line: string) => void }): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exists = await access(join(options.stateDir, STATE_FILE)).then(() => true, () => false);
  if (!exists) {
    out(`nothing to remove: no local mesh in ${options.stateDir}`);
    return;
  }
  const report = await teardownCluster({ stateDir: options.stateDir });
  out(`${green('✔')} stopped ${report.stoppedPids.length} process(es), removed ${report.removedNamespaces.length} network namespace(s)`);
  if (report.leftovers.length > 0) {
    for (const leftover of report.leftovers) out(`${yellow('‼')} could not remove ${leftover}`);
    throw new AmbitError('unavailable', `${report.leftovers.length} thing(s) could not be removed (listed above)`, { hint: 'remove them by hand, then run `ambit down` again' });
  }
  if (options.keepState) {
    out(`state kept in ${options.stateDir}`);
    return;
  }
  await rm(options.stateDir, { recursive: true, force: true });
  out(`${green('✔')} removed ${options.stateDir}`);
}
