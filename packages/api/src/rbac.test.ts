import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization, AuthorizationRule, AuthorizationScope } from './authorization.js';
import { appliesTo, cidrContains, evaluateL4, stringMatches } from './rbac.js';
import type { L4Decision, L4Request } from './rbac.js';

const DEST = { namespace: 'demo', labels: { app: 'echo' }, addresses: ['10.0.0.5', 'fd00::5'] };
const CLIENT = 'spiffe://td/ns/client/sa/curl';

function authz(name: string, action: Authorization['action'], rules: AuthorizationRule[], scope: AuthorizationScope = { kind: 'namespace', namespace: 'demo' }): Authorization {
  const namespace = scope.kind === 'mesh' ? 'ambit-system' : scope.namespace;
  return { key: `${namespace}/${name}`, name, namespace, scope, action, rules };
}
const rule = (from: AuthorizationRule['from'] = [], to: AuthorizationRule['to'] = [], when?: AuthorizationRule['when']): AuthorizationRule =>
  ({ from, to, ...(when ? { when } : {}) });

function request(overrides: { identity?: string | null; ip?: string; port?: number; destinationIp?: string; workload?: L4Request['workload'] } = {}): L4Request {
  return {
    workload: overrides.workload ?? DEST,
    port: overrides.port ?? 8080,
    ...(overrides.destinationIp ? { destinationIp: overrides.destinationIp } : {}),
    source: { ...(overrides.identity === null ? {} : { identity: overrides.identity ?? CLIENT }), ip: overrides.ip ?? '10.1.0.7' },
  };
}

describe('appliesTo', () => {
  const cases: { name: string; scope: AuthorizationScope; applies: boolean }[] = [
    { name: 'mesh', scope: { kind: 'mesh' }, applies: true },
    { name: 'same namespace', scope: { kind: 'namespace', namespace: 'demo' }, applies: true },
    { name: 'other namespace', scope: { kind: 'namespace', namespace: 'other' }, applies: false },
    { name: 'selector match', scope: { kind: 'workload', namespace: 'demo', selector: { app: 'echo' } }, applies: true },
    { name: 'selector mismatch', scope: { kind: 'workload', namespace: 'demo', selector: { app: 'other' } }, applies: false },
    { name: 'selector extra key', scope: { kind: 'workload', namespace: 'demo', selector: { app: 'echo', v: '1' } }, applies: false },
    { name: 'empty selector: whole namespace', scope: { kind: 'workload', namespace: 'demo', selector: {} }, applies: true },
    { name: 'selector in other namespace', scope: { kind: 'workload', namespace: 'other', selector: { app: 'echo' } }, applies: false },
    { name: 'selector in root namespace: every namespace', scope: { kind: 'workload', namespace: 'ambit-system', selector: { app: 'echo' } }, applies: true },
  ];
  for (const c of cases) it(c.name, () => assert.equal(appliesTo(authz('p', 'ALLOW', [], c.scope), DEST), c.applies));
});

