import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRouteMatch, HttpRouteRule } from '@ambit/api';
import type { Gateway, HTTPRouteRule, HTTPRouteSpec, ParentReference, Service } from '../resources.js';
import { compareMatches } from '@ambit/api';
import { parseDuration, parseFaultAbort, parseFaultDelay, parseRetryOn } from './route-values.js';
import { translateRoute, translateRoutes, type RouteContext, type RouteOutcome } from './routes.js';
import { gateway, httpRoute, service } from './testing.js';
import { waypointsOf } from './waypoints.js';

const SVC: ParentReference = { group: '', kind: 'Service', name: 'echo', port: 80 };

function context(): RouteContext {
  const services: Service[] = [
    service('echo', { ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 9000 }] }),
    service('echo-v2', { ports: [{ port: 80 }] }),
    service('plain', { ports: [{ port: 80 }] }),
    service('other', { ports: [{ port: 80 }] }, { ns: 'elsewhere' }),
  ];
  const gateways: Gateway[] = [
    gateway('wp', { address: '10.0.9.1' }), gateway('ingress', { className: 'istio' }),
    gateway('broken', { listener: { port: 80, protocol: 'HTTP' } }), gateway('wp', { ns: 'infra' }),
  ];
  return {
    services: new Map(services.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])),
    serviceWaypoints: new Map([['demo/echo', 'demo/wp'], ['demo/echo-v2', 'demo/wp']]),
    gateways: new Map(gateways.map((g) => [`${g.metadata.namespace}/${g.metadata.name}`, g])),
    waypoints: waypointsOf(gateways, 'td'),
  };
}

function run(spec: HTTPRouteSpec, options: { annotations?: Record<string, string>; ns?: string } = {}): RouteOutcome {
  return translateRoute(httpRoute('r', spec, options), context());
}

/** Conditions of every parent entry as `Type=Status/Reason`. */
function conditions(outcome: RouteOutcome): string[] {
  return (outcome.status?.parents ?? []).map((p) => p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(','));
}

function messages(outcome: RouteOutcome, type: string): string[] {
  return (outcome.status?.parents ?? []).flatMap((p) => p.conditions.filter((c) => c.type === type).map((c) => c.message));
}

function rules(spec: HTTPRouteRule[], annotations?: Record<string, string>): HttpRouteRule[] {
  return run({ parentRefs: [SVC], rules: spec }, annotations ? { annotations } : {}).route?.rules ?? [];
}

