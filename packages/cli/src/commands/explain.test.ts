// `ambit explain` over fixed proxy states: the ztunnels' and the waypoint's
// real decision functions decide, these tests check what is said of each hop
// and the verdict (mixed, unknown and refusals included).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization, HttpRoute, Service, Workload } from '@ambit/api';
import { UsageError } from '../errors.js';
import type { PodView } from '../mesh-view.js';
import { explainFlow, formatExplanation, parseTarget, type ExplainSources, type Explanation, type WaypointDump } from './explain.js';

const TD = 'spiffe://cluster.local';
const WAYPOINT_ID = `${TD}/ns/demo/sa/waypoint`;

function workload(name: string, ip: string, node: string, extra: Partial<Workload> = {}): Workload {
  const namespace = extra.namespace ?? 'demo';
  const serviceAccount = extra.serviceAccount ?? name.replace(/-v\d$/, '');
  return {
    uid: `uid-${namespace}-${name}`, name, namespace, serviceAccount, identity: `${TD}/ns/${namespace}/sa/${serviceAccount}`,
    addresses: [ip], node, protocol: 'HBONE', services: [], canonicalName: name, canonicalRevision: 'latest', healthy: true,
    labels: { app: name }, ...extra,
  };
}

function service(name: string, vip: string, backends: Workload[], extra: Partial<Service> = {}): Service {
  return {
    name, namespace: 'demo', hostname: `${name}.demo.svc.cluster.local`, vips: [vip], ports: [{ port: 80, targetPort: 8080 }],
    endpoints: backends.map((w) => ({ workloadUid: w.uid, address: w.addresses[0] as string, ports: { 80: 8080 }, healthy: true })), ...extra,
  };
}

function policy(name: string, action: 'ALLOW' | 'DENY', scope: Authorization['scope'], rules: Authorization['rules']): Authorization {
  const namespace = 'namespace' in scope ? scope.namespace : 'ambit-system';
  return { key: `${namespace}/${name}`, name, namespace, scope, action, rules };
}

const client = workload('client', '10.0.1.2', 'node-1');
const v1 = workload('echo-v1', '10.0.1.3', 'node-1', { labels: { app: 'echo', version: 'v1' } });
const v2 = workload('echo-v2', '10.0.2.2', 'node-2', { labels: { app: 'echo', version: 'v2' } });
const waypointPod = workload('waypoint-0', '10.0.2.9', 'node-2', { serviceAccount: 'waypoint', protocol: 'TCP' });
const binding = { gateway: 'demo/waypoint', address: '10.96.0.9', port: 15008, identity: WAYPOINT_ID };
const waypointService = service('waypoint', '10.96.0.9', [waypointPod], { ports: [{ port: 15008, targetPort: 15008 }] });
waypointService.endpoints = [{ workloadUid: waypointPod.uid, address: '10.0.2.9', ports: { 15008: 15008 }, healthy: true }];

interface World {
  workloads?: Workload[];
  services?: Service[];
  policies?: Authorization[];
  waypoint?: Partial<WaypointDump> | Error;
  down?: string[];
  capture?: string;
  hbonePort?: number;
}

function sources(world: World): ExplainSources & { asked: string[] } {
  const workloads = world.workloads ?? [client, v1, v2];
  const asked: string[] = [];
  return {
    asked,
    pods: () => Promise.resolve(workloads.map((w): PodView => ({ namespace: w.namespace, name: w.name, node: w.node, ip: w.addresses[0] ?? '', labels: w.labels }))),
    ztunnel: (node) => {
      asked.push(node);
      if (world.down?.includes(node)) return Promise.reject(new Error(`connect ECONNREFUSED (ztunnel on ${node})`));
      return Promise.resolve({
        node, version: 'v7', workloads, services: world.services ?? [], policies: world.policies ?? [],
        ...(world.capture === undefined ? {} : { capture: { mode: world.capture } }),
        ...(world.hbonePort === undefined ? {} : { config: { hbonePort: world.hbonePort } }),
      });
    },
    waypoint: () => {
      if (world.waypoint instanceof Error) return Promise.reject(world.waypoint);
      return Promise.resolve({ gateway: 'demo/waypoint', identity: WAYPOINT_ID, routes: [], policies: [], ...world.waypoint });
    },
  };
}

