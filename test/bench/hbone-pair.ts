// One half of an HBONE pair, as its own process (like one node's ztunnel),
// for the overlay benchmark (run.ts). The client role accepts plain TCP and
// carries each connection in a CONNECT tunnel from an HbonePool; the server
// role is an HboneServer that dials each tunnel's :authority.
//
//   node test/dist/bench/hbone-pair.js --role server --listen 127.0.0.1:15008 \
//     --cert server-cert.pem --key server-key.pem --ca ca.pem
//   node test/dist/bench/hbone-pair.js --role client --server 127.0.0.1:15008 \
//     --server-identity spiffe://cluster.local/ns/bench/sa/server \
//     --forward 127.0.0.1:8001=127.0.0.1:80 --cert client-cert.pem --key client-key.pem --ca ca.pem
//
// Once every listener is bound it prints one JSON line {"ready":true,...}.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { createLogger, isLogLevel, SpiffeId, type Logger } from '@ambit/core';
import { formatAuthority, parseAuthority, type SocketAddress } from '@ambit/api';
import { identityOf, splitPemBundle, toWorkloadCertificate, type WorkloadCertificate } from '@ambit/identity';
import { HbonePool, HboneServer, joinTunnel } from '@ambit/hbone';

interface Forward {
  listen: SocketAddress;
  target: SocketAddress;
}

const USAGE = 'usage: hbone-pair --role client|server --cert FILE --key FILE --ca FILE '
  + '[--listen HOST:PORT] [--server HOST:PORT --server-identity SPIFFE-ID --forward HOST:PORT=HOST:PORT ...] [--log-level LEVEL]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      listen: { type: 'string' },
      server: { type: 'string' },
      'server-identity': { type: 'string' },
      forward: { type: 'string', multiple: true },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
    },
    strict: true,
  });
  const level = values['log-level'];
  if (!isLogLevel(level)) throw new Error(`--log-level ${level} is not a log level`);
  const log = createLogger({ name: `hbone-pair-${values.role ?? '?'}`, level });
  const certificate = loadCertificate(required(values.cert, '--cert'), required(values.key, '--key'), required(values.ca, '--ca'));

  if (values.role === 'server') {
    const listen = parseAuthority(required(values.listen, '--listen'));
    const server = new HboneServer({ certificate, logger: log });
    const address = await server.listen(listen.port, listen.ip);
    onSignal(() => server.close());
    ready({ role: 'server', identity: certificate.identity.uri, listen: [formatAuthority(address)] });
    return;
  }
  if (values.role === 'client') {
    const server = parseAuthority(required(values.server, '--server'));
    const identity = SpiffeId.parse(required(values['server-identity'], '--server-identity'));
    const forwards = (values.forward ?? []).map(parseForward);
    if (forwards.length === 0) throw new Error(`the client needs at least one --forward\n${USAGE}`);
    const pool = new HbonePool({ logger: log });
    const listeners = await Promise.all(forwards.map((forward) => listenForward(forward, (socket) => {
      void tunnel(socket, forward.target, { pool, certificate, server, identity, log });
    })));
    onSignal(() => {
      pool.close();
      for (const listener of listeners) listener.close();
    });
    ready({
      role: 'client', identity: certificate.identity.uri, server: formatAuthority(server),
      listen: forwards.map((f) => `${formatAuthority(f.listen)}=${formatAuthority(f.target)}`),
    });
    return;
  }
  throw new Error(`--role must be client or server\n${USAGE}`);
}

interface TunnelContext {
  pool: HbonePool;
  certificate: WorkloadCertificate;
  server: SocketAddress;
  identity: SpiffeId;
  log: Logger;
}

/** Carries one accepted connection to `target` through the server. */
async function tunnel(socket: net.Socket, target: SocketAddress, context: TunnelContext): Promise<void> {
  // Until joinTunnel owns the socket, a client that goes away cancels the CONNECT.
  const abort = new AbortController();
  const onGone = (): void => abort.abort();
  socket.on('error', onGone);
  socket.once('close', onGone);
  let stream: http2.ClientHttp2Stream;
  try {
    stream = await context.pool.connect({
      source: context.certificate,
      destination: { address: context.server, identity: context.identity },
      target,
      signal: abort.signal,
    });
  } catch (error) {
    context.log.warn({ err: (error as Error).message, target: formatAuthority(target) }, 'tunnel refused');
    socket.destroy();
    return;
  } finally {
    socket.off('error', onGone);
    socket.off('close', onGone);
  }
  if (socket.destroyed) {
    stream.close(http2.constants.NGHTTP2_CANCEL);
    return;
  }
  const result = await joinTunnel(stream, socket);
  if (result.error !== undefined) {
    context.log.debug({ err: result.error.message, resetBy: result.resetBy }, 'tunnel ended with an error');
  }
}

function listenForward(forward: Forward, onSocket: (socket: net.Socket) => void): Promise<net.Server> {
  // allowHalfOpen: a client's FIN travels through the tunnel as END_STREAM, the reply still flows back.
  const listener = net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(forward.listen.port, forward.listen.ip, () => {
      listener.off('error', reject);
      resolve(listener);
    });
  });
}

/** The key pair, chain and roots from PEM files, as the identity package packages them. */
function loadCertificate(certFile: string, keyFile: string, caFile: string): WorkloadCertificate {
  const chain = splitPemBundle(readFileSync(certFile, 'utf8'));
  const roots = splitPemBundle(readFileSync(caFile, 'utf8'));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error(`${certFile} holds no certificate`);
  const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
  const identity = identityOf(new X509Certificate(leaf));
  return toWorkloadCertificate(identity, { privateKey, publicKey: createPublicKey(privateKey) }, chain, roots);
}

function parseForward(text: string): Forward {
  const [listen, target, extra] = text.split('=');
  if (listen === undefined || target === undefined || extra !== undefined) {
    throw new Error(`--forward ${text} must be LISTEN-HOST:PORT=TARGET-HOST:PORT`);
  }
  return { listen: parseAuthority(listen), target: parseAuthority(target) };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new Error(`${flag} is required\n${USAGE}`);
  return value;
}

function ready(details: Record<string, unknown>): void {
  console.log(JSON.stringify({ ready: true, pid: process.pid, ...details }));
}

function onSignal(close: () => unknown): void {
  const stop = (): void => {
    void Promise.resolve(close()).finally(() => process.exit(0));
    // Tunnels may hold the loop open; the owner already decided we stop.
    setTimeout(() => process.exit(0), 1_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