describe('translateRoute: parents', () => {
  const cases: { name: string; ref: ParentReference; ns?: string; parents: unknown; status: string[]; message?: RegExp }[] = [
    { name: 'Service (group "")', ref: SVC, parents: [{ kind: 'Service', key: 'demo/echo', port: 80 }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'], message: /applied by the waypoint demo\/wp/ },
    { name: 'Service (group core), no port', ref: { group: 'core', kind: 'Service', name: 'echo' }, parents: [{ kind: 'Service', key: 'demo/echo' }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'Service sectionName is a port name', ref: { group: '', kind: 'Service', name: 'echo', sectionName: 'admin' }, parents: [{ kind: 'Service', key: 'demo/echo', port: 9000 }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'Service without a waypoint: accepted, says it has no effect', ref: { group: '', kind: 'Service', name: 'plain' }, parents: [{ kind: 'Service', key: 'demo/plain' }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'], message: /no waypoint.*no effect until a waypoint is bound/ },
    { name: 'missing Service', ref: { group: '', kind: 'Service', name: 'ghost' }, parents: undefined, status: ['Accepted=False/NoMatchingParent,ResolvedRefs=True/ResolvedRefs'], message: /^Service demo\/ghost not found$/ },
    { name: 'Service without that port', ref: { group: '', kind: 'Service', name: 'echo', port: 81 }, parents: undefined, status: ['Accepted=False/NoMatchingParent,ResolvedRefs=True/ResolvedRefs'], message: /has no port 81/ },
    { name: 'Service in another namespace (consumer route)', ref: { group: '', kind: 'Service', name: 'other', namespace: 'elsewhere' }, parents: undefined, status: ['Accepted=False/UnsupportedValue,ResolvedRefs=True/ResolvedRefs'], message: /consumer routes/ },
    { name: 'another core kind', ref: { group: '', kind: 'ConfigMap', name: 'x' }, parents: undefined, status: ['Accepted=False/UnsupportedValue,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'waypoint Gateway (defaults: group and kind)', ref: { name: 'wp' }, parents: [{ kind: 'Gateway', key: 'demo/wp' }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'], message: /attached to the waypoint demo\/wp/ },
    { name: 'waypoint Gateway with its listener', ref: { name: 'wp', sectionName: 'mesh', port: 15008 }, parents: [{ kind: 'Gateway', key: 'demo/wp' }], status: ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'waypoint Gateway, unknown listener', ref: { name: 'wp', sectionName: 'http' }, parents: undefined, status: ['Accepted=False/NoMatchingParent,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'waypoint Gateway in another namespace', ref: { name: 'wp', namespace: 'infra' }, parents: undefined, status: ['Accepted=False/NotAllowedByListeners,ResolvedRefs=True/ResolvedRefs'], message: /allowedRoutes: Same/ },
    { name: 'invalid waypoint', ref: { name: 'broken' }, parents: undefined, status: ['Accepted=False/NotAllowedByListeners,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'missing Gateway', ref: { name: 'nope' }, parents: undefined, status: ['Accepted=False/NoMatchingParent,ResolvedRefs=True/ResolvedRefs'] },
    { name: 'a Gateway of another class is not ours: no status', ref: { name: 'ingress' }, parents: undefined, status: [] },
    { name: 'another API group is not ours: no status', ref: { group: 'example.com', kind: 'Mesh', name: 'x' }, parents: undefined, status: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = run({ parentRefs: [c.ref] });
      assert.deepEqual(outcome.route?.parents, c.parents);
      assert.deepEqual(conditions(outcome), c.status);
      if (c.message !== undefined) assert.match(messages(outcome, 'Accepted')[0] ?? '', c.message);
    });
  }

  it('one status entry per owned parentRef, with controllerName, the parentRef as written and observedGeneration', () => {
    const outcome = run({ parentRefs: [SVC, { name: 'ingress' }, { group: '', kind: 'Service', name: 'ghost' }], hostnames: ['Echo.Example.COM'] });
    assert.deepEqual(outcome.status?.parents.map((p) => [p.parentRef.name, p.controllerName, p.conditions[0]?.observedGeneration]), [
      ['echo', 'ambit.dev/waypoint-controller', 4], ['ghost', 'ambit.dev/waypoint-controller', 4],
    ]);
    assert.deepEqual(outcome.route?.hostnames, ['echo.example.com']);
  });

  it('no parents: nothing published, no status', () => assert.deepEqual(run({}), {}));
});

describe('translateRoute: matches', () => {
  const cases: { name: string; matches: NonNullable<HTTPRouteRule['matches']>; expect: HttpRouteMatch[]; dropped?: RegExp }[] = [
    { name: 'no matches → PathPrefix /', matches: [], expect: [{ path: { type: 'PathPrefix', value: '/' } }] },
    { name: 'a match without a path gets PathPrefix /', matches: [{ method: 'get' }], expect: [{ path: { type: 'PathPrefix', value: '/' }, method: 'GET' }] },
    { name: 'Exact', matches: [{ path: { type: 'Exact', value: '/a/' } }], expect: [{ path: { type: 'Exact', value: '/a/' } }] },
    { name: 'PathPrefix drops trailing slashes', matches: [{ path: { type: 'PathPrefix', value: '/a//' } }], expect: [{ path: { type: 'PathPrefix', value: '/a' } }] },
    { name: 'RegularExpression', matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+/.*' } }], expect: [{ path: { type: 'RegularExpression', value: '/v[0-9]+/.*' } }] },
    {
      name: 'headers: names lower-cased, type defaulted, later duplicates ignored; query names kept',
      matches: [{ headers: [{ name: 'X-User', value: 'a' }, { name: 'x-user', value: 'b' }, { type: 'RegularExpression', name: 'X-Id', value: '[0-9]+' }], queryParams: [{ name: 'Debug', value: '1' }] }],
      expect: [{
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'Exact', name: 'x-user', value: 'a' }, { type: 'RegularExpression', name: 'x-id', value: '[0-9]+' }],
        queryParams: [{ type: 'Exact', name: 'Debug', value: '1' }],
      }],
    },
    {
      name: 'a bad path regex drops that match only',
      matches: [{ path: { type: 'RegularExpression', value: '/(unclosed' } }, { path: { type: 'Exact', value: '/ok' } }],
      expect: [{ path: { type: 'Exact', value: '/ok' } }], dropped: /spec\.rules\[0\]\.matches\[0\]\.path\.value: "\/\(unclosed" is not a valid regular expression.*the match is dropped/,
    },
    {
      name: 'a bad header regex drops the whole match (never widens it)',
      matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '[' }] }, { method: 'POST' }],
      expect: [{ path: { type: 'PathPrefix', value: '/' }, method: 'POST' }], dropped: /matches\[0\]\.headers\[0\]\.value/,
    },
    { name: 'a path not starting with / is dropped', matches: [{ path: { type: 'Exact', value: 'a' } }, { method: 'GET' }], expect: [{ path: { type: 'PathPrefix', value: '/' }, method: 'GET' }], dropped: /must start with \// },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = run({ parentRefs: [SVC], rules: [{ matches: c.matches, backendRefs: [{ name: 'echo' }] }] });
      assert.deepEqual(outcome.route?.rules.flatMap((r) => r.matches), c.expect);
      const partial = messages(outcome, 'PartiallyInvalid');
      if (c.dropped === undefined) assert.deepEqual(partial, []);
      else assert.match(partial[0] ?? '', c.dropped);
    });
  }

  it('a rule left with no valid match is dropped and reported, not widened to match everything', () => {
    const outcome = run({ parentRefs: [SVC], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '(' } }] }] });
    assert.deepEqual(outcome.route?.rules, []);
    assert.match(messages(outcome, 'PartiallyInvalid')[0] ?? '', /spec\.rules\[0\]: dropped, none of its matches is valid/);
    assert.deepEqual(conditions(outcome), ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs,PartiallyInvalid=True/UnsupportedValue']);
  });
});

