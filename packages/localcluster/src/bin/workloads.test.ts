// The sample workloads on loopback (no root): echo answers who it is and
// echoes bytes; the client prints answers and exits non-zero on failure.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
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
