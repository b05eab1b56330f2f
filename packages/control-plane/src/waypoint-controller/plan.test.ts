import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, KubeObject, Service } from '../resources.js';
import { gateway } from '../translate/testing.js';
import { LABEL_MANAGED_BY, managedGatewayKey, managedServiceAddress, waypointObjects } from './objects.js';
import { ANNOTATION_DESIRED_HASH, desiredHash, planWaypoints, type Action, type Owned } from './plan.js';

const options = { image: 'ambit/waypoint', trustDomain: 'td' };
const none: Owned = { ServiceAccount: [], Deployment: [], Service: [] };
const summary = (actions: readonly Action[]): string[] => actions.map((a) => `${a.op} ${a.kind} ${a.op === 'create' ? `${a.object.metadata.namespace}/${a.object.metadata.name}` : `${a.namespace}/${a.name}`}`);

/** What the store would hold after the plan's creates. */
function applied(actions: readonly Action[]): Owned {
  const owned: Record<keyof Owned, KubeObject[]> = { ServiceAccount: [], Deployment: [], Service: [] };
  for (const action of actions) if (action.op === 'create') owned[action.kind].push(structuredClone(action.object));
  return owned;
}

describe('waypointObjects', () => {
  const gw = gateway('waypoint');
  gw.metadata.uid = 'uid-gw';
  const objects = waypointObjects(gw, { ...options, controlPlane: 'cp.ambit-system:15012' });

  it('names everything after the Gateway, owned by it and labelled as managed', () => {
    for (const object of [objects.serviceAccount, objects.deployment, objects.service]) {
      assert.equal(object.metadata.name, 'waypoint');
      assert.equal(object.metadata.namespace, 'demo');
      assert.equal(managedGatewayKey(object), 'demo/waypoint');
      assert.deepEqual(object.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}/${String(o.controller)}`), ['Gateway/waypoint/uid-gw/true']);
    }
  });

  it('runs the pods as the Gateway identity, never captured nor sent through a waypoint', () => {
    const template = objects.deployment.spec?.template;
    assert.equal(template?.spec.serviceAccountName, 'waypoint');
    assert.equal(template?.metadata?.labels?.['ambit.dev/dataplane-mode'], 'none');
    assert.equal(template?.metadata?.labels?.['ambit.dev/use-waypoint'], 'none');
    assert.equal(template?.metadata?.labels?.['gateway.networking.k8s.io/gateway-name'], 'waypoint');
    const env = Object.fromEntries((template?.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    assert.deepEqual(env, { AMBIT_WAYPOINT_GATEWAY: 'demo/waypoint', AMBIT_WAYPOINT_TRUST_DOMAIN: 'td', AMBIT_WAYPOINT_CONTROL_PLANE: 'cp.ambit-system:15012' });
  });

  it('runs ambit-waypoint wired to its pod: files from volumes, listeners, admin on loopback; a grace period past the drain', () => {
    const spec = objects.deployment.spec?.template.spec;
    const container = spec?.containers[0];
    assert.deepEqual(container?.command, ['ambit-waypoint']);
    const args = container?.args ?? [];
    const flag = (name: string): string | undefined => args[args.indexOf(`--${name}`) + 1];
    assert.equal(flag('admin-address'), '127.0.0.1:15000');
    assert.equal(flag('readiness'), '0.0.0.0:15021');
    assert.equal(flag('drain-deadline'), '10s');
    assert.equal(spec?.terminationGracePeriodSeconds, 15);
    assert.equal(spec?.automountServiceAccountToken, false);
    assert.equal(objects.serviceAccount.automountServiceAccountToken, false);
  });

  it('exposes 15008 on a Service selecting the pods, which opts out of waypoints itself', () => {
    assert.deepEqual(objects.service.spec?.selector, { 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
    assert.deepEqual(objects.service.spec?.ports?.map((p) => `${p.name}:${p.port}->${String(p.targetPort)}`), ['mesh:15008->15008']);
    assert.equal(objects.service.metadata.labels?.['ambit.dev/use-waypoint'], 'none');
  });

  it('finds the address only on a managed Service with a cluster IP', () => {
    const managed = (ip: string | undefined): Service => ({ ...objects.service, spec: { ...objects.service.spec, ...(ip === undefined ? {} : { clusterIP: ip }) } });
    const foreign: Service = { ...managed('10.96.0.99'), metadata: { ...objects.service.metadata, labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } } };
    assert.equal(managedServiceAddress([managed('10.96.0.7')], 'demo/waypoint'), '10.96.0.7');
    assert.equal(managedServiceAddress([managed(undefined)], 'demo/waypoint'), undefined);
    assert.equal(managedServiceAddress([managed('None')], 'demo/waypoint'), undefined);
    assert.equal(managedServiceAddress([foreign], 'demo/waypoint'), undefined);
    assert.equal(managedServiceAddress([managed('10.96.0.7')], 'demo/other'), undefined);
  });
});

describe('planWaypoints', () => {
  const gw = gateway('waypoint');

  it('creates the service account, deployment and service for a new waypoint Gateway', () => {
    assert.deepEqual(summary(planWaypoints([gw], none, options)), [
      'create ServiceAccount demo/waypoint', 'create Deployment demo/waypoint', 'create Service demo/waypoint',
    ]);
  });

  it('does nothing once they exist as wanted (converges)', () => {
    const owned = applied(planWaypoints([gw], none, options));
    assert.deepEqual(planWaypoints([gw], owned, options), []);
  });

  it('ignores fields an API server defaults and a changed replica count', () => {
    const owned = applied(planWaypoints([gw], none, options));
    const deployment = owned.Deployment[0] as Deployment;
    deployment.spec = { ...deployment.spec as NonNullable<Deployment['spec']>, replicas: 3 };
    (deployment.spec.template.spec as Record<string, unknown>).dnsPolicy = 'ClusterFirst';
    (owned.Service[0] as Service).spec = { ...(owned.Service[0] as Service).spec, clusterIP: '10.96.0.40' };
    assert.deepEqual(planWaypoints([gw], owned, options), []);
  });

  it('updates an object whose wanted content changed (new image), without touching replicas', () => {
    const owned = applied(planWaypoints([gw], none, options));
    const actions = planWaypoints([gw], owned, { ...options, image: 'ambit/waypoint:2' });
    assert.deepEqual(summary(actions), ['update Deployment demo/waypoint']);
    const patch = actions[0]?.op === 'update' ? actions[0].patch : {};
    const spec = patch.spec as Record<string, unknown>;
    assert.equal('replicas' in spec, false);
    assert.match(JSON.stringify(spec), /ambit\/waypoint:2/);
    assert.notEqual((patch.metadata as { annotations: Record<string, string> }).annotations[ANNOTATION_DESIRED_HASH], undefined);
  });

  it('deletes what a deleted Gateway owned, and what a Gateway of another class or without HBONE owned', () => {
    const owned = applied(planWaypoints([gw, gateway('other'), gateway('tcp')], none, options));
    const remaining = [gateway('other', { className: 'istio' }), gateway('tcp', { listener: { port: 80, protocol: 'HTTP' } })];
    assert.deepEqual(summary(planWaypoints(remaining, owned, options)).sort(), [
      'delete Deployment demo/other', 'delete Deployment demo/tcp', 'delete Deployment demo/waypoint',
      'delete Service demo/other', 'delete Service demo/tcp', 'delete Service demo/waypoint',
      'delete ServiceAccount demo/other', 'delete ServiceAccount demo/tcp', 'delete ServiceAccount demo/waypoint',
    ]);
  });

  it('treats a Gateway being deleted as gone', () => {
    const owned = applied(planWaypoints([gw], none, options));
    const deleting = gateway('waypoint');
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    assert.equal(planWaypoints([deleting], owned, options).every((a) => a.op === 'delete'), true);
  });

  it('updates a ServiceAccount an earlier release created without automountServiceAccountToken: false', () => {
    const owned = applied(planWaypoints([gw], none, options));
    const earlier = owned.ServiceAccount[0] as KubeObject;
    delete earlier.automountServiceAccountToken;
    earlier.metadata.annotations = { [ANNOTATION_DESIRED_HASH]: desiredHash(earlier) };
    const actions = planWaypoints([gw], owned, options);
    assert.deepEqual(summary(actions), ['update ServiceAccount demo/waypoint']);
    assert.equal(actions[0]?.op === 'update' ? actions[0].patch.automountServiceAccountToken : undefined, false);
  });

  it('never deletes objects it does not manage', () => {
    const foreign: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'demo', labels: { [LABEL_MANAGED_BY]: 'someone-else' } } };
    assert.deepEqual(planWaypoints([], { ...none, Service: [foreign] }, options), []);
  });
});
