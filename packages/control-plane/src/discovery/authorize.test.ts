import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpiffeId } from '@ambit/core';
import { authorizeSubscriber } from './authorize.js';

const ztunnel = SpiffeId.parse('spiffe://cluster.local/ns/ambit-system/sa/ztunnel');
const waypoint = SpiffeId.parse('spiffe://cluster.local/ns/demo/sa/waypoint');

describe('authorizeSubscriber', () => {
  const cases: [string, Parameters<typeof authorizeSubscriber>[0], Parameters<typeof authorizeSubscriber>[1], boolean][] = [
    ['ztunnel for its own node', { identity: ztunnel, node: 'n1', address: 'x' }, { role: 'ztunnel', node: 'n1' }, true],
    ['ztunnel for another node', { identity: ztunnel, node: 'n1', address: 'x' }, { role: 'ztunnel', node: 'n2' }, false],
    ['ztunnel role without a node certificate', { identity: ztunnel, address: 'x' }, { role: 'ztunnel', node: 'n1' }, false],
    ['waypoint for its gateway', { identity: waypoint, address: 'x' }, { role: 'waypoint', gateway: 'demo/waypoint' }, true],
    ['waypoint for another gateway', { identity: waypoint, address: 'x' }, { role: 'waypoint', gateway: 'demo/other' }, false],
    ['node certificate posing as a waypoint', { identity: ztunnel, node: 'n1', address: 'x' }, { role: 'waypoint', gateway: 'demo/waypoint' }, false],
  ];
  for (const [name, caller, request, allowed] of cases) {
    it(name, () => assert.equal(authorizeSubscriber(caller, request).allowed, allowed));
  }
});
