import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { GatewayClass } from '../resources.js';
import { CONTROLLER_NAME, gatewayClassConditions } from './gateway-class.js';

const gatewayClass = (controllerName: string, extra: Partial<NonNullable<GatewayClass['spec']>> = {}): GatewayClass => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'ambit-waypoint', generation: 3 },
  spec: { controllerName, ...extra },
});

describe('gatewayClassConditions', () => {
  it('accepts a class of this controller, with the generation it saw', () => {
    assert.deepEqual(gatewayClassConditions(gatewayClass(CONTROLLER_NAME)), [{
      type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 3,
      message: 'Gateways of class ambit-waypoint run as Ambit waypoints (HBONE on 15008)',
    }]);
  });

  it('does not accept a class naming parameters, and says what to remove', () => {
    const [accepted] = gatewayClassConditions(gatewayClass(CONTROLLER_NAME, {
      parametersRef: { group: '', kind: 'ConfigMap', name: 'tuning', namespace: 'ambit-system' },
    })) ?? [];
    assert.equal(accepted?.status, 'False');
    assert.equal(accepted?.reason, 'InvalidParameters');
    assert.match(accepted?.message ?? '', /ConfigMap ambit-system\/tuning; remove it/);
  });

  it('has nothing to say about another controller\'s class', () => {
    assert.equal(gatewayClassConditions(gatewayClass('istio.io/gateway-controller')), undefined);
  });
});
