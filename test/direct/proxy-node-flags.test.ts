// The proxies' Node/V8 flags (node-flags.ts in each package says why they
// run with them) must be on the command line: the bin's shebang carries
// them (Kubernetes runs the bins), and the local cluster's launcher passes
// the exported list. These keep the two in step and prove this Node takes
// every flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { WAYPOINT_NODE_FLAGS } from '@ambit/waypoint';
import { ZTUNNEL_NODE_FLAGS } from '@ambit/ztunnel';

const require = createRequire(import.meta.url);
const PROXIES = [
  { name: 'ztunnel', bin: 'dist/bin/ztunnel.js', flags: ZTUNNEL_NODE_FLAGS },
  { name: 'waypoint', bin: 'dist/bin/waypoint.js', flags: WAYPOINT_NODE_FLAGS },
];

describe('proxy Node flags', () => {
  for (const proxy of PROXIES) {
    it(`${proxy.name}: the bin's shebang runs with exactly its exported flags, and this Node accepts them`, () => {
      const file = require.resolve(`@ambit/${proxy.name}/package.json`).replace(/package\.json$/, proxy.bin);
      const bin = readFileSync(file, 'utf8');
      assert.equal(bin.slice(0, bin.indexOf('\n')), `#!/usr/bin/env -S node ${proxy.flags.join(' ')}`);
      assert.ok(proxy.flags.length > 0);
      // Node refuses an option it does not know ("bad option"), V8's included.
      const result = spawnSync(process.execPath, [...proxy.flags, '-e', '0'], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    });
  }

  it('an unknown flag is refused (or the checks above prove nothing)', () => {
    const refused = spawnSync(process.execPath, ['--no-such-v8-flag-anywhere', '-e', '0'], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0);
  });
});
