// The local cluster on a real kernel (root only): pods on two nodes talk
// over TCP on the same node and across nodes, a Service VIP reaches its
// endpoints by name, the store holds the matching objects, and teardown
// removes every namespace, hosts directory and process — also twice, and
// also after the building process lost its state.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LocalStore, type Pod, type Service } from '@ambit/control-plane';
import { LocalCluster, listClusters, teardownCluster, type ClusterProcess } from '@ambit/localcluster';
import { eventually, localclusterBin, netnsSkipReason } from '../support/netns.js';

const skip = netnsSkipReason('netns/localcluster');

function netnsWithPrefix(id: string): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(`ambit-${id}-`));
}

function alive(pid: number): boolean {
  try {
    const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
    return stat !== '' && !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('local cluster on network namespaces', { skip }, () => {
  let stateDir: string;
  let store: LocalStore;
  let cluster: LocalCluster;
  const processes: ClusterProcess[] = [];
  const client = (...args: string[]): string[] => [process.execPath, localclusterBin('client'), ...args];

  async function tcp(from: `${string}/${string}`, target: string, text: string): Promise<string> {
    const result = await cluster.exec(from, client('tcp', target, '--send', text, '--timeout', '3000'));
    assert.equal(result.code, 0, `client tcp ${target} failed: ${result.stderr}`);
    return result.stdout;
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-lc-'));
    store = await LocalStore.open(join(stateDir, 'store'));
    cluster = await LocalCluster.create({ stateDir, nodes: 2, store });
    await cluster.addNamespace('default', { 'ambit.dev/dataplane-mode': 'ambient' });
    await cluster.addPod({ namespace: 'default', name: 'echo-a', node: 'node-1', labels: { app: 'echo', version: 'v1' }, ports: [{ name: 'http', containerPort: 8080 }, 9000] });
    await cluster.addPod({ namespace: 'default', name: 'echo-b', node: 'node-2', labels: { app: 'echo', version: 'v2' }, ports: [{ name: 'http', containerPort: 8080 }, 9000] });
    await cluster.addPod({ namespace: 'default', name: 'client', node: 'node-1', serviceAccount: 'sleep' });
    for (const pod of ['default/echo-a', 'default/echo-b'] as const) {
      processes.push(await cluster.spawn(pod, [process.execPath, localclusterBin('echo')]));
    }
    for (const pod of ['default/echo-a', 'default/echo-b'] as const) {
      await eventually(async () => (await cluster.exec('default/client', client('tcp', `${cluster.podIp(pod)}:9000`, '--send', 'up', '--timeout', '1000'))).code === 0 || undefined,
        `echo in ${pod} listening`);
    }
  });

  after(async () => {
    if (cluster !== undefined) await cluster.teardown();
    if (store !== undefined) await store.close();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  it('lays out nodes and pods by the address plan', () => {
    assert.match(cluster.id, /^[0-9a-f]{6}$/);
    assert.equal(cluster.clusterAddress, '10.200.0.1');
    assert.deepEqual(cluster.nodes.map((n) => [n.name, n.netns, n.address, n.podCidr]), [
      ['node-1', `ambit-${cluster.id}-node-1`, '10.200.0.11', '10.244.1.0/24'],
      ['node-2', `ambit-${cluster.id}-node-2`, '10.200.0.12', '10.244.2.0/24'],
    ]);
    assert.equal(cluster.podIp('default/echo-a'), '10.244.1.2');
    assert.equal(cluster.podIp('default/echo-b'), '10.244.2.2');
    assert.equal(cluster.podIp('default/client'), '10.244.1.3');
    assert.equal(cluster.podNetns('default/client'), `ambit-${cluster.id}-default-client`);
  });

  it('connects pods on the same node', async () => {
    assert.equal(await tcp('default/client', `${cluster.podIp('default/echo-a')}:9000`, 'same node'), 'same node');
  });

  it('connects pods across nodes, without address translation', async () => {
    assert.equal(await tcp('default/client', `${cluster.podIp('default/echo-b')}:9000`, 'cross node'), 'cross node');
    const result = await cluster.exec('default/client', client('http', `http://${cluster.podIp('default/echo-b')}:8080/hello`));
    assert.equal(result.code, 0, result.stderr);
    const { status, body } = JSON.parse(result.stdout) as { status: number; body: { pod: string; namespace: string; version: string; client: string; path: string } };
    assert.equal(status, 200);
    assert.equal(body.pod, 'echo-b');
    assert.equal(body.namespace, 'default');
    assert.equal(body.version, 'v2');
    assert.equal(body.path, '/hello');
    assert.ok(body.client.startsWith(`${cluster.podIp('default/client')}:`), `client address ${body.client}`);
  });

  it('reaches the cluster namespace (where the control plane listens) from nodes and pods', async () => {
    processes.push(await cluster.spawn('cluster', [process.execPath, localclusterBin('echo'), '--tcp-port', '9900', '--http-port', '9901'], { logName: 'echo' }));
    const target = `${cluster.clusterAddress}:9900`;
    await eventually(async () => (await cluster.exec({ node: 'node-2' }, client('tcp', target, '--send', 'x', '--timeout', '1000'))).code === 0 || undefined,
      'echo in the cluster namespace listening');
    const fromPod = await cluster.exec('default/client', client('tcp', target, '--send', 'from a pod'));
    assert.equal(fromPod.stdout, 'from a pod', fromPod.stderr);
    assert.ok(existsSync(join(stateDir, 'logs', '_cluster', 'echo.log')));
  });

  it('serves a Service VIP by name, spreading connections over ready endpoints', async () => {
    const service = await cluster.addService({ namespace: 'default', name: 'echo', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'tcp', port: 9000 }] });
    assert.equal(service.vip, '10.96.0.10');
    const hosts = await readFile(`/etc/netns/${cluster.podNetns('default/client')}/hosts`, 'utf8');
    assert.match(hosts, /10\.96\.0\.10\techo\.default\.svc\.cluster\.local .* echo\n/);

    const result = await cluster.exec('default/client', client('http', 'http://echo.default.svc.cluster.local/', '--count', '24'));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const answers = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { body: { pod: string } });
    assert.equal(answers.length, 24);
    assert.deepEqual([...new Set(answers.map((a) => a.body.pod))].sort(), ['echo-a', 'echo-b']);

    assert.equal(await tcp('default/client', 'echo:9000', 'short name'), 'short name');
  });

  it('follows endpoint changes: not ready leaves the VIP, ready comes back', async () => {
    await cluster.setPodReady('default/echo-b', false);
    const result = await cluster.exec('default/client', client('http', 'http://echo/', '--count', '8'));
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual([...new Set(result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { body: { pod: string } }).body.pod))], ['echo-a']);
    await cluster.setPodReady('default/echo-b', true);
  });

  it('writes only the status when readiness flips: labels edited on the object stay as edited', async () => {
    const before = await store.get<Pod>('Pod', 'echo-b', 'default');
    assert.equal(before?.metadata.labels?.app, 'echo');
    await store.patch('Pod', 'echo-b', 'default', { metadata: { labels: { app: null, tier: 'edge' } } });
    await cluster.setPodReady('default/echo-b', false);
    const pod = await store.get<Pod>('Pod', 'echo-b', 'default');
    assert.deepEqual([pod?.metadata.labels?.app, pod?.metadata.labels?.tier], [undefined, 'edge']);
    assert.equal(pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    await cluster.setPodReady('default/echo-b', true);
    await store.patch('Pod', 'echo-b', 'default', { metadata: { labels: { app: 'echo', tier: null } } });
  });

  it('a store re-sync (ambit up, a new kubelet) leaves edited objects as edited and writes no deleted one back', async () => {
    await cluster.addPod({ namespace: 'default', name: 'doomed', node: 'node-2' });
    await store.patch('Pod', 'echo-b', 'default', { metadata: { labels: { app: null, tier: 'edge' } } });
    await store.patch('Service', 'echo', 'default', { metadata: { labels: { team: 'a' } }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    await store.delete('Pod', 'doomed', 'default');
    await store.updateStatus('Pod', 'echo-b', 'default', {}); // for the re-sync to write again
    await cluster.syncStore();
    const pod = await store.get<Pod>('Pod', 'echo-b', 'default');
    assert.deepEqual([pod?.metadata.labels?.app, pod?.metadata.labels?.tier], [undefined, 'edge'], 'the pod\'s labels as edited');
    assert.equal(pod?.status?.podIP, cluster.podIp('default/echo-b'), 'its status written again');
    const service = await store.get<Service>('Service', 'echo', 'default');
    assert.deepEqual([service?.metadata.labels, service?.spec?.ports?.map((p) => p.port)], [{ team: 'a' }, [80]], 'the service as edited');
    assert.equal(await store.get('Pod', 'doomed', 'default'), undefined, 'a deleted pod object is not written back (a kubelet removes the pod)');
    // Put back what the other tests expect (the kubelet, which would follow these, does not run here).
    await cluster.removePod('default/doomed');
    await store.patch('Pod', 'echo-b', 'default', { metadata: { labels: { app: 'echo', tier: null } } });
    await store.patch('Service', 'echo', 'default', { metadata: { labels: { team: null } }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'tcp', port: 9000, targetPort: 9000 }] } });
  });

  it('refuses a VIP with no ready endpoint at once', async () => {
    await cluster.addService({ namespace: 'default', name: 'nobody', selector: { app: 'nobody' }, ports: [80] });
    const result = await cluster.exec('default/client', client('tcp', 'nobody:80', '--send', 'x', '--timeout', '3000'));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ECONNREFUSED/);
  });

  it('writes nodes, pods and services into the store', async () => {
    const pod = await store.get<Pod>('Pod', 'client', 'default');
    assert.equal(pod?.spec?.nodeName, 'node-1');
    assert.equal(pod?.spec?.serviceAccountName, 'sleep');
    assert.equal(pod?.status?.podIP, '10.244.1.3');
    assert.equal(pod?.status?.phase, 'Running');
    assert.ok(await store.get('ServiceAccount', 'sleep', 'default'));
    assert.equal((await store.get<Service>('Service', 'echo', 'default'))?.spec?.clusterIP, '10.96.0.10');
    assert.deepEqual((await store.list('Node')).items.map((n) => n.metadata.name), ['node-1', 'node-2']);
    assert.equal((await store.get('Namespace', 'default'))?.metadata.labels?.['ambit.dev/dataplane-mode'], 'ambient');
  });

  it('keeps state and logs in the state directory', async () => {
    const reloaded = await LocalCluster.load(stateDir);
    assert.equal(reloaded.id, cluster.id);
    assert.deepEqual(reloaded.pods.map((p) => p.name).sort(), ['client', 'echo-a', 'echo-b']);
    assert.equal(reloaded.serviceVip('default/echo'), '10.96.0.10');
    assert.deepEqual((await reloaded.processes()).map((p) => p.pid).sort(), processes.map((p) => p.pid).sort());
    assert.deepEqual((await reloaded.processes()).find((p) => p.target.kind === 'cluster')?.netns, `ambit-${cluster.id}-cluster`);
    const log = await readFile(join(stateDir, 'logs', 'default', 'echo-a.log'), 'utf8');
    assert.match(log, /"msg":"listening"/);
  });

  it('removes a pod with its namespace and processes', async () => {
    const echoB = processes[1]!;
    const netns = cluster.podNetns('default/echo-b');
    await cluster.removePod('default/echo-b');
    assert.ok(!netnsWithPrefix(cluster.id).includes(netns));
    assert.ok(!existsSync(`/etc/netns/${netns}`));
    assert.equal(alive(echoB.pid), false);
    assert.equal((await store.get('Pod', 'echo-b', 'default')), undefined);
    assert.equal(await tcp('default/client', 'echo:9000', 'one left'), 'one left');
  });

  it('tears down everything, and a second teardown finds nothing', async () => {
    const id = cluster.id;
    const pids = processes.map((p) => p.pid);
    assert.ok((await listClusters()).some((c) => c.id === id));
    const report = await cluster.teardown();
    assert.deepEqual(report.leftovers, []);
    assert.ok(report.removedNamespaces.length >= 5, `removed ${report.removedNamespaces.join(', ')}`);
    assert.deepEqual(netnsWithPrefix(id), []);
    assert.ok(!existsSync('/etc/netns') || !spawnSync('ls', ['/etc/netns'], { encoding: 'utf8' }).stdout.includes(`ambit-${id}-`));
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} still running`);
    assert.ok(!existsSync(join(stateDir, 'cluster.json')));
    assert.ok(!(await listClusters()).some((c) => c.id === id));

    const again = await teardownCluster(id);
    assert.deepEqual(again, { id, removedNamespaces: [], stoppedPids: [], leftovers: [] });
    await assert.rejects(cluster.addPod({ namespace: 'default', name: 'late', node: 'node-1' }), /torn down/);
  });

  it('tears down by id after the building process lost its state', async () => {
    const crashDir = await mkdtemp(join(tmpdir(), 'ambit-lc-crash-'));
    try {
      const lost = await LocalCluster.create({ stateDir: crashDir, nodes: ['alpha', 'beta'] });
      const id = lost.id;
      await lost.addPod({ namespace: 'demo', name: 'sleeper', node: 'beta' });
      await lost.addService({ namespace: 'demo', name: 'svc', selector: { app: 'x' }, ports: [80] });
      const sleeper = await lost.spawn('demo/sleeper', ['sleep', '300']);
      const nodeProcess = await lost.spawn({ node: 'alpha' }, ['sleep', '301'], { logName: 'sleeper' });
      // The crash: the object and the state file are gone; only the id is known.
      await rm(join(crashDir, 'cluster.json'));
      assert.equal(netnsWithPrefix(id).length, 4);
      const report = await teardownCluster(id);
      assert.deepEqual(report.leftovers, []);
      assert.deepEqual(report.stoppedPids, [sleeper.pid, nodeProcess.pid].sort((a, b) => a - b));
      assert.deepEqual(netnsWithPrefix(id), []);
      assert.equal(alive(sleeper.pid), false);
      assert.equal(alive(nodeProcess.pid), false);
      assert.ok(!spawnSync('ls', ['/etc/netns'], { encoding: 'utf8' }).stdout.includes(`ambit-${id}-`));
    } finally {
      await rm(crashDir, { recursive: true, force: true });
    }
  });
});
