import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization, AuthorizationRule } from '@ambit/api';
import { rejectsWith } from '@ambit/core/testing';
import { outcomeFor } from '../flags.js';
import { authorize } from './authz.js';
import type { Exchange, Handler } from './exchange.js';
import { boundary, exchange, service, stub, text, workload, type ExchangeOptions } from './testing.js';

const GATEWAY = 'demo/waypoint';

function policy(name: string, action: 'ALLOW' | 'DENY', rules: AuthorizationRule[], target: { kind: 'Gateway' | 'Service'; key: string } = { kind: 'Service', key: 'demo/echo' }): Authorization {
  return { key: `demo/${name}`, name, namespace: 'demo', action, rules, scope: { kind: 'targets', namespace: 'demo', targets: [target] } };
}

const denyAdmin = policy('deny-admin', 'DENY', [{ from: [], to: [{ paths: ['/admin*'] }] }]);
const allowGet = policy('allow-get', 'ALLOW', [{ from: [], to: [{ methods: ['GET'] }] }]);
const toEcho = (request: ExchangeOptions['request'] = {}): Exchange =>
  exchange({ request, destination: { service: service('echo') } });

describe('authorization layer', () => {
  it('DENY: 403 naming the policy, flag DENY, counted, never forwarded', async () => {
    const inner = stub();
    const { handler, metrics } = boundary(authorize({ policies: () => [denyAdmin], gateway: GATEWAY })(inner));
    const ex = toEcho({ method: 'POST', path: '/admin/users' });
    const response = await handler(ex);
    assert.equal(response.status, 403);
    assert.match(await text(response.body), /^RBAC: access denied: POST \/admin\/users from spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client denied by policy demo\/deny-admin\n$/);
    assert.deepEqual(ex.trace.flags, ['DENY']);
    assert.equal(ex.trace.policy, 'demo/deny-admin');
    assert.equal(inner.calls.length, 0);
    assert.deepEqual((await metrics.refusals.get()).values.map((v) => [v.labels.reason, v.value]), [['denied-by-policy', 1]]);
  });

  it('fails with a denied error carrying the status and flag to the boundary', async () => {
    const error = await rejectsWith(authorize({ policies: () => [denyAdmin], gateway: GATEWAY })(stub())(toEcho({ path: '/admin' })), 'denied');
    assert.deepEqual(outcomeFor(error), { status: 403, flag: 'DENY' });
    assert.equal(error.details.policy, 'demo/deny-admin');
  });

  it('ALLOW policies that do not match: 403, no policy named', async () => {
    const inner = stub();
    const { handler } = boundary(authorize({ policies: () => [allowGet], gateway: GATEWAY })(inner));
    const ex = toEcho({ method: 'DELETE' });
    const response = await handler(ex);
    assert.equal(response.status, 403);
    assert.match(await text(response.body), /no ALLOW policy matches/);
    assert.deepEqual(ex.trace.flags, ['DENY']);
    assert.equal(ex.trace.policy, undefined);
    assert.equal(inner.calls.length, 0);
  });

  const passes: [string, Authorization[], ExchangeOptions['request'], string | undefined][] = [
    ['no policy', [], {}, undefined],
    ['a DENY that does not match', [denyAdmin], { path: '/public' }, undefined],
    ['a matching ALLOW, which it records', [denyAdmin, allowGet], { path: '/public' }, 'demo/allow-get'],
    ['a DENY for another service', [policy('other', 'DENY', [{ from: [], to: [{ paths: ['*'] }] }], { kind: 'Service', key: 'demo/other' })], {}, undefined],
  ];
  for (const [name, policies, request, decidedBy] of passes) {
    it(`passes the exchange on with ${name}`, async () => {
      const inner = stub();
      const ex = toEcho(request);
      assert.equal((await authorize({ policies: () => policies, gateway: GATEWAY })(inner)(ex)).status, 200);
      assert.equal(inner.calls[0], ex);
      assert.equal(ex.trace.policy, decidedBy);
      assert.deepEqual(ex.trace.flags, []);
    });
  }

  it('applies the Gateway\'s policies to workload-addressed traffic, which has no service', async () => {
    const deny = policy('deny-all', 'DENY', [{ from: [{ namespaces: ['demo'] }], to: [] }], { kind: 'Gateway', key: GATEWAY });
    const ex = exchange({ destination: { workload: workload('pod') } });
    await rejectsWith(authorize({ policies: () => [deny], gateway: GATEWAY })(stub())(ex), 'denied', /denied by policy demo\/deny-all/);
    await authorize({ policies: () => [deny], gateway: 'demo/other-waypoint' })(stub())(exchange({ destination: { workload: workload('pod') } }));
  });

  it('reads the policies at every request', async () => {
    let policies: Authorization[] = [];
    const handler: Handler = authorize({ policies: () => policies, gateway: GATEWAY })(stub());
    assert.equal((await handler(toEcho({ path: '/admin' }))).status, 200);
    policies = [denyAdmin];
    await rejectsWith(handler(toEcho({ path: '/admin' })), 'denied');
  });
});
