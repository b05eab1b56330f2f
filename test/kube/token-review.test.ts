// Bootstrap on Kubernetes: projected service-account tokens verified with
// TokenReview against the fake API server — which service account stands
// for what, the audience check, refusals, an API server that is down or
// forbids reviews, the answer cache — then the CA end to end with it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { ManualClock, SpiffeId, createLogger, type Logger } from '@ambit/core';
import { rejectsWith } from '@ambit/core/testing';
import { CaService, CA_PATH, ControlPlaneEndpoint, type Pod } from '@ambit/control-plane';
import { TokenReviewAuthenticator, NODE_NAME_EXTRA, type TokenReviewOptions } from '@ambit/control-plane/kubernetes';
import { CaClient } from '@ambit/cp-client';
import { CertificateManager, buildCsr, identityOf, nodeOf, type WorkloadCertificate } from '@ambit/identity';
import type { SocketAddress } from '@ambit/api';
import { FakeApiServer, type TokenReviewAnswer } from '../support/fake-apiserver.js';
import { answerTokenReview } from '../support/fake-apiserver-discovery.js';
import { closedPort } from '../support/net.js';
import { testKeys, testMesh, type TestMesh } from '../support/pki.js';

const REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ZTUNNEL = 'spiffe://cluster.local/ns/ambit-system/sa/ztunnel';

// Opaque strings standing for projected JWTs; only the fake's table gives them meaning.
const TOKENS = {
  ztunnelA: 'eyJ.ztunnel-node-a.sig',
  ztunnelB: 'eyJ.ztunnel-node-b.sig',
  ztunnelUnbound: 'eyJ.ztunnel-no-node.sig',
  waypoint: 'eyJ.waypoint-demo.sig',
  waypointPod: 'eyJ.waypoint-shop-pod-bound.sig',
  gatewayNamedZtunnel: 'eyJ.ztunnel-in-demo.sig',
  apiAudience: 'eyJ.waypoint-for-the-api-server.sig',
  person: 'eyJ.alice.sig',
} as const;

const serviceAccount = (namespace: string, name: string, extra: Record<string, string[]> = {}, audiences = ['ambit']): TokenReviewAnswer => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  uid: `${namespace}-${name}-uid`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  extra: { 'authentication.kubernetes.io/pod-name': [`${name}-pod`], ...extra },
  audiences,
});

const ANSWERS: Record<string, TokenReviewAnswer> = {
  [TOKENS.ztunnelA]: serviceAccount('ambit-system', 'ztunnel', { [NODE_NAME_EXTRA]: ['node-a'] }),
  [TOKENS.ztunnelB]: serviceAccount('ambit-system', 'ztunnel', { [NODE_NAME_EXTRA]: ['node-b'] }),
  [TOKENS.ztunnelUnbound]: serviceAccount('ambit-system', 'ztunnel'),
  [TOKENS.waypoint]: serviceAccount('demo', 'waypoint'),
  // What a waypoint pod's projected token says on Kubernetes >= 1.30: bound to its pod, which names its node too.
  [TOKENS.waypointPod]: serviceAccount('shop', 'waypoint', { 'authentication.kubernetes.io/pod-uid': ['4b1f-uid'], [NODE_NAME_EXTRA]: ['node-a'] }),
  // A Gateway named ztunnel outside ambit-system: an ordinary waypoint.
  [TOKENS.gatewayNamedZtunnel]: serviceAccount('demo', 'ztunnel', { [NODE_NAME_EXTRA]: ['node-a'] }),
  [TOKENS.apiAudience]: serviceAccount('demo', 'waypoint', {}, ['https://kubernetes.default.svc']),
  [TOKENS.person]: { username: 'alice', groups: ['system:authenticated'], audiences: ['ambit'] },
};

/** A logger whose lines the test can read. */
function memoryLogger(): { logger: Logger; lines: () => { level: string; msg: string }[] } {
  const raw: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { raw.push(line); } } });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as { level: string; msg: string }) };
}

