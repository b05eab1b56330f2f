// The control plane's one listener (15012): HTTP/2 over TLS 1.3. Client
// certificates are requested but not required, so a proxy that has none
// yet can bootstrap with a token; each route decides which credentials it
// accepts. Callers are resolved here, once, from the verified certificate
// (its SPIFFE ID and, for node certificates, the node) or a bearer token.
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { AmbitError, readBody as readWhole, silentLogger, Tracker, type DrainParticipant, type Logger, type SpiffeId } from '@ambit/core';
import { socketAddress, type SocketAddress } from '@ambit/api';
import { identityOf, meshServerOptions, nodeOf, type WorkloadCertificate } from '@ambit/identity';

export interface Caller {
  /** From a client certificate the mesh CA issued, verified by TLS. */
  identity?: SpiffeId;
  /** From a node certificate. */
  node?: string;
  /** A bearer token (bootstrap), when the request carried one. */
  token?: string;
  address: string;
}

export type RouteHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, caller: Caller) => void;

export interface EndpointOptions {
  certificate: WorkloadCertificate;
  logger?: Logger;
}

export class ControlPlaneEndpoint implements DrainParticipant {
  private readonly server: http2.Http2SecureServer;
  private readonly routes = new Map<string, RouteHandler>();
  private readonly sessions = new Tracker<ServerHttp2Session>();
  private readonly log: Logger;
  private readonly drainHooks: (() => void)[] = [];
  private accepting = true;

  constructor(options: EndpointOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'cp-endpoint' });
    this.server = http2.createSecureServer({
      ...meshServerOptions(options.certificate, { handshakeTimeoutMs: 10_000 }),
      rejectUnauthorized: false, // routes decide; a verified certificate still shows as socket.authorized
    });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
      if (!this.accepting) session.close();
    });
    this.server.on('stream', (stream, headers) => this.dispatch(stream, headers));
    this.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      this.log.warn({ err: error.message, peerAddress: socket.remoteAddress }, 'refused: TLS handshake failed');
      socket.destroy();
    });
  }

  /** Presents `certificate` to new connections (after a rotation); open ones keep theirs. */
  setCertificate(certificate: WorkloadCertificate): void {
    this.server.setSecureContext(meshServerOptions(certificate, { handshakeTimeoutMs: 10_000 }));
  }

  route(path: string, handler: RouteHandler): void {
    this.routes.set(path, handler);
  }

  /** Called when draining starts (e.g. to end long-lived subscriptions). */
  onDrain(hook: () => void): void {
    this.drainHooks.push(hook);
  }

  listen(port: number, host = '127.0.0.1'): Promise<SocketAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.address);
      });
    });
  }

  get address(): SocketAddress {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new AmbitError('closed', 'the control-plane endpoint is not listening');
    return socketAddress(address.address, address.port);
  }

  stopAccepting(): void {
    this.accepting = false;
    for (const hook of this.drainHooks) hook();
    for (const session of this.sessions.values()) session.close();
    if (this.server.listening) this.server.close();
  }

  idle(): Promise<void> {
    return this.sessions.idle();
  }

  forceClose(): void {
    this.sessions.destroyAll();
  }

  async close(): Promise<void> {
    this.stopAccepting();
    this.forceClose();
    await this.sessions.idle();
  }

  private dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const path = String(headers[':path'] ?? '').split('?')[0] ?? '';
    const handler = this.routes.get(path);
    if (handler === undefined) {
      return respondError(stream, 404, `${path} is not a control-plane endpoint; known: ${[...this.routes.keys()].join(', ')}`);
    }
    if (!this.accepting) return respondError(stream, 503, 'the control plane is shutting down');
    handler(stream, headers, this.caller(stream, headers));
  }

  private caller(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Caller {
    const socket = stream.session?.socket as TLSSocket | undefined;
    const caller: Caller = { address: socket?.remoteAddress ?? 'unknown' };
    if (socket?.authorized === true) {
      const cert = socket.getPeerX509Certificate();
      if (cert !== undefined) {
        try {
          caller.identity = identityOf(cert);
          const node = nodeOf(cert);
          if (node !== undefined) caller.node = node;
        } catch (error) {
          this.log.warn({ err: (error as Error).message, peerAddress: caller.address }, 'client certificate without a usable identity');
        }
      }
    }
    const authorization = headers.authorization;
    if (typeof authorization === 'string' && authorization.startsWith('Bearer ')) caller.token = authorization.slice(7).trim();
    return caller;
  }
}

export function respondError(stream: ServerHttp2Stream, status: number, reason: string): void {
  if (stream.closed || stream.destroyed) return;
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  stream.respond({ ':status': status, 'content-type': 'application/json' });
  stream.end(JSON.stringify({ error: reason }));
}

/** Reads a request body up to `limit` bytes (`limit` error beyond). */
export async function readBody(stream: ServerHttp2Stream, limit: number): Promise<string> {
  return (await readWhole(stream, limit)).toString('utf8');
}
