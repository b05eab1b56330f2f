// docs/kubernetes.md, run: every command in its sh blocks, in order, against
// the test API server, with the control-plane replicas, a ztunnel per node and
// the waypoint running for real behind it (test/support/fake-kubelet.ts starts
// them from the applied Deployment and DaemonSet and the controller's waypoint
// Deployment). `ambit` lines run the CLI and must
// meet the expectation below; `kubectl` lines are done through the store as
// kubectl would do them. A command in the guide this file does not know fails
// the test, so the guide and the test cannot drift apart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import type { Gateway, KubeObject } from '@ambit/control-plane';
import { runAmbit, type CliResult } from '../support/cli.js';
import { EXTRA_KINDS, FakeApiServer, INSTALL_KINDS } from '../support/fake-apiserver.js';
import { FakeKubelet } from '../support/fake-kubelet.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { createPod } from '../support/control-plane.js';
import { eventually } from '../support/net.js';

const GUIDE = new URL('../../../docs/kubernetes.md', import.meta.url).pathname;
const NODES = ['node-1', 'node-2'];

interface Expectation {
  code?: number;
  /** Patterns the output must match. */
  out?: RegExp[];
  /** Polled until met (the mesh converges in the background). */
  eventually?: boolean;
  after?: () => Promise<void>;
}

/** The guide's sh lines, in order; comment and blank lines dropped. */
async function guideCommands(): Promise<string[]> {
  const text = await readFile(GUIDE, 'utf8');
  const commands: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (block[1] ?? '').split('\n')) if (line.trim() !== '' && !line.startsWith('#')) commands.push(line.trim());
  }
  return commands;
}

/** The guide's YAML files, by the name in their first comment line. */
async function guideFiles(): Promise<Map<string, string>> {
  const text = await readFile(GUIDE, 'utf8');
  const files = new Map<string, string>();
  for (const block of text.matchAll(/```yaml\n# (\S+)\n([\s\S]*?)```/g)) files.set(block[1] ?? '', block[2] ?? '');
  return files;
}

