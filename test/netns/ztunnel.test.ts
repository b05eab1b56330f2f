// ztunnel on a real kernel (root only): a local cluster with two nodes, the
// control plane in the cluster namespace, one ztunnel per node capturing
// with nftables. Applications are never told about the mesh: plain TCP and
// HTTP clients in pod namespaces, and what they see (and what a packet
// capture on the cluster bridge sees) proves what the mesh did.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { Namespace } from '@ambit/control-plane';
import { LocalCluster, LocalMesh, type ClusterProcess } from '@ambit/localcluster';
import { ZTUNNEL_NODE_FLAGS } from '@ambit/ztunnel';
import { eventually, localclusterBin, netnsSkipReason, tearDownChecked } from '../support/netns.js';

const EXTRA_NODE_FLAG = '--stack-size=984';

const skip = netnsSkipReason('netns/ztunnel') ?? (spawnSync('tcpdump', ['--version']).status === 0 ? undefined : 'tcpdump is missing (apt-get install tcpdump)');

type PodName = `${string}/${string}`;
const AMBIENT = { 'ambit.dev/dataplane-mode': 'ambient' };

interface EchoAnswer { pod: string; namespace: string; client: string }

describe('ztunnel: transparent L4 mTLS on network namespaces', { skip }, () => {
  let stateDir: string;
  let cluster: LocalCluster;
  let mesh: LocalMesh;
  const workloads: ClusterProcess[] = [];
  const client = (...args: string[]): string[] => [process.execPath, localclusterBin('client'), ...args];

  /** Raw TCP: sends `text`, resolves with what came back, or the failure. */
  async function tcp(from: PodName, target: string, text: string, timeoutMs = 3000): Promise<{ ok: boolean; out: string; err: string }> {
    const result = await cluster.exec(from, client('tcp', target, '--send', text, '--timeout', String(timeoutMs)), { timeoutMs: timeoutMs + 10_000 });
    return { ok: result.code === 0, out: result.stdout, err: result.stderr };
  }

  async function http(from: PodName, url: string): Promise<EchoAnswer> {
    const result = await cluster.exec(from, client('http', url, '--timeout', '5000'), { timeoutMs: 20_000 });
    assert.equal(result.code, 0, `GET ${url} from ${from} failed: ${result.stderr}`);
    const line = JSON.parse(result.stdout.trim().split('\n')[0] ?? '{}') as { status: number; body: EchoAnswer | string };
    return typeof line.body === 'string' ? JSON.parse(line.body) as EchoAnswer : line.body;
  }

  /** The address of an `ip:port` the echo reports. */
  function ipOf(client: string): string {
    return client.replace(/:\d+$/, '');
  }

  async function metrics(node: string): Promise<string> {
    return (await mesh.admin(node, '/metrics')).body;
  }

  function sum(text: string, name: string, labels: Record<string, string>): number {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  /** Runs `during` while tcpdump records node-1's port on the cluster bridge; returns the capture file's bytes. */
  async function onTheWire(during: () => Promise<void>): Promise<Buffer> {
    const file = join(stateDir, `wire-${randomBytes(3).toString('hex')}.pcap`);
    const dump = spawn('ip', ['netns', 'exec', cluster.clusterNetns, 'tcpdump', '-i', 'vn1', '--immediate-mode', '-U', '-s', '0', '-w', file, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    dump.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await eventually(() => Promise.resolve(stderr.includes('listening on') ? true : undefined), 'tcpdump listening', 10_000);
    try {
      await during();
      await sleep(300);
    } finally {
      dump.kill('SIGINT');
      await new Promise((resolve) => dump.once('exit', resolve));
    }
    if (process.env.AMBIT_DEBUG_WIRE !== undefined) console.log({ file, stderr, size: (await readFile(file)).length });
    return readFile(file);
  }

  /** TCP destination ports seen in a pcap (Ethernet + IPv4 only, which is all the bridge carries). */
  function destinationPorts(pcap: Buffer): Set<number> {
    const ports = new Set<number>();
    let offset = 24;
    while (offset + 16 <= pcap.length) {
      const captured = pcap.readUInt32LE(offset + 8);
      const frame = pcap.subarray(offset + 16, offset + 16 + captured);
      offset += 16 + captured;
      if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) continue;
      const ihl = ((frame[14] ?? 0) & 0x0f) * 4;
      if (frame[23] !== 6 || frame.length < 14 + ihl + 4) continue;
      ports.add(frame.readUInt16BE(14 + ihl + 2));
    }
    return ports;
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ambit-zt-'));
    cluster = await LocalCluster.create({ stateDir, nodes: 2 });
    // --stack-size at V8's own default: an extra flag that changes nothing, to see it reach the command line.
    mesh = new LocalMesh(cluster, { logLevel: 'info', ztunnelSettings: { 'drain-deadline': '2s' }, ztunnelNodeFlags: [EXTRA_NODE_FLAG] });
    await mesh.start();
    for (const ns of ['mesh-a', 'mesh-b', 'mesh-c', 'strict']) await cluster.addNamespace(ns, AMBIENT);
    for (const ns of ['plain', 'late']) await cluster.addNamespace(ns);
    const echo = { labels: { app: 'echo', version: 'v1' }, ports: [8080, 9000] };
    await cluster.addPod({ namespace: 'mesh-a', name: 'client', node: 'node-1', serviceAccount: 'client' });
    await cluster.addPod({ namespace: 'mesh-a', name: 'echo', node: 'node-1', serviceAccount: 'echo', ...echo });
    await cluster.addPod({ namespace: 'mesh-b', name: 'echo', node: 'node-2', serviceAccount: 'echo', ...echo });
    await cluster.addPod({ namespace: 'mesh-c', name: 'client', node: 'node-1', serviceAccount: 'client' });
    await cluster.addPod({ namespace: 'strict', name: 'echo', node: 'node-2', serviceAccount: 'echo', ...echo });
    await cluster.addPod({ namespace: 'plain', name: 'client', node: 'node-1' });
    await cluster.addPod({ namespace: 'plain', name: 'echo', node: 'node-2', ...echo });
    await cluster.addPod({ namespace: 'late', name: 'client', node: 'node-1' });
    await cluster.addService({ namespace: 'mesh-b', name: 'echo', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
    await mesh.store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'strict' },
      spec: { mtls: { mode: 'STRICT' } },
    });
    await mesh.store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-mesh-c', namespace: 'mesh-b' },
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['mesh-c'] } }] }] },
    });
    for (const pod of ['mesh-a/echo', 'mesh-b/echo', 'strict/echo', 'plain/echo'] as const) {
      workloads.push(await cluster.spawn(pod, [process.execPath, localclusterBin('echo')]));
    }
    // Every echo answers (from a pod outside the mesh, straight to the pod) before the tests start.
    for (const pod of ['mesh-a/echo', 'mesh-b/echo', 'plain/echo'] as const) {
      await eventually(async () => (await tcp('plain/client', `${cluster.podIp(pod)}:9000`, 'up', 1000)).ok || undefined, `${pod} listening`, 20_000);
    }
    // Both ztunnels know every workload and hold their certificates.
    for (const node of ['node-1', 'node-2']) {
      await eventually(async () => {
        const workloads = await mesh.adminJson<unknown[]>(node, '/workloads');
        return workloads.length >= 8 ? true : undefined;
      }, `${node} ztunnel synced`, 20_000);
    }
  });

  after(() => tearDownChecked(stateDir, cluster, mesh));

  it('enrolled → enrolled across nodes: the echo answers, the bridge carries only TLS to 15008', async () => {
    const secret = `secret-${randomBytes(8).toString('hex')}`;
    let answer = { ok: false, out: '', err: '' };
    const wire = await onTheWire(async () => {
      answer = await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, secret);
    });
    assert.ok(answer.ok, answer.err);
    assert.ok(answer.out.includes(secret), 'the echo sent the payload back');
    assert.ok(destinationPorts(wire).has(15008), 'HBONE (15008) on the bridge');
    assert.ok(!destinationPorts(wire).has(9000), 'never the application port on the bridge');
    assert.equal(wire.indexOf(secret), -1, 'the plaintext payload never crossed the bridge');
    const text = await metrics('node-2');
    assert.ok(sum(text, 'istio_tcp_connections_opened_total', {
      reporter: 'destination', connection_security_policy: 'mutual_tls',
      source_principal: 'spiffe://cluster.local/ns/mesh-a/sa/client', destination_workload_namespace: 'mesh-b',
    }) >= 1, 'node-2 counted an mTLS connection from mesh-a/client');
  });

  it('the capture method itself sees plaintext when there is no mesh (control)', async () => {
    const secret = `visible-${randomBytes(8).toString('hex')}`;
    const wire = await onTheWire(async () => {
      const answer = await tcp('plain/client', `${cluster.podIp('plain/echo')}:9000`, secret);
      assert.ok(answer.ok, answer.err);
    });
    assert.notEqual(wire.indexOf(secret), -1);
  });

  it('enrolled → enrolled on the same node, and through a Service name', async () => {
    const same = await http('mesh-a/client', `http://${cluster.podIp('mesh-a/echo')}:8080/`);
    assert.equal(same.pod, 'echo');
    assert.equal(same.namespace, 'mesh-a');
    const viaService = await http('mesh-a/client', 'http://echo.mesh-b:80/');
    assert.equal(viaService.namespace, 'mesh-b');
    // ztunnel dials the pod from the client's own address (--source-ip preserve), on either node.
    assert.equal(ipOf(same.client), cluster.podIp('mesh-a/client'), 'same node: the echo saw the client pod');
    assert.equal(ipOf(viaService.client), cluster.podIp('mesh-a/client'), 'across nodes: the echo saw the client pod');
    const text = await metrics('node-1');
    assert.ok(sum(text, 'istio_tcp_connections_opened_total', { reporter: 'source', destination_service: 'echo.mesh-b.svc.cluster.local' }) >= 1
      || sum(text, 'istio_tcp_connections_opened_total', { reporter: 'source', destination_service_namespace: 'mesh-b' }) >= 1,
    'node-1 reported the service it resolved');
  });

  it('same node, when ztunnel dials the pod from the very port the client connected from (mirrored tuples), still connects', async () => {
    // ztunnel's socket to the pod (client address, port P → pod) is the mirror of the one it accepted from the
    // client (pod ← client address, port P) in the same namespace. Narrowing node-1's ephemeral range to two ports
    // and trying both from the client makes the coincidence certain whichever parity the kernel prefers for bind.
    const sysctl = async (...args: string[]): Promise<string> => {
      const result = await cluster.exec({ node: 'node-1' }, ['sysctl', ...args]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    const range = (await sysctl('-n', 'net.ipv4.ip_local_port_range')).trim().split(/\s+/).join(' ');
    const ports = [45_000, 45_001];
    const seen: { port: number; client: string }[] = [];
    await sysctl('-w', `net.ipv4.ip_local_port_range=${ports.join(' ')}`);
    try {
      for (const port of ports) {
        // A client bound to a source port: Node in the pod, a GET with Connection: close, the echo's JSON.
        const script = `const s=require('net').connect({host:${JSON.stringify(cluster.podIp('mesh-a/echo'))},port:8080,localPort:${port}});`
          + 'let b="";s.setTimeout(5000,()=>{console.error("timeout");process.exit(1)});s.on("error",(e)=>{console.error(e.message);process.exit(1)});'
          + 's.on("data",(d)=>b+=d);s.on("end",()=>{console.log(b.split("\\r\\n\\r\\n")[1]);});'
          + 's.write("GET / HTTP/1.1\\r\\nhost: echo\\r\\nconnection: close\\r\\n\\r\\n");';
        const result = await cluster.exec('mesh-a/client', [process.execPath, '-e', script], { timeoutMs: 20_000 });
        assert.equal(result.code, 0, `from port ${port}: ${result.stderr}`);
        seen.push({ port, client: (JSON.parse(result.stdout) as EchoAnswer).client });
      }
    } finally {
      await sysctl('-w', `net.ipv4.ip_local_port_range=${range}`);
    }
    for (const { client: from } of seen) assert.equal(ipOf(from), cluster.podIp('mesh-a/client'));
    assert.ok(seen.some(({ port, client: from }) => from.endsWith(`:${port}`)), `ztunnel dialled from the client's own port once: ${JSON.stringify(seen)}`);
  });

  it('unenrolled → enrolled works in PERMISSIVE and is refused in STRICT; enrolled → unenrolled passes through', async () => {
    const permissive = await tcp('plain/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'hello-permissive');
    assert.ok(permissive.ok, permissive.err);
    const permissiveHttp = await http('plain/client', `http://${cluster.podIp('mesh-b/echo')}:8080/`);
    assert.equal(ipOf(permissiveHttp.client), cluster.podIp('plain/client'), 'plaintext in: the echo saw the client pod, not the node');
    const strict = await tcp('plain/client', `${cluster.podIp('strict/echo')}:9000`, 'hello-strict');
    assert.ok(!strict.ok, 'plaintext to a STRICT namespace is refused');
    await eventually(async () => (sum(await metrics('node-2'), 'ambit_ztunnel_refusals_total', {}) >= 1 ? true : undefined), 'the refusal counted');
    const out = await http('mesh-a/client', `http://${cluster.podIp('plain/echo')}:8080/`);
    assert.equal(out.namespace, 'plain');
    const text = await metrics('node-1');
    assert.ok(sum(text, 'istio_tcp_connections_opened_total', { reporter: 'source', connection_security_policy: 'none' }) >= 1);
  });

  it('an L4 DENY by source namespace blocks the connection and is counted as DENY', async () => {
    const denied = await tcp('mesh-c/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'let-me-in');
    assert.ok(!denied.ok, 'mesh-c is denied by policy');
    assert.ok(!denied.out.includes('let-me-in'));
    await eventually(async () => {
      const text = `${await metrics('node-1')}\n${await metrics('node-2')}`;
      return sum(text, 'istio_tcp_connections_opened_total', { response_flags: 'DENY' }) + sum(text, 'istio_tcp_connections_closed_total', { response_flags: 'DENY' }) >= 1 ? true : undefined;
    }, 'response_flags="DENY" in metrics');
    const allowed = await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'still-fine');
    assert.ok(allowed.ok, allowed.err);
  });

  it('enrolling a running pod captures its next connection; unenrolling makes it plain again', async () => {
    const target = `${cluster.podIp('mesh-b/echo')}:9000`;
    const late = { reporter: 'destination', source_principal: 'spiffe://cluster.local/ns/late/sa/default', connection_security_policy: 'mutual_tls' };
    const mtlsFromLate = async (): Promise<number> => sum(await metrics('node-2'), 'istio_tcp_connections_opened_total', late);
    assert.ok((await tcp('late/client', target, 'plain-before')).ok);
    assert.equal(await mtlsFromLate(), 0, 'not enrolled: no mTLS from late/client');
    await setNamespaceLabels('late', AMBIENT);
    await eventually(async () => {
      assert.ok((await tcp('late/client', target, 'captured')).ok);
      return await mtlsFromLate() >= 1 ? true : undefined;
    }, 'the running pod captured and carried over mTLS', 20_000);
    await setNamespaceLabels('late', {});
    await eventually(async () => {
      const before = await mtlsFromLate();
      assert.ok((await tcp('late/client', target, 'plain-again')).ok);
      return await mtlsFromLate() === before ? true : undefined;
    }, 'the pod plain again', 20_000);
  });

  it('ztunnels run with their own Node flags, then the mesh\'s extra ones (which so override them)', async () => {
    const ztunnels = (await cluster.processes()).filter((p) => p.argv.some((arg) => arg.endsWith('/ztunnel.js')));
    assert.equal(ztunnels.length, 2);
    for (const z of ztunnels) {
      const cmdline = (await readFile(`/proc/${z.pid}/cmdline`, 'utf8')).split('\0');
      assert.deepEqual(cmdline.slice(1, ZTUNNEL_NODE_FLAGS.length + 2), [...ZTUNNEL_NODE_FLAGS, EXTRA_NODE_FLAG], cmdline.join(' '));
      assert.match(cmdline[ZTUNNEL_NODE_FLAGS.length + 2] ?? '', /\/ztunnel\.js$/);
    }
  });

  it('ztunnel certificates: node-1 holds only identities of node-1 workloads', async () => {
    const certificates = await mesh.adminJson<unknown>('node-1', '/certificates');
    const text = JSON.stringify(certificates);
    assert.match(text, /ns\/mesh-a\/sa\/client/);
    assert.match(text, /ns\/mesh-a\/sa\/echo/);
    assert.doesNotMatch(text, /ns\/mesh-b\//, 'mesh-b/echo runs on node-2');
    assert.doesNotMatch(text, /ns\/strict\//, 'strict/echo runs on node-2');
  });

  it('killing ztunnel fails closed (no plaintext leak); a restart recovers without manual steps', async () => {
    await mesh.stopZtunnel('node-1', 'SIGKILL');
    const secret = `leak-${randomBytes(8).toString('hex')}`;
    let attempt = { ok: true, out: '', err: '' };
    const wire = await onTheWire(async () => {
      attempt = await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, secret, 1500);
    });
    assert.ok(!attempt.ok, 'the connection fails while ztunnel is down');
    assert.equal(wire.indexOf(secret), -1, 'nothing leaked in plaintext');
    await mesh.startZtunnel('node-1');
    await eventually(async () => (await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'back', 2000)).ok || undefined, 'traffic recovers', 20_000);
  });

  it('SIGTERM drains and leaves only the fail-closed guard; the next start reconciles the rules', async () => {
    const ruleset = async (): Promise<string> => (await cluster.exec({ node: 'node-2' }, ['nft', 'list', 'table', 'inet', 'ambit-ztunnel'])).stdout;
    assert.match(await ruleset(), /tproxy/);
    await mesh.stopZtunnel('node-2', 'SIGTERM');
    const guard = await ruleset();
    assert.doesNotMatch(guard, /tproxy/, 'the redirection rules are gone');
    assert.match(guard, /drop/, 'a guard keeps enrolled pods fail closed');
    const refused = await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'while-down', 1500);
    assert.ok(!refused.ok, 'no plaintext path while the destination ztunnel is down');
    await mesh.startZtunnel('node-2');
    assert.match(await ruleset(), /tproxy/);
    await eventually(async () => (await tcp('mesh-a/client', `${cluster.podIp('mesh-b/echo')}:9000`, 'back', 2000)).ok || undefined, 'traffic recovers', 20_000);
  });

  async function setNamespaceLabels(name: string, labels: Record<string, string>): Promise<void> {
    const current = await mesh.store.get<Namespace>('Namespace', name);
    assert.ok(current);
    await mesh.store.update<Namespace>({ ...current, metadata: { ...current.metadata, labels } });
  }
});
