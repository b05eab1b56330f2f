// Users' own workloads in the local cluster (root only): Pods and
// Deployments of the sample images, written into the store as `ambit apply`
// writes them, become pods with network namespaces and running processes;
// their objects keep the spec as written and report node, address and
// readiness; an image the local cluster cannot run is reported, not run;
// enrolling the namespace puts the new pods in the mesh; deleting a Pod
// removes its pod; a new kubelet restarts the pods of the one before in place;
// deleting a Namespace removes every pod in it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, KubeObject, Pod, Service } from '@ambit/control-plane';
import { CLIENT_IMAGE, ECHO_IMAGE, LocalCluster, LocalMesh, REASON_NO_LOCAL_RUNTIME } from '@ambit/localcluster';
import { eventually, localclusterBin, netnsSkipReason, tearDownChecked } from '../support/netns.js';
import { httpGet } from '../support/ztunnel.js';

const skip = netnsSkipReason('netns/kubelet');
const NS = 'team';

interface Answer { status: number; body?: { pod: string; namespace: string; version: string }; error?: string }

describe('the local kubelet runs users\' Pods and Deployments of the sample images', { skip }, () => {
  let stateDir: string;
  let cluster: LocalCluster;
  let mesh: LocalMesh;

  const pod = (name: string, image: string, extra: Partial<Pod['spec']> = {}): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: name } },
    spec: { serviceAccountName: name, containers: [{ name: 'main', image }], ...extra },
  });

  async function stored<T extends KubeObject>(kind: 'Pod' | 'Deployment', name: string): Promise<T | undefined> {
    return mesh.store.get<T>(kind, name, NS);
  }

  async function request(from: `${string}/${string}`, url: string): Promise<Answer> {
    const result = await cluster.exec(from, [process.execPath, localclusterBin('client'), 'http', url, '--timeout', '3000']);
    return JSON.parse(result.stdout.trim().split('\n')[0] ?? '{}') as Answer;
  }

  async function podReady(name: string): Promise<Pod> {
    return eventually(async () => {
      const current = await stored<Pod>('Pod', name);
      const ready = current?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return ready && current?.status?.phase === 'Running' ? current : undefined;
    }, `pod ${NS}/${name} running and ready`, 30_000);
  }

  const processesOf = async (name: string): Promise<number> =>
    (await cluster.processes(`${NS}/${name}`)).length;

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-kubelet-'));
    cluster = await LocalCluster.create({ stateDir, nodes: 2 });
    mesh = new LocalMesh(cluster, { logLevel: 'info', ztunnelSettings: { 'drain-deadline': '2s' } });
    await mesh.start();
    await mesh.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await mesh.store.create(pod('tester', CLIENT_IMAGE, { nodeName: 'node-2' }));
    await mesh.store.create<Deployment>({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'echo', image: ECHO_IMAGE, args: ['--version', 'v7'], ports: [{ containerPort: 8080 }] }] },
        },
      },
    });
    await mesh.store.create<Service>({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    await mesh.store.create(pod('elsewhere', 'nginx:1.27'));
    await mesh.store.create(pod('lost', CLIENT_IMAGE, { nodeName: 'node-9' }));
  });

  after(() => tearDownChecked(stateDir, cluster, mesh));

  it('runs a Pod on the node it names, keeping its spec and adding its address and readiness', async () => {
    const tester = await podReady('tester');
    assert.equal(tester.spec?.nodeName, 'node-2');
    assert.deepEqual(tester.spec?.containers?.map((c) => [c.name, c.image]), [['main', CLIENT_IMAGE]], 'the spec as written');
    await cluster.refresh();
    const local = cluster.pod(`${NS}/tester`);
    assert.equal(tester.status?.podIP, local.ip);
    assert.equal(local.node, 'node-2');
    assert.equal(local.serviceAccount, 'tester');
    assert.equal(await processesOf('tester'), 1);
  });

  it('runs a Deployment of the echo image with its args, ready once it listens, behind its Service', async () => {
    const deployment = await eventually(async () => {
      const current = await stored<Deployment>('Deployment', 'web');
      return current?.status?.readyReplicas === 2 ? current : undefined;
    }, 'deployment web 2 of 2 ready', 30_000);
    assert.equal(deployment.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
    const answer = await request(`${NS}/tester`, `http://web.${NS}/`);
    assert.equal(answer.status, 200, JSON.stringify(answer));
    assert.equal(answer.body?.version, 'v7', 'the container args are the echo server\'s flags');
    assert.match(answer.body?.pod ?? '', /^web-[0-9a-f]{8}-[01]$/);
    // Its Pod object names the template's container, whose output is <pod>.<container>.log.
    const pod = await stored<Pod>('Pod', answer.body?.pod ?? '');
    assert.deepEqual(pod?.spec?.containers?.map((c) => [c.name, c.image]), [['echo', ECHO_IMAGE]]);
    assert.ok(existsSync(join(stateDir, 'logs', NS, `${answer.body?.pod ?? ''}.echo.log`)));
  });

  it('reports an image it cannot run, and a node that does not exist, as Pending with the reason', async () => {
    const elsewhere = await eventually(async () => {
      const current = await stored<Pod>('Pod', 'elsewhere');
      return current?.status?.phase === 'Pending' ? current : undefined;
    }, 'pod elsewhere Pending');
    const scheduled = elsewhere.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.equal(scheduled?.reason, REASON_NO_LOCAL_RUNTIME);
    assert.match(scheduled?.message ?? '', /ambit\/client, ambit\/echo, ambit\/waypoint.*"nginx:1\.27"/);
    const lost = await eventually(async () => {
      const current = await stored<Pod>('Pod', 'lost');
      return current?.status?.phase === 'Pending' ? current : undefined;
    }, 'pod lost Pending');
    assert.equal(lost.status?.conditions?.[0]?.reason, 'UnknownNode');
    await cluster.refresh();
    assert.deepEqual(cluster.pods.filter((p) => p.namespace === NS && (p.name === 'elsewhere' || p.name === 'lost')), [], 'neither is run');
  });

  it('a Pod fixed to a runnable image is run', async () => {
    await mesh.store.patch('Pod', 'elsewhere', NS, { spec: { containers: [{ name: 'main', image: ECHO_IMAGE, ports: [{ containerPort: 8080 }] }] } });
    const elsewhere = await podReady('elsewhere');
    assert.equal(elsewhere.status?.conditions?.some((c) => c.type === 'PodScheduled'), false);
    const answer = await request(`${NS}/tester`, `http://${elsewhere.status?.podIP ?? ''}:8080/`);
    assert.equal(answer.body?.pod, 'elsewhere');
  });

  it('enrolling the namespace puts the new pods in the mesh', async () => {
    await mesh.store.patch('Namespace', NS, undefined, { metadata: { labels: { 'ambit.dev/dataplane-mode': 'ambient' } } });
    await eventually(async () => {
      const workloads = JSON.parse((await httpGet({ socketPath: mesh.adminSocket('node-2') }, '/workloads')).body) as { name: string; namespace: string; protocol: string }[];
      return workloads.some((w) => w.namespace === NS && w.name === 'tester' && w.protocol === 'HBONE') || undefined;
    }, 'tester HBONE in node-2\'s ztunnel');
    const answer = await request(`${NS}/tester`, `http://web.${NS}/`);
    assert.equal(answer.status, 200, JSON.stringify(answer));
  });

  it('a label changed on a pod\'s object takes it out of its Service\'s endpoints, and back', async () => {
    await cluster.refresh();
    const [first, second] = cluster.pods.filter((p) => p.namespace === NS && p.labels['app'] === 'web');
    assert.ok(first !== undefined && second !== undefined);
    const endpoints = (): string => spawnSync('ip', ['netns', 'exec', cluster.nodeNetns('node-1'), 'nft', 'list', 'table', 'ip', 'ambit-kubeproxy'], { encoding: 'utf8' }).stdout;
    const isEndpoint = (ip: string): boolean => new RegExp(`${ip.replaceAll('.', '\\.')}\\b`).test(endpoints());
    assert.ok(isEndpoint(first.ip));
    await mesh.store.patch('Pod', first.name, NS, { metadata: { labels: { app: 'off' } } });
    await eventually(async () => {
      await cluster.refresh();
      return cluster.pod(`${NS}/${first.name}`).labels['app'] === 'off' || undefined;
    }, 'the cluster\'s copy of the labels follows');
    assert.equal(isEndpoint(first.ip), false, 'no longer an endpoint of web');
    assert.ok(isEndpoint(second.ip));
    await mesh.store.patch('Pod', first.name, NS, { metadata: { labels: { app: 'web' } } });
    await eventually(() => Promise.resolve(isEndpoint(first.ip) || undefined), 'an endpoint again');
  });

  it('an edited Service object changes the service: kube-proxy follows its selector and ports', async () => {
    const table = (): string => spawnSync('ip', ['netns', 'exec', cluster.nodeNetns('node-2'), 'nft', 'list', 'table', 'ip', 'ambit-kubeproxy'], { encoding: 'utf8' }).stdout;
    await cluster.refresh();
    const vip = cluster.serviceVip(`${NS}/web`);
    const webIps = cluster.pods.filter((p) => p.namespace === NS && p.labels['app'] === 'web').map((p) => p.ip);
    const port = (n: number): RegExp => new RegExp(`daddr ${vip.replaceAll('.', '\\.')} tcp dport ${n} `);
    assert.match(table(), port(80));
    await mesh.store.patch('Service', 'web', NS, { spec: { selector: { app: 'nobody' }, ports: [{ name: 'http', port: 8081, targetPort: 8080 }] } });
    await eventually(() => Promise.resolve(webIps.every((ip) => !table().includes(ip)) || undefined), 'web\'s pods no longer behind the VIP');
    assert.match(table(), port(8081), 'the VIP now answers on 8081 (refused: no endpoint)');
    assert.doesNotMatch(table(), port(80));
    await mesh.store.patch('Service', 'web', NS, { spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    await eventually(() => Promise.resolve(webIps.every((ip) => table().includes(ip)) || undefined), 'web\'s pods behind the VIP again');
    assert.equal((await request(`${NS}/tester`, `http://web.${NS}/`)).status, 200);
  });

  it('deleting the object of a pod or service the cluster made removes it; a Deployment makes its pod again', async () => {
    await cluster.addService({ namespace: NS, name: 'made', selector: { app: 'web' }, ports: [80] });
    await mesh.store.delete('Service', 'made', NS);
    await eventually(async () => {
      await cluster.refresh();
      return cluster.services.some((s) => s.namespace === NS && s.name === 'made') ? undefined : true;
    }, 'service made removed');
    await cluster.refresh();
    const victim = cluster.pods.find((p) => p.namespace === NS && p.labels['app'] === 'web');
    assert.ok(victim !== undefined);
    const uid = (await stored<Pod>('Pod', victim.name))?.metadata.uid;
    const pids = (await cluster.processes(`${NS}/${victim.name}`)).map((p) => p.pid);
    await mesh.store.delete('Pod', victim.name, NS);
    const again = await eventually(async () => {
      const object = await stored<Pod>('Pod', victim.name);
      return object !== undefined && object.metadata.uid !== uid ? object : undefined;
    }, `a new pod ${victim.name}`);
    assert.equal(again.metadata.labels?.['app'], 'web');
    await podReady(victim.name);
    for (const pid of pids) assert.equal((await cluster.processes(`${NS}/${victim.name}`)).some((p) => p.pid === pid), false, 'the old process is gone');
    await eventually(async () => (await stored<Deployment>('Deployment', 'web'))?.status?.readyReplicas === 2 || undefined, 'web 2 of 2 ready');
  });

  it('a new kubelet restarts the containers of adopted and Deployment pods in place, once', async () => {
    await cluster.refresh();
    const addresses = (): string[] => cluster.pods.filter((p) => p.namespace === NS && (p.name === 'tester' || p.name.startsWith('web-')))
      .map((p) => `${p.name} ${p.ip}`).sort();
    const before = addresses();
    assert.equal(before.length, 3);
    const uids = async (): Promise<(string | undefined)[]> => (await mesh.store.list('Pod', { namespace: NS })).items
      .filter((p) => p.metadata.name === 'tester' || p.metadata.name.startsWith('web-')).map((p) => p.metadata.uid).sort();
    const objects = await uids();
    const pids = new Set((await cluster.processes()).map((p) => p.pid));
    await mesh.stopKubelet();
    await mesh.runKubeletHere();
    for (const entry of before) {
      const name = entry.split(' ')[0] ?? '';
      await eventually(async () => {
        const processes = await cluster.processes(`${NS}/${name}`);
        return processes.length === 1 && !pids.has(processes[0]?.pid ?? 0) ? true : undefined;
      }, `one new process in ${name}`);
    }
    await podReady('tester');
    await eventually(async () => (await stored<Deployment>('Deployment', 'web'))?.status?.readyReplicas === 2 || undefined, 'web 2 of 2 ready again');
    await cluster.refresh();
    assert.deepEqual(addresses(), before, 'the same pods, the same addresses');
    assert.deepEqual(await uids(), objects, 'the same Pod objects (not deleted and made again)');
    for (const entry of before) assert.equal(await processesOf(entry.split(' ')[0] ?? ''), 1);
  });

  it('deleting a Pod removes its pod, its namespace and its process', async () => {
    const netns = cluster.podNetns(`${NS}/tester`);
    await mesh.store.delete('Pod', 'tester', NS);
    await eventually(async () => {
      await cluster.refresh();
      return cluster.pods.some((p) => p.namespace === NS && p.name === 'tester') ? undefined : true;
    }, 'pod tester removed');
    assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, new RegExp(`^${netns}\\b`, 'm'));
    assert.equal(await processesOf('tester'), 0);
    assert.equal(await stored('Pod', 'tester'), undefined, 'not written back');
  });

  it('deleting the namespace removes every pod in it (one the cluster made too), their processes and its Service', async () => {
    await cluster.addPod({ namespace: NS, name: 'made-here', node: 'node-1' });
    await cluster.refresh();
    const netns = cluster.pods.filter((p) => p.namespace === NS).map((p) => p.netns);
    assert.equal(netns.length, 4, 'web ×2, elsewhere, made-here');
    await mesh.store.delete('Namespace', NS);
    await eventually(async () => {
      await cluster.refresh();
      return cluster.namespaces.some((n) => n.name === NS) ? undefined : true;
    }, `namespace ${NS} removed from the cluster`, 30_000);
    assert.deepEqual(cluster.pods.filter((p) => p.namespace === NS), []);
    assert.deepEqual(cluster.services.filter((s) => s.namespace === NS), []);
    assert.deepEqual((await cluster.processes()).filter((p) => p.target.kind === 'pod' && p.target.namespace === NS), []);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const name of netns) assert.doesNotMatch(left, new RegExp(`^${name}\\b`, 'm'));
    for (const kind of ['Pod', 'Deployment', 'Service'] as const) {
      assert.deepEqual((await mesh.store.list(kind, { namespace: NS })).items, [], `no ${kind} written back`);
    }
  });

  it('a namespace deleted while the kubelet is down is removed when one starts, not written back', async () => {
    await mesh.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'later' } });
    await mesh.store.create({ ...pod('shell', CLIENT_IMAGE), metadata: { name: 'shell', namespace: 'later' } });
    await eventually(async () => {
      await cluster.refresh();
      return cluster.pods.some((p) => p.namespace === 'later' && p.ready) || undefined;
    }, 'later/shell running');
    await mesh.stopKubelet();
    await mesh.store.delete('Namespace', 'later');
    await mesh.runKubeletHere();
    await eventually(async () => {
      await cluster.refresh();
      return cluster.namespaces.some((n) => n.name === 'later') ? undefined : true;
    }, 'namespace later removed by the new kubelet', 30_000);
    assert.equal(await mesh.store.get('Namespace', 'later'), undefined, 'not written back');
    assert.deepEqual((await mesh.store.list('Pod', { namespace: 'later' })).items, []);
  });
});
