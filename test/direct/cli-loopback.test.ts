// The loopback mode end to end, through the real `ambit` bin and without
// root: when the suite runs as root, every command runs as user `nobody`
// (runuser), so this proves the mode needs no privilege. Pods are 127.x
// addresses, nothing is captured; `ambit exec` puts a command in the mesh as
// its pod through the pod's SOCKS5 proxy (ALL_PROXY).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isAlive, LocalCluster } from '@ambit/localcluster';

const require = createRequire(import.meta.url);
const AMBIT = require.resolve('@ambit/cli/package.json').replace(/package\.json$/, 'dist/bin/ambit.js');
const NOBODY = 65534;
const root = process.getuid?.() === 0;
// As root, drop to nobody; if runuser is missing, say so (the mode itself still runs).
const runuser = root && spawnSync('runuser', ['--help'], { encoding: 'utf8' }).status === 0;
const curl = spawnSync('curl', ['--version']).status === 0;

interface Result { code: number; out: string; err: string }

describe('ambit up --loopback: the mesh without root', { timeout: 240_000 }, () => {
  let base: string;
  let stateDir: string;

  /** The real bin, as nobody when the suite runs as root. */
  function spawnAmbit(argv: string[]): ChildProcessByStdio<null, Readable, Readable> {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, AMBIT_STATE_DIR: stateDir, NO_COLOR: '1' };
    const [file, args] = runuser
      ? ['runuser', ['-u', 'nobody', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, AMBIT, ...argv]]
      : [process.execPath, [AMBIT, ...argv]];
    return spawn(file, args, { env: runuser ? { PATH: env.PATH } : env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  function ambit(...argv: string[]): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawnAmbit(argv);
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.once('error', reject);
      child.once('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, out, err }); });
    });
  }

  async function ok(...argv: string[]): Promise<string> {
    const result = await ambit(...argv);
    assert.equal(result.code, 0, `ambit ${argv.join(' ')} failed:\n${result.out}${result.err}`);
    return result.out;
  }

  /** One request from the client pod, through `ambit exec` (its SOCKS5 proxy); the echo's JSON answer. */
  async function fromClient(...args: string[]): Promise<{ status: number; body: { pod: string; client: string; headers: Record<string, string> } }> {
    const out = await ambit('exec', 'demo/client', '--', 'ambit-client', 'http', 'http://echo.demo/', ...args);
    return JSON.parse(out.out.trim().split('\n').at(-1) ?? '{}') as { status: number; body: { pod: string; client: string; headers: Record<string, string> } };
  }

  before(async () => {
    if (root && !runuser) process.stderr.write('cli-loopback: runuser is missing, so the loopback mode runs as root here (it would run the same as any user)\n');
    base = await mkdtemp(join(tmpdir(), 'ambit-loopback-'));
    stateDir = join(base, 'state');
    if (runuser) {
      await chown(base, NOBODY, NOBODY);
      await chmod(base, 0o700);
    }
  });

  after(async () => {
    const cluster = await LocalCluster.load(stateDir).catch(() => undefined);
    const pids = (await cluster?.processes())?.map((p) => p.pid) ?? [];
    const down = await ambit('down');
    // Exited processes (zombies until reaped) count as gone.
    for (const pid of pids) assert.equal(await isAlive(pid), false, `process ${pid} survived ambit down`);
    await rm(base, { recursive: true, force: true });
    assert.equal(down.code, 0, down.out + down.err);
  });

  it('without root and without --loopback, says why and offers the loopback mode; changes nothing', { skip: root && !runuser ? 'runs as root' : false }, async () => {
    const result = await ambit('up');
    assert.equal(result.code, 1);
    assert.match(result.err, /needs root/);
    assert.match(result.err, /ambit up --loopback/);
    assert.equal(spawnSync('test', ['-e', join(stateDir, 'cluster.json')]).status, 1, 'no cluster was created');
  });

  it('comes up with the demo, and a second up reports what runs', async () => {
    const out = await ok('up', '--loopback', '--nodes', '2');
    assert.match(out, /local loopback cluster with 2 node\(s\) created/);
    assert.match(out, /ztunnel on node-2 ready/);
    assert.match(out, /demo workloads in namespace demo answering/);
    assert.match(out, /loopback mode/);
    assert.match(out, /ambit namespace enroll demo --wait/);
    const again = await ok('up', '--loopback');
    assert.match(again, /local loopback cluster found/);
    const cluster = await LocalCluster.load(stateDir);
    assert.equal(cluster.network, 'loopback');
    assert.ok(cluster.pods.every((p) => p.ip.startsWith('127.') && p.netns === ''), 'pods are loopback addresses, not namespaces');
  });

  it('sends plaintext before enrollment, from the pod\'s own address', async () => {
    const cluster = await LocalCluster.load(stateDir);
    const answer = await fromClient();
    assert.equal(answer.status, 200);
    assert.match(answer.body.pod, /^echo-v[12]$/);
    assert.equal(answer.body.client.replace(/:\d+$/, ''), cluster.podIp('demo/client'));
    assert.equal(answer.body.headers['host'], 'echo.demo');
  });

  it('enrolls demo: the same request is mutual TLS between the two pods\' identities', async () => {
    assert.match(await ok('namespace', 'enroll', 'demo', '--wait', '60s'), /all 3 pod\(s\) of demo show protocol HBONE/);
    assert.equal((await fromClient()).status, 200);
    const rows = JSON.parse(await ok('ztunnel', 'connections', '-o', 'json')) as { src: string; securityPolicy: string; sourceIdentity?: string; destinationIdentity?: string }[];
    assert.ok(rows.some((r) => r.securityPolicy === 'mutual_tls' && r.sourceIdentity === 'spiffe://cluster.local/ns/demo/sa/client'
      && r.destinationIdentity === 'spiffe://cluster.local/ns/demo/sa/echo'), JSON.stringify(rows, null, 2));
    // The SOURCE is the client pod (whose SOCKS5 proxy took the connection), not the loopback peer its process dialled from.
    const client = (await LocalCluster.load(stateDir)).podIp('demo/client');
    const clientRows = rows.filter((r) => r.sourceIdentity === 'spiffe://cluster.local/ns/demo/sa/client');
    assert.ok(clientRows.length > 0 && clientRows.every((r) => r.src.replace(/:\d+$/, '') === client), JSON.stringify(rows, null, 2));
  });

  it('curl in the client pod goes through the mesh too (ALL_PROXY=socks5h://…)', { skip: curl ? false : 'curl is not installed' }, async () => {
    const result = await ambit('exec', 'demo/client', '--', 'curl', '-sS', '--max-time', '10', 'http://echo.demo/');
    assert.equal(result.code, 0, result.err);
    assert.match(JSON.parse(result.out).pod as string, /^echo-v[12]$/);
  });

  it('deploys a waypoint: L7 policy and the client\'s identity reach the echo', async () => {
    assert.match(await ok('waypoint', 'apply', '-n', 'demo', '--enroll-namespace', '--wait', '90s'), /programmed/);
    const answer = await fromClient();
    assert.equal(answer.status, 200);
    assert.match(answer.body.headers['x-forwarded-client-cert'] ?? '', /By=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/waypoint;URI=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client/);
    const policy = [
      'apiVersion: security.ambit.dev/v1', 'kind: AuthorizationPolicy', 'metadata: {name: read-only, namespace: demo}',
      'spec:', '  targetRefs: [{kind: Service, group: "", name: echo}]', '  action: ALLOW',
      '  rules: [{to: [{operation: {methods: [GET]}}]}]', '',
    ].join('\n');
    const file = join(base, 'policy.yaml');
    await writeFile(file, policy, { mode: 0o644 });
    await ok('apply', '-f', file);
    const deadline = Date.now() + 30_000;
    let denied: { status: number } | undefined;
    while (Date.now() < deadline) {
      denied = await fromClient('--method', 'POST');
      if (denied.status === 403) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(denied?.status, 403, 'POST is refused by the waypoint');
    assert.equal((await fromClient()).status, 200, 'GET still passes');
  });

  it('explains both requests hop by hop from the proxies\' state: the waypoint\'s policy decides, exit 1 when denied', async () => {
    const get = JSON.parse(await ok('explain', 'demo/client', 'http://echo.demo/', '-o', 'json')) as {
      verdict: string; hops: { at: string; verdict?: string; policy?: string }[]; paths: { to: string; hops: { at: string; verdict?: string }[] }[];
    };
    assert.equal(get.verdict, 'allowed');
    assert.deepEqual(get.hops.filter((h) => h.verdict !== undefined).map((h) => [h.at, h.verdict, h.policy]), [['waypoint demo/waypoint', 'allowed', 'demo/read-only']]);
    assert.deepEqual(get.paths.map((p) => p.to.split(' ')[0]).sort(), ['demo/echo-v1', 'demo/echo-v2']);
    assert.ok(get.paths.every((p) => p.hops.at(-1)?.verdict === 'allowed' && /^ztunnel node-[12]$/.test(p.hops.at(-1)?.at ?? '')), JSON.stringify(get, null, 2));
    const post = await ambit('explain', 'demo/client', 'http://echo.demo/', '-X', 'POST');
    assert.equal(post.code, 1, post.out + post.err);
    assert.match(post.out, /waypoint demo\/waypoint\s+× denies POST \/ with 403: no ALLOW policy matches/);
    const unknown = await ambit('explain', 'demo/client', 'http://nowhere.demo/');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no service nowhere\.demo as a pod in demo resolves it\nhint: services in demo: echo/);
  });

  it('logs: the proxies\' lines by role (the waypoint\'s access line for the denied POST), and -f prints what comes', async () => {
    // The waypoint writes its access lines at least once a second.
    let waypoint = '';
    const deadline = Date.now() + 10_000;
    while (!/"method":"POST".*"status":403/.test(waypoint) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      waypoint = await ok('logs', 'waypoint', '-n', 'demo');
    }
    assert.match(waypoint, /^\{"level":"info".*"app":"waypoint".*"component":"access".*"method":"POST".*"status":403/m);
    const ztunnels = (await ok('logs', 'ztunnel', '--tail', '2')).trim().split('\n');
    assert.deepEqual(ztunnels.map((l) => /^\[(ztunnel\/node-\d)\] \{"level"/.exec(l)?.[1]), ['ztunnel/node-1', 'ztunnel/node-1', 'ztunnel/node-2', 'ztunnel/node-2']);
    assert.match(await ok('logs', 'demo/echo-v1'), /"msg":"listening"/);
    assert.equal((await ok('logs', 'control-plane', '--level', 'error')), '');

    const follow = spawnAmbit(['logs', 'ztunnel', 'node-1', '-f', '--tail', '0']);
    let followed = '';
    try {
      const seen = new Promise<void>((resolve) => {
        follow.stdout.on('data', (chunk: Buffer) => {
          followed += chunk.toString();
          if (/"component":"access".*"workload":"demo\/client"/.test(followed)) resolve();
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await fromClient()).status, 200);
      await Promise.race([seen, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      assert.match(followed, /"msg":"connection complete"/, 'the client\'s connection, logged by its ztunnel, reached the follower');
    } finally {
      follow.kill('SIGTERM');
      await new Promise((resolve) => follow.once('close', resolve));
    }
  });

  it('status and check see the loopback mode, and check names a stopped ztunnel', async () => {
    assert.match(await ok('status'), /demo\s+yes\s+3\/3 \(\+1 opted out\)\s+waypoint\s+True/);
    const check = await ok('check');
    assert.match(check, /✔ loopback mode \(no capture\): every pod on node-1 has its SOCKS5 proxy/);
    assert.match(check, /Status check results are ✔/);
    await ok('ztunnel', 'stop', '--node', 'node-2');
    const broken = await ambit('check');
    assert.equal(broken.code, 1);
    assert.match(broken.out, /× ztunnel on node-2 is running and ready/);
    await ok('up', '--loopback');
    assert.equal((await ambit('check')).code, 0);
  });

  it('check names a route whose backend is missing and a service bound to a waypoint that does not exist, and passes once they are gone', async () => {
    const file = join(base, 'mistakes.yaml');
    await writeFile(file, [
      'apiVersion: v1\nkind: Service\nmetadata: { name: orphan, namespace: demo, labels: { ambit.dev/use-waypoint: gone } }\nspec: { selector: { app: echo }, ports: [{ port: 80, targetPort: 8080 }] }',
      'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: to-v3, namespace: demo }\n'
        + 'spec:\n  parentRefs: [{ group: "", kind: Service, name: echo }]\n  rules: [{ backendRefs: [{ name: echo-v3, port: 80 }] }]',
    ].join('\n---\n'), { mode: 0o644 });
    await ok('apply', '-f', file);
    let broken: Result | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      broken = await ambit('check');
      if (/× route demo\/to-v3/.test(broken.out)) break; // the control plane writes the route's status a moment later
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(broken?.code, 1, broken?.out);
    assert.match(broken.out, /× route demo\/to-v3 is accepted and its references resolve\n\s+BackendNotFound: .*echo-v3/);
    assert.match(broken.out, /× service demo\/orphan is bound to its waypoint\n\s+WaypointNotFound: no Gateway demo\/gone/);
    assert.match(broken.out, /✔ namespace demo is bound to waypoint demo\/waypoint/);
    await ok('delete', '-f', file);
    assert.equal((await ambit('check')).code, 0);
  });

  it('runs the Pods and Deployments a user applies (sample images) as pods with addresses of their own', async () => {
    const manifest = join(base, 'shop.yaml');
    await writeFile(manifest, [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: api, namespace: shop }\nspec:\n  selector: { matchLabels: { app: api } }\n'
        + '  template:\n    metadata: { labels: { app: api } }\n    spec: { containers: [{ name: api, image: ambit/echo, ports: [{ containerPort: 8080 }] }] }',
      'apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: shop }\nspec: { selector: { app: api }, ports: [{ port: 80, targetPort: 8080 }] }',
      'apiVersion: v1\nkind: Pod\nmetadata: { name: shell, namespace: shop }\nspec: { containers: [{ name: shell, image: ambit/client }] }',
    ].join('\n---\n'), { mode: 0o644 });
    const typo = join(base, 'typo.yaml');
    await writeFile(typo, 'apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: shopp }\nspec: { selector: { app: api }, ports: [{ port: 80 }] }\n', { mode: 0o644 });
    const refused = await ambit('apply', '-f', typo);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /namespace shopp not found, so Service shopp\/api cannot be created in it[\s\S]*create the Namespace first/);
    assert.doesNotMatch(await ok('get', 'namespaces'), /shopp/, 'nothing made');
    await ok('apply', '-f', manifest);
    let pods: { metadata: { name: string }; status?: { podIP?: string; conditions?: { type: string; status: string }[] } }[] = [];
    for (let i = 0; i < 60; i++) {
      pods = (JSON.parse(await ok('get', 'pods', '-n', 'shop', '-o', 'json')) as { items: typeof pods }).items;
      if (pods.length === 2 && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(pods.length, 2, 'an api pod and shell');
    for (const pod of pods) assert.match(pod.status?.podIP ?? '', /^127\./, `${pod.metadata.name} has a loopback address of its own`);
    const out = await ok('exec', 'shop/shell', '--', 'ambit-client', 'http', 'http://api.shop/');
    assert.match(out, /"status":200,"body":\{"pod":"api-[0-9a-f]{8}-0","namespace":"shop"/);
    await ok('delete', 'pod', 'shell', '-n', 'shop');
    let gone: Result | undefined;
    for (let i = 0; i < 60 && !/no pod shop\/shell/.test(gone?.err ?? ''); i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 300));
      gone = await ambit('exec', 'shop/shell', '--', 'true');
    }
    assert.match(gone?.err ?? '', /no pod shop\/shell/, 'the kubelet removed the pod with its object');

    const labels = async (): Promise<Record<string, string>> => (JSON.parse(await ok('get', 'namespace', 'shop', '-o', 'json')) as { metadata: { labels?: Record<string, string> } }).metadata.labels ?? {};
    await ok('namespace', 'enroll', 'shop');
    assert.equal((await labels())['ambit.dev/dataplane-mode'], 'ambient');
    await ok('namespace', 'unenroll', 'shop');
    assert.equal((await labels())['ambit.dev/dataplane-mode'], undefined, 'unenroll removes the label');
    assert.match(await ok('get', 'namespaces'), /^shop\s+Active\s/m);

    assert.match(await ok('delete', 'namespace', 'shop'), /namespace\/shop deleted/);
    assert.match(await ok('get', 'pods', '-n', 'shop'), /No pods found in namespace shop/);
    assert.doesNotMatch(await ok('status'), /^shop\s/m);
    const kept = await ambit('delete', 'namespace', 'default');
    assert.equal(kept.code, 2, 'bad input');
    assert.match(kept.err, /namespace default cannot be deleted/);
  });
});
