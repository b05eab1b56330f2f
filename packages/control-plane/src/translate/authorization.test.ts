import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthorizationRule } from '@ambit/api';
import { parseCidr, partialEnforcementMessage, scopeOf, translatePolicy } from './authorization.js';
import type { PolicyOutcome } from './authorization.js';
import type { AuthorizationPolicySpec } from '../resources.js';
import { policy } from './testing.js';

function l4(spec: AuthorizationPolicySpec, ns = 'demo'): Extract<PolicyOutcome, { kind: 'l4' }> {
  const outcome = translatePolicy(policy('p', spec, ns));
  if (outcome.kind !== 'l4') assert.fail(`expected an L4 outcome, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('translatePolicy: scope', () => {
  const cases: { name: string; spec: AuthorizationPolicySpec; ns: string; scope: unknown }[] = [
    { name: 'namespace policy', spec: {}, ns: 'demo', scope: { kind: 'namespace', namespace: 'demo' } },
    { name: 'root namespace is mesh-wide', spec: {}, ns: 'ambit-system', scope: { kind: 'mesh' } },
    { name: 'selector → workload', spec: { selector: { matchLabels: { app: 'a' } } }, ns: 'demo', scope: { kind: 'workload', namespace: 'demo', selector: { app: 'a' } } },
    { name: 'empty selector is still workload-scoped', spec: { selector: {} }, ns: 'demo', scope: { kind: 'workload', namespace: 'demo', selector: {} } },
    { name: 'selector in root namespace', spec: { selector: { matchLabels: { app: 'a' } } }, ns: 'ambit-system', scope: { kind: 'workload', namespace: 'ambit-system', selector: { app: 'a' } } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(scopeOf(policy('p', c.spec, c.ns)), c.scope));
});

describe('translatePolicy: actions and attachment', () => {
  const cases: { name: string; spec: AuthorizationPolicySpec; expect: Partial<PolicyOutcome> }[] = [
    { name: 'AUDIT is unsupported', spec: { action: 'AUDIT' }, expect: { kind: 'rejected', reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action' } },
    { name: 'CUSTOM is unsupported', spec: { action: 'CUSTOM' }, expect: { kind: 'rejected', reason: 'UnsupportedValue', message: 'ztunnel does not support the CUSTOM action' } },
    { name: 'targetRefs go to the waypoint', spec: { targetRefs: [{ kind: 'Service', name: 'echo' }, { kind: 'Gateway', name: 'wp', namespace: 'demo' }] }, expect: { kind: 'waypoint', targets: [{ kind: 'Gateway', key: 'demo/wp' }, { kind: 'Service', key: 'demo/echo' }] } },
    { name: 'targetRefs in another namespace are invalid (as Istio)', spec: { targetRefs: [{ kind: 'Gateway', name: 'wp', namespace: 'infra' }] }, expect: { kind: 'rejected', reason: 'Invalid', message: "targetRefs may only name objects in the policy's namespace demo, not Gateway infra/wp" } },
    { name: 'targetRefs with the wrong group are unsupported', spec: { targetRefs: [{ group: 'networking.istio.io', kind: 'Gateway', name: 'wp' }] }, expect: { kind: 'rejected', reason: 'UnsupportedValue' } },
    { name: 'targetRefs with a selector are invalid', spec: { selector: { matchLabels: { a: 'b' } }, targetRefs: [{ kind: 'Service', name: 'x' }] }, expect: { kind: 'rejected', reason: 'Invalid' } },
    { name: 'targetRefs to another kind are unsupported', spec: { targetRefs: [{ kind: 'Pod', name: 'x' }] }, expect: { kind: 'rejected', reason: 'UnsupportedValue' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = translatePolicy(policy('p', c.spec)) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(outcome[k], v, k);
    });
  }

  it('action defaults to ALLOW; key, name, namespace set', () => {
    const { authorization } = l4({ rules: [{}] });
    assert.deepEqual(authorization, { key: 'demo/p', name: 'p', namespace: 'demo', scope: { kind: 'namespace', namespace: 'demo' }, action: 'ALLOW', rules: [{ from: [], to: [] }] });
  });
  it('no rules stay no rules', () => assert.deepEqual(l4({ action: 'DENY' }).authorization.rules, []));
});

describe('translatePolicy: L4 fields', () => {
  it('converts sources, operations and L4 when keys', () => {
    const out = l4({
      rules: [{
        from: [{ source: { principals: ['td/ns/a/sa/x'], notPrincipals: ['*'], namespaces: ['a'], notNamespaces: ['b'], ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['fd00::/8'] } }],
        to: [{ operation: { ports: ['80'], notPorts: ['81'] } }],
        when: [
          { key: 'source.ip', values: ['10.1.0.0/16'], notValues: ['10.1.2.3'] },
          { key: 'source.namespace', values: ['a'] },
          { key: 'source.principal', notValues: ['td/ns/a/sa/bad'] },
          { key: 'destination.ip', values: ['10.0.0.5'] },
          { key: 'destination.port', values: ['8080'], notValues: ['9090'] },
        ],
      }],
    });
    const expected: AuthorizationRule = {
      from: [{ principals: ['td/ns/a/sa/x'], notPrincipals: ['*'], namespaces: ['a'], notNamespaces: ['b'], ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['fd00::/8'] }],
      to: [{ ports: [80], notPorts: [81] }],
      when: [
        { ipBlocks: ['10.1.0.0/16'], notIpBlocks: ['10.1.2.3'] },
        { namespaces: ['a'] },
        { notPrincipals: ['td/ns/a/sa/bad'] },
        { ips: ['10.0.0.5'] },
        { ports: [8080], notPorts: [9090] },
      ],
    };
    assert.deepEqual(out.authorization.rules, [expected]);
    assert.deepEqual(out.l7Fields, []);
    assert.deepEqual(out.invalid, []);
  });

  it('skips values it cannot parse (as istiod) and reports them', () => {
    const out = l4({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33', '10.0.0.1'] } }], to: [{ operation: { ports: ['http', '70000', '80'] } }] }] });
    assert.deepEqual(out.authorization.rules, [{ from: [{ ipBlocks: ['10.0.0.1'] }], to: [{ ports: [80] }] }]);
    assert.deepEqual(out.invalid, ['ipBlocks: "10.0.0.0/33"', 'ports: "70000"', 'ports: "http"']);
  });

  it('an entry left empty by invalid values never matches, so its rule is dropped', () => {
    assert.deepEqual(l4({ rules: [{ to: [{ operation: { ports: ['x'] } }] }] }).authorization.rules, []);
  });
});

describe('translatePolicy: L7 attributes (Istio ambient semantics)', () => {
  const cases: { name: string; spec: AuthorizationPolicySpec; rules: AuthorizationRule[]; l7: string[] }[] = [
    {
      name: 'ALLOW: a rule with methods is omitted, others kept',
      spec: { rules: [
        { from: [{ source: { principals: ['a'] } }], to: [{ operation: { methods: ['GET'] } }] },
        { from: [{ source: { principals: ['b'] } }] },
      ] },
      rules: [{ from: [{ principals: ['b'] }], to: [] }], l7: ['methods'],
    },
    {
      name: 'ALLOW: only L7 rules → no rules (denies everything selected)',
      spec: { rules: [{ to: [{ operation: { paths: ['/x'] } }] }, { when: [{ key: 'request.headers[x-a]', values: ['1'] }] }] },
      rules: [], l7: ['paths', 'when request.headers[x-a]'],
    },
    {
      name: 'ALLOW: requestPrincipals in from drops the rule',
      spec: { rules: [{ from: [{ source: { principals: ['a'], requestPrincipals: ['iss/sub'] } }] }] },
      rules: [], l7: ['requestPrincipals'],
    },
    {
      name: 'DENY: L4 parts kept, L7 parts ignored (more restrictive)',
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['bad'] } }], to: [{ operation: { ports: ['80'], methods: ['POST'], paths: ['/admin'] } }] }] },
      rules: [{ from: [{ namespaces: ['bad'] }], to: [{ ports: [80] }] }], l7: ['methods', 'paths'],
    },
    {
      name: 'DENY: a to of only L7 never matches → rule dropped',
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['bad'] } }], to: [{ operation: { methods: ['POST'] } }] }] },
      rules: [], l7: ['methods'],
    },
    {
      name: 'DENY: an L7-only entry is dropped, its L4 siblings kept',
      spec: { action: 'DENY', rules: [{ to: [{ operation: { hosts: ['a.example'] } }, { operation: { ports: ['22'] } }] }] },
      rules: [{ from: [], to: [{ ports: [22] }] }], l7: ['hosts'],
    },
    {
      name: 'DENY: an L7 when never matches → rule dropped',
      spec: { action: 'DENY', rules: [{ from: [{ source: { principals: ['x'] } }], when: [{ key: 'request.auth.claims[iss]', values: ['a'] }] }] },
      rules: [], l7: ['when request.auth.claims[iss]'],
    },
    {
      name: 'DENY: remoteIpBlocks/notRequestPrincipals/notHosts/notMethods/notPaths all count as L7',
      spec: { action: 'DENY', rules: [{
        from: [{ source: { ipBlocks: ['10.0.0.0/8'], remoteIpBlocks: ['1.2.3.4'], notRemoteIpBlocks: ['1.2.3.5'], notRequestPrincipals: ['*'] } }],
        to: [{ operation: { ports: ['80'], notHosts: ['h'], notMethods: ['GET'], notPaths: ['/'] } }],
      }] },
      rules: [{ from: [{ ipBlocks: ['10.0.0.0/8'] }], to: [{ ports: [80] }] }],
      l7: ['notHosts', 'notMethods', 'notPaths', 'notRemoteIpBlocks', 'notRequestPrincipals', 'remoteIpBlocks'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = l4(c.spec);
      assert.deepEqual(out.authorization.rules, c.rules);
      assert.deepEqual(out.l7Fields, c.l7);
    });
  }

  it('names the fields and the consequence', () => {
    assert.match(partialEnforcementMessage('ALLOW', ['methods', 'paths']), /found: methods, paths\).*rules matching HTTP attributes are omitted/);
    assert.match(partialEnforcementMessage('DENY', ['methods']), /enforced without the HTTP parts/);
  });
});

describe('translatePolicy: targetRefs (waypoint, L7)', () => {
  function l7(spec: AuthorizationPolicySpec): Extract<PolicyOutcome, { kind: 'waypoint' }> {
    const outcome = translatePolicy(policy('p', { targetRefs: [{ kind: 'Service', name: 'echo' }], ...spec }));
    if (outcome.kind !== 'waypoint') assert.fail(`expected a waypoint outcome, got ${JSON.stringify(outcome)}`);
    return outcome;
  }

  it('publishes a targets-scoped authorization; duplicate targets collapse', () => {
    const outcome = translatePolicy(policy('p', { targetRefs: [{ kind: 'Service', name: 'echo' }, { kind: 'Service', group: '', name: 'echo' }, { kind: 'Gateway', name: 'wp' }] }));
    assert.equal(outcome.kind, 'waypoint');
    assert.deepEqual(outcome.kind === 'waypoint' && outcome.authorization.scope, {
      kind: 'targets', namespace: 'demo', targets: [{ kind: 'Gateway', key: 'demo/wp' }, { kind: 'Service', key: 'demo/echo' }],
    });
  });

  const cases: { name: string; spec: AuthorizationPolicySpec; rules: AuthorizationRule[]; unsupported?: string[]; invalid?: string[] }[] = [
    {
      name: 'keeps methods, paths, hosts, ports and their not-forms',
      spec: { rules: [{ to: [{ operation: { methods: ['GET'], notMethods: ['DELETE'], paths: ['/api/*'], notPaths: ['/api/admin'], hosts: ['echo.demo'], notHosts: ['x'], ports: ['80'], notPorts: ['81'] } }] }] },
      rules: [{ from: [], to: [{ methods: ['GET'], notMethods: ['DELETE'], paths: ['/api/*'], notPaths: ['/api/admin'], hosts: ['echo.demo'], notHosts: ['x'], ports: [80], notPorts: [81] }] }],
    },
    {
      name: 'keeps sources',
      spec: { rules: [{ from: [{ source: { principals: ['td/ns/a/sa/x'], notNamespaces: ['b'], ipBlocks: ['10.0.0.0/8'] } }] }] },
      rules: [{ from: [{ principals: ['td/ns/a/sa/x'], notNamespaces: ['b'], ipBlocks: ['10.0.0.0/8'] }], to: [] }],
    },
    {
      name: 'when: request.headers[<name>] (lower-cased) and the L4 keys',
      spec: { rules: [{ when: [
        { key: 'request.headers[X-Tenant]', values: ['a', 'b'], notValues: ['c'] },
        { key: 'source.namespace', values: ['a'] },
        { key: 'destination.port', values: ['8080'] },
      ] }] },
      rules: [{ from: [], to: [], when: [
        { requestHeaders: [{ name: 'x-tenant', values: ['a', 'b'], notValues: ['c'] }] }, { namespaces: ['a'] }, { ports: [8080] },
      ] }],
    },
    {
      name: 'ALLOW: a rule using requestPrincipals or request.auth.* is dropped (more restrictive)',
      spec: { rules: [
        { from: [{ source: { requestPrincipals: ['issuer/sub'] } }] },
        { when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] },
        { to: [{ operation: { methods: ['GET'] } }] },
      ] },
      rules: [{ from: [], to: [{ methods: ['GET'] }] }],
      unsupported: ['requestPrincipals', 'when request.auth.claims[iss]'],
    },
    {
      name: 'DENY: the rule keeps what the waypoint supports',
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['x'], remoteIpBlocks: ['1.2.3.4'] } }], to: [{ operation: { paths: ['/admin'] } }] }] },
      rules: [{ from: [{ namespaces: ['x'] }], to: [{ paths: ['/admin'] }] }],
      unsupported: ['remoteIpBlocks'],
    },
    {
      name: 'invalid values are skipped and reported',
      spec: { rules: [{ to: [{ operation: { ports: ['80', 'http'], methods: ['GET'] } }] }] },
      rules: [{ from: [], to: [{ methods: ['GET'], ports: [80] }] }],
      invalid: ['ports: "http"'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = l7(c.spec);
      assert.deepEqual(outcome.authorization.rules, c.rules);
      assert.deepEqual(outcome.unsupported, c.unsupported ?? []);
      assert.deepEqual(outcome.invalid, c.invalid ?? []);
    });
  }
});

describe('parseCidr', () => {
  const cases: [string, unknown][] = [
    ['10.0.0.1', { address: '10.0.0.1', prefix: 32, family: 'ipv4' }],
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['fd00::/8', { address: 'fd00::', prefix: 8, family: 'ipv6' }],
    ['::1', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['10.0.0.0/33', undefined],
    ['fd00::/129', undefined],
    ['10.0.0.0/', undefined],
    ['10.0.0.0/a', undefined],
    ['host', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.deepEqual(parseCidr(input), expected));
});
