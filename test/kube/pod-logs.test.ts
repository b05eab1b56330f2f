// Pod logs on a cluster: KubernetesStore.podLog (pods/log through the API
// server: tail, since, follow until aborted, the server's refusals with its
// message) and `ambit --kubeconfig ... logs`, which finds the pods by role
// and reads them that way (prefixes for several sources, --level, -c,
// --follow until stopped).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWith } from '@ambit/core/testing';
import type { Pod } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { createNamespace, createPod } from '../support/control-plane.js';
import { runAmbit } from '../support/cli.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { writeKubeconfig } from '../support/kubeconfig.js';

const line = (level: string, msg: string, extra: Record<string, unknown> = {}): string => `${JSON.stringify({ level, time: new Date().toISOString(), msg, ...extra })}\n`;

async function read(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('pod logs through the API server', () => {
  let server: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let kubeconfig: string;
  const kube = (argv: string[], signal?: AbortSignal, onOut?: (text: string) => void): ReturnType<typeof runAmbit> => runAmbit(['--kubeconfig', kubeconfig, ...argv], signal, onOut);

  before(async () => {
    server = await FakeApiServer.start();
    store = KubernetesStore.fromServer(server.url, { requestTimeoutMs: 5_000 });
    dir = await mkdtemp(join(tmpdir(), 'ambit-podlogs-'));
    kubeconfig = await writeKubeconfig(join(dir, 'kubeconfig'), server.url);
    await createNamespace(store, 'ambit-system');
    await createNamespace(store, 'demo');
    for (const node of ['node-1', 'node-2']) {
      await createPod(store, { name: `ambit-ztunnel-${node}`, namespace: 'ambit-system', node, ip: `10.0.0.${node.slice(-1)}`, labels: { 'app.kubernetes.io/name': 'ambit-ztunnel' } });
      const log = server.podLogs.destination('ambit-system', `ambit-ztunnel-${node}`, 'app');
      log.write(line('info', 'ztunnel started', { node }) + line('warn', 'certificate rotation failed', { node }) + line('info', 'connection complete', { node }));
    }
    await createPod(store, { name: 'echo', namespace: 'demo', node: 'node-1', ip: '10.0.1.2' });
    server.podLogs.destination('demo', 'echo', 'app').write('listening on 8080\nGET / 200\n');
    // A pod with two containers: the API server needs one named.
    await store.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'two', namespace: 'demo' }, spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] } });
    server.podLogs.destination('demo', 'two', 'app').write('from app\n');
    server.podLogs.destination('demo', 'two', 'sidecar').write('from sidecar\n');
  });

  after(async () => {
    await store.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('KubernetesStore.podLog reads a container\'s log: all, the tail, the last seconds', async () => {
    assert.equal(await read(await store.podLog('demo', 'echo')), 'listening on 8080\nGET / 200\n');
    assert.equal(await read(await store.podLog('demo', 'echo', { tailLines: 1 })), 'GET / 200\n');
    assert.equal(await read(await store.podLog('demo', 'two', { container: 'sidecar', sinceSeconds: 60 })), 'from sidecar\n');
    assert.equal(server.requests.filter((r) => r.path === '/api/v1/namespaces/demo/pods/two/log').at(-1)?.query, '?container=sidecar&sinceSeconds=60');
  });

  it('KubernetesStore.podLog keeps the API server\'s reason when it refuses', async () => {
    await rejectsWith(store.podLog('demo', 'missing'), 'not-found', /logs of pod demo\/missing: pods "missing" not found/);
    await rejectsWith(store.podLog('demo', 'two'), 'invalid-resource', /a container name must be specified for pod two, choose one of: \[app sidecar\]/);
    await rejectsWith(store.podLog('demo', 'two', { container: 'nope' }), 'invalid-resource', /container nope is not valid for pod two/);
  });

  it('KubernetesStore.podLog follows until aborted', async () => {
    const abort = new AbortController();
    const stream = await store.podLog('demo', 'echo', { tailLines: 0, follow: true }, abort.signal);
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        seen.push(chunk.toString());
        if (seen.join('').includes('later')) abort.abort();
      });
      stream.on('close', () => resolve());
      stream.on('error', () => resolve());
    });
    server.podLogs.destination('demo', 'echo', 'app').write('GET /later 200\n');
    await done;
    assert.equal(seen.join(''), 'GET /later 200\n');
  });

  it('ambit logs ztunnel: each node\'s ztunnel pod, prefixed; one node; --level; --tail', async () => {
    const all = await kube(['logs', 'ztunnel', '--level', 'warn']);
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(all.out.trim().split('\n').map((l) => l.replace(/\{.*"msg":"([^"]+)".*\}/, '$1')), [
      '[ztunnel/node-1] certificate rotation failed', '[ztunnel/node-2] certificate rotation failed',
    ]);
    const one = await kube(['logs', 'ztunnel', 'node-2', '--tail', '1']);
    assert.match(one.out, /^\{"level":"info".*"msg":"connection complete","node":"node-2"\}\n$/);
    const missing = await kube(['logs', 'ztunnel', 'node-9']);
    assert.deepEqual([missing.code, missing.err.split('\n')[0]], [1, 'ambit: no ztunnel on node node-9']);
  });

  it('ambit logs NS/POD: its container; each of several, prefixed, or the one -c names; lines without a level count as info', async () => {
    const echo = await kube(['logs', 'demo/echo', '--level', 'info']);
    assert.equal(echo.out, 'listening on 8080\nGET / 200\nGET /later 200\n');
    assert.equal((await kube(['logs', 'echo', '-n', 'demo', '--level', 'warn'])).out, '');
    assert.equal((await kube(['logs', 'demo/two'])).out, '[demo/two/app] from app\n[demo/two/sidecar] from sidecar\n');
    assert.equal((await kube(['logs', 'demo/two', '-c', 'sidecar'])).out, 'from sidecar\n');
    const wrong = await kube(['logs', 'demo/two', '-c', 'nope']);
    assert.deepEqual([wrong.code, wrong.err], [1, 'ambit: pod demo/two has no container nope\nhint: its containers: app, sidecar\n']);
  });

  it('ambit logs -f prints what is written until stopped', async () => {
    const abort = new AbortController();
    const running = kube(['logs', 'demo/echo', '-f', '--tail', '1'], abort.signal, (text) => {
      if (text.includes('GET /followed')) abort.abort();
      else if (text.includes('GET /later')) server.podLogs.destination('demo', 'echo', 'app').write('GET /followed 200\n');
    });
    const result = await running;
    assert.deepEqual([result.code, result.out, result.err], [0, 'GET /later 200\nGET /followed 200\n', '']);
  });

  it('refuses what a cluster has not: the local kubelet; and a waypoint that does not exist', async () => {
    const kubelet = await kube(['logs', 'kubelet']);
    assert.equal(kubelet.code, 1);
    assert.match(kubelet.err, /`ambit logs kubelet` is the local mesh's kubelet/);
    const waypoint = await kube(['logs', 'waypoint', '-n', 'demo']);
    assert.deepEqual([waypoint.code, waypoint.err.split('\n')[0]], [1, 'ambit: no waypoint pod in namespace demo']);
  });
});
