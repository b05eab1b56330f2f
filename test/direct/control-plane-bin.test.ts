// The ambit-control-plane process: starts, reports ready, drains on SIGTERM, refuses bad settings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/net.js';

const BIN = fileURLToPath(new URL('../../../packages/control-plane/dist/bin/control-plane.js', import.meta.url));

function ready(port: number): Promise<number> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz/ready' }, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', () => resolve(0));
  });
}

describe('ambit-control-plane', () => {
  it('starts on the local backend, is ready, and exits 0 after draining on SIGTERM', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'ambit-cpbin-'));
    const child = spawn(process.execPath, [BIN, '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--readiness', '127.0.0.1:0'], {
      env: { ...process.env, AMBIT_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      const line = await eventually(() => output.split('\n').find((l) => l.includes('"control plane ready"')), 20_000);
      const { readiness } = JSON.parse(line) as { readiness: number };
      assert.equal(await ready(readiness), 200);
      assert.equal(((await stat(join(stateDir, 'ca', 'root-key.pem'))).mode & 0o777), 0o600);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(output, /"stopped"/);
    } finally {
      child.kill('SIGKILL');
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('refuses bad settings with exit 2 and one line naming the setting', () => {
    const result = spawnSync(process.execPath, [BIN, '--backend', 'nope'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /backend="nope" must be one of local, kubernetes/);
    const missing = spawnSync(process.execPath, [BIN], { encoding: 'utf8', env: { ...process.env, AMBIT_STATE_DIR: '' } });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /state-dir.*required/);
    const unknown = spawnSync(process.execPath, [BIN, '--bogus', 'x'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
  });
});
