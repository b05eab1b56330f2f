import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from '../resources.js';
import { gateway } from '../translate/testing.js';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, planRootCerts, rootCertConfigMap, rootCertNamespaces, type RootCertAction } from './plan.js';

const ROOT = '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n';
const summary = (actions: readonly RootCertAction[]): string[] => actions.map((a) => `${a.op} ${a.namespace}`);
const present = (namespace: string, change: (c: ConfigMap) => void = () => undefined): ConfigMap => {
  const configMap = structuredClone(rootCertConfigMap(namespace, ROOT));
  configMap.metadata.resourceVersion = '7';
  change(configMap);
  return configMap;
};

describe('rootCertNamespaces', () => {
  it('is the own namespace and each namespace with a waypoint Gateway not being deleted', () => {
    const other = gateway('istio', { className: 'istio', ns: 'apps' });
    const deleting = gateway('old', { ns: 'gone' });
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    assert.deepEqual([...rootCertNamespaces('ambit-system', [gateway('waypoint'), gateway('second'), other, deleting])].sort(), ['ambit-system', 'demo']);
  });
});

describe('planRootCerts', () => {
  const wanted = new Set(['ambit-system', 'demo']);

  it('creates the ConfigMap, the certificate only and labelled as managed, where it is missing', () => {
    const actions = planRootCerts(wanted, [], ROOT);
    assert.deepEqual(summary(actions), ['create ambit-system', 'create demo']);
    const object = actions[0]?.op === 'create' ? actions[0].object : undefined;
    assert.equal(object?.metadata.name, ROOT_CERT_CONFIGMAP);
    assert.deepEqual(object?.data, { [ROOT_CERT_KEY]: ROOT });
    assert.equal(object?.metadata.labels?.['ambit.dev/managed-by'], 'root-cert-publisher');
  });

  it('does nothing once they are in place', () => {
    assert.deepEqual(planRootCerts(wanted, [present('ambit-system'), present('demo')], ROOT), []);
  });

  it('repairs an edited one back to exactly the certificate, conditional on the version it saw', () => {
    const edited = present('demo', (c) => {
      c.data = { [ROOT_CERT_KEY]: 'tampered', extra: 'x' };
      c.binaryData = { blob: 'AAAA' };
    });
    const actions = planRootCerts(wanted, [present('ambit-system'), edited], ROOT);
    assert.deepEqual(summary(actions), ['update demo']);
    assert.deepEqual(actions[0]?.op === 'update' ? actions[0].patch : undefined, {
      metadata: { resourceVersion: '7' }, data: { [ROOT_CERT_KEY]: ROOT, extra: null }, binaryData: null,
    });
  });

  it('updates every one when the root changes', () => {
    const actions = planRootCerts(wanted, [present('ambit-system'), present('demo')], `${ROOT}next`);
    assert.deepEqual(actions.map((a) => (a.op === 'update' ? `${a.namespace}: ${a.reason}` : a.op)), [
      'ambit-system: root-cert.pem is not the current root certificate', 'demo: root-cert.pem is not the current root certificate',
    ]);
  });

  it('replaces an outdated immutable one by deleting it (it cannot be patched)', () => {
    const immutable = present('demo', (c) => {
      c.immutable = true;
      c.data = {};
    });
    assert.deepEqual(summary(planRootCerts(wanted, [present('ambit-system'), immutable], ROOT)), ['delete demo']);
  });

  it('removes one from a namespace that no longer holds a waypoint, never the own namespace\'s', () => {
    const actions = planRootCerts(new Set(['ambit-system']), [present('ambit-system'), present('demo')], ROOT);
    assert.deepEqual(summary(actions), ['delete demo']);
    assert.equal(actions[0]?.op === 'delete' ? actions[0].resourceVersion : undefined, '7');
  });

  it('ignores anything that is not its own: another label, another name', () => {
    const foreign = present('demo', (c) => { c.metadata.labels = { 'ambit.dev/managed-by': 'someone-else' }; });
    const renamed = present('apps', (c) => { c.metadata.name = 'copy'; });
    assert.deepEqual(summary(planRootCerts(new Set(['ambit-system']), [present('ambit-system'), foreign, renamed], ROOT)), []);
  });
});