describe('docs/kubernetes.md, run against the test API server', () => {
  let server: FakeApiServer;
  let store: KubernetesStore;
  let kubelet: FakeKubelet;
  let dir: string;
  let kubeconfig: string;
  const saved = process.env.KUBECONFIG;

  before(async () => {
    server = await FakeApiServer.start();
    for (const kind of [...INSTALL_KINDS, EXTRA_KINDS.Lease]) server.registerKind(kind);
    server.route('GET', '/version', () => ({ status: 200, body: { major: '1', minor: '31', gitVersion: 'v1.31.2' } }));
    server.route('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', ({ body }) => ({ status: 201, body: { ...(body as object), status: { allowed: true } } }));
    store = KubernetesStore.fromServer(server.url);
    dir = await mkdtemp(join(tmpdir(), 'ambit-guide-'));
    kubeconfig = await writeKubeconfig(join(dir, 'kubeconfig'), server.url);
    process.env.KUBECONFIG = kubeconfig;
    kubelet = new FakeKubelet({ server, store, kubeconfig, nodes: NODES });
    await kubelet.start();
  });

  after(async () => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    await kubelet.stop();
    await store.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** kubectl, as the guide uses it. */
  const KUBECTL: Record<string, () => Promise<void>> = {
    'kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml': () => {
      server.registerKind(EXTRA_KINDS.GatewayClass);
      return Promise.resolve();
    },
    'kubectl create namespace demo': async () => {
      await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
    },
    // The application: a client on one node, echo (two pods, a Service) on both.
    'kubectl -n demo apply -f your-app.yaml': async () => {
      await createPod(store, { name: 'client', namespace: 'demo', node: 'node-1', ip: '127.0.210.1', serviceAccount: 'client', labels: { app: 'client' } });
      await createPod(store, { name: 'echo-1', namespace: 'demo', node: 'node-1', ip: '127.0.210.2', serviceAccount: 'echo', labels: { app: 'echo' } });
      await createPod(store, { name: 'echo-2', namespace: 'demo', node: 'node-2', ip: '127.0.220.2', serviceAccount: 'echo', labels: { app: 'echo' } });
      await store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'demo' }, spec: { selector: { app: 'echo' }, clusterIP: '10.96.0.20', ports: [{ port: 80, targetPort: 8080 }] } });
    },
  };

  const gateway = (): Promise<Gateway | undefined> => store.get<Gateway>('Gateway', 'waypoint', 'demo');
  const stored = (kind: string, namespace?: string): string[] => server.stored(kind)
    .map((o) => o as unknown as KubeObject).filter((o) => namespace === undefined || o.metadata.namespace === namespace).map((o) => o.metadata.name);

  /** What each `ambit` line of the guide must do. */
  const AMBIT: Record<string, Expectation> = {
    'ambit --context kube check --pre': { out: [/✔ the API server at .* answers \(v1\.31\.2\)/, /✔ the Gateway API \(v1\) CRDs are installed/, /✔ you may create everything an install creates/] },
    'ambit --context kube install --wait': {
      out: [/Namespace ambit-system created/, /DaemonSet ambit-system\/ambit-ztunnel created/, /Deployment ambit-system\/ambit-control-plane ready/, /DaemonSet ambit-system\/ambit-ztunnel ready/],
      after: () => {
        assert.equal(kubelet.controlPlanes.length, 2, 'both replicas run');
        assert.deepEqual([...kubelet.ztunnels.keys()].sort(), NODES, 'a ztunnel per node, started once the root certificate was published');
        return Promise.resolve();
      },
    },
    'ambit --context kube check': {
      eventually: true,
      // No root here: the ztunnels run without capture, so each node's capture check is × (a cluster's ztunnel runs nftables).
      code: 1,
      out: [
        /✔ DaemonSet ambit-ztunnel: 2\/2 pod\(s\) ready/, /✔ Deployment ambit-control-plane: 2\/2 pod\(s\) ready/,
        /✔ control plane ambit-control-plane-0 is reachable and ready \(kubernetes backend/, /✔ control plane ambit-control-plane-1 is reachable and ready/,
        /✔ one replica writes status and runs the waypoint controller \(leader ambit-control-plane-\d\)/,
        /✔ ztunnel on node-1 is ready and synced \(version .* from ambit-control-plane-0\)/, /✔ ztunnel on node-2 is ready and synced \(version .* from ambit-control-plane-1\)/,
        /× capture rules are programmed on node-1 \(as the ztunnel reports\)\n\s+capture mode is none/,
      ],
    },
    'ambit --context kube namespace enroll demo --wait': {
      out: [/^namespace\/demo enrolled \(ambit\.dev\/dataplane-mode=ambient\)\nall 3 pod\(s\) of demo show protocol HBONE\n$/],
    },
    'ambit --context kube ztunnel workloads': { out: [/NAMESPACE\s+POD\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL/, /demo\s+client\s+127\.0\.210\.1\s+node-1\s+None\s+HBONE/, /demo\s+echo-2\s+127\.0\.220\.2\s+node-2\s+None\s+HBONE/] },
    'ambit --context kube ztunnel certificates': {
      eventually: true,
      out: [/node-1\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client\s+workload\s+available/, /node-2\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo\s+workload\s+available/],
      after: async () => {
        const node2 = (await runAmbit(['--context', 'kube', 'ztunnel', 'certificates', '--node', 'node-2'])).out;
        assert.doesNotMatch(node2, /sa\/client/, 'node-2 holds no certificate for a pod on node-1');
      },
    },
    'ambit --context kube waypoint apply -n demo --enroll-namespace --wait': {
      out: [/waypoint demo\/waypoint applied\n/, /namespace\/demo labelled ambit\.dev\/use-waypoint=waypoint/, /waypoint demo\/waypoint programmed: /],
      after: async () => {
        assert.deepEqual([...kubelet.waypoints.keys()], ['demo/waypoint'], 'the waypoint runs, and is ready, before the Gateway is Programmed');
        assert.equal(kubelet.waypoints.get('demo/waypoint')?.identity, 'spiffe://cluster.local/ns/demo/sa/waypoint');
        const uid = (await gateway())?.metadata.uid;
        for (const kind of ['ServiceAccount', 'Deployment', 'Service'] as const) {
          const object = await store.get(kind, 'waypoint', 'demo');
          assert.equal(object?.metadata.ownerReferences?.[0]?.uid, uid, `${kind} owned by the Gateway`);
        }
      },
    },
    'ambit --context kube waypoint list -n demo': { out: [/demo\s+waypoint\s+service\s+True/] },
    'ambit --context kube waypoint status -n demo': { out: [/waypoint\s+True\s+Programmed\s+Programmed/] },
    'ambit --context kube apply -f echo-read-only.yaml': { out: [/^authorizationpolicy\/echo-read-only created\n$/] },
    'ambit --context kube get authorizationpolicies -n demo': { eventually: true, out: [/echo-read-only\s+/] },
    'ambit --context kube explain demo/client http://echo.demo/ --method POST': {
      code: 1, eventually: true,
      out: [/ztunnel node-1\s+service demo\/echo uses waypoint demo\/waypoint: HBONE \(mTLS\) to 127\.0\.200\.\d+:15008 \(demo\/waypoint-0 on node-1\)/, /waypoint demo\/waypoint\s+× denies POST \/ with 403: no ALLOW policy matches/],
    },
    'ambit --context kube status': {
      eventually: true,
      out: [
        /Control plane: kubernetes backend, 2\/2 replica\(s\) ready, leader ambit-control-plane-\d, \d+ subscriber\(s\)/,
        /node-1\s+yes\s+\S+\s+ambit-control-plane-0\s+\d+\s+2\s+\d+/, /node-2\s+yes\s+\S+\s+ambit-control-plane-1\s+\d+\s+1\s+\d+/,
        /demo\s+yes\s+3\/3 \(\+1 opted out\)\s+waypoint\s+True/,
      ],
    },
    'ambit --context kube proxy-status': {
      eventually: true,
      out: [/NAME\s+ROLE\s+SYNCED\s+VERSION\s+LAST-ACK\s+CONTROL-PLANE/, /waypoint\/demo\/waypoint\s+waypoint\s+SYNCED\s+\S+\s+.+ambit-control-plane-0/, /ztunnel\/node-1\s+ztunnel\s+SYNCED\s+\S+\s+.+ambit-control-plane-0/, /ztunnel\/node-2\s+ztunnel\s+SYNCED\s+\S+\s+.+ambit-control-plane-1/],
    },
    'ambit --context kube ztunnel connections': { out: [/^NODE\s+DIRECTION\s+SOURCE\s+DESTINATION\s+SECURITY\s+PEER\s+STATE\s+AGE\n/] },
    // The proxies log into the fake API server's pods/log, as a container runtime would keep their output.
    'ambit --context kube logs ztunnel node-1 --since 10m': {
      out: [/^\{"level":"info".*"msg":"certificate issued"/m, /"identity":"spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client"/],
      after: async () => {
        const node2 = (await runAmbit(['--context', 'kube', 'logs', 'ztunnel', 'node-2'])).out;
        assert.doesNotMatch(node2, /sa\/client/, 'node-2\'s ztunnel issued nothing for the client on node-1');
      },
    },
    'ambit --context kube logs waypoint -n demo --level info --tail 20': { eventually: true, out: [/"app":"waypoint".*"msg":"first discovery sync applied"/] },
    'ambit --context kube delete -f echo-read-only.yaml': { out: [/^authorizationpolicy\/echo-read-only deleted\n$/] },
    'ambit --context kube waypoint delete -n demo': {
      out: [/^waypoint demo\/waypoint deleted\n‼ namespace\/demo still names it \(ambit\.dev\/use-waypoint=waypoint\): its traffic goes direct.*`ambit label namespace demo ambit\.dev\/use-waypoint-` removes the label\n$/],
      after: async () => {
        // The controller deletes what the Gateway owned (a cluster's garbage collector would too), so the waypoint stops.
        await eventually(() => (kubelet.waypoints.size === 0 && stored('Deployment', 'demo').length === 0 && stored('Service', 'demo').filter((n) => n === 'waypoint').length === 0 && stored('ServiceAccount', 'demo').length === 0) || undefined, 10_000);
      },
    },
    'ambit --context kube namespace unenroll demo': { out: [/^namespace\/demo unenrolled/] },
    'ambit --context kube uninstall --wait': {
      out: [/Deployment ambit-system\/ambit-control-plane deleted/, /Namespace ambit-system deleted/],
      after: async () => {
        await eventually(() => (kubelet.controlPlanes.length === 0 && kubelet.ztunnels.size === 0) || undefined, 10_000);
        assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/use-waypoint'], 'waypoint', 'labels stay without --remove-labels');
      },
    },
  };

  it('every command of the guide does what the guide says', async () => {
    const files = await guideFiles();
    for (const [name, text] of files) await writeFile(join(dir, name), text);
    const commands = await guideCommands();
    assert.ok(commands.length >= 20, `the guide has its commands (${commands.length})`);
    for (const command of commands) {
      if (command.startsWith('kubectl ')) {
        const action = KUBECTL[command];
        assert.ok(action, `the guide runs \`${command}\`, which this test does not know`);
        await action();
        continue;
      }
      const expectation = AMBIT[command];
      assert.ok(expectation, `the guide runs \`${command}\`, which this test has no expectation for`);
      // The guide's files are written to the test's directory; install reads the repository's deploy/ (its default).
      const argv = command.split(/\s+/).slice(1).map((arg) => (files.has(arg) ? join(dir, arg) : arg));
      const attempt = (): Promise<CliResult> => runAmbit(argv);
      const meets = (result: CliResult): boolean => result.code === (expectation.code ?? 0) && (expectation.out ?? []).every((pattern) => pattern.test(result.out));
      let result = await attempt();
      if (expectation.eventually === true && !meets(result)) {
        const deadline = Date.now() + 15_000;
        while (!meets(result) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          result = await attempt();
        }
      }
      assert.equal(result.code, expectation.code ?? 0, `${command}\n${result.out}${result.err}`);
      for (const pattern of expectation.out ?? []) assert.match(result.out, pattern, command);
      await expectation.after?.();
    }
    assert.deepEqual(kubelet.errors, []);
  });
});
