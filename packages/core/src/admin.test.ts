import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminServer, type AdminSources } from './admin.js';
import { AmbitError } from './errors.js';
import { createLogger, silentLogger, type LogLevel } from './log.js';
import { closeServer, listen } from './serve.js';
import { httpRequest as request } from './testing.js';

/** A unix socket left behind by a process that died without cleaning up. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}); setInterval(() => {}, 1000)`], { stdio: 'ignore' });
  const deadline = Date.now() + 5_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error('the helper process never bound its socket');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('admin server', () => {
  let dir: string;
  let admin: http.Server;
  let level: LogLevel = 'info';
  const sources: AdminSources = {
    endpoints: {
      '/config_dump': () => ({ node: 'node-1' }),
      '/workloads': () => [{ name: 'a' }],
      '/certificates': () => [{ kind: 'node', identity: 'spiffe://cluster.local/ns/ambit-system/sa/ztunnel', state: 'available' }],
      '/broken': () => { throw new Error('no dump today'); },
      '/later': () => Promise.resolve({ from: 'a worker' }),
      '/later-broken': () => Promise.reject(new Error('the worker did not answer')),
    },
    metrics: { metrics: () => Promise.resolve('admin_test_total 3\n'), contentType: 'text/plain; version=0.0.4; charset=utf-8' },
    notReady: () => 'waiting for discovery sync',
    logLevel: { get: () => level, set: (l) => { level = l; } },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-admin-'));
  });
  after(async () => {
    await closeServer(admin);
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces a stale socket, listens with mode 0600 and answers JSON', async () => {
    const path = join(dir, 'admin.sock');
    await staleSocket(path);
    admin = adminServer(sources, silentLogger);
    await listen(admin, path, 'admin');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const certificates = await request({ socketPath: path, path: '/certificates' });
    assert.equal(certificates.status, 200);
    assert.equal((JSON.parse(certificates.body) as { kind: string }[])[0]?.kind, 'node');
    assert.deepEqual(JSON.parse((await request({ socketPath: path, path: '/config_dump' })).body), { node: 'node-1' });
    assert.match((await request({ socketPath: path, path: '/metrics' })).body, /admin_test_total 3/);
    const ready = await request({ socketPath: path, path: '/healthz/ready' });
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { ready: false, reason: 'waiting for discovery sync' });
    const missing = await request({ socketPath: path, path: '/nope' });
    assert.equal(missing.status, 404);
    assert.match(missing.body, /\/config_dump/);
    assert.equal((await request({ socketPath: path, path: '/workloads', method: 'DELETE' })).status, 405);
    const broken = await request({ socketPath: path, path: '/broken' });
    assert.equal(broken.status, 500);
    assert.match(broken.body, /no dump today/);
    assert.deepEqual(JSON.parse((await request({ socketPath: path, path: '/later' })).body), { from: 'a worker' }, 'a Promise is awaited');
    const late = await request({ socketPath: path, path: '/later-broken' });
    assert.equal(late.status, 500);
    assert.match(late.body, /the worker did not answer/);
  });

  it('changes the log level with POST /logging, and refuses unknown levels', async () => {
    const path = join(dir, 'admin.sock');
    assert.equal((await request({ socketPath: path, path: '/logging?level=debug', method: 'POST' })).status, 200);
    assert.equal(level, 'debug');
    assert.deepEqual(JSON.parse((await request({ socketPath: path, path: '/logging' })).body), { level: 'debug' });
    const bad = await request({ socketPath: path, path: '/logging?level=loud', method: 'POST' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not a log level/);
    assert.equal(level, 'debug');
  });

  it('changes the level of loggers derived earlier (pino children follow their parent)', () => {
    const root = createLogger({ level: 'info' });
    const child = root.child({ component: 'x' }).child({ conn: '1' });
    root.level = 'debug';
    assert.equal(child.isLevelEnabled('debug'), true);
  });

  it('refuses a path where another process is listening, or that is not a socket', async () => {
    const other = adminServer(sources, silentLogger);
    await assert.rejects(
      listen(other, join(dir, 'admin.sock'), 'admin', { busyHint: 'is another ztunnel running for this node?' }),
      (error: unknown) => error instanceof AmbitError && /another process is serving/.test(error.message) && error.hint === 'is another ztunnel running for this node?',
    );
    const file = join(dir, 'file');
    await writeFile(file, 'not a socket');
    await assert.rejects(listen(other, file, 'admin'), /exists and is not a socket/);
    assert.equal(existsSync(file), true, 'never removed');
  });

  it('removes its socket on close', async () => {
    const path = join(dir, 'admin.sock');
    await closeServer(admin);
    assert.equal(existsSync(path), false);
  });
});