describe('TokenReview bootstrap authenticator', () => {
  let server: FakeApiServer;

  before(async () => {
    server = await FakeApiServer.start({ tokens: ANSWERS });
  });

  after(() => server.close());

  const reviews = (): number => server.requests.filter((r) => r.method === 'POST' && r.path === REVIEWS).length;
  const authenticator = (options: TokenReviewOptions = {}): TokenReviewAuthenticator =>
    TokenReviewAuthenticator.fromServer(server.url, { requestTimeoutMs: 2_000, ...options });

  it('maps a ztunnel token with a node-name claim to its node', async () => {
    assert.deepEqual(await authenticator().authenticate(TOKENS.ztunnelA), { kind: 'node', node: 'node-a', via: 'bootstrap' });
  });

  it('maps any other service account to its own SPIFFE identity (a waypoint)', async () => {
    const principal = await authenticator({ trustDomain: 'example.org' }).authenticate(TOKENS.waypoint);
    assert.equal(principal?.kind, 'workload');
    assert.equal(principal.identity.uri, 'spiffe://example.org/ns/demo/sa/waypoint');
    assert.equal(principal.via, 'bootstrap');
  });

  it('maps a waypoint pod\'s bound token to its own identity, never to the node its node-name claim names', async () => {
    const principal = await authenticator().authenticate(TOKENS.waypointPod);
    assert.equal(principal?.kind, 'workload');
    assert.equal(principal.identity.uri, 'spiffe://cluster.local/ns/shop/sa/waypoint');
    const namedZtunnel = await authenticator().authenticate(TOKENS.gatewayNamedZtunnel);
    assert.equal(namedZtunnel?.kind, 'workload', 'only ambit-system/ztunnel stands for a node');
    assert.equal(namedZtunnel.identity.uri, 'spiffe://cluster.local/ns/demo/sa/ztunnel');
  });

  it('honours a custom ztunnel service account: the default one is then an ordinary workload', async () => {
    const principal = await authenticator({ ztunnelServiceAccount: { namespace: 'mesh', name: 'node-proxy' } }).authenticate(TOKENS.ztunnelA);
    assert.equal(principal?.kind, 'workload');
    assert.equal(principal.identity.uri, ZTUNNEL);
  });

  it('sends the token with the configured audience', async () => {
    const bodies: unknown[] = [];
    const spy = await FakeApiServer.start({ tokens: { custom: serviceAccount('demo', 'waypoint', {}, ['mesh.example']) } });
    try {
      spy.route('POST', REVIEWS, (request) => {
        bodies.push(request.body);
        return answerTokenReview(request.body, new Map(Object.entries({ custom: serviceAccount('demo', 'waypoint', {}, ['mesh.example']) })));
      });
      const review = TokenReviewAuthenticator.fromServer(spy.url, { audience: 'mesh.example' });
      assert.equal((await review.authenticate('custom'))?.kind, 'workload');
      assert.deepEqual(bodies, [{
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'custom', audiences: ['mesh.example'] },
      }]);
    } finally {
      await spy.close();
    }
  });

  it('refuses a token the API server does not authenticate', async () => {
    assert.equal(await authenticator().authenticate('eyJ.forged.sig'), undefined);
  });

  it('refuses a token issued for another audience', async () => {
    assert.equal(await authenticator().authenticate(TOKENS.apiAudience), undefined);
    // The same token is good for an authenticator that asks for that audience.
    const principal = await authenticator({ audience: 'https://kubernetes.default.svc' }).authenticate(TOKENS.apiAudience);
    assert.equal(principal?.kind, 'workload');
  });

  it('refuses an authenticated answer that does not confirm the audience (an audience-unaware server)', async () => {
    const unaware = await FakeApiServer.start();
    try {
      unaware.route('POST', REVIEWS, () => ({
        status: 201,
        body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', status: { authenticated: true, user: { username: 'system:serviceaccount:demo:waypoint' } } },
      }));
      const { logger, lines } = memoryLogger();
      assert.equal(await TokenReviewAuthenticator.fromServer(unaware.url, { logger }).authenticate(TOKENS.waypoint), undefined);
      assert.ok(lines().some((l) => l.level === 'warn' && /did not confirm audience "ambit"/.test(l.msg)), JSON.stringify(lines()));
    } finally {
      await unaware.close();
    }
  });

  it('refuses a ztunnel token without a node-name claim and says the cluster must issue node-bound tokens', async () => {
    const { logger, lines } = memoryLogger();
    assert.equal(await authenticator({ logger }).authenticate(TOKENS.ztunnelUnbound), undefined);
    const warning = lines().find((l) => l.level === 'warn');
    assert.match(warning?.msg ?? '', /authentication\.kubernetes\.io\/node-name/);
    assert.match(warning?.msg ?? '', /must issue node-bound tokens/);
  });

  it('refuses a token that is not a service account\'s', async () => {
    assert.equal(await authenticator().authenticate(TOKENS.person), undefined);
  });

  it('reports an unreachable API server as unavailable, and does not cache it', async () => {
    const port = await closedPort();
    const review = TokenReviewAuthenticator.fromServer(`http://127.0.0.1:${port.port}`, { requestTimeoutMs: 2_000 });
    const error = await rejectsWith(review.authenticate(TOKENS.ztunnelA), 'unavailable', /unreachable/);
    assert.equal(error.details.code, 'ECONNREFUSED');
    await rejectsWith(review.authenticate(TOKENS.ztunnelA), 'unavailable');
  });

  it('reports a refused or failing review as unavailable, not as a bad token, and retries it', async () => {
    const flaky = await FakeApiServer.start({ tokens: ANSWERS });
    try {
      const real = new Map(Object.entries(ANSWERS));
      let answer: 'forbidden' | 'error' | 'ok' = 'forbidden';
      flaky.route('POST', REVIEWS, (request) => {
        if (answer === 'forbidden') {
          return { status: 403, body: {
            kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403,
            message: 'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:ambit-system:control-plane" cannot create resource "tokenreviews"',
          } };
        }
        if (answer === 'error') return { status: 500, body: { kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500, message: 'etcd is gone' } };
        return answerTokenReview(request.body, real);
      });
      const review = TokenReviewAuthenticator.fromServer(flaky.url);
      const forbidden = await rejectsWith(review.authenticate(TOKENS.ztunnelA), 'unavailable', /cannot verify bootstrap tokens: create TokenReview: .*forbidden/);
      assert.match(forbidden.hint ?? '', /system:auth-delegator/);
      assert.equal(forbidden.details.apiCode, 'denied');
      answer = 'error';
      await rejectsWith(review.authenticate(TOKENS.ztunnelA), 'unavailable', /etcd is gone/);
      answer = 'ok';
      assert.equal((await review.authenticate(TOKENS.ztunnelA))?.kind, 'node');
    } finally {
      await flaky.close();
    }
  });

  describe('cache', () => {
    it('answers a token again without asking the API server, positive and negative', async () => {
      const review = authenticator();
      const start = reviews();
      const first = await review.authenticate(TOKENS.ztunnelB);
      assert.equal(reviews(), start + 1);
      assert.deepEqual(await review.authenticate(TOKENS.ztunnelB), first);
      assert.equal(await review.authenticate('eyJ.unknown.sig'), undefined);
      assert.equal(await review.authenticate('eyJ.unknown.sig'), undefined);
      assert.equal(reviews(), start + 2);
    });

    it('asks again once the TTL has passed', async () => {
      const clock = new ManualClock();
      const review = authenticator({ clock, cacheTtlMs: 60_000 });
      const start = reviews();
      await review.authenticate(TOKENS.waypoint);
      await clock.advance(59_999);
      await review.authenticate(TOKENS.waypoint);
      assert.equal(reviews(), start + 1);
      await clock.advance(1);
      await review.authenticate(TOKENS.waypoint);
      assert.equal(reviews(), start + 2);
    });

    it('keeps at most cacheSize answers, dropping the oldest', async () => {
      const review = authenticator({ cacheSize: 2 });
      const start = reviews();
      await review.authenticate(TOKENS.ztunnelA);
      await review.authenticate(TOKENS.ztunnelB);
      await review.authenticate(TOKENS.waypoint);
      assert.equal(reviews(), start + 3);
      await review.authenticate(TOKENS.waypoint);
      await review.authenticate(TOKENS.ztunnelB);
      assert.equal(reviews(), start + 3, 'the two newest are still cached');
      await review.authenticate(TOKENS.ztunnelA);
      assert.equal(reviews(), start + 4, 'the oldest was dropped');
    });

    it('shares one review among concurrent requests with the same token', async () => {
      const review = authenticator();
      const start = reviews();
      const principals = await Promise.all([1, 2, 3].map(() => review.authenticate(TOKENS.ztunnelA)));
      assert.equal(reviews(), start + 1);
      assert.ok(principals.every((p) => p?.kind === 'node' && p.node === 'node-a'));
    });

    it('does not cache with cacheTtlMs 0', async () => {
      const review = authenticator({ cacheTtlMs: 0 });
      const start = reviews();
      await review.authenticate(TOKENS.ztunnelA);
      await review.authenticate(TOKENS.ztunnelA);
      assert.equal(reviews(), start + 2);
    });
  });

  it('validates its options eagerly', () => {
    assert.throws(() => authenticator({ audience: '' }), /audience must not be empty/);
    assert.throws(() => authenticator({ cacheTtlMs: -1 }), /cacheTtlMs must be a number ≥ 0/);
    assert.throws(() => authenticator({ cacheSize: 0 }), /cacheSize must be a number ≥ 1/);
    assert.throws(() => authenticator({ trustDomain: 'Not A Domain' }), /trust domain/);
  });
});

