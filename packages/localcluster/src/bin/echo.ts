#!/usr/bin/env node
// Sample workload: an HTTP server that says who answered and who asked, and
// a raw TCP port that echoes bytes back. No dependencies, one JSON line on
// stdout per event.
//
//   ambit-echo [--http-port 8080] [--tcp-port 9000] [--version v1] [--host 0.0.0.0]
//   (--host defaults to $AMBIT_LISTEN_ADDRESS: a loopback-mode pod's own address)
//
// HTTP answers JSON {pod, namespace, node, version, client, server, method,
// path, headers}; GET /status/<code> answers with that status code,
// /delay/<ms> answers after that long (at most 60 s), /flaky answers 503 to
// every other request (the 1st, 3rd, ...) and 200 otherwise; `?delay=<ms>`
// delays any answer.
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'http-port': { type: 'string' },
    'tcp-port': { type: 'string' },
    version: { type: 'string' },
    host: { type: 'string' },
  },
  strict: true,
});

const env = process.env;
const httpPort = port(values['http-port'] ?? env['HTTP_PORT'] ?? '8080', 'http-port');
const tcpPort = port(values['tcp-port'] ?? env['TCP_PORT'] ?? '9000', 'tcp-port');
const host = values.host ?? (env['AMBIT_LISTEN_ADDRESS'] || '0.0.0.0');
const identity = {
  pod: env['POD_NAME'] ?? '',
  namespace: env['POD_NAMESPACE'] ?? '',
  node: env['NODE_NAME'] ?? '',
  version: values.version ?? (env['VERSION'] || env['POD_VERSION'] || 'v1'),
};

let flaky = 0;

const httpServer = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const url = new URL(request.url ?? '/', 'http://echo');
    const path = url.pathname;
    const delay = /^\/delay\/(\d{1,5})$/.exec(path)?.[1] ?? url.searchParams.get('delay') ?? undefined;
    const code = /^\/status\/([1-5]\d\d)$/.exec(path)?.[1];
    const status = path === '/flaky' ? (flaky++ % 2 === 0 ? 503 : 200) : code === undefined ? 200 : Number(code);
    if (delay === undefined || !/^\d{1,5}$/.test(delay)) return answer(request, response, status);
    const timer = setTimeout(() => answer(request, response, status), Math.min(Number(delay), 60_000));
    response.once('close', () => clearTimeout(timer));
  });
});

function answer(request: http.IncomingMessage, response: http.ServerResponse, status: number): void {
  const path = request.url ?? '/';
  const body = JSON.stringify({
    ...identity,
    client: `${request.socket.remoteAddress ?? ''}:${request.socket.remotePort ?? 0}`,
    server: `${request.socket.localAddress ?? ''}:${request.socket.localPort ?? 0}`,
    method: request.method,
    path,
    headers: request.headers,
  });
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

const tcpServer = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  // Echo until the peer half-closes, then close our side too.
  socket.pipe(socket);
});

function port(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    process.stderr.write(`ambit-echo: --${name} ${text} is not a port (0-65535; 0 picks a free one)\n`);
    process.exit(2);
  }
  return value;
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...identity, ...event })}\n`);
}

function listen(server: net.Server, listenPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => resolve());
  });
}

try {
  await listen(httpServer, httpPort);
  await listen(tcpServer, tcpPort);
  emit({ msg: 'listening', http: (httpServer.address() as net.AddressInfo).port, tcp: (tcpServer.address() as net.AddressInfo).port, host });
} catch (error) {
  emit({ msg: 'cannot listen', error: (error as Error).message });
  process.exit(1);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    emit({ msg: 'stopping', signal });
    httpServer.close();
    tcpServer.close();
    httpServer.closeAllConnections();
    setTimeout(() => process.exit(0), 200).unref();
  });
}
