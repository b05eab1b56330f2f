// The HBONE server: mutual TLS, then HTTP/2, then one CONNECT stream per
// tunnel. Each stream is handled in phases: build context → authorize →
// connect upstream → answer 200 → copy; or, for a server that serves tunnels
// itself (a waypoint), authorize → answer 200 → hand the stream over. Every
// refusal is counted by reason, logged, and emitted for the owner's metrics.
import { EventEmitter } from 'node:events';
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import {
  AmbitError, connectionId, silentLogger, Tracker, type DrainParticipant, type Logger, type SpiffeId,
} from '@ambit/core';
import { formatAuthority, parseAuthority, socketAddress, type SocketAddress } from '@ambit/api';
import { meshServerOptions, peerIdentity, type WorkloadCertificate } from '@ambit/identity';
import { readMetadata, headerListSize, type TunnelMetadata } from './headers.js';
import { joinTunnel, type JoinResult } from './pipe.js';
import { refusalFor, type RefusalReason } from './status.js';
import { CONNECTION_WINDOW_BYTES, tunnelSettings } from './tuning.js';
import { dialTcp } from './dial.js';

/** Everything known about a tunnel request once its headers are read. */
export interface TunnelRequest {
  id: string;
  /** The client's SPIFFE identity, from its certificate. */
  peer: SpiffeId;
  /** The TCP peer of the HBONE connection (a node or waypoint address). */
  peerAddress: SocketAddress;
  /** The address the client connected to: selects the server identity. */
  localAddress: SocketAddress;
  /** The CONNECT :authority: where the bytes should go. */
  target: SocketAddress;
  metadata: TunnelMetadata;
  headers: IncomingHttpHeaders;
}

export interface TunnelClosed {
  request: TunnelRequest;
  result: JoinResult;
  durationMs: number;
}

export interface ServerLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection. */
  maxConcurrentStreams: number;
  /** Request header bytes (HPACK accounting) above which a tunnel gets 431. */
  maxHeaderListBytes: number;
  /** nghttp2 memory per session, in megabytes, before new streams are refused. */
  maxSessionMemoryMb: number;
  handshakeTimeoutMs: number;
  /** An HBONE connection with no streams is closed after this long. */
  sessionIdleTimeoutMs: number;
  /** A tunnel with no bytes either way is closed after this long; 0 disables. */
  tunnelIdleTimeoutMs: number;
  /** Upstream connect deadline used by the default connect hook. */
  connectTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConcurrentStreams: 1000,
  maxHeaderListBytes: 16 * 1024,
  maxSessionMemoryMb: 64,
  handshakeTimeoutMs: 10_000,
  sessionIdleTimeoutMs: 5 * 60_000,
  tunnelIdleTimeoutMs: 60 * 60_000,
  connectTimeoutMs: 10_000,
};

export interface HboneServerOptions {
  /** The identity to present: one certificate, or one chosen by the address the client connected to. */
  certificate: WorkloadCertificate | ((local: SocketAddress) => WorkloadCertificate | undefined);
  /** Peers from other trust domains are refused after the handshake. Defaults to the certificate's. */
  trustDomain?: string;
  /** Throw an AmbitError('denied') to answer 401. */
  authorize?: (request: TunnelRequest) => void | Promise<void>;
  /** Dial the target. Must return a half-open-capable stream. Defaults to plain TCP to the target. */
  connect?: (request: TunnelRequest, signal: AbortSignal) => Promise<Duplex>;
  /**
   * Serve tunnels in this process instead of dialling (a waypoint): called
   * with the CONNECT stream itself, answered 200, once `authorize` passed.
   * No copy between streams: the hook reads and writes the tunnel's bytes.
   * The server counts the tunnel as open until the stream closes and closes
   * it when idle; it emits no tunnel-open/close for it (the owner counts what
   * it serves). Takes precedence over `connect`.
   */
  serve?: (request: TunnelRequest, tunnel: ServerHttp2Stream) => void;
  limits?: Partial<ServerLimits>;
  logger?: Logger;
}

