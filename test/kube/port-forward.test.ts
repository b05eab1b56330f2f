// KubernetesStore.podGet: an HTTP GET inside a pod through the API server's
// port-forward (WebSocket, v4.channel.k8s.io), as the CLI reads admin APIs on
// a cluster. The answer arrives whole; a port nothing listens on, and a pod
// that does not exist, are errors that say so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { createNamespace, createPod } from '../support/control-plane.js';
import { FakeApiServer } from '../support/fake-apiserver.js';

describe('port-forward through the API server (KubernetesStore.podGet)', () => {
  let server: FakeApiServer;
  let store: KubernetesStore;
  let admin: http.Server;

  before(async () => {
    server = await FakeApiServer.start();
    store = KubernetesStore.fromServer(server.url);
    await createNamespace(store, 'ambit-system');
    await createPod(store, { name: 'ambit-ztunnel-x', namespace: 'ambit-system', node: 'node-1', ip: '10.0.0.5' });
    // A body larger than one WebSocket frame, so it arrives in pieces.
    const big = JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => ({ i, name: `workload-${i}` })) });
    admin = http.createServer((request, response) => {
      if (request.url === '/workloads') response.writeHead(200, { 'content-type': 'application/json' }).end(big);
      else response.writeHead(404).end('not found\n');
    });
    await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
    server.forwardPort('ambit-system', 'ambit-ztunnel-x', 15000, { host: '127.0.0.1', port: (admin.address() as AddressInfo).port });
  });

  after(async () => {
    await store.close();
    await server.close();
    await new Promise((resolve) => admin.close(resolve));
  });

  it('answers with the pod\'s status and whole body', async () => {
    const answer = await store.podGet('ambit-system', 'ambit-ztunnel-x', 15000, '/workloads');
    assert.equal(answer.status, 200);
    assert.equal((JSON.parse(answer.body) as { items: unknown[] }).items.length, 5000);
    assert.equal((await store.podGet('ambit-system', 'ambit-ztunnel-x', 15000, '/nope')).status, 404);
    assert.ok(server.requests.some((r) => r.method === 'PORTFORWARD' && r.query === '?ports=15000'));
  });

  it('a port nothing listens on: the kubelet\'s refusal, as an error with a hint', async () => {
    await assert.rejects(store.podGet('ambit-system', 'ambit-ztunnel-x', 15001, '/'), (error: Error & { hint?: string }) => {
      assert.match(error.message, /^port-forward to ambit-system\/ambit-ztunnel-x:15001 failed: error forwarding port 15001 .*connection refused/);
      assert.match(error.hint ?? '', /kubectl -n ambit-system get pod ambit-ztunnel-x/);
      return true;
    });
  });

  it('a pod that does not exist: the API server\'s 404', async () => {
    await assert.rejects(store.podGet('ambit-system', 'gone', 15000, '/'), (error: Error) => {
      assert.match(error.message, /^port-forward to ambit-system\/gone:15000 failed: .*404/);
      return true;
    });
  });
});
