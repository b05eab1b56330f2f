// The local-cluster benchmarks' options that steer a run's method: the
// open-loop settle window and extra Node flags for the proxies.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterValues, DEFAULT_SETTLE_SECONDS, nodeFlags } from '../bench/args.js';

const base = { 'log-level': 'info', 'report-only': false };

describe('benchmark options', () => {
  it('settle the open-loop tests 3 s by default, 1 s in a smoke run, not at all with 0', () => {
    assert.equal(DEFAULT_SETTLE_SECONDS, 3);
    assert.equal(clusterValues(base, false, 60).settleSeconds, 3);
    assert.equal(clusterValues(base, true, 60).settleSeconds, 1);
    assert.equal(clusterValues({ ...base, settle: '0' }, false, 60).settleSeconds, 0);
    assert.equal(clusterValues({ ...base, settle: '5' }, false, 60).settleSeconds, 5);
    assert.throws(() => clusterValues({ ...base, settle: 'soon' }, false, 60), /--settle soon must be a positive integer/);
  });

  it('take extra Node flags as one string, one option per argument', () => {
    assert.deepEqual(nodeFlags('ztunnel-node-flags', ' --max-semi-space-size=4  --trace-gc '), ['--max-semi-space-size=4', '--trace-gc']);
    assert.deepEqual(nodeFlags('ztunnel-node-flags', undefined), []);
    assert.throws(() => nodeFlags('ztunnel-node-flags', '--max-semi-space-size 4'), /"4" is not a flag; give values with =/);
    assert.equal(clusterValues({ ...base, 'ztunnel-node-flags': '--trace-gc  --stack-size=984' }, false, 60).ztunnelNodeFlags, '--trace-gc --stack-size=984');
    assert.throws(() => clusterValues({ ...base, 'ztunnel-node-flags': 'trace-gc' }, false, 60), /is not a flag/);
  });
});
