import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import {
  freePodHost, freeVip, loopbackBlock, loopbackPlan, nodeAddress, podAddress, podCidr, podGateway, podHostInterface,
} from './addressing.js';

describe('address plan', () => {
  it('derives node, pod CIDR and gateway from the node index', () => {
    assert.equal(nodeAddress(1), '10.200.0.11');
    assert.equal(nodeAddress(2), '10.200.0.12');
    assert.equal(podCidr(3), '10.244.3.0/24');
    assert.equal(podGateway(3), '10.244.3.1');
    assert.equal(podAddress(2, 7), '10.244.2.7');
  });

  it('refuses indexes outside the plan', () => {
    assert.throws(() => nodeAddress(0), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => podAddress(1, 1), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => podAddress(1, 255), (error) => isAmbitError(error, 'invalid-argument'));
  });

  it('hands out the lowest free pod host, skipping the gateway', () => {
    assert.equal(freePodHost([]), 2);
    assert.equal(freePodHost([2, 3, 5]), 4);
    assert.equal(freePodHost(Array.from({ length: 253 }, (_, i) => i + 2)), undefined);
    assert.ok(podHostInterface(254).length <= 15, 'interface names fit IFNAMSIZ');
  });

  it('hands out VIPs from 10.96.0.10, never .0 or .255', () => {
    assert.equal(freeVip([]), '10.96.0.10');
    assert.equal(freeVip(['10.96.0.10', '10.96.0.11']), '10.96.0.12');
    const first255 = Array.from({ length: 245 }, (_, i) => `10.96.0.${i + 10}`);
    assert.equal(freeVip(first255), '10.96.1.1');
  });
});

describe('loopback address plan', () => {
  const plan = loopbackPlan(42);
  it('puts the whole cluster in 127.<block>/16', () => {
    assert.equal(plan.clusterAddress, '127.42.0.1');
    assert.equal(plan.nodeAddress(2), '127.42.2.1');
    assert.equal(plan.podCidr(2), '127.42.2.0/24');
    assert.equal(plan.podAddress(2, 7), '127.42.2.7');
    assert.equal(loopbackBlock(plan.clusterAddress), 42);
  });
  it('hands out VIPs above the nodes, skipping network and broadcast-like addresses', () => {
    assert.equal(plan.freeVip([]), '127.42.250.10');
    assert.equal(plan.freeVip(['127.42.250.10']), '127.42.250.11');
    const full = Array.from({ length: 245 }, (_, i) => `127.42.250.${10 + i}`);
    assert.equal(plan.freeVip(full), '127.42.251.1');
  });
  it('refuses blocks, nodes and hosts outside the plan', () => {
    assert.throws(() => loopbackPlan(1), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => loopbackPlan(255), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => plan.nodeAddress(241), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => plan.podAddress(1, 1), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => loopbackBlock('10.200.0.1'), (error) => isAmbitError(error, 'invalid-resource'));
  });
});