export interface HboneServerEvents {
  refused: [RefusalReason, { request?: TunnelRequest; error?: unknown; peerAddress?: string }];
  /** A tunnel joined to an upstream `connect` dialled is open (served tunnels emit neither event). */
  'tunnel-open': [TunnelRequest];
  'tunnel-close': [TunnelClosed];
}

const kPeer = Symbol('ambit.peer');
type PeerSocket = tls.TLSSocket & { [kPeer]?: SpiffeId };

export class HboneServer extends EventEmitter<HboneServerEvents> implements DrainParticipant {
  readonly limits: ServerLimits;
  /** Refusals by reason since start. */
  readonly refusals = new Map<RefusalReason, number>();
  private readonly log: Logger;
  private readonly listener: net.Server;
  private readonly h2: http2.Http2Server;
  private readonly tlsServers = new WeakMap<WorkloadCertificate, tls.Server>();
  private readonly sockets = new Tracker<net.Socket>();
  private readonly sessions = new Tracker<ServerHttp2Session>();
  private readonly streamCounts = new WeakMap<ServerHttp2Session, number>();
  private readonly select: (local: SocketAddress) => WorkloadCertificate | undefined;
  private activeTunnels = 0;
  private accepting = true;

  constructor(private readonly options: HboneServerOptions) {
    super();
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
    this.log = (options.logger ?? silentLogger).child({ component: 'hbone-server' });
    const certificate = options.certificate;
    this.select = typeof certificate === 'function' ? certificate : () => certificate;
    this.listener = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.h2 = http2.createServer({
      settings: tunnelSettings({ maxConcurrentStreams: this.limits.maxConcurrentStreams }),
      maxSessionMemory: this.limits.maxSessionMemoryMb,
      maxHeaderListPairs: 256,
    });
    this.h2.on('session', (session) => this.onSession(session));
    this.h2.on('stream', (stream, headers) => void this.onStream(stream, headers));
    this.h2.on('sessionError', (error) => this.log.debug({ err: error.message }, 'HBONE session error'));
  }

