// Helpers for ztunnel suites: a SOCKS5 client bound to a pod address, echo
// servers on chosen loopback addresses, the admin API over its unix socket,
// and reading Prometheus text.
import http from 'node:http';
import net from 'node:net';
import type { SocketAddress } from '@ambit/api';
import type { AdminEndpoint } from '@ambit/core';

export interface EchoServer {
  address: SocketAddress;
  /** Remote addresses of the connections accepted so far. */
  peers: string[];
  close(): Promise<void>;
}

/** An echo server on `ip:port` (port 0 picks one); half-closes when the client does. */
export async function echoOn(ip: string, port = 0): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const peers: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    peers.push(socket.remoteAddress ?? '?');
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  const info = server.address() as net.AddressInfo;
  return {
    address: { ip, port: info.port, family: 4 },
    peers,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A port free on loopback right now. */
export async function freePort(ip = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class SocksRefused extends Error {
  constructor(readonly reply: number) {
    super(`SOCKS5 request refused with reply ${reply}`);
  }
}

/** Connects through a SOCKS5 proxy from `localAddress`; resolves with the socket once the proxy answered success. */
/** A SOCKS5 CONNECT to an IPv4 address, or to a name (`{name, port}`, address type 3) for the proxy to resolve. */
export function socks5Connect(proxy: SocketAddress, destination: { ip: string; port: number } | { name: string; port: number }, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.ip, port: proxy.port, allowHalfOpen: true, ...(localAddress === undefined ? {} : { localAddress }) });
    let buffer = Buffer.alloc(0);
    let phase: 'method' | 'reply' = 'method';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (phase === 'method') {
        if (buffer.length < 2) return;
        if (buffer[1] !== 0) return fail(new Error(`the proxy chose method ${buffer[1]}`));
        buffer = buffer.subarray(2);
        phase = 'reply';
        const address = 'name' in destination
          ? [3, destination.name.length, ...Buffer.from(destination.name, 'latin1')]
          : [1, ...destination.ip.split('.').map(Number)];
        socket.write(Buffer.from([5, 1, 0, ...address, destination.port >> 8, destination.port & 0xff]));
      }
      if (buffer.length < 10) return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
      if (buffer[1] !== 0) return fail(new SocksRefused(buffer[1] as number));
      socket.pause();
      if (buffer.length > 10) socket.unshift(buffer.subarray(10));
      resolve(socket);
    };
    const onEnd = (): void => fail(new Error(`the proxy closed the connection (${buffer.length} bytes of answer)`));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('end', onEnd);
    socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
  });
}

/** Sends `text`, half-closes, and resolves with everything the other side sent back. */
export function roundTrip(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('error', reject);
    socket.resume();
    socket.end(text);
  });
}

export function httpGet(
  target: { host?: string; port: number } | { socketPath: string } | { agent: http.Agent; host: string }, path: string, method = 'GET',
): Promise<{ status: number; body: string }> {
  const where = 'agent' in target ? target : 'port' in target ? { host: target.host ?? '127.0.0.1', port: target.port } : { socketPath: target.socketPath };
  return new Promise((resolve, reject) => {
    const request = http.request({ ...where, path, method }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

export async function adminJson<T>(admin: AdminEndpoint, path: string): Promise<T> {
  const { status, body } = await httpGet(admin, path);
  if (status !== 200) throw new Error(`admin ${path} answered ${status}: ${body}`);
  return JSON.parse(body) as T;
}

/** Sum of the samples of `name` whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labelText = open === -1 ? '' : line.slice(open + 1, close);
    const present = new Map([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] as string, m[2] as string]));
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) sum += Number(line.slice((close === -1 ? name.length : close + 1)).trim());
  }
  return sum;
}

/** The unix socket path of an admin endpoint (tests that start proxies with admin-socket). */
export function socketPathOf(admin: AdminEndpoint): string {
  if (!('socketPath' in admin)) throw new Error(`the admin API listens on ${admin.host}:${admin.port}, not on a unix socket`);
  return admin.socketPath;
}
