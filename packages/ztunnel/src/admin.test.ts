import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, Counter } from 'prom-client';
import { AmbitError, createLogger, silentLogger, type LogLevel } from '@ambit/core';
import { AdminServer, type AdminSources } from './admin.js';

function request(socketPath: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.request({ socketPath, path, method }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

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
  let admin: AdminServer;
  let level: LogLevel = 'info';
  const registry = new Registry();
  new Counter({ name: 'admin_test_total', help: 'test', registers: [registry] }).inc(3);
  const sources: AdminSources = {
    configDump: () => ({ node: 'node-1' }),
    workloads: () => [{ name: 'a' }],
    services: () => [],
    policies: () => [],
    certificates: () => [{ kind: 'node', identity: 'spiffe://cluster.local/ns/ambit-system/sa/ztunnel', state: 'available' }],
    connections: () => [],
    registry,
    notReady: () => 'waiting for discovery sync',
    logLevel: { get: () => level, set: (l) => { level = l; } },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-admin-'));
  });
  after(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces a stale socket, listens with mode 0600 and answers JSON', async () => {
    const path = join(dir, 'admin.sock');
    await staleSocket(path);
    admin = new AdminServer(sources, silentLogger);
    await admin.listen(path);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const certificates = await request(path, '/certificates');
    assert.equal(certificates.status, 200);
    assert.equal((JSON.parse(certificates.body) as { kind: string }[])[0]?.kind, 'node');
    assert.deepEqual(JSON.parse((await request(path, '/config_dump')).body), { node: 'node-1' });
    assert.match((await request(path, '/metrics')).body, /admin_test_total 3/);
    const ready = await request(path, '/healthz/ready');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /waiting for discovery sync/);
    const missing = await request(path, '/nope');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /\/config_dump/);
    assert.equal((await request(path, '/workloads', 'DELETE')).status, 405);
  });

  it('changes the log level with POST /logging, and refuses unknown levels', async () => {
    const path = join(dir, 'admin.sock');
    assert.equal((await request(path, '/logging?level=debug', 'POST')).status, 200);
    assert.equal(level, 'debug');
    assert.deepEqual(JSON.parse((await request(path, '/logging')).body), { level: 'debug' });
    const bad = await request(path, '/logging?level=loud', 'POST');
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
    const other = new AdminServer(sources, silentLogger);
    await assert.rejects(other.listen(join(dir, 'admin.sock')), (error: unknown) => error instanceof AmbitError && /another process is serving/.test(error.message));
    const file = join(dir, 'file');
    await writeFile(file, 'not a socket');
    await assert.rejects(other.listen(file), /exists and is not a socket/);
    assert.equal(existsSync(file), true, 'never removed');
  });

  it('removes its socket on close', async () => {
    const path = join(dir, 'admin.sock');
    await admin.close();
    assert.equal(existsSync(path), false);
  });
});
