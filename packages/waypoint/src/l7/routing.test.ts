import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRoute, HttpRouteMatch } from '@ambit/api';
import { pathMatches, pickWeighted, selectRule, type RouteRequest } from './routing.js';

const target = { service: 'demo/echo', port: 80, gateway: 'demo/waypoint' };
const req = (path: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({ method: 'GET', path, host: 'echo', headers: {}, ...extra });

function route(key: string, matches: HttpRouteMatch[][], parent: HttpRoute['parents'][number] = { kind: 'Service', key: 'demo/echo' }): HttpRoute {
  return {
    key, namespace: 'demo', name: key, parents: [parent], hostnames: [],
    rules: matches.map((m, i) => ({ matches: m, backends: [{ service: `demo/${key}-${i}`, port: 80, weight: 1 }] })),
  };
}

const chosen = (routes: HttpRoute[], request: RouteRequest, t = target): string | undefined =>
  selectRule(routes, t, request)?.rule.backends[0]?.service;

describe('path matching', () => {
  const cases: [string, 'Exact' | 'PathPrefix' | 'RegularExpression', string, boolean][] = [
    ['exact', 'Exact', '/a', true],
    ['exact, other', 'Exact', '/a/', false],
    ['prefix, same', 'PathPrefix', '/a', true],
    ['prefix, child', 'PathPrefix', '/a/b', true],
    ['prefix is element-wise', 'PathPrefix', '/ab', false],
    ['regex is anchored', 'RegularExpression', '/a/123', true],
  ];
  for (const [name, type, path, expected] of cases) {
    it(name, () => {
      const pattern = type === 'RegularExpression' ? '/a/[0-9]+' : '/a';
      assert.equal(pathMatches(type, pattern, path), expected);
    });
  }
  it('a trailing slash in a prefix is ignored; / matches everything', () => {
    assert.equal(pathMatches('PathPrefix', '/a/', '/a'), true);
    assert.equal(pathMatches('PathPrefix', '/', '/anything'), true);
  });
});

describe('rule selection by Gateway API precedence', () => {
  const routes = [
    route('r', [
      [{ path: { type: 'PathPrefix', value: '/' } }],
      [{ path: { type: 'PathPrefix', value: '/api' } }],
      [{ path: { type: 'Exact', value: '/api/v1' } }],
      [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }],
      [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ type: 'Exact', name: 'x-v', value: '2' }] }],
      [{ path: { type: 'PathPrefix', value: '/q' }, queryParams: [{ type: 'Exact', name: 'v', value: '2' }] }],
    ]),
  ];
  const cases: [string, RouteRequest, string][] = [
    ['catch-all', req('/other'), 'demo/r-0'],
    ['longest prefix wins', req('/api/x'), 'demo/r-1'],
    ['exact beats prefix', req('/api/v1'), 'demo/r-2'],
    ['method match beats none', req('/api/x', { method: 'POST' }), 'demo/r-3'],
    ['header match beats none', req('/api/x', { headers: { 'x-v': '2' } }), 'demo/r-4'],
    ['method beats headers', req('/api/x', { method: 'POST', headers: { 'x-v': '2' } }), 'demo/r-3'],
    ['query match', req('/q?v=2'), 'demo/r-5'],
    ['query mismatch falls back', req('/q?v=3'), 'demo/r-0'],
  ];
  for (const [name, request, expected] of cases) it(name, () => assert.equal(chosen(routes, request), expected));

  it('an empty match list matches everything', () => {
    assert.equal(chosen([route('e', [[]])], req('/x')), 'demo/e-0');
  });
  it('the route key breaks ties between routes, then rule order', () => {
    assert.equal(chosen([route('b', [[]]), route('a', [[], []])], req('/x')), 'demo/a-0');
  });
  it('routes of the called Service win over the Gateway\'s; other services\' never apply', () => {
    const gatewayRoute = route('g', [[{ path: { type: 'Exact', value: '/x' } }]], { kind: 'Gateway', key: 'demo/waypoint' });
    const other = route('o', [[]], { kind: 'Service', key: 'demo/other' });
    assert.equal(chosen([gatewayRoute, route('s', [[]]), other], req('/x')), 'demo/s-0');
    assert.equal(chosen([gatewayRoute, other], req('/x')), 'demo/g-0');
    assert.equal(chosen([other], req('/x')), undefined);
  });
  it('a parent port must be the called port', () => {
    const r = route('p', [[]], { kind: 'Service', key: 'demo/echo', port: 8080 });
    assert.equal(chosen([r], req('/')), undefined);
    assert.equal(chosen([r], req('/'), { ...target, port: 8080 }), 'demo/p-0');
  });
});

describe('weighted choice', () => {
  const backends = [{ service: 'a', port: 80, weight: 90 }, { service: 'b', port: 80, weight: 10 }, { service: 'z', port: 80, weight: 0 }];
  const cases: [number, string | undefined][] = [[0, 'a'], [0.899, 'a'], [0.9, 'b'], [0.9999, 'b']];
  for (const [random, expected] of cases) {
    it(`random ${random} → ${String(expected)}`, () => assert.equal(pickWeighted(backends, () => random)?.service, expected));
  }
  it('all weights zero → none', () => assert.equal(pickWeighted([{ service: 'a', port: 80, weight: 0 }]), undefined));
});
