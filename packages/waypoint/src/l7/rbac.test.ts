import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization, AuthorizationRule } from '@ambit/api';
import { evaluateL7, type L7Request } from './rbac.js';

const target = { gateway: 'demo/waypoint', service: 'demo/echo' };
const http = (method: string, path: string, headers: Record<string, string> = {}, host = 'echo.demo:80'): L7Request => ({
  principal: 'spiffe://cluster.local/ns/demo/sa/client', sourceIp: '10.0.0.1', destinationIp: '10.96.0.1', port: 80,
  http: { method, path, host, headers },
});
const tcp: L7Request = { principal: 'spiffe://cluster.local/ns/demo/sa/client', sourceIp: '10.0.0.1', destinationIp: '10.96.0.1', port: 80 };

function policy(name: string, action: 'ALLOW' | 'DENY', rules: AuthorizationRule[], targets: { kind: 'Gateway' | 'Service'; key: string }[] = [{ kind: 'Service', key: 'demo/echo' }]): Authorization {
  return { key: `demo/${name}`, name, namespace: 'demo', action, rules, scope: { kind: 'targets', namespace: 'demo', targets } };
}

describe('waypoint authorization', () => {
  const denyPostAdmin = policy('deny', 'DENY', [{ from: [], to: [{ methods: ['POST'], paths: ['/admin*'] }] }]);
  const allowGet = policy('allow', 'ALLOW', [{ from: [{ namespaces: ['demo'] }], to: [{ methods: ['GET'] }] }], [{ kind: 'Gateway', key: 'demo/waypoint' }]);
  const cases: [string, Authorization[], L7Request, boolean, string | undefined][] = [
    ['no policy allows', [], http('GET', '/'), true, undefined],
    ['DENY by method and path prefix', [denyPostAdmin], http('POST', '/admin/x'), false, 'demo/deny'],
    ['DENY does not match another method', [denyPostAdmin], http('GET', '/admin/x'), true, undefined],
    ['paths ignore the query', [denyPostAdmin], http('POST', '/admin?x=1'), false, 'demo/deny'],
    ['ALLOW via the Gateway target', [allowGet], http('GET', '/'), true, 'demo/allow'],
    ['ALLOW with no match denies', [allowGet], http('PUT', '/'), false, undefined],
    ['DENY before ALLOW', [allowGet, policy('d2', 'DENY', [{ from: [], to: [{ paths: ['*.secret'] }] }])], http('GET', '/a.secret'), false, 'demo/d2'],
    ['other targets do not apply', [policy('x', 'DENY', [{ from: [], to: [{ methods: ['GET'] }] }], [{ kind: 'Service', key: 'demo/other' }])], http('GET', '/'), true, undefined],
    ['hosts match with or without port', [policy('h', 'DENY', [{ from: [], to: [{ hosts: ['ECHO.demo'] }] }])], http('GET', '/'), false, 'demo/h'],
    ['request headers in when', [policy('w', 'DENY', [{ from: [], to: [], when: [{ requestHeaders: [{ name: 'x-user', values: ['bad*'] }] }] }])], http('GET', '/', { 'x-user': 'bad-guy' }), false, 'demo/w'],
    ['absent header does not match values', [policy('w', 'DENY', [{ from: [], to: [], when: [{ requestHeaders: [{ name: 'x-user', values: ['*'] }] }] }])], http('GET', '/'), true, undefined],
    ['principals without scheme', [policy('p', 'DENY', [{ from: [{ principals: ['cluster.local/ns/demo/sa/client'] }], to: [] }])], http('GET', '/'), false, 'demo/p'],
    ['ports', [policy('port', 'DENY', [{ from: [], to: [{ ports: [8080] }] }])], http('GET', '/'), true, undefined],
    ['TCP: an ALLOW needing HTTP fields never matches', [allowGet], tcp, false, undefined],
    ['TCP: a DENY ignores its HTTP fields (stricter)', [denyPostAdmin], tcp, false, 'demo/deny'],
    ['TCP: a DENY with a non-matching port still lets it pass', [policy('d', 'DENY', [{ from: [], to: [{ methods: ['POST'], ports: [9] }] }])], tcp, true, undefined],
    ['a match with no fields never matches', [policy('empty', 'DENY', [{ from: [{}], to: [] }])], http('GET', '/'), true, undefined],
  ];
  for (const [name, policies, request, allowed, decidedBy] of cases) {
    it(name, () => {
      const decision = evaluateL7(policies, target, request);
      assert.equal(decision.allowed, allowed, JSON.stringify(decision));
      assert.equal(decision.policy, decidedBy);
    });
  }
});
