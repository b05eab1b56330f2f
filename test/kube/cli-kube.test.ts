// The ambit command against a cluster (`--kubeconfig` / `--context kube`),
// served by the test API server: apply/get/delete, namespace enrollment,
// waypoints, `check --pre`, a clear refusal for the commands that act on this
// machine, and what the mesh-reading commands say when Ambit is not installed
// (kubernetes-guide.test.ts runs them against a running mesh).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import type { Gateway, KubeObject } from '@ambit/control-plane';
import { runAmbit, type CliResult } from '../support/cli.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { writeKubeconfig } from '../support/kubeconfig.js';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-split, namespace: demo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules: [{ backendRefs: [{ name: echo-v1, port: 80, weight: 90 }, { name: echo-v2, port: 80, weight: 10 }] }]
---
apiVersion: security.ambit.dev/v1
kind: AuthorizationPolicy
metadata: { name: echo-read-only, namespace: demo }
spec:
  targetRefs: [{ group: "", kind: Service, name: echo }]
  action: ALLOW
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
`;

interface Access { group: string; resource: string; namespace?: string }

describe('ambit against a cluster (--kubeconfig)', () => {
  let server: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let kubeconfig: string;
  let version = { major: '1', minor: '30', gitVersion: 'v1.30.4' };
  let denied = new Set<string>();
  const reviews: Access[] = [];

  const ambit = (...argv: string[]): Promise<CliResult> => runAmbit(argv);
  const kube = (...argv: string[]): Promise<CliResult> => ambit('--kubeconfig', kubeconfig, ...argv);

  before(async () => {
    server = await FakeApiServer.start();
    server.registerKind({ kind: 'GatewayClass', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false, hasStatus: true });
    server.route('GET', '/version', () => ({ status: 200, body: version }));
    server.route('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', ({ body }) => {
      const attributes = (body as { spec: { resourceAttributes: Access } }).spec.resourceAttributes;
      reviews.push(attributes);
      return { status: 201, body: { ...(body as object), status: { allowed: !denied.has(attributes.resource) } } };
    });
    store = KubernetesStore.fromServer(server.url);
    for (const name of ['demo', 'default']) await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    dir = await mkdtemp(join(tmpdir(), 'ambit-cli-kube-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, server.url);
  });

  after(async () => {
    await store.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies, lists and deletes objects in the cluster', async () => {
    const file = join(dir, 'route.yaml');
    await writeFile(file, ROUTE);
    assert.deepEqual(await kube('apply', '-f', file), { code: 0, out: 'httproute/echo-split created\nauthorizationpolicy/echo-read-only created\n', err: '' });
    assert.deepEqual(await kube('apply', '-f', file), { code: 0, out: 'httproute/echo-split unchanged\nauthorizationpolicy/echo-read-only unchanged\n', err: '' });
    assert.equal(server.stored('HTTPRoute').length, 1, 'the object is in the API server');
    assert.match((await kube('get', 'httproutes', '-n', 'demo')).out, /^NAME\s+STATUS\s+AGE\necho-split\s/);
    const json = JSON.parse((await ambit('--context', 'kube', '--kubeconfig', kubeconfig, 'get', 'authorizationpolicies', '-n', 'demo', '-o', 'json')).out) as { kind: string; items: KubeObject[] };
    assert.deepEqual([json.kind, json.items.map((o) => o.metadata.name)], ['List', ['echo-read-only']]);
    assert.deepEqual(await kube('delete', '-f', file), { code: 0, out: 'httproute/echo-split deleted\nauthorizationpolicy/echo-read-only deleted\n', err: '' });
    assert.equal(server.stored('HTTPRoute').length, 0);
  });

  it('enrolls and unenrolls a namespace by its label; refuses an unknown one and --wait, changing nothing', async () => {
    assert.deepEqual(await kube('namespace', 'enroll', 'demo'), { code: 0, out: 'namespace/demo enrolled (ambit.dev/dataplane-mode=ambient)\n', err: '' });
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/dataplane-mode'], 'ambient');
    const unknown = await kube('namespace', 'enroll', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^ambit: no namespace "nope" in the cluster at http:\/\/127\.0\.0\.1:\d+\/\nhint: create it first/);
    assert.deepEqual(await kube('namespace', 'unenroll', 'demo'), { code: 0, out: 'namespace/demo unenrolled (ambit.dev/dataplane-mode removed)\n', err: '' });
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/dataplane-mode'], undefined);
    // --wait reads the ztunnels (kubernetes-guide.test.ts has them); with no pods scheduled there is nothing to wait for.
    const wait = await kube('namespace', 'enroll', 'demo', '--wait', '5s');
    assert.deepEqual(wait, { code: 0, out: 'namespace/demo enrolled (ambit.dev/dataplane-mode=ambient)\nall 0 pod(s) of demo show protocol HBONE\n', err: '' });
    await kube('namespace', 'unenroll', 'demo');
  });

  it('applies a waypoint, waits for Programmed from the Gateway status, lists and deletes it', async () => {
    const applied = await kube('waypoint', 'apply', '-n', 'demo', '--enroll-namespace');
    assert.deepEqual(applied, { code: 0, out: 'waypoint demo/waypoint applied\nnamespace/demo labelled ambit.dev/use-waypoint=waypoint\n', err: '' });
    const gateway = await store.get<Gateway>('Gateway', 'waypoint', 'demo');
    assert.equal(gateway?.spec?.gatewayClassName, 'ambit-waypoint');
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/use-waypoint'], 'waypoint');
    assert.match((await kube('waypoint', 'list', '-A')).out, /demo\s+waypoint\s+service\s+Unknown/);

    // The control plane (here: the test) reports the waypoint ready while `--wait` polls.
    const waiting = kube('waypoint', 'apply', '-n', 'demo', '--wait', '20s');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = new Date().toISOString();
    await store.updateStatus('Gateway', 'waypoint', 'demo', {
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'accepted', lastTransitionTime: now },
        { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'waypoint ready at 10.96.0.20', lastTransitionTime: now },
      ],
    });
    const programmed = await waiting;
    assert.equal(programmed.code, 0, programmed.err);
    assert.match(programmed.out, /waypoint demo\/waypoint configured\nwaypoint demo\/waypoint programmed: waypoint ready at 10\.96\.0\.20\n/);
    assert.match((await kube('waypoint', 'status', '-n', 'demo')).out, /waypoint\s+True\s+Programmed\s+Programmed\s+waypoint ready/);
    // The namespace still names the deleted waypoint: said, with the command that removes the label.
    assert.deepEqual(await kube('waypoint', 'delete', '-n', 'demo'), {
      code: 0, err: '',
      out: 'waypoint demo/waypoint deleted\n‼ namespace/demo still names it (ambit.dev/use-waypoint=waypoint): its traffic goes direct, ztunnel to ztunnel, with no L7 routes or policies; '
        + '`ambit label namespace demo ambit.dev/use-waypoint-` removes the label\n',
    });
    assert.equal(await store.get('Gateway', 'waypoint', 'demo'), undefined);
    assert.deepEqual(await kube('label', 'namespace', 'demo', 'ambit.dev/use-waypoint-'), { code: 0, out: 'namespace/demo unlabeled\n', err: '' });
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/use-waypoint'], undefined);
    const missing = await kube('waypoint', 'apply', '-n', 'nope');
    assert.equal(missing.code, 2);
    assert.match(missing.err, /namespace nope does not exist\nhint: namespaces: (default, demo|demo, default)/);
  });

  it('check --pre: API reachable, version, Gateway API, permissions to install', async () => {
    const good = await kube('check', '--pre');
    assert.equal(good.code, 0, good.out);
    assert.match(good.out, /Kubernetes cluster\n-+\n✔ the API server at http:\/\/127\.0\.0\.1:\d+\/ answers \(v1\.30\.4\)/);
    assert.match(good.out, /✔ Kubernetes 1\.30 is supported/);
    assert.match(good.out, /✔ the Gateway API \(v1\) CRDs are installed/);
    assert.match(good.out, /✔ you may create everything an install creates/);
    assert.ok(reviews.some((r) => r.resource === 'daemonsets' && r.group === 'apps' && r.namespace === 'ambit-system'));

    version = { major: '1', minor: '25', gitVersion: 'v1.25.0' };
    denied = new Set(['daemonsets', 'clusterroles']);
    const bad = await kube('check', '--pre', '-o', 'json');
    assert.equal(bad.code, 1);
    const results = JSON.parse(bad.out) as { verdict: string; title: string; detail?: string }[];
    assert.deepEqual(results.filter((r) => r.verdict === 'fail').map((r) => [r.title, r.detail]), [
      ['the Kubernetes version is supported', 'the server runs 1.25'],
      ['you may create everything an install creates', 'not allowed to create clusterroles.rbac.authorization.k8s.io, daemonsets.apps in ambit-system'],
    ]);

    const nowhere = join(dir, 'nowhere');
    await writeFile(nowhere, (await readFile(kubeconfig, 'utf8')).replace(server.url, 'http://127.0.0.1:9'));
    const unreachable = await ambit('--kubeconfig', nowhere, 'check', '--pre');
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.out, /× the API server is reachable\n.*127\.0\.0\.1:9/);
  });

  it('refuses, with the reason, commands that act on this machine; and contradictory contexts', async () => {
    for (const argv of [['up'], ['down'], ['exec', 'demo/client', '--', 'true'], ['ztunnel', 'stop', '--node', 'node-1']]) {
      const result = await kube(...argv);
      assert.equal(result.code, 1, argv.join(' '));
      assert.match(result.err, new RegExp(`^ambit: \`ambit ${argv.slice(0, 2).join(' ').replace(' demo/client', '')}\` works on the local mesh only: .+\\nhint: drop --context kube`), argv.join(' '));
    }
    // Without Ambit installed, the commands that read the mesh say what is missing.
    const status = await kube('proxy-status');
    assert.deepEqual([status.code, status.err.split('\n')[0]], [1, 'ambit: no control plane pod is running']);
    const workloads = await kube('ztunnel', 'workloads');
    assert.deepEqual([workloads.code, workloads.err.split('\n')[0]], [1, 'ambit: no node runs a ztunnel']);
    const both = await ambit('--context', 'local', '--kubeconfig', kubeconfig, 'get', 'gateways');
    assert.deepEqual([both.code, both.err], [2, 'ambit: --kubeconfig selects a cluster, but --context is local\nhint: drop one of them\n']);
    const unknown = await ambit('--context', 'prod', 'get', 'gateways');
    assert.deepEqual([unknown.code, unknown.err], [2, 'ambit: --context prod is not a context\nhint: use local or kube\n']);
  });
});
