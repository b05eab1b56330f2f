import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpiffeId } from '@ambit/core';
import type { Pod } from '../resources.js';
import { entitle, type Principal } from './entitlement.js';

const id = (ns: string, sa: string, td = 'cluster.local'): SpiffeId => SpiffeId.of(td, ns, sa);
const pod = (ns: string, sa: string | undefined, node: string, extra: Partial<Pod['metadata']> = {}, phase = 'Running'): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `${sa ?? 'default'}-x`, namespace: ns, ...extra },
  spec: { nodeName: node, ...(sa === undefined ? {} : { serviceAccountName: sa }) }, status: { phase },
});
const pods: Pod[] = [
  pod('demo', 'echo', 'node-a'),
  pod('demo', undefined, 'node-a'),
  pod('demo', 'client', 'node-b'),
  pod('demo', 'leaving', 'node-a', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
  pod('demo', 'done', 'node-a', {}, 'Succeeded'),
];
const context = { ztunnelIdentity: id('ambit-system', 'ztunnel'), podsOnNode: (node: string) => pods.filter((p) => p.spec?.nodeName === node) };
const nodeA: Principal = { kind: 'node', node: 'node-a', via: 'certificate' };
const waypoint: Principal = { kind: 'workload', identity: id('demo', 'waypoint'), via: 'certificate' };

describe('node-bound entitlement', () => {
  const cases: [string, Principal, { identity: SpiffeId; node?: string }, string | true][] = [
    ['node gets a pod SA scheduled on it', nodeA, { identity: id('demo', 'echo') }, true],
    ['node gets the default SA of a pod without one', nodeA, { identity: id('demo', 'default') }, true],
    ['node is refused a pod SA scheduled elsewhere', nodeA, { identity: id('demo', 'client') }, 'not-on-node'],
    ['node is refused an SA with no pod at all', nodeA, { identity: id('other', 'echo') }, 'not-on-node'],
    ['node is refused a terminating pod', nodeA, { identity: id('demo', 'leaving') }, 'not-on-node'],
    ['node is refused a finished pod', nodeA, { identity: id('demo', 'done') }, 'not-on-node'],
    ['node gets its own node certificate', nodeA, { identity: id('ambit-system', 'ztunnel'), node: 'node-a' }, true],
    ['node is refused another node certificate', nodeA, { identity: id('ambit-system', 'ztunnel'), node: 'node-b' }, 'wrong-node'],
    ['node certificate carries only the ztunnel identity', nodeA, { identity: id('demo', 'echo'), node: 'node-a' }, 'other-identity'],
    ['foreign trust domain is refused', nodeA, { identity: id('demo', 'echo', 'other.td') }, 'foreign-trust-domain'],
    ['waypoint gets its own identity', waypoint, { identity: id('demo', 'waypoint') }, true],
    ['waypoint is refused another identity', waypoint, { identity: id('demo', 'echo') }, 'other-identity'],
    ['waypoint is refused a node certificate', waypoint, { identity: id('ambit-system', 'ztunnel'), node: 'node-a' }, 'not-a-node'],
  ];
  for (const [name, principal, request, expected] of cases) {
    it(name, () => {
      const decision = entitle(principal, request, context);
      if (expected === true) assert.deepEqual(decision, { allowed: true });
      else {
        assert.equal(decision.allowed, false);
        assert.equal(!decision.allowed && decision.reason, expected);
        assert.ok(!decision.allowed && decision.message.length > 10);
      }
    });
  }

  it('names the service account and the node in the refusal', () => {
    const decision = entitle(nodeA, { identity: id('demo', 'client') }, context);
    assert.ok(!decision.allowed);
    assert.match(decision.message, /demo\/client.*node-a/);
  });
});
