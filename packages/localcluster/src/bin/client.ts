#!/usr/bin/env node
// Sample client, no dependencies:
//
//   ambit-client http URL [--count N] [--method M] [--header name:value]... [--timeout ms]
//                         [--keep-alive | --h2c] [--summary]
//     one JSON line per request: {"status":200,"body":...} (a redirect's
//     "location" too), or with --summary
//     one line counting answers by status and answering pod; a new connection
//     each time, or one HTTP/1.1 keep-alive connection (--keep-alive), or one
//     HTTP/2 prior-knowledge connection (--h2c) for all of them
//   ambit-client tcp HOST:PORT --send TEXT [--timeout ms]
//     sends TEXT, half-closes, prints what came back
//
// With ALL_PROXY (or all_proxy) set to socks5://HOST:PORT or socks5h://HOST:PORT
// (a loopback-mode pod's own ztunnel), every connection goes through that
// SOCKS5 proxy; with socks5h the proxy resolves the names.
//
// Exit codes: 0 success, 1 a request failed (connection error, timeout or
// an HTTP status >= 400), 2 usage error.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { lookup } from 'node:dns/promises';
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

interface Answer { status: number; location?: string; body: unknown }

/** The SOCKS5 proxy from ALL_PROXY/all_proxy, if any; whether it resolves names (socks5h). */
const proxy = ((): { host: string; port: number; remoteNames: boolean } | undefined => {
  const text = process.env['ALL_PROXY'] || process.env['all_proxy'];
  if (text === undefined || text === '') return undefined;
  let url: URL;
  try { url = new URL(text); } catch { return usage(`ALL_PROXY=${text} is not a URL`); }
  if (url.protocol !== 'socks5:' && url.protocol !== 'socks5h:') usage(`ALL_PROXY=${text}: only socks5:// and socks5h:// proxies are supported`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 1080), remoteNames: url.protocol === 'socks5h:' };
})();

const SOCKS_REPLIES: Record<number, string> = {
  1: 'general failure', 2: 'not allowed by the mesh', 3: 'network unreachable', 4: 'host unreachable',
  5: 'connection refused', 6: 'TTL expired', 7: 'command not supported', 8: 'address type not supported',
};

/** A TCP connection to host:port, through the SOCKS5 proxy when there is one. */
/**
 * The socket gives up after --timeout without traffic (connecting included),
 * destroying itself with an error, so nothing keeps the process waiting.
 */
function idleTimeout(socket: net.Socket): net.Socket {
  return socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
}

async function connectTo(host: string, port: number): Promise<net.Socket> {
  if (proxy === undefined) {
    const socket = idleTimeout(net.connect({ host, port, allowHalfOpen: true }));
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return socket;
  }
  const ip = net.isIP(host) !== 0 || proxy.remoteNames ? host : (await lookup(host)).address;
  const address = net.isIPv4(ip) ? [1, ...ip.split('.').map(Number)] : [3, Buffer.byteLength(ip), ...Buffer.from(ip)];
  // The proxy answers once the mesh has connected (or refused) the destination: that wait is part of --timeout.
  const socket = idleTimeout(net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true }));
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    let phase: 'method' | 'reply' = 'method';
    const fail = (error: Error): void => { socket.destroy(); reject(error); };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (phase === 'method') {
        if (buffer.length < 2) return;
        if (buffer[1] !== 0) return fail(new Error(`the SOCKS5 proxy ${proxy.host}:${proxy.port} wants authentication`));
        buffer = buffer.subarray(2);
        phase = 'reply';
        socket.write(Buffer.from([5, 1, 0, ...address, port >> 8, port & 0xff]));
      }
      if (buffer.length < 10) return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
      if (buffer[1] !== 0) return fail(new Error(`the SOCKS5 proxy refused ${host}:${port}: ${SOCKS_REPLIES[buffer[1] as number] ?? `reply ${buffer[1]}`}`));
      socket.pause();
      if (buffer.length > 10) socket.unshift(buffer.subarray(10));
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
    const onEnd = (): void => fail(new Error(`the SOCKS5 proxy ${proxy.host}:${proxy.port} closed the connection`));
    socket.once('end', onEnd);
  });
}

/** http.request's createConnection, through connectTo. */
function createConnection(options: { host?: string | null; hostname?: string | null; port?: number | string | null }, done: (error: Error | null, socket?: net.Socket) => void): undefined {
  const host = (options.hostname ?? options.host ?? 'localhost').replace(/^\[|\]$/g, '');
  connectTo(host, Number(options.port ?? 80)).then((socket) => {
    done(null, socket);
    // connectTo leaves the socket paused (nothing is lost); http attaches its reader on the next tick.
    setImmediate(() => socket.resume());
  }, (error: Error) => done(error));
  return undefined;
}

function parsed(status: number, location: string | undefined, chunks: Buffer[]): Answer {
  const text = Buffer.concat(chunks).toString();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: print it as a string */ }
  return { status, ...(location === undefined ? {} : { location }), body };
}

function httpRequest(url: URL, method: string, headers: Record<string, string>, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Through a proxy: the agent (keep-alive) dials through it, or (no agent: `agent: false` would make a plain one) createConnection.
    const connection = proxy === undefined || agent !== false
      ? { agent }
      : { createConnection: createConnection as unknown as http.RequestOptions['createConnection'], defaultPort: 80 };
    const request = http.request(url, { method, headers, timeout: timeoutMs, ...connection }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(parsed(response.statusCode ?? 0, response.headers.location, chunks)));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/** An agent that dials through the proxy when there is one. */
class ProxyAgent extends http.Agent {
  override createConnection(options: object, done?: (error: Error | null, socket: net.Socket) => void): net.Socket | undefined {
    if (proxy === undefined) return super.createConnection(options, done as never) as net.Socket;
    createConnection(options, done as (error: Error | null, socket?: net.Socket) => void);
    return undefined;
  }
}

function h2Request(session: http2.ClientHttp2Session, url: URL, method: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': `${url.pathname}${url.search}`, ':authority': url.host, ...headers }, { endStream: true });
    const chunks: Buffer[] = [];
    let status = 0;
    let location: string | undefined;
    stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('response', (h) => {
      status = Number(h[':status'] ?? 0);
      location = h.location;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => (status === 0 ? reject(new Error(`no answer within ${timeoutMs} ms`)) : resolve(parsed(status, location, chunks))));
    stream.on('error', reject);
  });
}

function tcpExchange(hostPort: string, text: string): Promise<string> {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) usage(`${hostPort} is not HOST:PORT`);
  return new Promise((resolve, reject) => {
    connectTo(host, port).then((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => { socket.end(); resolve(Buffer.concat(chunks).toString()); });
      socket.on('error', reject);
      socket.resume();
      socket.end(text);
    }, reject);
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
    if (values.h2c && proxy !== undefined) usage('--h2c does not go through a SOCKS5 proxy; use --keep-alive, or unset ALL_PROXY');
    const method = values.method.toUpperCase();
    if (values['keep-alive'] && values.h2c) usage('choose --keep-alive or --h2c, not both');
    // One connection for every request (keep-alive or h2c), or a new one each time.
    const agent = values['keep-alive'] ? new ProxyAgent({ keepAlive: true, maxSockets: 1 }) : false;
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
