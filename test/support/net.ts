// Loopback servers for tests: every one listens on port 0 and is closed by the test.
import net from 'node:net';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { socketAddress, type SocketAddress } from '@ambit/api';

export interface TestServer {
  address: SocketAddress;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** A TCP server that runs `handler` on each connection (allowHalfOpen, so tests see half-closes). */
export async function tcpServer(handler: (socket: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const state = { accepted: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    state.accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const info = server.address() as net.AddressInfo;
  return {
    address: socketAddress('127.0.0.1', info.port),
    get accepted() { return state.accepted; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Echoes every byte back and half-closes when the client does. */
export function echoServer(): Promise<TestServer> {
  return tcpServer((socket) => socket.pipe(socket));
}

/** A port on loopback with nothing listening (bound, then released). */
export async function closedPort(): Promise<SocketAddress> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return socketAddress('127.0.0.1', port);
}

/** Reads a stream to its end, hashing and counting. */
export function drainHash(stream: Duplex): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; });
    stream.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    stream.once('error', reject);
  });
}

/** Reads everything until the stream ends. */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Polls `check` (sync or async) until it returns something other than undefined/false, or rejects after `ms`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 5_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
