// nftables TPROXY capture on a real kernel (root only), in a local cluster
// node namespace: an NftCapture and transparent listeners run in a helper
// process there (test/support/capture-agent.ts). Proves that an enrolled
// pod's connections land on the outbound listener with the original
// destination as the local address (also through a Service VIP, which the
// kube-proxy leaves alone), that traffic to an enrolled pod lands on the
// inbound listeners (also after DNAT), that with no listener the traffic
// is dropped and never reaches the destination (fail closed), that other
// pods pass untouched, that stop() leaves a guard, and that removeAll()
// leaves nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, type PodRef } from '@ambit/localcluster';
import type { CaptureStatus } from '@ambit/ztunnel';
import { controlRequest, eventually, localclusterBin, netnsSkipReason, supportScript } from '../support/netns.js';

const skip = netnsSkipReason('netns/capture');

interface Answer {
  listener: string;
  local: string;
  remote: string;
}

describe('nftables capture in a node namespace', { skip }, () => {
  let stateDir: string;
  let cluster: LocalCluster;
  let agentSocket: string;
  let recorderSocket: string;
  let app: string;
  let plain: string;
  let server: string;

  const agent = <T = CaptureStatus>(op: string, extra: Record<string, unknown> = {}): Promise<T> => controlRequest<T>(agentSocket, { op, ...extra });
  const seenByServer = (): Promise<Answer[]> => controlRequest<Answer[]>(recorderSocket, { op: 'seen' });

  async function connect(from: PodRef, target: string, timeoutMs = 3000): Promise<{ code: number | null; answer?: Answer; stderr: string }> {
    const result = await cluster.exec(from, [process.execPath, localclusterBin('client'), 'tcp', target, '--send', 'hello', '--timeout', String(timeoutMs)]);
    const line = result.stdout.trim();
    return { code: result.code, stderr: result.stderr, ...(line === '' ? {} : { answer: JSON.parse(line) as Answer }) };
  }

  async function answered(from: PodRef, target: string): Promise<Answer> {
    const result = await connect(from, target);
    assert.equal(result.code, 0, `${JSON.stringify(from)} → ${target}: ${result.stderr}`);
    assert.ok(result.answer !== undefined);
    return result.answer;
  }

  async function dropped(from: PodRef, target: string): Promise<void> {
    const result = await connect(from, target, 1500);
    assert.equal(result.code, 1, `${JSON.stringify(from)} → ${target} should fail: ${JSON.stringify(result.answer)}`);
    // Dropped, not refused: a refusal would mean a packet got through to something.
    assert.match(result.stderr, /no answer within/);
  }

  async function nodeCommand(argv: string[]): Promise<string> {
    const result = await cluster.exec({ node: 'node-1' }, argv);
    return result.stdout + result.stderr;
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-capture-'));
    agentSocket = join(stateDir, 'agent.sock');
    recorderSocket = join(stateDir, 'recorder.sock');
    cluster = await LocalCluster.create({ stateDir, nodes: 2 });
    app = (await cluster.addPod({ namespace: 'default', name: 'app', node: 'node-1', labels: { app: 'app' }, ports: [8080] })).ip;
    plain = (await cluster.addPod({ namespace: 'default', name: 'plain', node: 'node-1' })).ip;
    server = (await cluster.addPod({ namespace: 'default', name: 'server', node: 'node-2', labels: { app: 'server' }, ports: [9100] })).ip;
    await cluster.addService({ namespace: 'default', name: 'server', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 9100 }] });
    await cluster.addService({ namespace: 'default', name: 'app', selector: { app: 'app' }, ports: [{ port: 80, targetPort: 8080 }] });
    await cluster.spawn('default/server', [process.execPath, supportScript('capture-agent'), 'recorder', '--port', '9100', '--control', recorderSocket]);
    await cluster.spawn({ node: 'node-1' }, [process.execPath, supportScript('capture-agent'), 'agent', '--control', agentSocket], { logName: 'capture-agent' });
    await eventually(async () => (await agent('status')).mode === 'nftables' || undefined, 'capture agent up');
    await eventually(async () => Array.isArray(await seenByServer()) || undefined, 'recorder up');
  });

  after(async () => {
    if (cluster !== undefined) {
      const report = await cluster.teardown();
      assert.deepEqual(report.leftovers, []);
    }
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  it('passes traffic through before capture starts', async () => {
    const answer = await answered('default/app', `${server}:9100`);
    assert.deepEqual([answer.listener, answer.local, answer.remote.split(':')[0]], ['recorder', `${server}:9100`, app]);
  });

  it('sends an enrolled pod\'s connections to the outbound listener, original destination as local address', async () => {
    await agent('listen');
    await agent('enroll', { addresses: [app] });
    const status = await agent('start');
    assert.deepEqual(status, { mode: 'nftables', programmed: true, enrolled: [app], table: 'ambit-ztunnel', sourceAddresses: 'off' });
    const before = (await seenByServer()).length;
    const answer = await answered('default/app', `${server}:9100`);
    assert.equal(answer.listener, 'outbound');
    assert.equal(answer.local, `${server}:9100`);
    assert.equal(answer.remote.split(':')[0], app);
    assert.equal((await seenByServer()).length, before, 'the destination saw nothing');
  });

  it('captures a connection to a Service VIP before the kube-proxy DNAT', async () => {
    const answer = await answered('default/app', 'server:80');
    assert.deepEqual([answer.listener, answer.local], ['outbound', `${cluster.serviceVip('default/server')}:80`]);
  });

  it('sends traffic to an enrolled pod to the inbound listeners: HBONE port, other ports, and through a VIP', async () => {
    const plaintext = await answered('default/plain', `${app}:8080`);
    assert.deepEqual([plaintext.listener, plaintext.local, plaintext.remote.split(':')[0]], ['inboundPlaintext', `${app}:8080`, plain]);
    const hbone = await answered('default/plain', `${app}:15008`);
    assert.deepEqual([hbone.listener, hbone.local], ['hbone', `${app}:15008`]);
    const viaVip = await answered('default/plain', 'app:80');
    assert.deepEqual([viaVip.listener, viaVip.local], ['inboundPlaintext', `${app}:8080`]);
  });

  it('leaves pods that are not enrolled alone', async () => {
    const answer = await answered('default/plain', `${server}:9100`);
    assert.deepEqual([answer.listener, answer.remote.split(':')[0]], ['recorder', plain]);
  });

  it('fails closed with no listener: dropped, never reaching the destination', async () => {
    await agent('unlisten');
    const before = (await seenByServer()).length;
    await dropped('default/app', `${server}:9100`);
    await dropped('default/plain', `${app}:8080`);
    assert.equal((await seenByServer()).length, before);
    const answer = await answered('default/plain', `${server}:9100`);
    assert.equal(answer.listener, 'recorder');
  });

  it('changes only set membership when enrollment changes', async () => {
    await agent('listen');
    await agent('enroll', { addresses: [app, plain] });
    assert.match(await nodeCommand(['nft', 'list', 'set', 'inet', 'ambit-ztunnel', 'enrolled4']), new RegExp(`elements = \\{ ${app.replaceAll('.', '\\.')}, ${plain.replaceAll('.', '\\.')} \\}`));
    assert.equal((await answered('default/plain', `${server}:9100`)).listener, 'outbound');
    await agent('enroll', { addresses: [app] });
    assert.equal((await answered('default/plain', `${server}:9100`)).listener, 'recorder');
  });

  it('stop() leaves a guard that keeps enrolled pods fail closed', async () => {
    const status = await agent('stop');
    assert.equal(status.programmed, false);
    const table = await nodeCommand(['nft', 'list', 'table', 'inet', 'ambit-ztunnel']);
    assert.doesNotMatch(table, /tproxy/);
    assert.match(table, /chain forward/);
    const before = (await seenByServer()).length;
    await dropped('default/app', `${server}:9100`);
    assert.equal((await seenByServer()).length, before);
    assert.equal((await answered('default/plain', `${server}:9100`)).listener, 'recorder');
  });

  it('start() after stop() replaces the guard (reconcile)', async () => {
    await agent('start');
    assert.equal((await answered('default/app', `${server}:9100`)).listener, 'outbound');
  });

  it('removeAll() leaves no table and no policy routing', async () => {
    await agent('remove');
    assert.doesNotMatch(await nodeCommand(['nft', 'list', 'tables']), /ambit-ztunnel/);
    assert.doesNotMatch(await nodeCommand(['ip', 'rule', 'show']), /fwmark/);
    assert.equal((await nodeCommand(['ip', 'route', 'show', 'table', '133'])).trim(), '');
    assert.match(await nodeCommand(['nft', 'list', 'tables']), /ambit-kubeproxy/, 'the kube-proxy table is not ours to remove');
    const answer = await answered('default/app', `${server}:9100`);
    assert.deepEqual([answer.listener, answer.remote.split(':')[0]], ['recorder', app]);
  });
});