describe('evaluateL4: precedence', () => {
  const allowClient = authz('allow-client', 'ALLOW', [rule([{ namespaces: ['client'] }])]);
  const allowOther = authz('allow-other', 'ALLOW', [rule([{ namespaces: ['other'] }])]);
  const denyClient = authz('deny-client', 'DENY', [rule([{ principals: ['td/ns/client/sa/curl'] }])]);
  const denyOther = authz('deny-other', 'DENY', [rule([{ namespaces: ['other'] }])]);
  const elsewhere = authz('elsewhere', 'ALLOW', [], { kind: 'namespace', namespace: 'other' });
  const cases: { name: string; policies: Authorization[]; expect: L4Decision }[] = [
    { name: 'no policies → allow', policies: [], expect: { allowed: true, reason: 'no-policy' } },
    { name: 'only policies for other workloads → allow', policies: [elsewhere], expect: { allowed: true, reason: 'no-policy' } },
    { name: 'matching ALLOW → allow', policies: [allowClient], expect: { allowed: true, policy: 'demo/allow-client', reason: 'allowed-by-policy' } },
    { name: 'ALLOW exists, none matches → deny', policies: [allowOther], expect: { allowed: false, reason: 'no-allow-match' } },
    { name: 'any matching ALLOW suffices', policies: [allowOther, allowClient], expect: { allowed: true, policy: 'demo/allow-client', reason: 'allowed-by-policy' } },
    { name: 'DENY beats ALLOW', policies: [allowClient, denyClient], expect: { allowed: false, policy: 'demo/deny-client', reason: 'denied-by-policy' } },
    { name: 'non-matching DENY alone → allow', policies: [denyOther], expect: { allowed: true, reason: 'no-policy' } },
    { name: 'non-matching DENY + matching ALLOW → allow', policies: [denyOther, allowClient], expect: { allowed: true, policy: 'demo/allow-client', reason: 'allowed-by-policy' } },
    { name: 'ALLOW with no rules denies everything', policies: [authz('nothing', 'ALLOW', [])], expect: { allowed: false, reason: 'no-allow-match' } },
    { name: 'ALLOW with an empty rule allows everything', policies: [authz('all', 'ALLOW', [rule()])], expect: { allowed: true, policy: 'demo/all', reason: 'allowed-by-policy' } },
    { name: 'DENY with no rules denies nothing', policies: [authz('none', 'DENY', [])], expect: { allowed: true, reason: 'no-policy' } },
    { name: 'DENY with an empty rule denies everything', policies: [authz('all', 'DENY', [rule()])], expect: { allowed: false, policy: 'demo/all', reason: 'denied-by-policy' } },
    { name: 'mesh-wide DENY applies', policies: [authz('m', 'DENY', [rule()], { kind: 'mesh' }), allowClient], expect: { allowed: false, policy: 'ambit-system/m', reason: 'denied-by-policy' } },
    { name: 'mesh-wide ALLOW makes others deny-by-default', policies: [authz('m', 'ALLOW', [rule([{ namespaces: ['x'] }])], { kind: 'mesh' })], expect: { allowed: false, reason: 'no-allow-match' } },
    { name: 'selector DENY for another app is ignored', policies: [authz('s', 'DENY', [rule()], { kind: 'workload', namespace: 'demo', selector: { app: 'db' } })], expect: { allowed: true, reason: 'no-policy' } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(evaluateL4(c.policies, request()), c.expect));
});

describe('evaluateL4: matchers', () => {
  // Each case: one ALLOW policy with one rule; does the request get in?
  const cases: { name: string; rule: AuthorizationRule; req?: Parameters<typeof request>[0]; allowed: boolean }[] = [
    { name: 'principal exact (Istio form, no scheme)', rule: rule([{ principals: ['td/ns/client/sa/curl'] }]), allowed: true },
    { name: 'principal written with spiffe://', rule: rule([{ principals: [CLIENT] }]), allowed: true },
    { name: 'principal other', rule: rule([{ principals: ['td/ns/client/sa/other'] }]), allowed: false },
    { name: 'principal prefix *', rule: rule([{ principals: ['td/ns/client/*'] }]), allowed: true },
    { name: 'principal suffix *', rule: rule([{ principals: ['*/sa/curl'] }]), allowed: true },
    { name: 'principal presence *', rule: rule([{ principals: ['*'] }]), allowed: true },
    { name: 'principal presence, plaintext', rule: rule([{ principals: ['*'] }]), req: { identity: null }, allowed: false },
    { name: 'principal exact, plaintext', rule: rule([{ principals: ['td/ns/client/sa/curl'] }]), req: { identity: null }, allowed: false },
    { name: 'notPrincipals other → match', rule: rule([{ notPrincipals: ['td/ns/x/sa/y'] }]), allowed: true },
    { name: 'notPrincipals self → no match', rule: rule([{ notPrincipals: ['td/ns/client/sa/curl'] }]), allowed: false },
    { name: 'notPrincipals * with identity → no match', rule: rule([{ notPrincipals: ['*'] }]), allowed: false },
    { name: 'notPrincipals * plaintext → match (Istio: no principal is not any principal)', rule: rule([{ notPrincipals: ['*'] }]), req: { identity: null }, allowed: true },
    { name: 'namespace match', rule: rule([{ namespaces: ['client'] }]), allowed: true },
    { name: 'namespace prefix', rule: rule([{ namespaces: ['cli*'] }]), allowed: true },
    { name: 'namespace plaintext never matches', rule: rule([{ namespaces: ['*'] }]), req: { identity: null }, allowed: false },
    { name: 'notNamespaces self → no match', rule: rule([{ notNamespaces: ['client'] }]), allowed: false },
    { name: 'notNamespaces plaintext → match', rule: rule([{ notNamespaces: ['client'] }]), req: { identity: null }, allowed: true },
    { name: 'ipBlock IPv4 CIDR', rule: rule([{ ipBlocks: ['10.1.0.0/16'] }]), allowed: true },
    { name: 'ipBlock IPv4 single', rule: rule([{ ipBlocks: ['10.1.0.7'] }]), allowed: true },
    { name: 'ipBlock IPv4 miss', rule: rule([{ ipBlocks: ['10.2.0.0/16'] }]), allowed: false },
    { name: 'ipBlock plaintext still matches by IP', rule: rule([{ ipBlocks: ['10.1.0.0/16'] }]), req: { identity: null }, allowed: true },
    { name: 'ipBlock IPv6 CIDR', rule: rule([{ ipBlocks: ['fd00:1::/32'] }]), req: { ip: 'fd00:1::7' }, allowed: true },
    { name: 'ipBlock IPv6 miss', rule: rule([{ ipBlocks: ['fd00:2::/32'] }]), req: { ip: 'fd00:1::7' }, allowed: false },
    { name: 'IPv6 block never holds an IPv4 peer', rule: rule([{ ipBlocks: ['::/0'] }]), allowed: false },
    { name: 'IPv4 block never holds an IPv6 peer', rule: rule([{ ipBlocks: ['0.0.0.0/0'] }]), req: { ip: 'fd00::1' }, allowed: false },
    { name: 'IPv4-mapped peer matches an IPv4 block', rule: rule([{ ipBlocks: ['10.1.0.0/16'] }]), req: { ip: '::ffff:10.1.0.7' }, allowed: true },
    { name: 'notIpBlocks excludes', rule: rule([{ notIpBlocks: ['10.1.0.0/16'] }]), allowed: false },
    { name: 'ipBlocks minus notIpBlocks', rule: rule([{ ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.1.0.7/32'] }]), allowed: false },
    { name: 'ports match', rule: rule([], [{ ports: [8080, 9090] }]), allowed: true },
    { name: 'ports miss', rule: rule([], [{ ports: [9090] }]), allowed: false },
    { name: 'notPorts excludes', rule: rule([], [{ notPorts: [8080] }]), allowed: false },
    { name: 'notPorts other', rule: rule([], [{ notPorts: [22] }]), allowed: true },
    { name: 'fields within a source are ANDed', rule: rule([{ namespaces: ['client'], ipBlocks: ['10.2.0.0/16'] }]), allowed: false },
    { name: 'sources are ORed', rule: rule([{ namespaces: ['nope'] }, { ipBlocks: ['10.1.0.0/16'] }]), allowed: true },
    { name: 'from AND to', rule: rule([{ namespaces: ['client'] }], [{ ports: [1] }]), allowed: false },
    { name: 'an empty source never matches (ztunnel)', rule: rule([{}]), allowed: false },
    { name: 'empty source beside a matching one', rule: rule([{}, { namespaces: ['client'] }]), allowed: true },
    { name: 'when conditions are ANDed', rule: rule([], [], [{ namespaces: ['client'] }, { ports: [1] }]), allowed: false },
    { name: 'when all match', rule: rule([], [], [{ namespaces: ['client'] }, { ports: [8080] }, { ipBlocks: ['10.1.0.0/16'] }]), allowed: true },
    { name: 'when destination.ip defaults to the workload address', rule: rule([], [], [{ ips: ['10.0.0.5'] }]), allowed: true },
    { name: 'when destination.ip uses the request address', rule: rule([], [], [{ ips: ['10.0.0.5'] }]), req: { destinationIp: 'fd00::5' }, allowed: false },
    { name: 'when notIps', rule: rule([], [], [{ notIps: ['fd00::/16'] }]), req: { destinationIp: 'fd00::5' }, allowed: false },
    { name: 'invalid CIDR never matches', rule: rule([{ ipBlocks: ['not-an-ip'] }]), allowed: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(evaluateL4([authz('p', 'ALLOW', [c.rule])], request(c.req)).allowed, c.allowed));
  }

  it('the same matchers in a DENY deny exactly when they match', () => {
    for (const c of cases) {
      const decision = evaluateL4([authz('p', 'DENY', [c.rule])], request(c.req));
      assert.equal(decision.allowed, !c.allowed, c.name);
    }
  });
});

describe('stringMatches and cidrContains', () => {
  const strings: [string, string, boolean][] = [
    ['*', 'x', true], ['*', '', false], ['a*', 'abc', true], ['a*', 'bac', false], ['*c', 'abc', true], ['*c', 'cab', false], ['abc', 'abc', true], ['abc', 'abcd', false],
  ];
  for (const [pattern, value, expected] of strings) it(`${pattern} ~ ${JSON.stringify(value)}`, () => assert.equal(stringMatches(pattern, value), expected));
  const cidrs: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.255.255.255', true], ['10.0.0.0/8', '11.0.0.0', false], ['10.0.0.1', '10.0.0.1', true], ['0.0.0.0/0', '1.2.3.4', true],
    ['fd00::/8', 'fdff::1', true], ['fd00::/8', 'fe00::1', false], ['::1', '::1', true], ['::/0', '::1', true],
    ['10.0.0.0/8', 'garbage', false], ['bad/8', '10.0.0.1', false],
  ];
  for (const [cidr, ip, expected] of cidrs) it(`${ip} in ${cidr}`, () => assert.equal(cidrContains(cidr, ip), expected));
});
