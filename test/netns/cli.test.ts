// The ambit command against a real local mesh (root only): up with the demo,
// traffic from the client, enroll with --wait, a waypoint with an HTTPRoute
// applied from a file, listings in table and JSON, then down. Each step runs
// the same function the `ambit` bin runs and checks its output and exit code.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAmbit, type CliResult } from '../support/cli.js';
import { LocalCluster } from '@ambit/localcluster';
import { API_SOCKET_FILE, RemoteStore } from '@ambit/control-plane';
import { eventually, localclusterBin, netnsSkipReason } from '../support/netns.js';

const skip = netnsSkipReason('netns/cli');

describe('ambit CLI on a local mesh', { skip }, () => {
  let base: string;
  let stateDir: string;
  let id: string | undefined;

  const ambit = (...argv: string[]): Promise<CliResult> => runAmbit(['--state-dir', stateDir, ...argv]);

  /** A request from demo/client; the echo's answer. */
  async function fromClient(url: string): Promise<{ version: string; headers: Record<string, string> }> {
    const cluster = await LocalCluster.load(stateDir);
    const result = await cluster.exec('demo/client', [process.execPath, localclusterBin('client'), 'http', url, '--timeout', '5000']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    return (JSON.parse(result.stdout.trim()) as { body: { version: string; headers: Record<string, string> } }).body;
  }

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'ambit-cli-'));
    stateDir = join(base, 'state');
  });

  after(async () => {
    if (id !== undefined) {
      const result = await ambit('down');
      assert.equal(result.code, 0, result.err);
      assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, new RegExp(`ambit-${id}-`));
    }
    await rm(base, { recursive: true, force: true });
  });

  it('up builds the mesh with the demo and says what to try; a second up reports what runs', async () => {
    const first = await ambit('up', '--nodes', '2');
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /✔ local cluster with 2 node\(s\) created/);
    assert.match(first.out, /✔ ztunnel on node-2 ready \(\d+\.\ds\)/);
    assert.match(first.out, /✔ demo workloads in namespace demo answering/);
    assert.match(first.out, /ambit namespace enroll demo --wait/);
    id = (await LocalCluster.load(stateDir)).id;
    const second = await ambit('up');
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /✔ local cluster found in/);
    assert.equal((await fromClient('http://echo.demo/')).version !== undefined, true);
    // exec passes the command's exit code through (its output goes to this terminal).
    assert.equal((await ambit('exec', 'demo/client', '--', 'ambit-client', 'http', 'http://echo.demo/')).code, 0);
    assert.equal((await ambit('exec', 'demo/client', '--', 'ambit-client', 'http', 'http://echo.demo/status/503')).code, 1);
    const noPod = await ambit('exec', 'demo/nope', '--', 'true');
    assert.equal(noPod.code, 1);
    assert.match(noPod.err, /no pod demo\/nope/);
  });

  it('namespace enroll --wait returns once every demo pod is HBONE', async () => {
    const result = await ambit('namespace', 'enroll', 'demo', '--wait', '60s');
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /all 3 pod\(s\) of demo show protocol HBONE/);
    const unknown = await ambit('namespace', 'enroll', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no namespace "nope"/);
  });

  it('waypoint apply --enroll-namespace --wait, an HTTPRoute from a file, and the listings', async () => {
    const applied = await ambit('waypoint', 'apply', '-n', 'demo', '--enroll-namespace', '--wait', '90s');
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /waypoint demo\/waypoint programmed/);
    const file = join(base, 'route.yaml');
    await writeFile(file, [
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: { name: echo-v2, namespace: demo }', 'spec:',
      '  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]',
      '  rules: [{ backendRefs: [{ name: echo-v2, port: 80 }] }]', '',
    ].join('\n'));
    assert.deepEqual(await ambit('apply', '-f', file), { code: 0, out: 'httproute/echo-v2 created\n', err: '' });
    assert.deepEqual(await ambit('apply', '-f', file), { code: 0, out: 'httproute/echo-v2 unchanged\n', err: '' });
    await eventually(async () => ((await fromClient('http://echo.demo/')).version === 'v2' ? true : undefined), 'the route in force', 30_000);
    const list = await ambit('waypoint', 'list', '-n', 'demo');
    assert.match(list.out, /^NAMESPACE\s+NAME\s+TRAFFIC-TYPE\s+PROGRAMMED\ndemo\s+waypoint\s+service\s+True\n$/);
    const json = JSON.parse((await ambit('waypoint', 'list', '-A', '-o', 'json')).out) as { name: string; programmed: string }[];
    assert.deepEqual(json.map((w) => [w.name, w.programmed]), [['waypoint', 'True']]);
    assert.match((await ambit('waypoint', 'status', '-n', 'demo')).out, /waypoint\s+True\s+Programmed\s+Programmed/);
    assert.match((await ambit('get', 'httproutes', '-n', 'demo')).out, /echo-v2\s+Accepted/);
    // The inspection commands, table and JSON.
    const workloads = await ambit('ztunnel', 'workloads');
    assert.match(workloads.out, /^NAMESPACE\s+POD\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL\n/);
    assert.match(workloads.out, /demo\s+echo-v2\s+10\.244\.2\.\d+\s+node-2\s+None\s+HBONE/, 'a service waypoint binds services, not workloads');
    const certificates = JSON.parse((await ambit('ztunnel', 'certificates', '--node', 'node-2', '-o', 'json')).out) as { node: string; identity: string }[];
    assert.ok(certificates.some((c) => c.identity === 'spiffe://cluster.local/ns/demo/sa/echo'), 'node-2 holds echo-v2\'s identity');
    assert.ok(certificates.every((c) => c.node === 'node-2' && c.identity !== 'spiffe://cluster.local/ns/demo/sa/client'), 'and not the client\'s (node-1)');
    assert.match((await ambit('ztunnel', 'services')).out, /demo\s+echo\s+10\.96\.0\.\d+\s+demo\/waypoint\s+2\/2/);
    const proxies = await ambit('proxy-status');
    assert.match(proxies.out, /^NAME\s+ROLE\s+SYNCED\s+VERSION\s+LAST-ACK\n/);
    assert.match(proxies.out, /ztunnel\/node-1\s+ztunnel\s+SYNCED/);
    assert.match(proxies.out, /waypoint\/demo\/waypoint\s+waypoint\s+SYNCED/);
    const status = await ambit('status');
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, /Control plane: local backend, ready/);
    assert.match(status.out, /node-1\s+yes/);
    assert.match(status.out, /demo\s+yes\s+3\/3 \(\+1 opted out\)\s+waypoint\s+True/, 'the waypoint pod itself is never captured, nor counted as missing');
    assert.doesNotMatch(status.out, /‼/, 'no warnings on a healthy mesh');
    assert.match((await ambit('ztunnel', 'workloads', '--node', 'node-9')).err, /no node node-9/);
    assert.deepEqual(await ambit('delete', 'httproute', 'echo-v2', '-n', 'demo'), { code: 0, out: 'httproute/echo-v2 deleted\n', err: '' });
    const deleted = await ambit('waypoint', 'delete', '-n', 'demo');
    assert.deepEqual([deleted.code, deleted.err], [0, '']);
    assert.match(deleted.out, /^waypoint demo\/waypoint deleted\n‼ namespace\/demo still names it .*`ambit label namespace demo ambit\.dev\/use-waypoint-` removes the label\n$/);
    assert.deepEqual(await ambit('label', 'namespace', 'demo', 'ambit.dev/use-waypoint-'), { code: 0, out: 'namespace/demo unlabeled\n', err: '' });
    // A pod's label reaches the cluster (services select by it) as from kubectl.
    assert.deepEqual(await ambit('label', 'pod', 'echo-v2', '-n', 'demo', 'tier=canary'), { code: 0, out: 'pod/echo-v2 labeled\n', err: '' });
    const refused = await ambit('label', 'pod', 'echo-v2', '-n', 'demo', 'tier=stable');
    assert.deepEqual([refused.code, refused.err.split('\n')[0]], [1, 'ambit: pod/echo-v2: tier already has a value (canary), and --overwrite is not given']);
    assert.match((await ambit('get', 'pods', '-n', 'demo', 'echo-v2', '-o', 'json')).out, /"tier": "canary"/);
  });

  it('check passes on a healthy mesh and names each injected fault with × and exit 1', async () => {
    const pre = await ambit('check', '--pre');
    assert.equal(pre.code, 0, pre.out);
    assert.match(pre.out, /✔ the kernel supports nftables TPROXY/);
    await ambit('waypoint', 'apply', '-n', 'demo', '--wait', '90s');
    const healthy = await ambit('check');
    assert.equal(healthy.code, 0, healthy.out);
    assert.match(healthy.out, /✔ control plane is reachable and ready/);
    assert.match(healthy.out, /✔ capture rules cover its 2 enrolled pod\(s\)/);
    assert.match(healthy.out, /✔ every enrolled pod on node-2 has a valid certificate/);
    assert.match(healthy.out, /✔ waypoint demo\/waypoint is programmed/);
    assert.match(healthy.out, /Status check results are ✔/);
    const cluster = await LocalCluster.load(stateDir);

    // Capture rules removed behind ztunnel's back.
    spawnSync('ip', ['netns', 'exec', cluster.nodeNetns('node-2'), 'nft', 'delete', 'table', 'inet', 'ambit-ztunnel']);
    const noRules = await ambit('check');
    assert.equal(noRules.code, 1);
    assert.match(noRules.out, /× capture rules cover every enrolled pod on node-2\n\s+the nftables table inet ambit-ztunnel is missing/);

    // The waypoint scaled to nothing.
    const store = new RemoteStore(join(stateDir, 'control-plane', API_SOCKET_FILE));
    try {
      await store.patch('Deployment', 'waypoint', 'demo', { spec: { replicas: 0 } });
      await eventually(async () => (/× waypoint demo\/waypoint is programmed\n\s+Pending: no waypoint pod/.test((await ambit('check')).out) ? true : undefined), 'the waypoint fault named', 30_000);
      await store.patch('Deployment', 'waypoint', 'demo', { spec: { replicas: 1 } });
    } finally {
      await store.close();
    }

    // A ztunnel stopped.
    const ztunnel = (await cluster.processes()).find((p) => p.target.kind === 'node' && p.target.node === 'node-2' && p.argv.some((a) => a.endsWith('ztunnel.js')));
    assert.ok(ztunnel);
    process.kill(ztunnel.pid, 'SIGTERM');
    await eventually(async () => (/× ztunnel on node-2 is running and ready/.test((await ambit('check')).out) ? true : undefined), 'the stopped ztunnel named', 20_000);

    // `ambit up` restarts it, which reconciles its rules: healthy again.
    assert.equal((await ambit('up')).code, 0);
    const again = await eventually(async () => {
      const result = await ambit('check');
      return result.code === 0 ? result : undefined;
    }, 'a healthy check after up', 60_000);
    assert.match(again.out, /✔ ztunnel on node-2 is ready and synced/);
  });
});

