// `ambit check` names an expired workload certificate (root only). The
// control plane issues one-minute certificates; node-2's ztunnel is then cut
// off from the CA (an nftables drop of port 15012 in its node namespace), so
// its renewals fail until the echo pod's certificate runs out.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@ambit/cli';
import { LocalCluster, LocalMesh } from '@ambit/localcluster';
import { eventually, netnsSkipReason, tearDownChecked } from '../support/netns.js';

const skip = netnsSkipReason('netns/cli-cert-expiry');

interface CertificateRow { kind: string; identity: string; state: string; notAfter?: string }

describe('ambit check: a certificate expired through a short TTL', { skip }, () => {
  let stateDir: string | undefined;
  let cluster: LocalCluster | undefined;
  let mesh: LocalMesh | undefined;

  async function ambit(...argv: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    const code = await run(['--state-dir', stateDir!, ...argv], { out: (t) => { out += t; }, err: (t) => { out += t; } });
    return { code, out };
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-expiry-'));
    cluster = await LocalCluster.create({ stateDir, nodes: 2 });
    mesh = new LocalMesh(cluster, { kubelet: 'in-process', controlPlaneSettings: { 'cert-ttl': '1m' } });
    await mesh.start();
    await cluster.addNamespace('demo', { 'ambit.dev/dataplane-mode': 'ambient' });
    await cluster.addPod({ namespace: 'demo', name: 'client', node: 'node-1', serviceAccount: 'client' });
    await cluster.addPod({ namespace: 'demo', name: 'echo', node: 'node-2', serviceAccount: 'echo', labels: { app: 'echo' }, ports: [8080] });
  });

  after(async () => {
    await tearDownChecked(stateDir, cluster, mesh);
  });

  it('✔ while certificates renew, ‼ while renewal fails, × once one has expired', async () => {
    const echo = `spiffe://cluster.local/ns/demo/sa/echo`;
    const issued = await eventually(async () => {
      const rows = await mesh!.adminJson<CertificateRow[]>('node-2', '/certificates');
      return rows.find((c) => c.kind === 'workload' && c.identity === echo && c.state === 'available');
    }, 'the echo certificate on node-2', 20_000);
    const ttlMs = Date.parse(issued.notAfter!) - Date.now();
    assert.ok(ttlMs > 0 && ttlMs <= 61_000, `a one-minute certificate (${ttlMs} ms left)`);
    const healthy = await eventually(async () => {
      const result = await ambit('check');
      return result.code === 0 ? result : undefined;
    }, 'a healthy check', 30_000);
    assert.match(healthy.out, /✔ every enrolled pod on node-2 has a valid certificate/);

    // Cut node-2 off from the CA: renewals fail from now on.
    const netns = cluster!.nodeNetns('node-2');
    const nft = spawnSync('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], {
      input: 'table inet ambit-test-fault {\n  chain out {\n    type filter hook output priority -300;\n    tcp dport 15012 drop\n  }\n}\n', encoding: 'utf8',
    });
    assert.equal(nft.status, 0, nft.stderr);

    // First a warning while the certificate still holds, then a failure once it has run out.
    const renewing = await eventually(async () => {
      const result = await ambit('check');
      return /‼ certificates on node-2 renew\n\s+renewal failing for demo\/echo's certificate \(expires in \d+ s\)/.test(result.out) ? result : undefined;
    }, 'the failing renewal named', 60_000);
    assert.match(renewing.out, /✔ every enrolled pod on node-2 has a valid certificate/);
    const expired = await eventually(async () => {
      const result = await ambit('check');
      return /× every enrolled pod on node-2 has a valid certificate/.test(result.out) ? result : undefined;
    }, 'the expired certificate named', 120_000);
    assert.equal(expired.code, 1);
    assert.match(expired.out, /demo\/echo's certificate is expired \(not after \d{4}-\d\d-\d\dT/);
    assert.match(expired.out, /check the control plane \(its CA\) and this ztunnel's log/);
    // node-1 still reaches the CA: its pod stays valid.
    assert.match(expired.out, /✔ every enrolled pod on node-1 has a valid certificate/);
  });
});