describe('translateRoute: filters', () => {
  it('header modifiers: names lower-cased, empty lists omitted', () => {
    const [rule] = rules([{
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], add: [{ name: 'X-B', value: '2' }], remove: ['X-C'] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'Cache-Control', value: 'no-store' }] } },
      ],
      backendRefs: [{ name: 'echo' }],
    }]);
    assert.deepEqual(rule?.requestHeaders, { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] });
    assert.deepEqual(rule?.responseHeaders, { set: [{ name: 'cache-control', value: 'no-store' }] });
  });

  it('an unsupported filter is never skipped: the rule answers 500 (no backends) and ResolvedRefs says why', () => {
    const outcome = run({ parentRefs: [SVC], rules: [{ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'echo-v2', port: 80 } } }], backendRefs: [{ name: 'echo' }] }] });
    assert.deepEqual(outcome.route?.rules[0]?.backends, []);
    assert.deepEqual(conditions(outcome), ['Accepted=True/Accepted,ResolvedRefs=False/UnsupportedValue']);
    assert.match(messages(outcome, 'ResolvedRefs')[0] ?? '', /spec\.rules\[0\]\.filters\[0\]: filter RequestMirror is not supported.*URLRewrite\); requests matching this rule get 500/);
  });

  it('a redirect: status 302 by default, no backends (the waypoint answers it), the prefix its one match names', () => {
    const [plain] = rules([{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }]);
    assert.deepEqual(plain, { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backends: [], redirect: { statusCode: 302, scheme: 'https' } });
    const [full] = rules([{
      matches: [{ path: { type: 'PathPrefix', value: '/old/' } }],
      filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'New.Demo', port: 8080, statusCode: 308, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }],
    }]);
    assert.deepEqual(full?.redirect, { statusCode: 308, port: 8080, hostname: 'new.demo', path: { type: 'ReplacePrefixMatch', prefix: '/old', value: '/new' } });
  });

  it('a rewrite: hostname and path, beside the rule\'s backends', () => {
    const [rule] = rules([{
      matches: [{ path: { type: 'Exact', value: '/v1/items' } }],
      filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'items.internal', path: { type: 'ReplaceFullPath', replaceFullPath: '/items' } } }],
      backendRefs: [{ name: 'echo' }],
    }]);
    assert.deepEqual(rule?.rewrite, { hostname: 'items.internal', path: { type: 'ReplaceFullPath', value: '/items' } });
    assert.deepEqual(rule?.backends, [{ service: 'demo/echo', port: 80, weight: 1 }]);
  });

  it('a redirect beside backendRefs redirects, and says the backends are ignored', () => {
    const outcome = run({ parentRefs: [SVC], rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: {} }], backendRefs: [{ name: 'ghost' }] }] });
    assert.deepEqual(outcome.route?.rules[0]?.redirect, { statusCode: 302 });
    assert.deepEqual(outcome.route?.rules[0]?.backends, []);
    assert.deepEqual(conditions(outcome), ['Accepted=True/Accepted,ResolvedRefs=True/ResolvedRefs,PartiallyInvalid=True/UnsupportedValue'],
      'the ignored backend is not resolved, so its absence is no ResolvedRefs problem');
    assert.match(messages(outcome, 'PartiallyInvalid')[0] ?? '', /spec\.rules\[0\]\.backendRefs: ignored, the rule redirects/);
  });

  const refused: { name: string; rule: HTTPRouteRule; message: RegExp }[] = [
    {
      name: 'a prefix replacement on an Exact match',
      rule: { matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }], backendRefs: [{ name: 'echo' }] },
      message: /filters\[0\]\.urlRewrite: path\.type ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix/,
    },
    {
      name: 'a prefix replacement on a rule with two matches',
      rule: { matches: [{ path: { type: 'PathPrefix', value: '/a' } }, { path: { type: 'PathPrefix', value: '/b' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/c' } } }] },
      message: /filters\[0\]\.requestRedirect: path\.type ReplacePrefixMatch needs/,
    },
    { name: 'a status that is not a redirect', rule: { filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 200 } }] }, message: /statusCode 200 is not a redirect status/ },
    { name: 'another scheme', rule: { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'ftp' } }] }, message: /scheme "ftp" is not http or https/ },
    { name: 'a wildcard hostname', rule: { filters: [{ type: 'URLRewrite', urlRewrite: { hostname: '*.demo' } }], backendRefs: [{ name: 'echo' }] }, message: /hostname "\*\.demo" is not a hostname/ },
    { name: 'a relative full path', rule: { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: 'x' } } }], backendRefs: [{ name: 'echo' }] }, message: /replaceFullPath "x" must start with \// },
    { name: 'a path type without its value', rule: { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath' } } }], backendRefs: [{ name: 'echo' }] }, message: /path\.replaceFullPath is required/ },
    {
      name: 'a redirect and a rewrite together',
      rule: { filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'URLRewrite', urlRewrite: { hostname: 'x' } }], backendRefs: [{ name: 'echo' }] },
      message: /spec\.rules\[0\]\.filters: RequestRedirect and URLRewrite cannot be used together/,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}: the rule answers 500 and ResolvedRefs says why`, () => {
      const outcome = run({ parentRefs: [SVC], rules: [c.rule] });
      for (const rule of outcome.route?.rules ?? []) {
        assert.deepEqual([rule.backends, rule.redirect, rule.rewrite], [[], undefined, undefined]);
      }
      assert.deepEqual(conditions(outcome), ['Accepted=True/Accepted,ResolvedRefs=False/UnsupportedValue']);
      assert.match(messages(outcome, 'ResolvedRefs')[0] ?? '', c.message);
      assert.match(messages(outcome, 'ResolvedRefs')[0] ?? '', /requests matching this rule get 500/);
    });
  }
});

describe('translateRoute: backends', () => {
  const cases: { name: string; refs: NonNullable<HTTPRouteRule['backendRefs']>; backends: unknown; resolved: string; message?: RegExp }[] = [
    { name: 'port defaults to the parentRef port, weight to 1', refs: [{ name: 'echo' }], backends: [{ service: 'demo/echo', port: 80, weight: 1 }], resolved: 'ResolvedRefs=True/ResolvedRefs' },
    { name: 'weights kept, 0 included', refs: [{ name: 'echo', port: 80, weight: 90 }, { name: 'echo-v2', port: 80, weight: 0 }], backends: [{ service: 'demo/echo', port: 80, weight: 90 }, { service: 'demo/echo-v2', port: 80, weight: 0 }], resolved: 'ResolvedRefs=True/ResolvedRefs' },
    { name: 'missing Service keeps its share (500)', refs: [{ name: 'echo', weight: 3 }, { name: 'ghost', weight: 1 }], backends: [{ service: 'demo/echo', port: 80, weight: 3 }, { service: 'demo/ghost', port: 80, weight: 1 }], resolved: 'ResolvedRefs=False/BackendNotFound', message: /backendRefs\[1\]: Service demo\/ghost not found/ },
    { name: 'a port the Service lacks', refs: [{ name: 'echo', port: 8080 }], backends: [{ service: 'demo/echo', port: 8080, weight: 1 }], resolved: 'ResolvedRefs=False/BackendNotFound', message: /has no port 8080/ },
    { name: 'another kind', refs: [{ group: 'example.com', kind: 'Bucket', name: 'b', port: 80 }], backends: [{ service: '!unresolved:Bucket/demo/b', port: 80, weight: 1 }], resolved: 'ResolvedRefs=False/InvalidKind' },
    { name: 'another namespace (no ReferenceGrant)', refs: [{ name: 'other', namespace: 'elsewhere' }], backends: [{ service: '!unresolved:Service/elsewhere/other', port: 80, weight: 1 }], resolved: 'ResolvedRefs=False/RefNotPermitted' },
    { name: 'backend filters are unsupported', refs: [{ name: 'echo', filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }] }], backends: [{ service: '!unresolved:Service/demo/echo', port: 80, weight: 1 }], resolved: 'ResolvedRefs=False/UnsupportedValue' },
    { name: 'no backendRefs: 500 for the rule', refs: [], backends: [], resolved: 'ResolvedRefs=True/ResolvedRefs' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = run({ parentRefs: [SVC], rules: [{ backendRefs: c.refs }] });
      assert.deepEqual(outcome.route?.rules[0]?.backends, c.backends);
      assert.equal(conditions(outcome)[0]?.split(',')[1], c.resolved);
      if (c.message) assert.match(messages(outcome, 'ResolvedRefs')[0] ?? '', c.message);
    });
  }

  it('without a Service parent port a backend needs its own port', () => {
    const outcome = run({ parentRefs: [{ name: 'wp' }], rules: [{ backendRefs: [{ name: 'echo' }] }] });
    assert.equal(outcome.route?.rules[0]?.backends[0]?.service, '!unresolved:Service/demo/echo');
    assert.match(messages(outcome, 'ResolvedRefs')[0] ?? '', /port is required/);
  });
});

describe('translateRoute: timeouts, retries and annotations', () => {
  type Resilience = Pick<HttpRouteRule, 'timeoutMs' | 'retry' | 'fault'>;
  const cases: { name: string; rule: HTTPRouteRule; annotations?: Record<string, string>; expect: Resilience; dropped?: RegExp }[] = [
    { name: 'nothing asked: no timeout, no retry', rule: {}, expect: {} },
    { name: 'timeouts.request', rule: { timeouts: { request: '1m30s' } }, expect: { timeoutMs: 90_000 } },
    { name: 'timeouts.request 0s disables', rule: { timeouts: { request: '0s' } }, expect: {} },
    { name: 'backendRequest without retries bounds the only attempt', rule: { timeouts: { request: '5s', backendRequest: '500ms' } }, expect: { timeoutMs: 500 } },
    { name: 'a bad duration is ignored and reported', rule: { timeouts: { request: '2 seconds' } }, expect: {}, dropped: /spec\.rules\[0\]\.timeouts\.request: "2 seconds" is not a duration/ },
    {
      name: 'retry: 502/503/504 → gateway-error, plus connection errors; backoff; backendRequest per try',
      rule: { retry: { attempts: 3, codes: [502, 503], backoff: '100ms' }, timeouts: { request: '10s', backendRequest: '2s' } },
      expect: { timeoutMs: 10_000, retry: { attempts: 3, on: ['gateway-error', 'connect-failure', 'reset'], backoffMs: 100, perTryTimeoutMs: 2000 } },
    },
    { name: 'retry: other 5xx widen to 5xx; attempts default 2', rule: { retry: { codes: [500, 503] } }, expect: { retry: { attempts: 2, on: ['5xx', 'connect-failure', 'reset'] } } },
    { name: 'retry: codes under 500 are reported', rule: { retry: { codes: [429] } }, expect: { retry: { attempts: 2, on: ['connect-failure', 'reset'] } }, dropped: /retry\.codes: 429 not retried/ },
    { name: 'retry: attempts 0 is kept (disabled)', rule: { retry: { attempts: 0 } }, expect: { retry: { attempts: 0, on: ['gateway-error', 'connect-failure', 'reset'] } } },
    {
      name: 'annotations: retry-on and per-try-timeout',
      rule: { retry: { attempts: 1 } }, annotations: { 'ambit.dev/retry-on': '5xx, reset', 'ambit.dev/per-try-timeout': '1s' },
      expect: { retry: { attempts: 1, on: ['5xx', 'reset'], perTryTimeoutMs: 1000 } },
    },
    { name: 'annotation retry-on alone enables retries', rule: {}, annotations: { 'ambit.dev/retry-on': 'connect-failure' }, expect: { retry: { attempts: 2, on: ['connect-failure'] } } },
    {
      name: 'annotations: faults',
      rule: {}, annotations: { 'ambit.dev/fault-delay': '10% 2s', 'ambit.dev/fault-abort': '0.5% 503' },
      expect: { fault: { delay: { percent: 10, delayMs: 2000 }, abort: { percent: 0.5, status: 503 } } },
    },
    {
      name: 'a bad annotation is ignored and reported with its key',
      rule: {}, annotations: { 'ambit.dev/fault-abort': '5% teapot' }, expect: {},
      dropped: /metadata\.annotations\["ambit\.dev\/fault-abort"\]: expected "<percent>% <status>"/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = run({ parentRefs: [SVC], rules: [{ ...c.rule, backendRefs: [{ name: 'echo' }] }] }, c.annotations ? { annotations: c.annotations } : {});
      const { matches: _m, backends: _b, ...rest } = outcome.route?.rules[0] ?? { matches: [], backends: [] };
      assert.deepEqual(rest, c.expect);
      const partial = messages(outcome, 'PartiallyInvalid');
      if (c.dropped === undefined) assert.deepEqual(partial, []);
      else assert.match(partial[0] ?? '', c.dropped);
    });
  }
});

describe('translateRoute: precedence', () => {
  it('orders each match by Gateway API precedence, ties by written order', () => {
    const ordered = rules([
      { matches: [{}] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }, { path: { type: 'RegularExpression', value: '/api/v[0-9]+/items' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-a', value: '1' }] }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'GET' }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-a', value: '1' }], queryParams: [{ name: 'q', value: '1' }] }] },
      { matches: [{ path: { type: 'Exact', value: '/api/health' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api/v1' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }] },
    ]);
    assert.deepEqual(ordered.map((r) => JSON.stringify(r.matches[0])), [
      '{"path":{"type":"Exact","value":"/api/health"}}',
      '{"path":{"type":"PathPrefix","value":"/api/v1"}}',
      '{"path":{"type":"PathPrefix","value":"/api"},"method":"GET"}',
      '{"path":{"type":"PathPrefix","value":"/api"},"headers":[{"type":"Exact","name":"x-a","value":"1"}],"queryParams":[{"type":"Exact","name":"q","value":"1"}]}',
      '{"path":{"type":"PathPrefix","value":"/api"},"headers":[{"type":"Exact","name":"x-a","value":"1"}]}',
      '{"path":{"type":"PathPrefix","value":"/api"}}',
      '{"path":{"type":"PathPrefix","value":"/api"}}',
      '{"path":{"type":"PathPrefix","value":"/"}}',
      '{"path":{"type":"RegularExpression","value":"/api/v[0-9]+/items"}}',
    ]);
  });

  it('compareMatches is 0 when only route age or name can decide', () => {
    const a: HttpRouteMatch = { path: { type: 'PathPrefix', value: '/x' }, method: 'GET' };
    assert.equal(compareMatches(a, { ...a }), 0);
  });

  it('translateRoutes emits routes by key', () => {
    const ctx = context();
    const out = translateRoutes([httpRoute('b', { parentRefs: [SVC] }), httpRoute('a', { parentRefs: [SVC] })], ctx);
    assert.deepEqual(out.routes.map((r) => r.key), ['demo/a', 'demo/b']);
    assert.deepEqual(out.status.map((s) => s.name), ['a', 'b']);
  });
});

describe('route values', () => {
  const durations: [string, number | undefined][] = [['500ms', 500], ['2s', 2000], ['1h', 3_600_000], ['1m30s', 90_000], ['1s500ms', 1500], ['0s', 0], ['1.5s', undefined], ['', undefined], ['10', undefined], ['1d', undefined]];
  for (const [text, ms] of durations) {
    it(`duration ${JSON.stringify(text)}`, () => {
      const parsed = parseDuration(text);
      assert.deepEqual(parsed.ok ? parsed.value : undefined, ms);
    });
  }
  it('retry-on', () => {
    assert.deepEqual(parseRetryOn('5xx,connect-failure,reset,5xx'), { ok: true, value: ['5xx', 'connect-failure', 'reset'] });
    assert.deepEqual(parseRetryOn('5xx,teapot'), { ok: false, problem: 'unknown value "teapot" (use 5xx, gateway-error, connect-failure, reset)' });
  });
  it('faults', () => {
    assert.deepEqual(parseFaultDelay('100% 1m'), { ok: true, value: { percent: 100, delayMs: 60_000 } });
    assert.equal(parseFaultDelay('101% 1s').ok, false);
    assert.equal(parseFaultDelay('10%').ok, false);
    assert.deepEqual(parseFaultAbort('5% 503'), { ok: true, value: { percent: 5, status: 503 } });
    assert.equal(parseFaultAbort('5% 99').ok, false);
    assert.equal(parseFaultAbort('5 503').ok, false);
  });
});