describe('CA service with TokenReview bootstrap', () => {
  const pods: Pod[] = [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'echo-1', namespace: 'demo' }, spec: { nodeName: 'node-a', serviceAccountName: 'echo' }, status: { phase: 'Running' } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client-1', namespace: 'demo' }, spec: { nodeName: 'node-b', serviceAccountName: 'client' }, status: { phase: 'Running' } },
  ];
  let mesh: TestMesh;
  let apiServer: FakeApiServer;
  const endpoints: ControlPlaneEndpoint[] = [];

  before(async () => {
    mesh = await testMesh();
    apiServer = await FakeApiServer.start({ tokens: ANSWERS });
  });

  after(async () => {
    for (const endpoint of endpoints) await endpoint.close();
    await apiServer.close();
  });

  async function startCa(bootstrap: TokenReviewAuthenticator): Promise<{ ca: CaService; address: SocketAddress }> {
    const endpoint = new ControlPlaneEndpoint({ certificate: await mesh.cert('ambit-system', 'control-plane') });
    endpoints.push(endpoint);
    const ca = new CaService({
      issuer: mesh.ca, bootstrap, ztunnelIdentity: SpiffeId.parse(ZTUNNEL),
      podsOnNode: (node) => pods.filter((p) => p.spec?.nodeName === node),
    });
    endpoint.route(CA_PATH, ca.handle);
    return { ca, address: await endpoint.listen(0) };
  }

  const client = (address: SocketAddress, options: { token?: string; credential?: WorkloadCertificate }): CaClient => new CaClient({
    address, serverIdentity: mesh.id('ambit-system', 'control-plane'), roots: mesh.ca.roots,
    ...(options.credential === undefined ? {} : { credential: () => options.credential }),
    ...(options.token === undefined ? {} : { bootstrapToken: () => options.token! }),
  });

  it('bootstraps a ztunnel\'s node certificate with its projected token, then refuses it a pod identity on another node', async () => {
    const { ca, address } = await startCa(TokenReviewAuthenticator.fromServer(apiServer.url));
    const bootstrap = new CertificateManager({ source: client(address, { token: TOKENS.ztunnelA }).source('node-a'), generateKeys: testKeys });
    let nodeCert: WorkloadCertificate;
    try {
      nodeCert = await bootstrap.fetch(SpiffeId.parse(ZTUNNEL));
    } finally {
      bootstrap.close();
    }
    const leaf = new X509Certificate(nodeCert.chain[0]!);
    assert.equal(identityOf(leaf).uri, ZTUNNEL);
    assert.equal(nodeOf(leaf), 'node-a');

    const keys = await testKeys();
    await rejectsWith(
      client(address, { token: TOKENS.ztunnelA }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-b'),
      'not-entitled', /403.*wrong-node/,
    );

    const manager = new CertificateManager({ source: client(address, { credential: nodeCert }).source(), generateKeys: testKeys });
    try {
      const echo = await manager.fetch(mesh.id('demo', 'echo'));
      assert.equal(identityOf(echo.chain[0]!).uri, 'spiffe://cluster.local/ns/demo/sa/echo');
      await rejectsWith(manager.fetch(mesh.id('demo', 'client')), 'not-entitled', /403.*not-on-node.*client.*node node-a/);
      assert.equal(ca.refusals.get('not-on-node'), 1);
    } finally {
      manager.close();
    }
  });

  it('lets a waypoint bootstrap only its own identity, and refuses unknown or node-less tokens with 401', async () => {
    const { ca, address } = await startCa(TokenReviewAuthenticator.fromServer(apiServer.url));
    const keys = await testKeys();
    const waypoint = mesh.id('demo', 'waypoint');
    const own = await client(address, { token: TOKENS.waypoint }).request(waypoint, buildCsr(keys, waypoint));
    assert.equal(identityOf(own.chain[0]!).uri, waypoint.uri);
    await rejectsWith(client(address, { token: TOKENS.waypoint }).request(mesh.id('demo', 'echo'), buildCsr(keys, mesh.id('demo', 'echo'))), 'not-entitled', /other-identity/);
    for (const token of ['eyJ.forged.sig', TOKENS.ztunnelUnbound, TOKENS.apiAudience]) {
      await rejectsWith(client(address, { token }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-a'), 'not-entitled', /401.*bad-bootstrap-token/);
    }
    assert.equal(ca.refusals.get('bad-bootstrap-token'), 3);
  });

  it('gives a waypoint pod\'s bound token exactly its own identity: not the same name in another namespace, not its node\'s', async () => {
    const { ca, address } = await startCa(TokenReviewAuthenticator.fromServer(apiServer.url));
    const keys = await testKeys();
    const own = mesh.id('shop', 'waypoint');
    const issued = await client(address, { token: TOKENS.waypointPod }).request(own, buildCsr(keys, own));
    assert.equal(identityOf(issued.chain[0]!).uri, 'spiffe://cluster.local/ns/shop/sa/waypoint');
    const elsewhere = mesh.id('demo', 'waypoint');
    await rejectsWith(client(address, { token: TOKENS.waypointPod }).request(elsewhere, buildCsr(keys, elsewhere)), 'not-entitled',
      /403.*other-identity.*ns\/shop\/sa\/waypoint may only obtain its own identity, not spiffe:\/\/cluster\.local\/ns\/demo\/sa\/waypoint/);
    // Its pod runs on node-a, where echo runs: the token still stands for the waypoint alone.
    await rejectsWith(client(address, { token: TOKENS.waypointPod }).request(mesh.id('demo', 'echo'), buildCsr(keys, mesh.id('demo', 'echo'))), 'not-entitled', /other-identity/);
    await rejectsWith(client(address, { token: TOKENS.waypointPod }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-a'),
      'not-entitled', /403.*not-a-node/);
    await rejectsWith(client(address, { token: TOKENS.gatewayNamedZtunnel }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-a'),
      'not-entitled', /403.*not-a-node/);
    assert.equal(ca.refusals.get('other-identity'), 2);
    assert.equal(ca.refusals.get('not-a-node'), 2);
  });

  it('answers 503 with the reason, not 401, while the API server is unreachable', async () => {
    const port = await closedPort();
    const { ca, address } = await startCa(TokenReviewAuthenticator.fromServer(`http://127.0.0.1:${port.port}`, { requestTimeoutMs: 2_000 }));
    const keys = await testKeys();
    const error = await rejectsWith(
      client(address, { token: TOKENS.ztunnelA }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-a'),
      'issuance-failed', /\(503\): unavailable: create TokenReview: the API server at .* is unreachable/,
    );
    assert.equal(error.details.status, 503);
    assert.equal(ca.refusals.size, 0, 'an undecided request is not a refusal');
  });
});
