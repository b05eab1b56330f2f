// The ambit-ztunnel process: starts against a control plane, becomes ready,
// drains on SIGTERM and exits 0; refuses bad settings with exit 2.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBootstrapToken } from '@ambit/control-plane';
import { runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/net.js';
import { freePort, httpGet } from '../support/ztunnel.js';

const BIN = fileURLToPath(new URL('../../../packages/ztunnel/dist/bin/ztunnel.js', import.meta.url));

describe('ambit-ztunnel', () => {
  let run: RunningControlPlane;
  let dir: string;

  before(async () => {
    run = await runControlPlane();
    dir = await mkdtemp(join(tmpdir(), 'ambit-ztbin-'));
  });
  after(async () => {
    await run.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts from flags and AMBIT_ZTUNNEL_* variables, becomes ready, and exits 0 after draining on SIGTERM', async () => {
    const { file } = await writeBootstrapToken(run.stateDir, { node: 'node-bin' });
    const roots = join(dir, 'roots.pem');
    await writeFile(roots, run.cp.ca.roots.join(''));
    const admin = join(dir, 'zt.sock');
    const child = spawn(process.execPath, [
      BIN, '--node', 'node-bin', '--control-plane', `127.0.0.1:${run.cp.address.port}`, '--ca-root-file', roots,
      '--hbone-port', String(await freePort()), '--socks5', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--readiness', '127.0.0.1:0',
      '--admin-socket', admin,
    ], {
      env: { ...process.env, AMBIT_ZTUNNEL_BOOTSTRAP_TOKEN_FILE: file, AMBIT_ZTUNNEL_LOG_LEVEL: 'info', AMBIT_ZTUNNEL_DRAIN_DEADLINE: '2s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      const line = await eventually(() => output.split('\n').find((l) => l.includes('"ztunnel started"')), 20_000);
      const { readiness } = JSON.parse(line) as { readiness: string };
      const port = Number(readiness.split(':').pop());
      await eventually(async () => (await httpGet({ port }, '/healthz/ready')).status === 200 || undefined, 20_000);
      assert.ok(existsSync(admin));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.match(output, /"drained"/);
      assert.equal(existsSync(admin), false, 'the admin socket is removed');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses bad settings with exit 2 and one line naming the setting', () => {
    const env = { ...process.env, AMBIT_ZTUNNEL_NODE: undefined };
    const bad = spawnSync(process.execPath, [BIN, '--node', 'n1', '--control-plane', 'nowhere'], { encoding: 'utf8', env });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /control-plane="nowhere" must be host:port/);
    const missing = spawnSync(process.execPath, [BIN], { encoding: 'utf8', env });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /node=undefined is required/);
    const unknown = spawnSync(process.execPath, [BIN, '--bogus', 'x'], { encoding: 'utf8', env });
    assert.equal(unknown.status, 2);
    const unreadable = spawnSync(process.execPath, [
      BIN, '--node', 'n1', '--control-plane', '127.0.0.1:1', '--ca-root-file', join(dir, 'missing.pem'), '--bootstrap-token-file', 'x',
      '--admin-socket', join(dir, 'x.sock'), '--log-level', 'silent',
    ], { encoding: 'utf8', env });
    assert.equal(unreadable.status, 2);
    assert.match(unreadable.stderr, /ca-root-file .*missing\.pem cannot be read: ENOENT/);
  });
});
