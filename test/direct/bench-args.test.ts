// The benchmarks' command lines: the local-cluster options that steer a
// run's method (the open-loop settle window, extra Node flags for the
// proxies), --help, and mistakes reported as such.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clusterValues, DEFAULT_SETTLE_SECONDS, failureText, nodeFlags, parseBenchArgs, UsageError } from '../bench/args.js';

const run = promisify(execFile);
const script = (name: string): string => fileURLToPath(new URL(`../bench/${name}.js`, import.meta.url));

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

  it('report a command-line mistake as a usage error: its message and a pointer to --help, no stack', () => {
    const options = { rate: { type: 'string' }, quick: { type: 'boolean' } } as const;
    assert.deepEqual({ ...parseBenchArgs(['--rate', '500', '--quick'], options) }, { rate: '500', quick: true });
    for (const argv of [['--rat', '500'], ['--rate'], ['500']]) {
      assert.throws(() => parseBenchArgs(argv, options), (error: unknown) => error instanceof UsageError, argv.join(' '));
    }
    assert.equal(failureText(new UsageError('--settle soon must be a positive integer')), '--settle soon must be a positive integer (--help lists the options)');
    assert.match(failureText(new Error('the cluster did not start')), /^Error: the cluster did not start\n\s+at /);
  });

  for (const [name, readme] of [['mesh', 'ztunnel in the local cluster'], ['waypoint', 'Waypoint'], ['suite', 'The suite'], ['run', 'HBONE overlay'], ['control-plane', 'Control plane at scale']] as const) {
    it(`${name}.js: --help describes every option and exits 0; an unknown option exits 1 naming it, without a stack`, async () => {
      const help = await run(process.execPath, [script(name), '--quick', '--help'], { timeout: 30_000 });
      assert.match(help.stdout, new RegExp(`^usage: pnpm bench\\S* \\[options\\]`));
      assert.match(help.stdout, /\n {2}--quick {2,}\S/);
      assert.match(help.stdout, new RegExp(`More in test/bench/README.md, "${readme}`));
      for (const line of help.stdout.split('\n').filter((l) => l.startsWith('  --'))) assert.match(line, /^ {2}--\S+( [A-Z]+)? {2,}\S/, line);
      await assert.rejects(run(process.execPath, [script(name), '--bogus'], { timeout: 30_000 }), (error: { code?: number; stderr?: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr ?? '', /Unknown option '--bogus' \(--help lists the options\)/);
        assert.doesNotMatch(error.stderr ?? '', /\n\s+at /);
        return true;
      });
    });
  }
});
