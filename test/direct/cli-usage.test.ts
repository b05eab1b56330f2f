// The ambit command's usage errors and failures without a mesh (no root):
// one clear line plus a hint, exit 2 for usage, 1 for failures, no stack trace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAmbit, type CliResult } from '../support/cli.js';

const ambit = (...argv: string[]): Promise<CliResult> => runAmbit(argv);

describe('ambit: usage and failures', () => {
  const cases: { argv: string[]; code: number; err: RegExp }[] = [
    { argv: ['waypoint', 'apply'], code: 2, err: /-n\/--namespace is required/ },
    { argv: ['waypoint', 'list', '-o', 'xml'], code: 2, err: /-o xml is not an output format\nhint: use one of table, json, yaml/ },
    { argv: ['get', 'bogus'], code: 2, err: /unknown kind "bogus"\nhint: known: Namespace/ },
    { argv: ['exec', 'client', '--', 'true'], code: 2, err: /client is not NAMESPACE\/POD/ },
    { argv: ['namespace', 'enroll', 'demo', '--wait', 'soon'], code: 2, err: /--wait soon is not a duration/ },
    { argv: ['up', '--nodes', '0'], code: 2, err: /--nodes 0 is not a number from 1 to 8/ },
    { argv: ['frobnicate'], code: 2, err: /unknown command 'frobnicate'/ },
    { argv: ['waypoint', 'apply', '-n', 'demo', '--for', 'pods'], code: 2, err: /pods.*is invalid|Allowed choices/ },
  ];
  for (const c of cases) {
    it(`ambit ${c.argv.join(' ')} → exit ${c.code}`, async () => {
      const result = await ambit(...c.argv);
      assert.equal(result.code, c.code, result.err);
      assert.match(result.err, c.err);
      assert.doesNotMatch(result.err, /\n\s+at /, 'no stack trace');
    });
  }

  it('says how to start a mesh when there is none (exit 1), and shows the stack only with --debug', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-cli-'));
    try {
      const result = await ambit('--state-dir', dir, 'get', 'gateways');
      assert.equal(result.code, 1);
      assert.equal(result.err, `ambit: no local mesh in ${dir}\nhint: start one with \`ambit up\` (or pass --state-dir)\n`);
      const debug = await ambit('--state-dir', dir, '--debug', 'get', 'gateways');
      assert.match(debug.err, /\n\s+at /);
      const down = await ambit('--state-dir', dir, 'down');
      assert.deepEqual([down.code, down.out], [0, `nothing to remove: no local mesh in ${dir}\n`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints help with exit 0', async () => {
    const result = await ambit('--help');
    assert.equal(result.code, 0);
    assert.match(result.out, /Commands:[\s\S]*up[\s\S]*waypoint/);
  });
});
