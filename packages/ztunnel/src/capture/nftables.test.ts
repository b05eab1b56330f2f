// The capture ruleset as text, and what NftCapture asks nft and ip to do.
// The real kernel behaviour is proven in test/netns/capture.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import { CAPTURE_MARK } from './capture.js';
import {
  NftCapture, captureRuleset, enrollmentUpdate, guardRuleset, removeTableScript, splitFamilies,
  type CommandResult, type CommandRunner,
} from './nftables.js';

const ports = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };
const mark = `0x${CAPTURE_MARK.toString(16)}`;

function chain(ruleset: string, name: string): string[] {
  const start = ruleset.indexOf(`  chain ${name} {`);
  assert.ok(start >= 0, `chain ${name} missing`);
  const end = ruleset.indexOf('\n  }', start);
  return ruleset.slice(start, end).split('\n').slice(2).map((line) => line.trim());
}

describe('captureRuleset', () => {
  const ruleset = captureRuleset({ table: 'ambit-ztunnel', ports, enrolled: { v4: ['10.244.1.2', '10.244.1.3'], v6: ['fd00::2'] } });

  it('replaces the table in the same transaction', () => {
    assert.ok(ruleset.startsWith('add table inet ambit-ztunnel\ndelete table inet ambit-ztunnel\ntable inet ambit-ztunnel {'));
  });

  it('keeps the enrolled addresses in the sets', () => {
    assert.match(ruleset, /set enrolled4 \{ type ipv4_addr; elements = \{ 10\.244\.1\.2, 10\.244\.1\.3 \}; \}/);
    assert.match(ruleset, /set enrolled6 \{ type ipv6_addr; elements = \{ fd00::2 \}; \}/);
  });

  it('prerouting at mangle: established, local, then outbound capture with a drop fallback', () => {
    assert.match(ruleset, /chain prerouting \{\n\s+type filter hook prerouting priority mangle; policy accept;/);
    assert.deepEqual(chain(ruleset, 'prerouting'), [
      `meta l4proto tcp socket transparent 1 socket wildcard 0 meta mark set ${mark} accept`,
      'fib daddr type local accept',
      `meta l4proto tcp ip saddr @enrolled4 meta mark set ${mark} tproxy ip to :15001 accept`,
      'meta l4proto tcp ip saddr @enrolled4 drop',
      `meta l4proto tcp ip6 saddr @enrolled6 meta mark set ${mark} tproxy ip6 to :15001 accept`,
      'meta l4proto tcp ip6 saddr @enrolled6 drop',
    ]);
  });

  it('inbound after DNAT: skips captured packets, HBONE before plaintext, each failing closed', () => {
    assert.match(ruleset, /chain inbound \{\n\s+type filter hook prerouting priority dstnat \+ 10; policy accept;/);
    assert.deepEqual(chain(ruleset, 'inbound'), [
      `meta mark & ${mark} == ${mark} accept`,
      `meta l4proto tcp socket transparent 1 socket wildcard 0 meta mark set ${mark} accept`,
      'fib daddr type local accept',
      `meta l4proto tcp ip daddr @enrolled4 tcp dport 15008 meta mark set ${mark} tproxy ip to :15008 accept`,
      'meta l4proto tcp ip daddr @enrolled4 tcp dport 15008 drop',
      `meta l4proto tcp ip6 daddr @enrolled6 tcp dport 15008 meta mark set ${mark} tproxy ip6 to :15008 accept`,
      'meta l4proto tcp ip6 daddr @enrolled6 tcp dport 15008 drop',
      `meta l4proto tcp ip daddr @enrolled4 meta mark set ${mark} tproxy ip to :15006 accept`,
      'meta l4proto tcp ip daddr @enrolled4 drop',
      `meta l4proto tcp ip6 daddr @enrolled6 meta mark set ${mark} tproxy ip6 to :15006 accept`,
      'meta l4proto tcp ip6 daddr @enrolled6 drop',
    ]);
  });

  it('never forwards TCP of an enrolled pod', () => {
    assert.deepEqual(chain(ruleset, 'forward').filter((rule) => rule.endsWith('drop')), [
      'meta l4proto tcp ip saddr @enrolled4 drop',
      'meta l4proto tcp ip daddr @enrolled4 drop',
      'meta l4proto tcp ip6 saddr @enrolled6 drop',
      'meta l4proto tcp ip6 daddr @enrolled6 drop',
    ]);
  });

  it('writes empty sets without an elements clause', () => {
    const empty = captureRuleset({ table: 't', ports, enrolled: { v4: [], v6: [] } });
    assert.match(empty, /set enrolled4 \{ type ipv4_addr; \}/);
  });
});

describe('guardRuleset', () => {
  it('keeps only the sets and the forward drop, under the same table name', () => {
    const guard = guardRuleset({ table: 'ambit-ztunnel', ports, enrolled: { v4: ['10.244.1.2'], v6: [] } });
    assert.ok(guard.startsWith('add table inet ambit-ztunnel\ndelete table inet ambit-ztunnel\ntable inet ambit-ztunnel {'));
    assert.match(guard, /elements = \{ 10\.244\.1\.2 \}/);
    assert.doesNotMatch(guard, /tproxy|chain prerouting|chain inbound/);
    assert.match(guard, /chain forward/);
  });
});

describe('enrollmentUpdate', () => {
  it('adds and removes only the difference; removals tolerate absent elements', () => {
    assert.equal(enrollmentUpdate('t', { v4: ['10.0.0.1'], v6: [] }, { v4: ['10.0.0.2', '10.0.0.3'], v6: ['fd00::1'] }), [
      'add element inet t enrolled4 { 10.0.0.1 }',
      'add element inet t enrolled4 { 10.0.0.2, 10.0.0.3 }',
      'delete element inet t enrolled4 { 10.0.0.2, 10.0.0.3 }',
      'add element inet t enrolled6 { fd00::1 }',
      'delete element inet t enrolled6 { fd00::1 }',
      '',
    ].join('\n'));
  });

  it('is empty when nothing changes', () => {
    assert.equal(enrollmentUpdate('t', { v4: [], v6: [] }, { v4: [], v6: [] }), '');
  });
});

describe('splitFamilies', () => {
  it('splits by family and canonicalises IPv6', () => {
    assert.deepEqual(splitFamilies(['10.0.0.2', 'FD00:0:0::1', '10.0.0.1']), { v4: ['10.0.0.1', '10.0.0.2'], v6: ['fd00::1'] });
  });

  it('refuses anything that is not an address', () => {
    assert.throws(() => splitFamilies(['10.0.0.1/32']), (error) => isAmbitError(error, 'invalid-address') && /10\.0\.0\.1\/32/.test(error.message));
  });
});

describe('removeTableScript', () => {
  it('deletes the table whether or not it exists', () => {
    assert.equal(removeTableScript('t'), 'add table inet t\ndelete table inet t\n');
  });
});

// A fake nft/ip recording every call; `ip rule show` answers from what was added.
function recorder(fail?: (command: string, args: readonly string[], input?: string) => CommandResult | undefined): {
  runner: CommandRunner;
  calls: { command: string; args: readonly string[]; input?: string }[];
} {
  const calls: { command: string; args: readonly string[]; input?: string }[] = [];
  const rules = new Set<string>();
  const runner: CommandRunner = (command, args, input) => {
    calls.push(input === undefined ? { command, args } : { command, args, input });
    const failure = fail?.(command, args, input);
    if (failure !== undefined) return Promise.resolve(failure);
    if (command === 'ip' && args.includes('show')) {
      const family = args[1] ?? '';
      const shown = rules.has(family) ? [{ priority: 32000, fwmark: '0x539', fwmask: '0x539', table: '133' }] : [];
      return Promise.resolve({ code: 0, stdout: JSON.stringify(shown), stderr: '' });
    }
    if (command === 'ip' && args[1] === 'rule' && args[2] === 'add') rules.add(args[0] ?? '');
    if (command === 'ip' && args[1] === 'rule' && args[2] === 'del') rules.delete(args[0] ?? '');
    return Promise.resolve({ code: 0, stdout: '', stderr: '' });
  };
  return { runner, calls };
}

describe('NftCapture', () => {
  it('installs routing once and the ruleset with the enrolled set it holds', async () => {
    const { runner, calls } = recorder();
    const capture = new NftCapture({ ports, runner });
    await capture.setEnrolled(['10.244.1.2']);
    assert.equal(calls.length, 0, 'nothing is programmed before start');
    await capture.start();
    await capture.start();
    const ruleAdds = calls.filter((c) => c.command === 'ip' && c.args[1] === 'rule' && c.args[2] === 'add');
    assert.equal(ruleAdds.length, 2, 'one rule per family, not re-added on the second start');
    assert.deepEqual(ruleAdds[0]?.args, ['-4', 'rule', 'add', 'pref', '32000', 'fwmark', '0x539/0x539', 'lookup', '133']);
    const scripts = calls.filter((c) => c.command === 'nft');
    assert.equal(scripts.length, 2);
    assert.match(scripts[1]?.input ?? '', /elements = \{ 10\.244\.1\.2 \}/);
    assert.deepEqual(capture.status(), { mode: 'nftables', programmed: true, enrolled: ['10.244.1.2'], table: 'ambit-ztunnel', sourceAddresses: 'off' });
  });

  it('applies only the difference once started', async () => {
    const { runner, calls } = recorder();
    const capture = new NftCapture({ ports, runner, table: 'zt' });
    await capture.setEnrolled(['10.244.1.2', '10.244.1.3']);
    await capture.start();
    calls.length = 0;
    await capture.setEnrolled(['10.244.1.3', '10.244.1.4']);
    await capture.setEnrolled(['10.244.1.4', '10.244.1.3']);
    assert.equal(calls.length, 1, 'an unchanged set runs nothing');
    assert.equal(calls[0]?.input, [
      'add element inet zt enrolled4 { 10.244.1.4 }',
      'add element inet zt enrolled4 { 10.244.1.2 }',
      'delete element inet zt enrolled4 { 10.244.1.2 }',
      '',
    ].join('\n'));
  });

  it('rejects a bad address without changing anything', async () => {
    const { runner, calls } = recorder();
    const capture = new NftCapture({ ports, runner });
    await capture.start();
    calls.length = 0;
    await assert.rejects(capture.setEnrolled(['10.244.1.2', 'pod-a']), (error) => isAmbitError(error, 'invalid-address'));
    assert.equal(calls.length, 0);
    assert.deepEqual(capture.status().enrolled, []);
  });

  it('rebuilds the table when a set update fails (drift)', async () => {
    let failNext = false;
    const { runner, calls } = recorder((command, _args, input) => {
      if (command === 'nft' && failNext && input?.startsWith('add element') === true) {
        failNext = false;
        return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
      }
      return undefined;
    });
    const capture = new NftCapture({ ports, runner });
    await capture.start();
    failNext = true;
    calls.length = 0;
    await capture.setEnrolled(['10.244.1.9']);
    assert.equal(calls.length, 2);
    assert.match(calls[1]?.input ?? '', /^add table inet ambit-ztunnel\n.*elements = \{ 10\.244\.1\.9 \}.*tproxy/s);
  });

  it('stop leaves the guard and keeps tracking enrollment; removeAll deletes table and routing', async () => {
    const { runner, calls } = recorder();
    const capture = new NftCapture({ ports, runner });
    await capture.setEnrolled(['10.244.1.2']);
    await capture.start();
    await capture.stop();
    const guard = calls.at(-1)?.input ?? '';
    assert.match(guard, /chain forward/);
    assert.doesNotMatch(guard, /tproxy/);
    assert.equal(capture.status().programmed, false);
    await capture.setEnrolled([]);
    assert.match(calls.at(-1)?.input ?? '', /delete element inet ambit-ztunnel enrolled4 \{ 10\.244\.1\.2 \}/);
    calls.length = 0;
    await capture.removeAll();
    assert.equal(calls[0]?.input, 'add table inet ambit-ztunnel\ndelete table inet ambit-ztunnel\n');
    assert.ok(calls.some((c) => c.args.join(' ') === '-4 rule del pref 32000 fwmark 0x539/0x539 lookup 133'));
    assert.ok(calls.some((c) => c.args.join(' ') === '-4 route flush table 133'));
  });

  it('turns an nft failure into an AmbitError carrying stderr and a hint', async () => {
    const { runner } = recorder((command) => command === 'nft' ? { code: 1, stdout: '', stderr: 'Error: Operation not permitted' } : undefined);
    const capture = new NftCapture({ ports, runner });
    await assert.rejects(capture.start(), (error) => isAmbitError(error, 'unavailable')
      && /Operation not permitted/.test(error.message) && /root/.test(error.hint ?? ''));
    assert.equal(capture.status().programmed, false);
  });

  it('explains a missing nft binary', async () => {
    const runner: CommandRunner = (command) => command === 'nft'
      ? Promise.reject(Object.assign(new Error('spawn nft ENOENT'), { code: 'ENOENT' }))
      : Promise.resolve({ code: 0, stdout: '[]', stderr: '' });
    const capture = new NftCapture({ ports, runner });
    await assert.rejects(capture.start(), (error) => isAmbitError(error, 'unavailable') && /install nftables/.test(error.hint ?? ''));
  });

  it('allows non-local binds only when asked to preserve source addresses, once, before the rules', async () => {
    const plain = recorder();
    const without = new NftCapture({ ports, runner: plain.runner });
    await without.start();
    assert.equal(plain.calls.filter((c) => c.command === 'sysctl').length, 0, 'nothing changes a sysctl unless asked');
    assert.equal(without.sourceMode(), 'off');

    const { runner, calls } = recorder();
    const capture = new NftCapture({ ports, runner, preserveSources: true });
    assert.equal(capture.sourceMode(), 'off', 'undecided before start');
    await capture.start();
    await capture.start();
    const sysctls = calls.filter((c) => c.command === 'sysctl').map((c) => c.args.join(' '));
    assert.deepEqual(sysctls, ['-w net.ipv4.ip_nonlocal_bind=1', '-w net.ipv6.ip_nonlocal_bind=1']);
    assert.ok(calls.findIndex((c) => c.command === 'sysctl') < calls.findIndex((c) => c.command === 'nft'), 'binds are allowed before capture begins');
    assert.equal(capture.sourceMode(), 'nonlocal');
    assert.equal(capture.status().sourceAddresses, 'nonlocal');
  });

  it('falls back to the node\'s address when non-local binds cannot be allowed (capture still starts)', async () => {
    const { runner } = recorder((command, args) => command === 'sysctl' && args[1]?.startsWith('net.ipv4') === true
      ? { code: 255, stdout: '', stderr: 'sysctl: permission denied on key "net.ipv4.ip_nonlocal_bind"' }
      : undefined);
    const capture = new NftCapture({ ports, runner, preserveSources: true });
    await capture.start();
    assert.equal(capture.status().programmed, true);
    assert.equal(capture.sourceMode(), 'off');
    const missing: CommandRunner = (command) => command === 'sysctl'
      ? Promise.reject(Object.assign(new Error('spawn sysctl ENOENT'), { code: 'ENOENT' }))
      : Promise.resolve({ code: 0, stdout: '[]', stderr: '' });
    const noBinary = new NftCapture({ ports, runner: missing, preserveSources: true });
    await noBinary.start();
    assert.equal(noBinary.sourceMode(), 'off');
  });

  it('validates options eagerly', () => {
    assert.throws(() => new NftCapture({ ports: { ...ports, hbone: 15001 } }), (error) => isAmbitError(error, 'invalid-config'));
    assert.throws(() => new NftCapture({ ports: { ...ports, outbound: 0 } }), (error) => isAmbitError(error, 'invalid-config'));
    assert.throws(() => new NftCapture({ ports, table: 'bad name;' }), (error) => isAmbitError(error, 'invalid-config'));
  });
});
