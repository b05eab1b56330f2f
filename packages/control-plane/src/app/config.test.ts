import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { parseConfig } from './config.js';

const kube = (settings: Record<string, string> = {}, pod = {}): ReturnType<typeof parseConfig> => parseConfig({ backend: 'kubernetes', ...settings }, 'test', pod);

describe('control plane config: leader election', () => {
  it('is on for the kubernetes backend, with client-go\'s timings and the pod\'s name and namespace', () => {
    assert.deepEqual(kube({}, { podName: 'control-plane-7d9f-x2x', podNamespace: 'mesh' }).leaderElection, {
      namespace: 'mesh', name: 'ambit-control-plane', identity: 'control-plane-7d9f-x2x',
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
    });
  });

  it('defaults to ambit-system and host-pid outside a pod; settings win over the pod', () => {
    const outside = kube().leaderElection;
    assert.equal(outside?.namespace, 'ambit-system');
    assert.equal(outside?.identity, `${hostname()}-${process.pid}`);
    const set = kube({ 'lease-namespace': 'ns', 'leader-id': 'me', 'lease-duration': '2s', 'lease-renew-deadline': '1500ms', 'lease-retry-period': '200ms' }, { podName: 'p', podNamespace: 'q' });
    assert.deepEqual(set.leaderElection, { namespace: 'ns', name: 'ambit-control-plane', identity: 'me', leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 });
  });

  it('can be turned off on kubernetes, and is off on the local backend, which refuses it', () => {
    assert.equal(kube({ 'leader-election': 'false' }).leaderElection, undefined);
    assert.equal(parseConfig({ backend: 'local', 'state-dir': '/tmp/x' }).leaderElection, undefined);
    assert.throws(() => parseConfig({ backend: 'local', 'state-dir': '/tmp/x', 'leader-election': 'true' }), /leader-election="true" is for the kubernetes backend/);
  });

  it('refuses timings that could let two replicas write at once, naming the setting', () => {
    assert.throws(() => kube({ 'lease-renew-deadline': '15s' }), /lease-renew-deadline="15s" must be above 0 and below lease-duration/);
    assert.throws(() => kube({ 'lease-duration': '5s' }), /lease-renew-deadline="10000ms" must be above 0 and below lease-duration \(5000 ms\)/);
    assert.throws(() => kube({ 'lease-retry-period': '10s' }), /lease-retry-period="10s" must be above 0 and below lease-renew-deadline/);
    assert.throws(() => kube({ 'lease-duration': '2500ms' }), /lease-duration="2500ms" must be a whole number of seconds/);
    assert.throws(() => kube({ 'lease-duration': 'soon' }), /lease-duration="soon" must be a duration/);
    assert.throws(() => kube({ 'leader-id': '' }), /leader-id="" must not be empty/);
    assert.throws(() => kube({ 'leader-election': 'maybe' }), /leader-election="maybe" must be true or false/);
  });
});

describe('control plane config: admin API', () => {
  it('is off unless given, and listens on loopback only', () => {
    assert.equal(kube().adminAddress, undefined);
    assert.deepEqual(kube({ 'admin-address': '127.0.0.1:15000' }).adminAddress, { host: '127.0.0.1', port: 15000 });
    assert.deepEqual(kube({ 'admin-address': '[::1]:0' }).adminAddress, { host: '::1', port: 0 });
    assert.throws(() => kube({ 'admin-address': '0.0.0.0:15000' }), /admin-address="0\.0\.0\.0:15000" must be a loopback address/);
    assert.throws(() => kube({ 'admin-address': 'localhost:15000' }), /admin-address="localhost:15000" must be ip:port/);
  });
});

describe('control plane config: the address waypoint pods reach', () => {
  it('on Kubernetes defaults to the Service in the pod\'s namespace; locally the kubelet supplies it', () => {
    assert.equal(kube().waypointControlPlane, 'ambit-control-plane.ambit-system.svc:15012');
    assert.equal(kube({}, { podNamespace: 'mesh' }).waypointControlPlane, 'ambit-control-plane.mesh.svc:15012');
    assert.equal(kube({ 'waypoint-control-plane': 'cp.example:15012' }).waypointControlPlane, 'cp.example:15012');
    assert.equal(parseConfig({ backend: 'local', 'state-dir': '/tmp/x' }).waypointControlPlane, undefined);
  });
});
