import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRUST_DOMAIN, SpiffeId } from './spiffe.js';
import { isAmbitError } from './errors.js';

/** Asserts `fn` throws invalid-identity with a hint and a message containing `fragment`. */
function assertInvalid(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isAmbitError(error, 'invalid-identity'), `expected invalid-identity, got ${String(error)}`);
    assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} does not contain ${fragment}`);
    assert.ok(error.hint !== undefined && error.hint.length > 0, 'a hint says what a valid value looks like');
    return true;
  });
}

describe('SpiffeId parse and format', () => {
  it('parses the parts of a workload identity', () => {
    const id = SpiffeId.parse('spiffe://cluster.local/ns/demo/sa/productpage');
    assert.equal(id.trustDomain, 'cluster.local');
    assert.equal(id.namespace, 'demo');
    assert.equal(id.serviceAccount, 'productpage');
  });

  it('formats as the URI everywhere: uri, toString, template strings and JSON', () => {
    const id = SpiffeId.of(DEFAULT_TRUST_DOMAIN, 'istio-system', 'ztunnel');
    const uri = 'spiffe://cluster.local/ns/istio-system/sa/ztunnel';
    assert.equal(id.uri, uri);
    assert.equal(id.toString(), uri);
    assert.equal(`${String(id)}`, uri);
    assert.equal(JSON.stringify({ peer: id }), JSON.stringify({ peer: uri }));
  });

  const roundTrips = [
    'spiffe://cluster.local/ns/default/sa/default',
    'spiffe://example.org/ns/a/sa/b',
    'spiffe://prod_1.mesh-a.example/ns/team-7/sa/web.frontend',
    'spiffe://td/ns/0/sa/9',
  ];
  for (const uri of roundTrips) {
    it(`round-trips ${uri}`, () => {
      const id = SpiffeId.parse(uri);
      assert.equal(id.uri, uri);
      const again = SpiffeId.parse(id.uri);
      assert.ok(again.equals(id));
      assert.ok(SpiffeId.of(id.trustDomain, id.namespace, id.serviceAccount).equals(again));
    });
  }

  it('compares by value', () => {
    const a = SpiffeId.parse('spiffe://cluster.local/ns/demo/sa/web');
    assert.equal(a.equals(SpiffeId.of('cluster.local', 'demo', 'web')), true);
    assert.equal(a.equals(SpiffeId.of('cluster.local', 'demo', 'api')), false);
    assert.equal(a.equals(SpiffeId.of('cluster.local', 'other', 'web')), false);
    assert.equal(a.equals(SpiffeId.of('example.org', 'demo', 'web')), false);
    assert.equal(a.equals(undefined), false);
  });

  it('tryParse returns undefined instead of throwing', () => {
    assert.equal(SpiffeId.tryParse('spiffe://cluster.local/ns/demo/sa/web')?.serviceAccount, 'web');
    assert.equal(SpiffeId.tryParse('https://cluster.local/ns/demo/sa/web'), undefined);
    assert.equal(SpiffeId.tryParse('spiffe://Cluster.local/ns/demo/sa/web'), undefined);
  });
});

describe('SpiffeId rejects', () => {
  const notWorkloadIds = [
    'https://cluster.local/ns/demo/sa/web',
    'SPIFFE://cluster.local/ns/demo/sa/web',
    'spiffe:/cluster.local/ns/demo/sa/web',
    'cluster.local/ns/demo/sa/web',
    '',
    'spiffe:///ns/demo/sa/web',
    'spiffe://cluster.local',
    'spiffe://cluster.local/',
    'spiffe://cluster.local/ns/demo',
    'spiffe://cluster.local/ns/demo/sa/',
    'spiffe://cluster.local/ns//sa/web',
    'spiffe://cluster.local/ns/demo/sa/web/',
    'spiffe://cluster.local/ns/demo/sa/web/extra',
    'spiffe://cluster.local/ns/demo/sa/web/ns/x/sa/y',
    'spiffe://cluster.local/prefix/ns/demo/sa/web',
    'spiffe://cluster.local/namespace/demo/sa/web',
    'spiffe://cluster.local/sa/web/ns/demo',
    ' spiffe://cluster.local/ns/demo/sa/web',
  ];
  for (const uri of notWorkloadIds) {
    it(`${JSON.stringify(uri)} as not a workload SPIFFE ID`, () => {
      assertInvalid(() => SpiffeId.parse(uri), `${JSON.stringify(uri)} is not a workload SPIFFE ID`);
    });
  }

  const badTrustDomains = ['Cluster.local', 'cluster.local:8443', 'user@cluster.local', 'clus ter', 'clüster.local', 'a'.repeat(256)];
  for (const td of badTrustDomains) {
    it(`trust domain ${JSON.stringify(td.length > 40 ? `${td.slice(0, 10)}…(${td.length})` : td)}`, () => {
      const expected = `trust domain ${JSON.stringify(td)} is not valid`;
      assertInvalid(() => SpiffeId.parse(`spiffe://${td}/ns/demo/sa/web`), expected);
      assertInvalid(() => SpiffeId.of(td, 'demo', 'web'), expected);
    });
  }

  const badNamespaces = ['Demo', '-demo', 'demo-', 'de_mo', 'de.mo', 'demo%2F', 'a'.repeat(64)];
  for (const ns of badNamespaces) {
    it(`namespace ${JSON.stringify(ns.length > 40 ? `${ns.slice(0, 10)}…(${ns.length})` : ns)}`, () => {
      const expected = `namespace ${JSON.stringify(ns)} is not a valid Kubernetes namespace name`;
      assertInvalid(() => SpiffeId.parse(`spiffe://cluster.local/ns/${ns}/sa/web`), expected);
      assertInvalid(() => SpiffeId.of('cluster.local', ns, 'web'), expected);
    });
  }

  const badServiceAccounts = ['Web', 'web_sa', '.web', 'web.', 'web..api', '-web', 'web?x=1', 'web#frag', 'web\n', 'a'.repeat(254)];
  for (const sa of badServiceAccounts) {
    it(`service account ${JSON.stringify(sa.length > 40 ? `${sa.slice(0, 10)}…(${sa.length})` : sa)}`, () => {
      const expected = `service account ${JSON.stringify(sa)} is not a valid name`;
      assertInvalid(() => SpiffeId.parse(`spiffe://cluster.local/ns/demo/sa/${sa}`), expected);
      assertInvalid(() => SpiffeId.of('cluster.local', 'demo', sa), expected);
    });
  }

  it('empty parts passed to of()', () => {
    assertInvalid(() => SpiffeId.of('', 'demo', 'web'), 'trust domain ""');
    assertInvalid(() => SpiffeId.of('cluster.local', '', 'web'), 'namespace ""');
    assertInvalid(() => SpiffeId.of('cluster.local', 'demo', ''), 'service account ""');
  });
});

describe('SpiffeId limits', () => {
  it('accepts names exactly at the length limits', () => {
    const td = 'a'.repeat(255);
    const ns = 'b'.repeat(63);
    const sa = 'c'.repeat(253);
    const id = SpiffeId.parse(`spiffe://${td}/ns/${ns}/sa/${sa}`);
    assert.deepEqual([id.trustDomain.length, id.namespace.length, id.serviceAccount.length], [255, 63, 253]);
  });

  it('accepts dotted service accounts and single-character names', () => {
    assert.equal(SpiffeId.of('x', 'a', 'b.c-d.e').uri, 'spiffe://x/ns/a/sa/b.c-d.e');
  });
});
