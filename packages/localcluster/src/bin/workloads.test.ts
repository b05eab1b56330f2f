// The sample workloads on loopback (no root): echo answers who it is and
// echoes bytes; the client prints answers and exits non-zero on failure.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const echoBin = fileURLToPath(new URL('./echo.js', import.meta.url));
const clientBin = fileURLToPath(new URL('./client.js', import.meta.url));
const run = promisify(execFile);

async function client(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [clientBin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('sample workloads', () => {
  let echo: ChildProcess;
  let ports: { http: number; tcp: number };

  before(async () => {
    echo = spawn(process.execPath, [echoBin, '--http-port', '0', '--tcp-port', '0', '--host', '127.0.0.1', '--version', 'v7'], {
      env: { ...process.env, POD_NAME: 'echo-1', POD_NAMESPACE: 'demo' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: echo.stdout! });
    for await (const line of lines) {
      const event = JSON.parse(line) as { msg: string; http: number; tcp: number };
      if (event.msg === 'listening') {
        ports = event;
        break;
      }
    }
  });

  after(() => { echo.kill('SIGTERM'); });

  it('echo answers HTTP with its identity and the caller', async () => {
    const result = await client('http', `http://127.0.0.1:${ports.http}/a/b`, '--count', '2', '--header', 'x-test: yes');
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { status: number; body: Record<string, unknown> });
    assert.equal(lines.length, 2);
    const { status, body } = lines[0]!;
    assert.equal(status, 200);
    assert.equal(body.pod, 'echo-1');
    assert.equal(body.namespace, 'demo');
    assert.equal(body.version, 'v7');
    assert.equal(body.path, '/a/b');
    assert.equal(body.method, 'GET');
    assert.match(String(body.client), /^127\.0\.0\.1:\d+$/);
    assert.equal((body.headers as Record<string, string>)['x-test'], 'yes');
  });

  it('echo answers /status/<code> with that code, and the client fails on it', async () => {
    const result = await client('http', `http://127.0.0.1:${ports.http}/status/503`);
    assert.equal(result.code, 1);
    assert.equal((JSON.parse(result.stdout) as { status: number }).status, 503);
  });

  it('client reuses one connection with --keep-alive, and sends --method', async () => {
    const result = await client('http', `http://127.0.0.1:${ports.http}/x`, '--count', '3', '--method', 'POST', '--keep-alive');
    assert.equal(result.code, 0, result.stderr);
    const bodies = result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { body: { client: string; method: string } }).body);
    assert.deepEqual(bodies.map((b) => b.method), ['POST', 'POST', 'POST']);
    assert.equal(new Set(bodies.map((b) => b.client)).size, 1, 'one client port for every request');
    const fresh = await client('http', `http://127.0.0.1:${ports.http}/x`, '--count', '2');
    const clients = fresh.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { body: { client: string } }).body.client);
    assert.notEqual(clients[0], clients[1], 'without either, a new connection per request');
  });

  it('client speaks HTTP/2 prior knowledge with --h2c, all requests on one session', async () => {
    const sessions = new Set<unknown>();
    const server = http2.createServer((request, response) => {
      sessions.add(request.stream.session);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ method: request.method, path: request.url, version: request.httpVersion }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const result = await client('http', `http://127.0.0.1:${port}/h2?q=1`, '--count', '3', '--h2c', '--method', 'DELETE');
      assert.equal(result.code, 0, result.stderr);
      const bodies = result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { status: number; body: Record<string, string> }));
      assert.deepEqual(bodies.map((b) => [b.status, b.body.method, b.body.path, b.body.version]), Array(3).fill([200, 'DELETE', '/h2?q=1', '2.0']));
      assert.equal(sessions.size, 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('echo answers /flaky with 503 then 200 alternately, and delays with ?delay=', async () => {
    const result = await client('http', `http://127.0.0.1:${ports.http}/flaky`, '--count', '4');
    assert.deepEqual(result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { status: number }).status), [503, 200, 503, 200]);
    const started = Date.now();
    const slow = await client('http', `http://127.0.0.1:${ports.http}/status/201?delay=300`);
    assert.ok(Date.now() - started >= 250, 'answered after the delay');
    assert.equal((JSON.parse(slow.stdout) as { status: number }).status, 201);
  });

  it('echo echoes raw TCP', async () => {
    const result = await client('tcp', `127.0.0.1:${ports.tcp}`, '--send', 'ping pong');
    assert.deepEqual([result.code, result.stdout], [0, 'ping pong']);
  });

  it('client exits 1 when it cannot connect and 2 on bad usage', async () => {
    const refused = await client('tcp', '127.0.0.1:1', '--send', 'x');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ECONNREFUSED/);
    assert.equal((await client('tcp', '127.0.0.1:1')).code, 2);
    assert.equal((await client('smtp', 'x')).code, 2);
  });
});
