import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFile } from './hosts.js';
import type { ServiceState } from './state.js';

const service = (namespace: string, name: string, vip: string): ServiceState => ({ namespace, name, vip, selector: { app: name }, ports: [], labels: {} });

describe('hostsFile', () => {
  it('names every service by its cluster names, the short name only in the same namespace', () => {
    const text = hostsFile({ namespace: 'default', name: 'client', ip: '10.244.1.2' }, [service('other', 'db', '10.96.0.11'), service('default', 'echo', '10.96.0.10')]);
    const lines = text.trim().split('\n');
    assert.ok(lines.includes('127.0.0.1\tlocalhost'));
    assert.ok(lines.includes('10.244.1.2\tclient'));
    assert.ok(lines.includes('10.96.0.10\techo.default.svc.cluster.local echo.default.svc echo.default echo'));
    assert.ok(lines.includes('10.96.0.11\tdb.other.svc.cluster.local db.other.svc db.other'));
  });
});
