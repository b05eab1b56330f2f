import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enrollment, isHealthy, isTerminating, podIPs } from './enrollment.js';
import type { EnrollmentReason } from './enrollment.js';
import { namespace, pod } from './testing.js';
import type { PodOptions } from './testing.js';

const MODE = 'ambit.dev/dataplane-mode';

describe('enrollment', () => {
  const cases: { name: string; pod: PodOptions; ns?: Record<string, string> | null; enrolled: boolean; reason: EnrollmentReason }[] = [
    { name: 'namespace ambient, pod unlabelled', pod: {}, ns: { [MODE]: 'ambient' }, enrolled: true, reason: 'namespace-label' },
    { name: 'pod ambient, namespace unlabelled', pod: { labels: { [MODE]: 'ambient' } }, enrolled: true, reason: 'pod-label' },
    { name: 'pod ambient wins over namespace none', pod: { labels: { [MODE]: 'ambient' } }, ns: { [MODE]: 'none' }, enrolled: true, reason: 'pod-label' },
    { name: 'pod none wins over namespace ambient', pod: { labels: { [MODE]: 'none' } }, ns: { [MODE]: 'ambient' }, enrolled: false, reason: 'pod-opted-out' },
    { name: 'unknown pod value defers to the namespace', pod: { labels: { [MODE]: 'sidecar' } }, ns: { [MODE]: 'ambient' }, enrolled: true, reason: 'namespace-label' },
    { name: 'unknown namespace value enrols nothing', pod: {}, ns: { [MODE]: 'Ambient' }, enrolled: false, reason: 'not-labelled' },
    { name: 'no labels anywhere', pod: {}, enrolled: false, reason: 'not-labelled' },
    { name: 'namespace object missing', pod: {}, ns: null, enrolled: false, reason: 'not-labelled' },
    { name: 'hostNetwork never enrolled', pod: { labels: { [MODE]: 'ambient' }, spec: { hostNetwork: true } }, ns: { [MODE]: 'ambient' }, enrolled: false, reason: 'host-network' },
    { name: 'no IP never enrolled', pod: { ip: null, labels: { [MODE]: 'ambient' } }, enrolled: false, reason: 'no-ip' },
    { name: 'empty IP never enrolled', pod: { ip: '', labels: { [MODE]: 'ambient' } }, enrolled: false, reason: 'no-ip' },
    { name: 'podIPs alone is enough', pod: { ip: null, ips: ['fd00::1'], labels: { [MODE]: 'ambient' } }, enrolled: true, reason: 'pod-label' },
    { name: 'terminating pod is still enrolled (but unhealthy)', pod: { deleting: true }, ns: { [MODE]: 'ambient' }, enrolled: true, reason: 'namespace-label' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ns = c.ns === null ? undefined : namespace('demo', c.ns);
      assert.deepEqual(enrollment(pod('p', c.pod), ns), { enrolled: c.enrolled, reason: c.reason });
    });
  }
});

describe('isHealthy', () => {
  const cases: { name: string; pod: PodOptions; healthy: boolean }[] = [
    { name: 'running and ready', pod: {}, healthy: true },
    { name: 'running, not ready', pod: { ready: false }, healthy: false },
    { name: 'pending', pod: { phase: 'Pending' }, healthy: false },
    { name: 'succeeded', pod: { phase: 'Succeeded' }, healthy: false },
    { name: 'terminating', pod: { deleting: true }, healthy: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(isHealthy(pod('p', c.pod)), c.healthy));
  }

  it('needs a Ready condition', () => {
    const p = pod('p');
    p.status!.conditions = [{ type: 'ContainersReady', status: 'True' }];
    assert.equal(isHealthy(p), false);
  });
});

describe('podIPs', () => {
  it('prefers podIPs, de-duplicated, over podIP', () => {
    assert.deepEqual(podIPs(pod('p', { ip: '10.0.0.9', ips: ['10.0.0.9', 'fd00::9', '10.0.0.9'] })), ['10.0.0.9', 'fd00::9']);
  });
  it('falls back to podIP', () => assert.deepEqual(podIPs(pod('p', { ip: '10.0.0.2' })), ['10.0.0.2']));
  it('is empty without either', () => assert.deepEqual(podIPs(pod('p', { ip: null })), []));
  it('isTerminating reads deletionTimestamp', () => {
    assert.equal(isTerminating(pod('p', { deleting: true })), true);
    assert.equal(isTerminating(pod('p')), false);
  });
});
