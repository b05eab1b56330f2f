import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateL4 } from '@ambit/api';
import type { Namespace, PeerAuthentication } from '../resources.js';
import { translatePeerAuthentications } from './peer-authentication.js';

const ns = (name: string): Namespace => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const NAMESPACES = ['ambit-system', 'demo', 'legacy', 'other'].map(ns);
let clock = 0;
function pa(namespace: string, name: string, mode: 'STRICT' | 'PERMISSIVE' | 'UNSET', selector?: Record<string, string>): PeerAuthentication {
  clock++;
  return {
    apiVersion: 'security.ambit.dev/v1', kind: 'PeerAuthentication',
    metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString() },
    spec: { mtls: { mode }, ...(selector === undefined ? {} : { selector: { matchLabels: selector } }) },
  };
}

/** Whether a plaintext connection / an mTLS one reaches a workload in `namespace` with `labels`. */
function outcome(policies: PeerAuthentication[], namespace: string, labels: Record<string, string> = {}): { plaintext: boolean; mtls: boolean } {
  const { authorizations } = translatePeerAuthentications(policies, NAMESPACES);
  const workload = { namespace, labels, addresses: ['10.0.0.5'] };
  return {
    plaintext: evaluateL4(authorizations, { workload, port: 80, source: { ip: '10.0.0.9' } }).allowed,
    mtls: evaluateL4(authorizations, { workload, port: 80, source: { ip: '10.0.0.9', identity: 'spiffe://cluster.local/ns/x/sa/y' } }).allowed,
  };
}

describe('PeerAuthentication → STRICT as a DENY without identity', () => {
  const table: { name: string; policies: PeerAuthentication[]; namespace: string; labels?: Record<string, string>; plaintext: boolean }[] = [
    { name: 'no policy: PERMISSIVE', policies: [], namespace: 'demo', plaintext: true },
    { name: 'mesh-wide STRICT', policies: [pa('ambit-system', 'default', 'STRICT')], namespace: 'demo', plaintext: false },
    { name: 'namespace STRICT', policies: [pa('demo', 'default', 'STRICT')], namespace: 'demo', plaintext: false },
    { name: 'namespace STRICT leaves others alone', policies: [pa('demo', 'default', 'STRICT')], namespace: 'other', plaintext: true },
    { name: 'namespace PERMISSIVE overrides mesh STRICT', policies: [pa('ambit-system', 'default', 'STRICT'), pa('legacy', 'default', 'PERMISSIVE')], namespace: 'legacy', plaintext: true },
    { name: 'namespace UNSET inherits mesh STRICT', policies: [pa('ambit-system', 'default', 'STRICT'), pa('legacy', 'default', 'UNSET')], namespace: 'legacy', plaintext: false },
    { name: 'selector STRICT: selected workload', policies: [pa('demo', 'db', 'STRICT', { app: 'db' })], namespace: 'demo', labels: { app: 'db' }, plaintext: false },
    { name: 'selector STRICT: other workload', policies: [pa('demo', 'db', 'STRICT', { app: 'db' })], namespace: 'demo', labels: { app: 'web' }, plaintext: true },
    { name: 'oldest namespace policy wins', policies: [pa('demo', 'a', 'PERMISSIVE'), pa('demo', 'b', 'STRICT')], namespace: 'demo', plaintext: true },
  ];
  for (const row of table) {
    it(row.name, () => {
      const result = outcome(row.policies, row.namespace, row.labels);
      assert.equal(result.plaintext, row.plaintext);
      assert.equal(result.mtls, true, 'mTLS is always allowed by a PeerAuthentication');
    });
  }

  it('reports what it cannot do instead of ignoring it', () => {
    const policies = [pa('demo', 'default', 'STRICT'), pa('demo', 'loose', 'PERMISSIVE', { app: 'web' }), pa('demo', 'late', 'PERMISSIVE')];
    const { status } = translatePeerAuthentications(policies, NAMESPACES);
    const byName = new Map(status.map((s) => [s.name, s.conditions[0]]));
    assert.equal(byName.get('default')?.status, 'True');
    assert.equal(byName.get('loose')?.status, 'False');
    assert.match(byName.get('loose')?.message ?? '', /STRICT namespace demo/);
    assert.equal(byName.get('late')?.reason, 'Conflicted');
  });
});
