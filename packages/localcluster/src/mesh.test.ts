import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalCluster } from './cluster.js';
import { LocalMesh } from './mesh.js';

describe('LocalMesh options', () => {
  it('refuses extra Node flags that are not one option per argument, before touching the cluster', () => {
    const untouched = new Proxy({}, { get: () => assert.fail('the cluster was used') }) as unknown as LocalCluster;
    assert.throws(() => new LocalMesh(untouched, { ztunnelNodeFlags: ['--max-semi-space-size', '4'] }), (error: Error & { hint?: string }) =>
      /Node flag "4" is not an option/.test(error.message) && /--max-semi-space-size=4/.test(error.hint ?? ''));
    assert.throws(() => new LocalMesh(untouched, { waypointNodeFlags: ['trace-gc'] }), /Node flag "trace-gc" is not an option/);
  });
});
