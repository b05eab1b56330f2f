import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import {
  MAX_NETNS_NAME, clusterNetns, generateClusterId, idOfNetns, nodeNetns, podNetns, validateClusterId, validateNodeName,
} from './names.js';

describe('names', () => {
  it('puts the cluster id in every namespace name', () => {
    const id = generateClusterId();
    assert.match(id, /^[0-9a-f]{6}$/);
    assert.equal(clusterNetns(id), `ambit-${id}-cluster`);
    assert.equal(nodeNetns(id, 'node-1'), `ambit-${id}-node-1`);
    assert.equal(podNetns(id, 'default', 'echo', new Set()), `ambit-${id}-default-echo`);
    assert.equal(idOfNetns(`ambit-${id}-default-echo`), id);
    assert.equal(idOfNetns('other-netns'), undefined);
  });

  it('hashes pod names that are too long or already taken', () => {
    const long = podNetns('abc123', 'a'.repeat(40), 'b'.repeat(40), new Set());
    assert.match(long, /^ambit-abc123-pod-[0-9a-f]{10}$/);
    assert.ok(long.length <= MAX_NETNS_NAME);
    // namespace "a-b" pod "c" and namespace "a" pod "b-c" would share a plain name.
    const first = podNetns('abc123', 'a-b', 'c', new Set());
    const second = podNetns('abc123', 'a', 'b-c', new Set([first]));
    assert.notEqual(first, second);
    assert.match(second, /^ambit-abc123-pod-/);
  });

  it('validates ids and node names', () => {
    assert.equal(validateClusterId('a1b2c3'), 'a1b2c3');
    assert.throws(() => validateClusterId('A1-B2'), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => validateNodeName('cluster'), (error) => isAmbitError(error, 'invalid-argument'));
    assert.throws(() => validateNodeName('Node_1'), (error) => isAmbitError(error, 'invalid-argument'));
  });
});