const decided = (e: Explanation): string[] => [...e.hops, ...e.paths.flatMap((p) => p.hops)]
  .filter((h) => h.verdict !== undefined).map((h) => `${h.at}: ${h.verdict}${h.policy === undefined ? '' : ` ${h.policy}`}${h.reason === undefined ? '' : ` (${h.reason})`}`);

describe('parseTarget', () => {
  it('reads URLs, HOST[:PORT], [IPv6]:PORT and NAMESPACE/POD[:PORT]', () => {
    assert.deepEqual(parseTarget('http://echo.demo/v2?x=1'), { host: 'echo.demo', port: 80, path: '/v2?x=1', url: true });
    assert.deepEqual(parseTarget('http://echo.demo:8080'), { host: 'echo.demo', port: 8080, path: '/', url: true });
    assert.deepEqual(parseTarget('echo.demo:9000'), { host: 'echo.demo', port: 9000, url: false });
    assert.deepEqual(parseTarget('echo'), { host: 'echo', url: false });
    assert.deepEqual(parseTarget('[fd00::1]:80'), { host: 'fd00::1', port: 80, url: false });
    assert.deepEqual(parseTarget('demo/echo-v1:8080'), { host: 'demo/echo-v1', pod: 'demo/echo-v1', port: 8080, url: false });
  });

  it('refuses what it cannot explain, saying what to give', () => {
    assert.throws(() => parseTarget('https://echo.demo/'), (e: unknown) => e instanceof UsageError && /--tcp/.test(e.hint ?? ''));
    assert.throws(() => parseTarget('echo.demo:http'), UsageError);
    assert.throws(() => parseTarget('echo.demo:70000'), UsageError);
    assert.throws(() => parseTarget('a/b/c'), UsageError);
    assert.throws(() => parseTarget(':80'), UsageError);
  });
});

