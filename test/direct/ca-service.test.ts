// The CA service end to end: bootstrap with a per-node token, node-bound
// issuance with the node certificate, waypoints limited to their own
// identity, refusals answered with a reason and counted.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { SpiffeId } from '@ambit/core';
import { rejectsWith } from '@ambit/core/testing';
import {
  CaService, CA_PATH, ControlPlaneEndpoint, loadBootstrapTokens, readBootstrapToken, writeBootstrapToken, type Pod,
} from '@ambit/control-plane';
import { CaClient } from '@ambit/cp-client';
import { CertificateManager, buildCsr, nodeOf, identityOf, type WorkloadCertificate } from '@ambit/identity';
import type { SocketAddress } from '@ambit/api';
import { testKeys, testMesh, type TestMesh } from '../support/pki.js';

const ZTUNNEL = 'spiffe://cluster.local/ns/ambit-system/sa/ztunnel';
const pods: Pod[] = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'echo-1', namespace: 'demo' }, spec: { nodeName: 'node-a', serviceAccountName: 'echo' }, status: { phase: 'Running' } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client-1', namespace: 'demo' }, spec: { nodeName: 'node-b', serviceAccountName: 'client' }, status: { phase: 'Running' } },
];

describe('CA service', () => {
  let mesh: TestMesh;
  let stateDir: string;
  let endpoint: ControlPlaneEndpoint;
  let ca: CaService;
  let address: SocketAddress;
  let tokenFile: string;

  before(async () => {
    mesh = await testMesh();
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-ca-'));
    tokenFile = (await writeBootstrapToken(stateDir, { node: 'node-a' })).file;
    await writeBootstrapToken(stateDir, { identity: SpiffeId.parse('spiffe://cluster.local/ns/demo/sa/waypoint') });
    endpoint = new ControlPlaneEndpoint({ certificate: await mesh.cert('ambit-system', 'control-plane') });
    ca = new CaService({
      issuer: mesh.ca,
      bootstrap: await loadBootstrapTokens(stateDir),
      ztunnelIdentity: SpiffeId.parse(ZTUNNEL),
      podsOnNode: (node) => pods.filter((p) => p.spec?.nodeName === node),
    });
    endpoint.route(CA_PATH, ca.handle);
    address = await endpoint.listen(0);
  });

  after(async () => {
    await endpoint.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const client = (options: { token?: string; credential?: WorkloadCertificate } = {}): CaClient => new CaClient({
    address, serverIdentity: mesh.id('ambit-system', 'control-plane'), roots: mesh.ca.roots,
    ...(options.credential === undefined ? {} : { credential: () => options.credential }),
    ...(options.token === undefined ? {} : { bootstrapToken: () => options.token! }),
  });

  async function nodeCertificate(node: string, token: string): Promise<WorkloadCertificate> {
    const manager = new CertificateManager({ source: client({ token }).source(node), generateKeys: testKeys });
    try {
      return await manager.fetch(SpiffeId.parse(ZTUNNEL));
    } finally {
      manager.close();
    }
  }

  it('writes bootstrap tokens readable only by their owner', async () => {
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
  });

  it('bootstraps a node certificate with the node token', async () => {
    const cert = await nodeCertificate('node-a', await readBootstrapToken(tokenFile));
    const leaf = new X509Certificate(cert.chain[0]!);
    assert.equal(identityOf(leaf).uri, ZTUNNEL);
    assert.equal(nodeOf(leaf), 'node-a');
  });

  it('refuses a wrong bootstrap token and counts it', async () => {
    const before = ca.refusals.get('bad-bootstrap-token') ?? 0;
    const keys = await testKeys();
    await rejectsWith(client({ token: 'f'.repeat(64) }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-a'), 'not-entitled', /401.*bad-bootstrap-token/);
    assert.equal(ca.refusals.get('bad-bootstrap-token'), before + 1);
  });

  it('refuses a node token asking for another node', async () => {
    const keys = await testKeys();
    await rejectsWith(
      client({ token: await readBootstrapToken(tokenFile) }).request(SpiffeId.parse(ZTUNNEL), buildCsr(keys, SpiffeId.parse(ZTUNNEL)), 'node-b'),
      'not-entitled', /403.*wrong-node/,
    );
  });

  it('issues a pod identity to the ztunnel of the pod\'s node, and refuses it for another node\'s pod', async () => {
    const nodeCert = await nodeCertificate('node-a', await readBootstrapToken(tokenFile));
    const manager = new CertificateManager({ source: client({ credential: nodeCert }).source(), generateKeys: testKeys });
    try {
      const echo = await manager.fetch(mesh.id('demo', 'echo'));
      assert.equal(identityOf(echo.chain[0]!).uri, 'spiffe://cluster.local/ns/demo/sa/echo');
      assert.equal(nodeOf(echo.chain[0]!), undefined, 'a workload certificate carries no node');
      const before = ca.refusals.get('not-on-node') ?? 0;
      await rejectsWith(manager.fetch(mesh.id('demo', 'client')), 'not-entitled', /client.*node node-a/);
      assert.equal(ca.refusals.get('not-on-node'), before + 1);
    } finally {
      manager.close();
    }
  });

  it('lets a waypoint obtain only its own identity', async () => {
    const waypoint = await mesh.cert('demo', 'waypoint');
    const source = client({ credential: waypoint }).source();
    const keys = await testKeys();
    const own = await source(mesh.id('demo', 'waypoint'), buildCsr(keys, mesh.id('demo', 'waypoint')));
    assert.equal(identityOf(own.chain[0]!).uri, 'spiffe://cluster.local/ns/demo/sa/waypoint');
    await rejectsWith(source(mesh.id('demo', 'echo'), buildCsr(keys, mesh.id('demo', 'echo'))), 'not-entitled', /other-identity/);
  });

  it('refuses a caller with no credential and a malformed request', async () => {
    const keys = await testKeys();
    await rejectsWith(client().request(mesh.id('demo', 'echo'), buildCsr(keys, mesh.id('demo', 'echo'))), 'issuance-failed', /no credential/);
    const waypoint = await mesh.cert('demo', 'waypoint');
    await rejectsWith(client({ credential: waypoint }).request(mesh.id('demo', 'waypoint'), 'not a csr'), 'issuance-failed', /400/);
  });
});
