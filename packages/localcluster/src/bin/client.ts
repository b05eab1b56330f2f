#!/usr/bin/env node
// Sample client, no dependencies:
//
//   ambit-client http URL [--count N] [--method M] [--header name:value]... [--timeout ms]
//                         [--keep-alive | --h2c] [--summary]
//     one JSON line per request: {"status":200,"body":...}, or with --summary
//     one line counting answers by status and answering pod; a new connection
//     each time, or one HTTP/1.1 keep-alive connection (--keep-alive), or one
//     HTTP/2 prior-knowledge connection (--h2c) for all of them
//   ambit-client tcp HOST:PORT --send TEXT [--timeout ms]
//     sends TEXT, half-closes, prints what came back
//
// Exit codes: 0 success, 1 a request failed (connection error, timeout or
// an HTTP status >= 400), 2 usage error.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { parseArgs } from 'node:util';

const USAGE = 'usage: ambit-client http URL [--count N] [--method M] [--header name:value] [--timeout ms] [--keep-alive | --h2c] [--summary]\n       ambit-client tcp HOST:PORT --send TEXT [--timeout ms]\n';

// parseArgs throws on an unknown option: a usage error (exit 2) like any other.
const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        summary: { type: 'boolean', default: false },
        count: { type: 'string', default: '1' },
        method: { type: 'string', default: 'GET' },
        'keep-alive': { type: 'boolean', default: false },
        h2c: { type: 'boolean', default: false },
        header: { type: 'string', multiple: true, default: [] },
        send: { type: 'string' },
        timeout: { type: 'string', default: '5000' },
      },
    });
  } catch (error) {
    return usage((error as Error).message.split('. ')[0] ?? 'bad arguments');
  }
})();

function usage(message: string): never {
  process.stderr.write(`ambit-client: ${message}\n${USAGE}`);
  process.exit(2);
}

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) usage(`--${name} ${text} is not a positive integer`);
  return value;
}

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const [mode, target] = positionals;
const timeoutMs = positive(values.timeout, 'timeout');
if (target === undefined) usage('missing target');

interface Answer { status: number; body: unknown }

function parsed(status: number, chunks: Buffer[]): Answer {
  const text = Buffer.concat(chunks).toString();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: print it as a string */ }
  return { status, body };
}

function httpRequest(url: URL, method: string, headers: Record<string, string>, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(parsed(response.statusCode ?? 0, chunks)));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

function h2Request(session: http2.ClientHttp2Session, url: URL, method: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': `${url.pathname}${url.search}`, ':authority': url.host, ...headers }, { endStream: true });
    const chunks: Buffer[] = [];
    let status = 0;
    stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('response', (h) => { status = Number(h[':status'] ?? 0); });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => (status === 0 ? reject(new Error(`no answer within ${timeoutMs} ms`)) : resolve(parsed(status, chunks))));
    stream.on('error', reject);
  });
}

function tcpExchange(hostPort: string, text: string): Promise<string> {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) usage(`${hostPort} is not HOST:PORT`);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(text));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => { socket.end(); resolve(Buffer.concat(chunks).toString()); });
    socket.on('error', reject);
  });
}

async function main(): Promise<number> {
  if (mode === 'http') {
    let url: URL;
    try { url = new URL(target ?? ''); } catch { usage(`${target ?? ''} is not a URL`); }
    const headers: Record<string, string> = {};
    for (const header of values.header) {
      const colon = header.indexOf(':');
      if (colon <= 0) usage(`--header ${header} is not name:value`);
      headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
    }
    let failed = 0;
    const count = positive(values.count, 'count');
    const method = values.method.toUpperCase();
    if (values['keep-alive'] && values.h2c) usage('choose --keep-alive or --h2c, not both');
    // One connection for every request (keep-alive or h2c), or a new one each time.
    const agent = values['keep-alive'] ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    const session = values.h2c ? http2.connect(url.origin) : undefined;
    session?.on('error', () => undefined);
    const statuses = new Map<string, number>();
    const pods = new Map<string, number>();
    const tally = (map: Map<string, number>, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1); };
    for (let i = 0; i < count; i++) {
      try {
        const result = session === undefined ? await httpRequest(url, method, headers, agent) : await h2Request(session, url, method, headers);
        if (values.summary) {
          tally(statuses, String(result.status));
          const pod = (result.body as { pod?: unknown } | null)?.pod;
          if (typeof pod === 'string') tally(pods, pod);
        } else {
          process.stdout.write(`${JSON.stringify(result)}\n`);
        }
        if (result.status >= 400) failed++;
      } catch (error) {
        if (values.summary) tally(statuses, 'error');
        else process.stdout.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
        failed++;
      }
    }
    if (values.summary) {
      const counts = (map: Map<string, number>): string => [...map].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]) => `${key} ×${n}`).join(', ');
      process.stdout.write(`${count} request(s): ${counts(statuses)}${pods.size === 0 ? '' : `; answered by ${counts(pods)}`}\n`);
    }
    if (agent !== false) agent.destroy();
    session?.close();
    return failed === 0 ? 0 : 1;
  }
  if (mode === 'tcp') {
    if (values.send === undefined) usage('tcp needs --send TEXT');
    try {
      process.stdout.write(await tcpExchange(target ?? '', values.send));
      return 0;
    } catch (error) {
      process.stderr.write(`ambit-client: ${(error as Error).message}\n`);
      return 1;
    }
  }
  return usage(`unknown mode ${JSON.stringify(mode ?? '')}`);
}

process.exitCode = await main();