describe('explainFlow', () => {
  const echo = service('echo', '10.96.0.10', [v1, v2]);

  it('an enrolled client to a service: one path per healthy endpoint, in process on the same node, HBONE across', async () => {
    const e = await explainFlow(sources({ services: [echo] }), { source: 'demo/client', destination: 'http://echo.demo/' });
    assert.equal(e.verdict, 'allowed');
    assert.deepEqual(e.source, { pod: 'demo/client', ip: '10.0.1.2', node: 'node-1', enrolled: true, identity: `${TD}/ns/demo/sa/client` });
    assert.deepEqual(e.destination, { given: 'http://echo.demo/', address: '10.96.0.10:80', as: 'service demo/echo', request: { method: 'GET', path: '/', host: 'echo.demo' } });
    assert.deepEqual(e.paths.map((p) => p.to), ['demo/echo-v1 10.0.1.3:8080', 'demo/echo-v2 10.0.2.2:8080']);
    assert.match(e.paths[0]?.hops[0]?.does ?? '', /^same node/);
    assert.match(e.paths[1]?.hops[0]?.does ?? '', /HBONE \(mTLS\) to 10\.0\.2\.2:15008 on node-2 as spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client, expecting spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo/);
    assert.deepEqual(decided(e), ['ztunnel node-1: allowed', 'ztunnel node-2: allowed']);
    const text = formatExplanation(e);
    assert.match(text, /^from demo\/client \(10\.0\.1\.2 on node-1\), enrolled as spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client$/m);
    assert.match(text, /✔ allowed on every path \(2\)\n$/);
  });

  it('an L4 DENY on one endpoint makes the verdict mixed, naming the policy and the node that refuses', async () => {
    const deny = policy('no-client-to-v2', 'DENY', { kind: 'workload', namespace: 'demo', selector: { version: 'v2' } }, [{ from: [{ principals: ['cluster.local/ns/demo/sa/client'] }], to: [] }]);
    const e = await explainFlow(sources({ services: [echo], policies: [deny], hbonePort: 15018 }), { source: 'demo/client', destination: 'echo.demo', tcp: true });
    assert.equal(e.verdict, 'mixed');
    assert.match(e.paths[1]?.hops[0]?.does ?? '', /HBONE \(mTLS\) to 10\.0\.2\.2:15018 /, 'the ztunnels\' own HBONE port');
    assert.equal(e.destination.request, undefined);
    assert.deepEqual(decided(e), ['ztunnel node-1: allowed', 'ztunnel node-2: denied demo/no-client-to-v2 (denied-by-policy)']);
    assert.match(formatExplanation(e), /‼ allowed on 1 of 2 paths\n$/);
  });

  it('a client outside the mesh: kube-proxy picks an endpoint, STRICT refuses the plaintext; the loopback mode captures nothing', async () => {
    const strict = policy('peer-authentication-strict', 'DENY', { kind: 'namespace', namespace: 'demo' }, [{ from: [{ notPrincipals: ['*'] }], to: [] }]);
    const outside = workload('client', '10.0.1.2', 'node-1', { protocol: 'TCP' });
    const world = { workloads: [outside, v1, v2], services: [echo], policies: [strict] };
    const e = await explainFlow(sources(world), { source: 'demo/client', destination: 'http://echo.demo/' });
    assert.equal(e.verdict, 'denied');
    assert.equal(e.source.enrolled, false);
    assert.deepEqual(e.hops.map((h) => h.at), ['demo/client', 'kube-proxy']);
    assert.deepEqual(decided(e), ['ztunnel node-1: denied demo/peer-authentication-strict (denied-by-policy)', 'ztunnel node-2: denied demo/peer-authentication-strict (denied-by-policy)']);
    assert.match(e.paths[0]?.hops[0]?.does ?? '', /plaintext client 10\.0\.1\.2 may not connect/);
    const loopback = await explainFlow(sources({ ...world, capture: 'none' }), { source: 'demo/client', destination: 'http://echo.demo/' });
    assert.equal(loopback.verdict, 'allowed');
    assert.match(loopback.paths[0]?.hops[0]?.does ?? '', /captures nothing \(loopback mode\)/);
    assert.deepEqual(loopback.hops.map((h) => h.at), ['demo/client', 'ztunnel node-1 (SOCKS5)'], 'no kube-proxy in the loopback mode');
  });

  it('through a waypoint: L7 policy, the route\'s weighted split, then each destination ztunnel sees the waypoint\'s identity', async () => {
    const bound = service('echo', '10.96.0.10', [v1, v2], { waypoint: binding });
    const route: HttpRoute = {
      key: 'demo/echo-split', namespace: 'demo', name: 'echo-split', parents: [{ kind: 'Service', key: 'demo/echo', port: 80 }], hostnames: [],
      rules: [{ matches: [], backends: [{ service: 'demo/echo-v1', port: 80, weight: 90 }, { service: 'demo/echo-v2', port: 80, weight: 10 }], timeoutMs: 2000, retry: { attempts: 2, on: ['5xx'] } }],
    };
    const readOnly = policy('read-only', 'ALLOW', { kind: 'targets', namespace: 'demo', targets: [{ kind: 'Service', key: 'demo/echo' }] }, [{ from: [], to: [{ methods: ['GET'] }] }]);
    const world: World = {
      workloads: [client, v1, v2, waypointPod],
      services: [bound, service('echo-v1', '10.96.0.11', [v1]), service('echo-v2', '10.96.0.12', [v2]), waypointService],
      waypoint: { routes: [route], policies: [readOnly], discovery: { version: 'v7' } },
    };
    const e = await explainFlow(sources(world), { source: 'demo/client', destination: 'http://echo.demo/' });
    assert.equal(e.verdict, 'allowed');
    assert.match(e.hops[1]?.does ?? '', /uses waypoint demo\/waypoint: HBONE \(mTLS\) to 10\.0\.2\.9:15008 \(demo\/waypoint-0 on node-2\)/);
    assert.deepEqual(decided(e), ['waypoint demo/waypoint: allowed demo/read-only', 'ztunnel node-1: allowed', 'ztunnel node-2: allowed']);
    assert.match(e.hops[3]?.does ?? '', /route demo\/echo-split rule 1: demo\/echo-v1:80 90 %, demo\/echo-v2:80 10 % \(timeout 2000 ms; 2 retries on 5xx\)/);
    assert.deepEqual(e.paths.map((p) => [p.to, p.weight]), [['demo/echo-v1 10.0.1.3:8080', '90 %'], ['demo/echo-v2 10.0.2.2:8080', '10 %']]);
    assert.match(e.paths[0]?.hops[1]?.does ?? '', new RegExp(`from ${WAYPOINT_ID}`));

    const post = await explainFlow(sources(world), { source: 'demo/client', destination: 'http://echo.demo/', method: 'post' });
    assert.equal(post.verdict, 'denied');
    assert.deepEqual(post.paths, []);
    assert.deepEqual(decided(post), ['waypoint demo/waypoint: denied (no-allow-match)']);
    assert.match(post.hops.at(-1)?.does ?? '', /denies POST \/ with 403/);

    // A waypoint of two workers, no route (the called service, echo-v1 and echo-v2 behind it): each worker ejects
    // outliers on its own, and their mesh states may be a version apart.
    const workers = (one: string[], two: string[], versions = ['v7', 'v7']): World => ({
      ...world,
      waypoint: {
        routes: [], policies: [readOnly], discovery: { version: versions[0] ?? 'v7' }, outliers: one,
        workers: [{ worker: 1, discovery: { version: versions[0] ?? 'v7' }, outliers: one }, { worker: 2, discovery: { version: versions[1] ?? 'v7' }, outliers: two }],
      },
    });
    const get = { source: 'demo/client', destination: 'http://echo.demo/' };
    const partly = await explainFlow(sources(workers([], ['10.0.1.3:8080'])), get);
    assert.deepEqual(partly.paths.map((p) => p.to), ['demo/echo-v1 10.0.1.3:8080', 'demo/echo-v2 10.0.2.2:8080']);
    assert.match(partly.paths[0]?.hops[0]?.does ?? '', /ejected as an outlier by worker 2 of 2: only requests on connections the other worker\(s\) serve reach it/);
    assert.doesNotMatch(partly.paths[1]?.hops[0]?.does ?? '', /ejected/);
    const wholly = await explainFlow(sources(workers(['10.0.1.3:8080'], ['10.0.1.3:8080'])), get);
    assert.deepEqual(wholly.paths.map((p) => p.to), ['demo/echo-v2 10.0.2.2:8080'], 'ejected by every worker: no request reaches it');
    const apart = await explainFlow(sources(workers([], [], ['v7', 'v6'])), get);
    assert.match(apart.hops[2]?.does ?? '', /its workers' mesh state versions differ \(worker 1 v7, worker 2 v6\): routes and policies as worker 1 has them/);
    const inStep = await explainFlow(sources(workers([], [])), get);
    assert.match(inStep.hops[2]?.does ?? '', /; mesh state version v7$/);

    const gone = await explainFlow(sources({ ...world, waypoint: new Error('connect ENOENT') }), { source: 'demo/client', destination: 'http://echo.demo/' });
    assert.equal(gone.verdict, 'unknown');
    assert.match(gone.hops.at(-1)?.does ?? '', /admin API did not answer.*ENOENT/);
  });

  it('through a waypoint: a redirect is answered there; a rewrite is named in the route\'s hop', async () => {
    const bound = service('echo', '10.96.0.10', [v1, v2], { waypoint: binding });
    const route: HttpRoute = {
      key: 'demo/echo-url', namespace: 'demo', name: 'echo-url', parents: [{ kind: 'Service', key: 'demo/echo', port: 80 }], hostnames: [],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], backends: [], redirect: { statusCode: 301, scheme: 'https', path: { type: 'ReplacePrefixMatch', prefix: '/old', value: '/new' } } },
        { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: [{ service: 'demo/echo-v2', port: 80, weight: 1 }], rewrite: { hostname: 'api.internal', path: { type: 'ReplacePrefixMatch', prefix: '/api', value: '' } } },
      ],
    };
    const world: World = {
      workloads: [client, v1, v2, waypointPod],
      services: [bound, service('echo-v2', '10.96.0.12', [v2]), waypointService],
      waypoint: { routes: [route], discovery: { version: 'v7' } },
    };
    const moved = await explainFlow(sources(world), { source: 'demo/client', destination: 'http://echo.demo/old/page?x=1' });
    assert.equal(moved.verdict, 'allowed');
    assert.deepEqual(moved.paths.map((p) => p.to), ['redirect to https://echo.demo/new/page?x=1']);
    assert.match(moved.paths[0]?.hops[0]?.does ?? '', /route demo\/echo-url rule 1: answers 301 with Location https:\/\/echo\.demo\/new\/page\?x=1/);
    const rewritten = await explainFlow(sources(world), { source: 'demo/client', destination: 'http://echo.demo/api/items' });
    assert.match(rewritten.hops.at(-1)?.does ?? '', /route demo\/echo-url rule 2: demo\/echo-v2:80 \(path prefix \/api rewritten to \/; Host rewritten to api\.internal\)/);
    assert.deepEqual(rewritten.paths.map((p) => p.to), ['demo/echo-v2 10.0.2.2:8080']);
  });

  it('a workload behind a waypoint refuses a client that skips it', async () => {
    const guarded = workload('echo-v1', '10.0.1.3', 'node-1', { waypoint: binding });
    const outside = workload('client', '10.0.1.2', 'node-1', { protocol: 'TCP' });
    const e = await explainFlow(sources({ workloads: [outside, guarded] }), { source: 'demo/client', destination: 'demo/echo-v1:8080', tcp: true });
    assert.equal(e.verdict, 'denied');
    assert.deepEqual(decided(e), ['ztunnel node-1: denied (bypassed-waypoint)']);
  });

  it('says what it could not read, and what has no endpoint', async () => {
    const down = await explainFlow(sources({ services: [echo], down: ['node-2'] }), { source: 'demo/client', destination: 'echo.demo:80' });
    assert.equal(down.verdict, 'unknown');
    assert.deepEqual(decided(down), ['ztunnel node-1: allowed', 'ztunnel node-2: unknown']);
    const empty = service('echo', '10.96.0.10', []);
    const none = await explainFlow(sources({ services: [empty] }), { source: 'demo/client', destination: 'echo.demo' });
    assert.equal(none.verdict, 'denied');
    assert.deepEqual(decided(none), ['ztunnel node-1: denied (no-healthy-endpoint)']);
    assert.match(none.hops.at(-1)?.hint ?? '', /no ready pod matches its selector/);
  });

  it('refuses a source or destination it does not know, and a port it cannot guess, before reading more', async () => {
    const twoPorts = service('echo', '10.96.0.10', [v1], { ports: [{ port: 80, targetPort: 8080 }, { port: 9000, targetPort: 9000 }] });
    const world = sources({ services: [twoPorts] });
    await assert.rejects(explainFlow(world, { source: 'demo/nobody', destination: 'echo' }), (e: unknown) => e instanceof UsageError && /client, echo-v1, echo-v2/.test(e.hint ?? ''));
    await assert.rejects(explainFlow(world, { source: 'client', destination: 'echo' }), /not NAMESPACE\/POD/);
    await assert.rejects(explainFlow(world, { source: 'demo/client', destination: 'shop' }), (e: unknown) => e instanceof UsageError && /services in demo: echo/.test(e.hint ?? ''));
    await assert.rejects(explainFlow(world, { source: 'demo/client', destination: 'echo' }), (e: unknown) => e instanceof UsageError && /80, 9000/.test(e.hint ?? ''));
    await assert.rejects(explainFlow(world, { source: 'demo/client', destination: 'demo/echo-v1' }), /give the port of demo\/echo-v1/);
    await assert.rejects(explainFlow(world, { source: 'demo/client', destination: 'echo:80', tcp: true, method: 'GET' }), /--tcp explains a connection/);
    await assert.rejects(explainFlow(sources({ down: ['node-1'] }), { source: 'demo/client', destination: 'echo:80' }), /ztunnel on node-1 \(demo\/client's node\) did not answer/);
  });
});
