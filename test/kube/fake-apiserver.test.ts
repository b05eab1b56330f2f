// The fake API server over real HTTP: the wire behaviour the Kubernetes store
// relies on, checked against what kube-apiserver sends (Status objects,
// resourceVersion rules, watch streams, 410 Expired, selectors).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { FakeApiServer, EXTRA_KINDS, type FakeApiServerOptions } from '../support/fake-apiserver.js';

// Parsed wire JSON, probed field by field: exactly what JSON.parse returns.
type Body = Record<string, ReturnType<typeof JSON.parse>>;

interface Reply { status: number; body: Body }

class WatchStream {
  readonly events: { type: string; object: Body }[] = [];
  ended = false;
  private request: http.ClientRequest | undefined;

  static open(url: string): Promise<WatchStream> {
    const stream = new WatchStream();
    return new Promise((resolve, reject) => {
      stream.request = http.get(url, (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            stream.events.push(JSON.parse(buffer.slice(0, newline)) as { type: string; object: Body });
            buffer = buffer.slice(newline + 1);
          }
        });
        res.on('end', () => { stream.ended = true; });
        res.on('error', () => { stream.ended = true; });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'application/json');
        resolve(stream);
      });
      stream.request.on('error', reject);
    });
  }

  async next(count: number, ms = 3_000): Promise<{ type: string; object: Body }[]> {
    await until(() => this.events.length >= count, ms, () => `expected ${count} watch events, got ${JSON.stringify(this.events.map((e) => e.type))}`);
    return this.events.slice(0, count);
  }

  summary(): string[] {
    return this.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${String(e.object.metadata?.name)}`);
  }

  close(): void {
    this.request?.destroy();
  }
}

describe('fake API server', () => {
  let server: FakeApiServer | undefined;
  const streams: WatchStream[] = [];

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await server?.close();
    server = undefined;
  });

  async function start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    server = await FakeApiServer.start(options);
    await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
    return server;
  }

  async function call(method: string, path: string, body?: unknown, contentType = 'application/json', headers: Record<string, string> = {}): Promise<Reply> {
    const response = await fetch(`${server!.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': contentType }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    return { status: response.status, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Body };
  }

  async function watch(path: string): Promise<WatchStream> {
    const stream = await WatchStream.open(`${server!.url}${path}`);
    streams.push(stream);
    return stream;
  }

  const svc = (name: string, labels?: Record<string, string>): Body => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name, ...(labels === undefined ? {} : { labels }) }, spec: { ports: [{ port: 80 }] },
  });
  const gateway = (name: string): Body => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name },
    spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  const SERVICES = '/api/v1/namespaces/demo/services';
  const GATEWAYS = '/apis/gateway.networking.k8s.io/v1/namespaces/demo/gateways';

  describe('discovery', () => {
    it('serves /version, /api, /apis and resource lists with status subresources', async () => {
      await start();
      assert.equal((await call('GET', '/version')).body.major, '1');
      assert.deepEqual((await call('GET', '/api')).body.versions, ['v1']);
      const groups = (await call('GET', '/apis')).body.groups as Body[];
      assert.ok(groups.some((g) => g.name === 'gateway.networking.k8s.io' && g.preferredVersion.version === 'v1'));
      assert.ok(groups.some((g) => g.name === 'security.ambit.dev'));
      assert.ok(groups.some((g) => g.name === 'authentication.k8s.io'));
      const core = (await call('GET', '/api/v1')).body;
      assert.equal(core.kind, 'APIResourceList');
      const names = (core.resources as Body[]).map((r): unknown => r.name);
      for (const name of ['namespaces', 'nodes', 'pods', 'pods/status', 'services', 'serviceaccounts']) assert.ok(names.includes(name), name);
      assert.ok(!names.includes('serviceaccounts/status'));
      const pods = (core.resources as Body[]).find((r) => r.name === 'pods')!;
      assert.equal(pods.namespaced, true);
      assert.equal(pods.kind, 'Pod');
      const gw = (await call('GET', '/apis/gateway.networking.k8s.io/v1')).body;
      assert.deepEqual((gw.resources as Body[]).map((r): unknown => r.name).sort(), ['gateways', 'gateways/status', 'httproutes', 'httproutes/status']);
      assert.equal((await call('GET', '/apis/nothing.example/v1')).status, 404);
    });

    it('registers further kinds (a Lease for leader election)', async () => {
      const s = await start();
      s.registerKind(EXTRA_KINDS.Lease);
      const leases = '/apis/coordination.k8s.io/v1/namespaces/demo/leases';
      const created = await call('POST', leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec: { holderIdentity: 'a' } });
      assert.equal(created.status, 201);
      const taken = await call('PUT', `${leases}/leader`, { ...created.body, spec: { holderIdentity: 'b' } });
      assert.equal(taken.status, 200);
      assert.equal((await call('PUT', `${leases}/leader`, { ...created.body, spec: { holderIdentity: 'c' } })).status, 409, 'the loser of a race gets a conflict');
      assert.ok(((await call('GET', '/apis')).body.groups as Body[]).some((g) => g.name === 'coordination.k8s.io'));
    });
  });

  describe('create and get', () => {
    it('assigns metadata, drops status and answers 201', async () => {
      await start();
      const created = await call('POST', SERVICES, { ...svc('echo'), status: { conditions: [] } });
      assert.equal(created.status, 201);
      const meta = created.body.metadata;
      assert.match(String(meta.uid), /^[0-9a-f-]{36}$/);
      assert.match(String(meta.resourceVersion), /^\d+$/);
      assert.match(String(meta.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(meta.generation, 1);
      assert.equal(meta.namespace, 'demo', 'the namespace comes from the path');
      assert.equal(created.body.status, undefined);
      const got = await call('GET', `${SERVICES}/echo`);
      assert.deepEqual(got.body, created.body);
      const ns = (await call('GET', '/api/v1/namespaces/demo')).body;
      assert.deepEqual(ns.status, { phase: 'Active' });
      assert.equal(ns.metadata.namespace, undefined);
    });

    it('sends Status objects exactly as kube-apiserver does', async () => {
      await start();
      assert.deepEqual((await call('GET', `${SERVICES}/missing`)).body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'services "missing" not found', reason: 'NotFound',
        details: { name: 'missing', kind: 'services' }, code: 404,
      });
      assert.deepEqual((await call('GET', `${GATEWAYS}/missing`)).body.details, { name: 'missing', group: 'gateway.networking.k8s.io', kind: 'gateways' });
      assert.equal((await call('GET', `${GATEWAYS}/missing`)).body.message, 'gateways.gateway.networking.k8s.io "missing" not found');
      await call('POST', SERVICES, svc('echo'));
      const dup = await call('POST', SERVICES, svc('echo'));
      assert.equal(dup.status, 409);
      assert.equal(dup.body.reason, 'AlreadyExists');
      assert.equal(dup.body.message, 'services "echo" already exists');
      const invalid = await call('POST', SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: {} });
      assert.equal(invalid.status, 422);
      assert.equal(invalid.body.reason, 'Invalid');
      assert.equal(invalid.body.message, 'Service "" is invalid: metadata.name: Required value: name or generateName is required');
      assert.deepEqual(invalid.body.details.causes, [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]);
      const badName = await call('POST', SERVICES, svc('Not_Valid'));
      assert.equal(badName.status, 422);
      assert.equal(badName.body.details.causes[0].field, 'metadata.name');
    });

    it('refuses mismatched namespaces, API versions, kinds, a set resourceVersion and unknown namespaces', async () => {
      await start();
      assert.equal((await call('POST', SERVICES, { ...svc('a'), metadata: { name: 'a', namespace: 'other' } })).status, 400);
      assert.equal((await call('POST', SERVICES, { ...svc('a'), apiVersion: 'v2' })).status, 400);
      assert.equal((await call('POST', SERVICES, { ...svc('a'), kind: 'Pod' })).status, 400);
      assert.equal((await call('POST', SERVICES, { ...svc('a'), metadata: { name: 'a', resourceVersion: '5' } })).status, 400);
      const nowhere = await call('POST', '/api/v1/namespaces/nowhere/services', svc('a'));
      assert.equal(nowhere.status, 404);
      assert.equal(nowhere.body.message, 'namespaces "nowhere" not found');
      assert.equal((await call('POST', '/api/v1/services', svc('a'))).status, 405, 'no create across all namespaces');
      assert.equal((await call('GET', '/api/v1/services/a')).status, 404, 'a namespaced object needs its namespace');
      const generated = await call('POST', SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { generateName: 'echo-' } });
      assert.match(String(generated.body.metadata.name), /^echo-[0-9a-f]{5}$/);
    });
  });

  describe('update and patch', () => {
    it('refuses a stale resourceVersion with 409 Conflict and bumps generation on spec changes only', async () => {
      await start();
      const created = (await call('POST', SERVICES, svc('echo'))).body;
      const relabelled = await call('PUT', `${SERVICES}/echo`, { ...created, metadata: { ...created.metadata, labels: { a: '1' } } });
      assert.equal(relabelled.status, 200);
      assert.equal(relabelled.body.metadata.generation, 1);
      assert.ok(Number(relabelled.body.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
      const stale = await call('PUT', `${SERVICES}/echo`, { ...created, spec: { ports: [{ port: 81 }] } });
      assert.equal(stale.status, 409);
      assert.equal(stale.body.reason, 'Conflict');
      assert.equal(stale.body.message, 'Operation cannot be fulfilled on services "echo": the object has been modified; please apply your changes to the latest version and try again');
      const respecced = await call('PUT', `${SERVICES}/echo`, { ...relabelled.body, spec: { ports: [{ port: 81 }] } });
      assert.equal(respecced.body.metadata.generation, 2);
      const noop = await call('PUT', `${SERVICES}/echo`, respecced.body);
      assert.equal(noop.body.metadata.resourceVersion, respecced.body.metadata.resourceVersion, 'a no-op write keeps the version');
      assert.equal((await call('PUT', `${SERVICES}/echo`, { ...svc('other') })).status, 400, 'name must match the URL');
      assert.equal((await call('PUT', `${SERVICES}/missing`, svc('missing'))).status, 404);
    });

    it('keeps status on the main resource and spec on /status', async () => {
      await start();
      const created = (await call('POST', SERVICES, svc('echo'))).body;
      const status = await call('PUT', `${SERVICES}/echo/status`, { ...created, spec: { ports: [] }, status: { conditions: [{ type: 'X' }] } });
      assert.equal(status.status, 200);
      assert.deepEqual(status.body.spec, created.spec, 'spec ignored on /status');
      assert.deepEqual(status.body.status, { conditions: [{ type: 'X' }] });
      assert.equal(status.body.metadata.generation, 1);
      const main = await call('PUT', `${SERVICES}/echo`, { ...status.body, status: { conditions: [] } });
      assert.deepEqual(main.body.status, { conditions: [{ type: 'X' }] }, 'status ignored on the main resource');
      const patched = await call('PATCH', `${SERVICES}/echo/status`, { status: { conditions: [{ type: 'Y' }] }, spec: { ports: [] } }, 'application/merge-patch+json');
      assert.deepEqual(patched.body.status, { conditions: [{ type: 'Y' }] });
      assert.deepEqual(patched.body.spec, created.spec);
      assert.equal((await call('PUT', '/api/v1/namespaces/demo/serviceaccounts/x/status', {})).status, 404, 'no status subresource');
    });

    it('merge-patches with a resourceVersion precondition, JSON-patches, and refuses strategic merge on custom kinds', async () => {
      await start();
      const created = (await call('POST', SERVICES, svc('echo', { a: '1', b: '2' }))).body;
      const merged = await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { a: null, c: '3' } } }, 'application/merge-patch+json');
      assert.deepEqual(merged.body.metadata.labels, { b: '2', c: '3' });
      const stale = await call('PATCH', `${SERVICES}/echo`, { metadata: { resourceVersion: created.metadata.resourceVersion, labels: { d: '4' } } }, 'application/merge-patch+json');
      assert.equal(stale.status, 409);
      const json = await call('PATCH', `${SERVICES}/echo`, [{ op: 'replace', path: '/spec/ports/0/port', value: 90 }], 'application/json-patch+json');
      assert.equal(json.body.spec.ports[0].port, 90);
      assert.equal(json.body.metadata.generation, 2);
      assert.equal((await call('PATCH', `${SERVICES}/echo`, [{ op: 'test', path: '/spec/ports/0/port', value: 1 }], 'application/json-patch+json')).status, 422);
      assert.equal((await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { e: '5' } } }, 'application/strategic-merge-patch+json')).status, 200);
      await call('POST', GATEWAYS, gateway('wp'));
      assert.equal((await call('PATCH', `${GATEWAYS}/wp`, { metadata: { labels: { e: '5' } } }, 'application/strategic-merge-patch+json')).status, 415);
      assert.equal((await call('PATCH', `${SERVICES}/missing`, { metadata: {} }, 'application/merge-patch+json')).status, 404);
    });

    it('requires a resourceVersion to update a custom resource', async () => {
      await start();
      const created = (await call('POST', GATEWAYS, gateway('wp'))).body;
      const { resourceVersion: _rv, ...metadata } = created.metadata;
      const refused = await call('PUT', `${GATEWAYS}/wp`, { ...created, metadata });
      assert.equal(refused.status, 422);
      assert.equal(refused.body.details.causes[0].field, 'metadata.resourceVersion');
      assert.equal((await call('PUT', `${GATEWAYS}/wp`, { ...created, spec: { ...created.spec, gatewayClassName: 'x' } })).body.metadata.generation, 2);
    });

    it('treats server-side apply as a merge of the applied configuration (documented simplification)', async () => {
      await start();
      const apply = (body: Body, manager?: string): Promise<Reply> =>
        call('PATCH', `${SERVICES}/applied${manager === undefined ? '' : `?fieldManager=${manager}`}`, body, 'application/apply-patch+yaml');
      assert.equal((await apply(svc('applied'))).status, 422, 'fieldManager is required');
      const created = await apply(svc('applied', { a: '1' }), 'ambit');
      assert.equal(created.status, 201);
      const updated = await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'applied', labels: { b: '2' } } }, 'ambit');
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.body.metadata.labels, { a: '1', b: '2' });
    });
  });

  describe('delete', () => {
    it('answers 404, honours preconditions, and waits for finalizers', async () => {
      await start();
      assert.equal((await call('DELETE', `${SERVICES}/missing`)).status, 404);
      const created = (await call('POST', SERVICES, svc('echo'))).body;
      await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { a: '1' } } }, 'application/merge-patch+json');
      const refused = await call('DELETE', `${SERVICES}/echo`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: created.metadata.resourceVersion } });
      assert.equal(refused.status, 409);
      assert.match(String(refused.body.message), /Precondition failed: ResourceVersion in precondition/);
      assert.equal((await call('DELETE', `${SERVICES}/echo`, { preconditions: { uid: 'nope' } })).status, 409);
      assert.equal((await call('DELETE', `${SERVICES}/echo`)).status, 200);
      assert.equal((await call('GET', `${SERVICES}/echo`)).status, 404);

      await call('POST', SERVICES, { ...svc('held'), metadata: { name: 'held', finalizers: ['ambit.dev/cleanup'] } });
      const marked = await call('DELETE', `${SERVICES}/held`);
      assert.ok(marked.body.metadata.deletionTimestamp !== undefined);
      assert.equal((await call('GET', `${SERVICES}/held`)).status, 200, 'held by its finalizer');
      await call('PATCH', `${SERVICES}/held`, { metadata: { finalizers: null } }, 'application/merge-patch+json');
      assert.equal((await call('GET', `${SERVICES}/held`)).status, 404, 'gone once the last finalizer is removed');
    });
  });

  describe('list', () => {
    it('lists one namespace or all, by label and field selector, with the list resourceVersion', async () => {
      await start();
      await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
      await call('POST', SERVICES, svc('a', { app: 'a', tier: 'front' }));
      await call('POST', SERVICES, svc('b', { app: 'b' }));
      await call('POST', '/api/v1/namespaces/other/services', svc('c', { app: 'c', tier: 'back' }));
      const names = async (path: string): Promise<string[]> => ((await call('GET', path)).body.items as Body[]).map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
      const all = await call('GET', '/api/v1/services');
      assert.equal(all.body.kind, 'ServiceList');
      assert.equal(all.body.metadata.resourceVersion, server!.resourceVersion);
      assert.equal((all.body.items as Body[])[0]!.kind, undefined, 'built-in list items carry no kind');
      assert.deepEqual(await names('/api/v1/services'), ['demo/a', 'demo/b', 'other/c']);
      assert.deepEqual(await names(SERVICES), ['demo/a', 'demo/b']);
      assert.deepEqual(await names('/api/v1/services?labelSelector=tier'), ['demo/a', 'other/c']);
      assert.deepEqual(await names(`/api/v1/services?labelSelector=${encodeURIComponent('app in (a,b),!tier')}`), ['demo/b']);
      assert.deepEqual(await names(`/api/v1/services?labelSelector=${encodeURIComponent('tier!=front')}`), ['demo/b', 'other/c']);
      assert.deepEqual(await names('/api/v1/services?fieldSelector=metadata.name%3Dc'), ['other/c']);
      assert.deepEqual(await names('/api/v1/services?fieldSelector=metadata.namespace!%3Ddemo'), ['other/c']);
      assert.equal((await call('GET', `/api/v1/services?labelSelector=${encodeURIComponent('app in (a')}`)).status, 400);
      assert.equal((await call('GET', '/api/v1/services?fieldSelector=spec.type%3DX')).status, 400);
      await call('POST', GATEWAYS, gateway('wp'));
      assert.equal(((await call('GET', GATEWAYS)).body.items as Body[])[0]!.kind, 'Gateway', 'custom resource items keep their kind');
    });
  });

  describe('watch', () => {
    it('streams ADDED, MODIFIED and DELETED after a version, then live, with a global resourceVersion', async () => {
      const s = await start();
      await call('POST', SERVICES, svc('before'));
      const from = s.resourceVersion;
      await call('POST', SERVICES, svc('echo'));
      await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'unrelated' } });
      const stream = await watch(`${SERVICES}?watch=true&resourceVersion=${from}`);
      await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { a: '1' } } }, 'application/merge-patch+json');
      await call('DELETE', `${SERVICES}/echo`);
      const events = await stream.next(3);
      assert.deepEqual(stream.summary(), ['ADDED echo', 'MODIFIED echo', 'DELETED echo']);
      const versions = events.map((e) => Number(e.object.metadata.resourceVersion));
      assert.ok(versions[0]! < versions[1]! && versions[1]! < versions[2]!, 'increasing, and DELETED carries the deletion version');
      assert.equal(versions[2], Number(s.resourceVersion));
      assert.equal(events[0]!.object.kind, 'Service', 'watch objects carry their kind');
    });

    it('starts with the current state when no version is given', async () => {
      await start();
      await call('POST', SERVICES, svc('a'));
      await call('POST', SERVICES, svc('b'));
      const stream = await watch(`${SERVICES}?watch=1`);
      await stream.next(2);
      assert.deepEqual(stream.summary(), ['ADDED a', 'ADDED b']);
    });

    it('turns selector transitions into ADDED and DELETED', async () => {
      const s = await start();
      const stream = await watch(`/api/v1/services?watch=true&labelSelector=mesh%3Don&resourceVersion=${s.resourceVersion}`);
      await call('POST', SERVICES, svc('echo', { mesh: 'off' }));
      await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { mesh: 'on' } } }, 'application/merge-patch+json');
      await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { v: '2' } } }, 'application/merge-patch+json');
      await call('PATCH', `${SERVICES}/echo`, { metadata: { labels: { mesh: 'off' } } }, 'application/merge-patch+json');
      await stream.next(3);
      assert.deepEqual(stream.summary(), ['ADDED echo', 'MODIFIED echo', 'DELETED echo']);
    });

    it('sends ERROR 410 Expired for a version older than the history, or after compact()', async () => {
      const s = await start({ historySize: 3 });
      const old = s.resourceVersion;
      for (const name of ['a', 'b', 'c', 'd']) await call('POST', SERVICES, svc(name));
      const expired = await watch(`${SERVICES}?watch=true&resourceVersion=${old}`);
      const [error] = await expired.next(1);
      assert.equal(error!.type, 'ERROR');
      assert.deepEqual({ ...error!.object, message: undefined }, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: undefined, reason: 'Expired', code: 410,
      });
      assert.match(String(error!.object.message), /^too old resource version: \d+ \(\d+\)$/);
      await until(() => expired.ended, 2_000, () => 'the stream ends after the error');
      const recent = await watch(`${SERVICES}?watch=true&resourceVersion=${Number(s.resourceVersion) - 1}`);
      await recent.next(1);
      assert.deepEqual(recent.summary(), ['ADDED d'], 'inside the window still works');

      const current = s.resourceVersion;
      await call('POST', SERVICES, svc('e'));
      s.compact();
      const compacted = await watch(`${SERVICES}?watch=true&resourceVersion=${current}`);
      assert.equal((await compacted.next(1))[0]!.type, 'ERROR');
      const fromNow = await watch(`${SERVICES}?watch=true&resourceVersion=${s.resourceVersion}`);
      await call('POST', SERVICES, svc('f'));
      await fromNow.next(1);
      assert.deepEqual(fromNow.summary(), ['ADDED f']);
      assert.equal((await call('GET', `${SERVICES}?watch=true&resourceVersion=abc`)).status, 400);
    });

    it('sends bookmarks when allowed, ends at timeoutSeconds, and expires or closes open watches on demand', async () => {
      const s = await start({ bookmarkIntervalMs: 20 });
      const bookmarked = await watch(`${SERVICES}?watch=true&resourceVersion=${s.resourceVersion}&allowWatchBookmarks=true`);
      await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'moves-the-version' } });
      await until(() => bookmarked.events.some((e) => e.type === 'BOOKMARK' && e.object.metadata.resourceVersion === s.resourceVersion), 2_000, () => 'bookmark');
      const bookmark = bookmarked.events.find((e) => e.type === 'BOOKMARK')!;
      assert.deepEqual(Object.keys(bookmark.object).sort(), ['apiVersion', 'kind', 'metadata']);
      assert.equal(bookmark.object.kind, 'Service');

      const timed = await watch(`${SERVICES}?watch=true&timeoutSeconds=1`);
      await until(() => timed.ended, 3_000, () => 'ended at its timeout');

      const plain = await watch(`${SERVICES}?watch=true&resourceVersion=${s.resourceVersion}`);
      await until(() => s.openWatches === 2, 2_000, () => 'two open watches');
      s.expireWatches();
      assert.equal((await plain.next(1))[0]!.type, 'ERROR');
      await until(() => plain.ended && bookmarked.ended, 2_000, () => 'both ended');
      const again = await watch(`${SERVICES}?watch=true`);
      await until(() => s.openWatches === 1, 2_000, () => 'open');
      s.closeWatches();
      await until(() => again.ended, 2_000, () => 'closed cleanly');
      assert.equal(again.events.length, 0);
    });
  });

  describe('authentication', () => {
    it('answers TokenReviews from its table', async () => {
      await start({ tokens: { good: { username: 'system:serviceaccount:demo:echo', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/node-name': ['node-a'] }, audiences: ['ambit'] } } });
      const review = (token: string, audiences?: string[]): Promise<Reply> => call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences === undefined ? {} : { audiences }) },
      });
      const ok = await review('good', ['ambit']);
      assert.equal(ok.status, 201);
      assert.equal(ok.body.status.authenticated, true);
      assert.equal(ok.body.status.user.username, 'system:serviceaccount:demo:echo');
      assert.deepEqual(ok.body.status.user.extra, { 'authentication.kubernetes.io/node-name': ['node-a'] });
      assert.deepEqual(ok.body.status.audiences, ['ambit']);
      assert.equal((await review('good', ['someone-else'])).body.status.authenticated, false);
      const bad = await review('bad');
      assert.equal(bad.body.status.authenticated, false);
      assert.equal(typeof bad.body.status.error, 'string');
      server!.setToken('late', { username: 'late' });
      assert.equal((await review('late')).body.status.authenticated, true);
    });

    it('requires the bearer token when configured', async () => {
      server = await FakeApiServer.start({ bearerToken: 't0ken' });
      const refused = await call('GET', '/api/v1/namespaces');
      assert.equal(refused.status, 401);
      assert.equal(refused.body.reason, 'Unauthorized');
      assert.equal((await call('GET', '/api/v1/namespaces', undefined, undefined, { authorization: 'Bearer t0ken' })).status, 200);
    });
  });
});

async function until(done: () => boolean, ms: number, describeFailure: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${describeFailure()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
