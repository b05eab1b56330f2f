import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ZTUNNEL_NODE_FLAGS } from './node-flags.js';

describe('ztunnel Node flags', () => {
  it('are the ones the bin’s shebang runs with', () => {
    const bin = readFileSync(new URL('./bin/ztunnel.js', import.meta.url), 'utf8');
    const shebang = bin.slice(0, bin.indexOf('\n'));
    assert.equal(shebang, `#!/usr/bin/env -S node ${ZTUNNEL_NODE_FLAGS.join(' ')}`);
  });

  it('are accepted by this Node', () => {
    // Node refuses an option it does not know ("bad option"), V8's included.
    const result = spawnSync(process.execPath, [...ZTUNNEL_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const refused = spawnSync(process.execPath, ['--no-such-v8-flag-anywhere', '-e', '0'], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0, 'an unknown flag must fail, or the check above proves nothing');
  });
});