  /** Binds and starts accepting; a port conflict rejects here, loudly. */
  listen(port: number, host = '127.0.0.1'): Promise<SocketAddress> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve(this.address);
      });
    });
  }

  get address(): SocketAddress {
    const address = this.listener.address();
    if (address === null || typeof address === 'string') throw new AmbitError('closed', 'the HBONE server is not listening');
    return socketAddress(address.address, address.port);
  }

  get stats(): { connections: number; sessions: number; tunnels: number } {
    return { connections: this.sockets.size, sessions: this.sessions.size, tunnels: this.activeTunnels };
  }

  /**
   * Sends GOAWAY on every connection: clients open new connections for new
   * tunnels while existing tunnels finish (e.g. after the certificate rotated).
   */
  goAway(): void {
    for (const session of this.sessions.values()) if (!session.closed) session.close();
  }

  // DrainParticipant: stop accepting, let tunnels finish, then close what is left.
  stopAccepting(): Promise<void> {
    this.accepting = false;
    this.goAway();
    // close() stops accepting at once; its callback would wait for every connection.
    if (this.listener.listening) this.listener.close();
    return Promise.resolve();
  }

  idle(): Promise<void> {
    return this.sockets.idle();
  }

  forceClose(): void {
    for (const session of this.sessions.values()) session.destroy();
    this.sockets.destroyAll();
  }

  /** Stops immediately: for tests and fatal errors. Use a Drain for graceful shutdown. */
  async close(): Promise<void> {
    const stopped = this.stopAccepting();
    this.forceClose();
    await stopped;
  }

  /**
   * Hands over a connection accepted by a listener the owner runs (a
   * transparent listener, or one per workload address); it is served exactly
   * like one accepted by `listen()`, the identity chosen by its local address.
   */
  accept(socket: net.Socket): void {
    this.onConnection(socket);
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // reported through the TLS layer
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const local = socketAddress(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 1);
    const certificate = this.select(local);
    if (certificate === undefined) {
      this.refuse('no-certificate', { peerAddress: socket.remoteAddress }, `no identity is served at ${formatAuthority(local)}`);
      socket.destroy();
      return;
    }
    this.tlsServerFor(certificate).emit('connection', socket);
  }

  private tlsServerFor(certificate: WorkloadCertificate): tls.Server {
    let server = this.tlsServers.get(certificate);
    if (server === undefined) {
      server = tls.createServer(meshServerOptions(certificate, { handshakeTimeoutMs: this.limits.handshakeTimeoutMs }));
      server.on('secureConnection', (socket) => this.onSecure(socket, certificate));
      server.on('tlsClientError', (error, socket) => {
        this.refuse('tls-handshake', { error, peerAddress: socket.remoteAddress }, `TLS handshake failed: ${error.message}`);
        // With a tlsClientError listener attached, destroying the socket is ours to do.
        socket.destroy();
      });
      this.tlsServers.set(certificate, server);
    }
    return server;
  }

  private onSecure(socket: PeerSocket, certificate: WorkloadCertificate): void {
    let peer: SpiffeId;
    try {
      peer = peerIdentity(socket);
    } catch (error) {
      this.refuse('untrusted-peer', { error, peerAddress: socket.remoteAddress }, `peer certificate has no usable identity: ${(error as Error).message}`);
      socket.destroy();
      return;
    }
    const trustDomain = this.options.trustDomain ?? certificate.identity.trustDomain;
    if (peer.trustDomain !== trustDomain) {
      this.refuse('untrusted-peer', { peerAddress: socket.remoteAddress }, `peer ${peer.uri} is outside trust domain ${trustDomain}`);
      socket.destroy();
      return;
    }
    socket[kPeer] = peer;
    this.h2.emit('connection', socket);
  }

  private onSession(session: ServerHttp2Session): void {
    this.sessions.add(session);
    this.streamCounts.set(session, 0);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', (error: Error) => this.log.debug({ err: error.message }, 'HBONE session error'));
    session.once('connect', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    session.setTimeout(this.limits.sessionIdleTimeoutMs, () => {
      if ((this.streamCounts.get(session) ?? 0) === 0) session.close();
    });
    if (!this.accepting) session.close();
  }

  private async onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const session = stream.session as ServerHttp2Session | undefined;
    const socket = session?.socket as PeerSocket | undefined;
    const peer = socket?.[kPeer];
    if (session === undefined || socket === undefined || peer === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.on('error', () => undefined); // outcomes are reported by joinTunnel or the refusal path
    const count = (this.streamCounts.get(session) ?? 0) + 1;
    this.streamCounts.set(session, count);
    stream.once('close', () => this.streamCounts.set(session, (this.streamCounts.get(session) ?? 1) - 1));

    // Phase 1: build the context. Failures here are still logged with what is known.
    const id = connectionId();
    const peerAddress = socketAddress(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 1);
    const localAddress = socketAddress(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 1);
    const known = { conn: id, peer: peer.uri, peerAddress: formatAuthority(peerAddress) };
    if (!this.accepting) return this.answerRefusal(stream, 503, 'draining', known, 'the server is draining');
    if (count > this.limits.maxConcurrentStreams) {
      return this.answerRefusal(stream, 503, 'too-many-streams', known, `more than ${this.limits.maxConcurrentStreams} concurrent tunnels on one connection`);
    }
    const method = headers[':method'];
    if (method !== 'CONNECT') {
      return this.answerRefusal(stream, 400, 'bad-method', known, `method ${String(method)} is not supported; HBONE accepts only CONNECT`);
    }
    if (headerListSize(headers) > this.limits.maxHeaderListBytes) {
      return this.answerRefusal(stream, 431, 'headers-too-large', known, `request headers exceed ${this.limits.maxHeaderListBytes} bytes`);
    }
    let target: SocketAddress;
    try {
      target = parseAuthority(headers[':authority'] ?? '');
    } catch (error) {
      return this.answerRefusal(stream, 400, 'bad-authority', known, (error as AmbitError).message);
    }
    const request: TunnelRequest = { id, peer, peerAddress, localAddress, target, metadata: readMetadata(headers), headers };
    const log = this.log.child({ ...known, target: formatAuthority(target) });

    // Phase 2: authorize. Phase 3: connect upstream (cancelled if the client gives up first).
    const abort = new AbortController();
    const onClientGone = (): void => abort.abort();
    stream.once('close', onClientGone);
    const serve = this.options.serve;
    let upstream: Duplex | undefined;
    try {
      await this.options.authorize?.(request);
      if (serve === undefined) {
        upstream = this.options.connect === undefined
          ? await dialTcp(target, { timeoutMs: this.limits.connectTimeoutMs, signal: abort.signal })
          : await this.options.connect(request, abort.signal);
      }
    } catch (error) {
      stream.off('close', onClientGone);
      const refusal = refusalFor(error);
      const message = error instanceof AmbitError ? error.message : String(error);
      return this.answerRefusal(stream, refusal.status, refusal.reason, { ...known, target: formatAuthority(target), request }, message, error);
    }
    stream.off('close', onClientGone);
    if (stream.closed || stream.destroyed) {
      upstream?.destroy();
      log.debug('client cancelled before the upstream connected');
      return;
    }
    if (upstream === undefined) {
      if (serve !== undefined) this.serveTunnel(stream, request, serve, log);
      return;
    }

    // Phase 4: answer, only now that the upstream exists. Phase 5: copy.
    stream.respond({ ':status': 200 }, { endStream: false });
    this.activeTunnels++;
    const started = Date.now();
    this.emit('tunnel-open', request);
    log.debug('tunnel open');
    const result = await joinTunnel(stream, upstream, { idleTimeoutMs: this.limits.tunnelIdleTimeoutMs });
    this.activeTunnels--;
    const durationMs = Date.now() - started;
    log.debug({ bytesToSocket: result.bytesToSocket, bytesToTunnel: result.bytesToTunnel, durationMs, err: result.error?.message }, 'tunnel closed');
    this.emit('tunnel-close', { request, result, durationMs });
  }

  private serveTunnel(stream: ServerHttp2Stream, request: TunnelRequest, serve: NonNullable<HboneServerOptions['serve']>, log: Logger): void {
    stream.respond({ ':status': 200 }, { endStream: false });
    this.activeTunnels++;
    const started = Date.now();
    const idleMs = this.limits.tunnelIdleTimeoutMs;
    if (idleMs > 0) {
      stream.setTimeout(idleMs, () => {
        log.debug(`tunnel idle for ${idleMs} ms: closing it`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
    }
    stream.once('close', () => {
      this.activeTunnels--;
      log.debug({ durationMs: Date.now() - started, rstCode: stream.rstCode }, 'served tunnel closed');
    });
    log.debug('tunnel open, served in process');
    try {
      serve(request, stream);
    } catch (error) {
      log.error({ err: (error as Error).message }, 'serving a tunnel failed');
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  private answerRefusal(
    stream: ServerHttp2Stream,
    status: number,
    reason: RefusalReason,
    context: Record<string, unknown> & { request?: TunnelRequest },
    message: string,
    error?: unknown,
  ): void {
    const { request, ...fields } = context;
    this.refuse(reason, { request, error, peerAddress: fields.peerAddress as string | undefined }, message, { ...fields, status });
    if (stream.closed || stream.destroyed || stream.headersSent) return;
    // Header values must be visible ASCII; reasons are ours, but keep them safe and short.
    const safe = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
    stream.respond({ ':status': status, 'ambit-reason': safe }, { endStream: true });
  }

  private refuse(
    reason: RefusalReason,
    event: { request?: TunnelRequest | undefined; error?: unknown; peerAddress?: string | undefined },
    message: string,
    fields: Record<string, unknown> = {},
  ): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    this.log.warn({ reason, peerAddress: event.peerAddress, ...fields }, `refused: ${message}`);
    this.emit('refused', reason, {
      ...(event.request === undefined ? {} : { request: event.request }),
      ...(event.error === undefined ? {} : { error: event.error }),
      ...(event.peerAddress === undefined ? {} : { peerAddress: event.peerAddress }),
    });
  }
}

