import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteParentStatus } from '../resources.js';
import { mergeParents } from './status-writer.js';

const OURS = 'ambit.dev/waypoint-controller';
const T0 = '2026-01-01T00:00:00.000Z';
const NOW = new Date('2026-02-02T00:00:00.000Z');

function entry(name: string, controllerName: string, status: 'True' | 'False', time?: string): RouteParentStatus {
  return {
    parentRef: { group: '', kind: 'Service', name },
    controllerName,
    conditions: [{ type: 'Accepted', status, reason: 'r', message: 'm', ...(time ? { lastTransitionTime: time } : {}) }],
  };
}

describe('mergeParents (HTTPRoute status.parents)', () => {
  it('keeps other controllers\' entries, replaces ours, drops ours that are no longer wanted', () => {
    const current = [entry('a', 'istio.io/gateway-controller', 'True', T0), entry('b', OURS, 'True', T0), entry('gone', OURS, 'True', T0)];
    const next = mergeParents(current, [entry('b', OURS, 'True'), entry('c', OURS, 'False')], OURS, NOW);
    assert.deepEqual(next.map((p) => `${p.parentRef.name} ${p.controllerName} ${p.conditions[0]?.lastTransitionTime}`), [
      `a istio.io/gateway-controller ${T0}`,
      `b ${OURS} ${T0}`,
      `c ${OURS} ${NOW.toISOString()}`,
    ]);
  });

  it('a changed status gets a new transition time', () => {
    const [b] = mergeParents([entry('b', OURS, 'True', T0)], [entry('b', OURS, 'False')], OURS, NOW);
    assert.equal(b?.conditions[0]?.lastTransitionTime, NOW.toISOString());
  });
});
