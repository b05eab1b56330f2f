// The HBONE client: a pool of mutual-TLS HTTP/2 connections built on
// http2-wrapper's Agent. Connections are keyed by (source identity and
// certificate, expected destination identity, destination address): a
// tunnel never rides a connection that presented another identity. At most
// `maxStreamsPerConnection` tunnels share a connection; beyond that a new one
// opens. A tunnel's `lane` is part of the key too: a caller that wants its
// tunnels to one server spread over several connections gives them
// different lanes (a waypoint serves each connection on one of its
// workers). Connections left without tunnels close after `idleTimeoutMs`; a
// connection that received GOAWAY or died takes no new tunnels.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import tls from 'node:tls';
import http2wrapper from 'http2-wrapper';
import { AmbitError, silentLogger, systemCode, type Logger } from '@ambit/core';
import { formatAuthority, type SocketAddress } from '@ambit/api';
import { describePeer, meshClientOptions, type PeerMatcher, type WorkloadCertificate } from '@ambit/identity';
import { metadataHeaders, type TunnelMetadata } from './headers.js';
import { errorForStatus } from './status.js';
import { CONNECTION_WINDOW_BYTES, tunnelSettings } from './tuning.js';

export interface TunnelSpec {
  /** The identity this side presents. */
  source: WorkloadCertificate;
  /** Where the HBONE server listens (a node's or waypoint's :15008) and who it must prove to be. */
  destination: { address: SocketAddress; identity: PeerMatcher };
  /** The CONNECT :authority: where the server should send the bytes. */
  target: SocketAddress;
  metadata?: TunnelMetadata;
  signal?: AbortSignal;
  /** Tunnels in different lanes never share a connection (default lane 0). */
  lane?: number;
}

export interface PoolOptions {
  maxStreamsPerConnection?: number;
  idleTimeoutMs?: number;
  /** TCP connect + TLS handshake deadline for a new connection. */
  connectTimeoutMs?: number;
  /** Deadline for the server's answer to CONNECT (it dials the target first). */
  responseTimeoutMs?: number;
  logger?: Logger;
}

export const DEFAULT_POOL_OPTIONS = {
  maxStreamsPerConnection: 100,
  idleTimeoutMs: 5 * 60_000,
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 15_000,
} as const;

export interface PoolStats {
  /** Connections established and usable or in use. */
  connections: number;
  /** Tunnels open across all connections. */
  streams: number;
  /** Connections ever opened by this pool. */
  opened: number;
  /** Of those, how many resumed an earlier TLS session (an abbreviated handshake). */
  resumed: number;
}

const kSpec = Symbol('ambit.spec');
const kKey = Symbol('ambit.key');
type AgentOptions = http2.SecureClientSessionOptions & { [kSpec]: TunnelSpec; [kKey]: string };

const { kCurrentStreamCount, kGracefullyClosing } = http2wrapper.Agent as unknown as {
  kCurrentStreamCount: symbol;
  kGracefullyClosing: symbol;
};
type TrackedSession = ClientHttp2Session & Record<symbol, unknown>;

/** http2-wrapper's Agent, keyed by our pool key and connecting with mesh TLS. */
class TunnelAgent extends http2wrapper.Agent {
  resumed = 0;

  constructor(private readonly pool: { connectTimeoutMs: number; log: Logger }) {
    super({ timeout: 0, maxEmptySessions: Number.POSITIVE_INFINITY });
  }

  // http2-wrapper keys sessions by stringified option values, which would
  // mix identities; ours is explicit.
  override normalizeOptions(options: http2.ClientSessionRequestOptions): string {
    return (options as AgentOptions)[kKey];
  }

  override createConnection(origin: URL, options: http2.SecureClientSessionOptions): Promise<tls.TLSSocket> {
    const spec = (options as AgentOptions)[kSpec];
    const { address, identity } = spec.destination;
    const where = formatAuthority(address);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        ...meshClientOptions(spec.source, identity),
        host: address.ip,
        port: address.port,
        ...(options.session === undefined ? {} : { session: options.session }),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new AmbitError('timeout', `HBONE connection to ${where} not established within ${this.pool.connectTimeoutMs} ms`));
      }, this.pool.connectTimeoutMs);
      socket.setNoDelay(true);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        // http2-wrapper matches sessions to origins through DNS/IP SANs, which
        // SPIFFE certificates do not have; the identity was checked above, so
        // let it fall back to the socket's address.
        Object.defineProperty(socket, 'getPeerX509Certificate', { value: () => undefined });
        const resumed = socket.isSessionReused();
        if (resumed) this.resumed++;
        this.pool.log.debug({ destination: where, peer: describePeer(identity), resumed }, 'HBONE connection established');
        resolve(socket);
      });
      socket.once('error', (cause) => {
        clearTimeout(timer);
        reject(connectionError(cause, where, identity));
      });
    });
  }
}

export class HbonePool {
  private readonly agent: TunnelAgent;
  private readonly options: Required<Omit<PoolOptions, 'logger'>>;
  private readonly log: Logger;
  private readonly idleTimers = new WeakMap<ClientHttp2Session, NodeJS.Timeout>();
  private readonly live = new Set<ClientHttp2Session>();
  private opened = 0;
  private closed = false;

  constructor(options: PoolOptions = {}) {
    this.options = { ...DEFAULT_POOL_OPTIONS, ...stripUndefined(options) };
    if (!(this.options.maxStreamsPerConnection >= 1)) {
      throw new AmbitError('invalid-config', `maxStreamsPerConnection=${this.options.maxStreamsPerConnection} must be at least 1`);
    }
    this.log = (options.logger ?? silentLogger).child({ component: 'hbone-pool' });
    this.agent = new TunnelAgent({ connectTimeoutMs: this.options.connectTimeoutMs, log: this.log });
    this.agent.settings = tunnelSettings();
    this.agent.on('session', (session: ClientHttp2Session) => this.adopt(session as TrackedSession));
  }

  /** Opens a tunnel; resolves with the stream once the server answered 200. */
  async connect(spec: TunnelSpec): Promise<ClientHttp2Stream> {
    if (this.closed) throw new AmbitError('closed', 'the HBONE pool is closed');
    const { address, identity } = spec.destination;
    const where = formatAuthority(address);
    const authority = formatAuthority(spec.target);
    const options: AgentOptions = {
      [kSpec]: spec,
      [kKey]: `${spec.source.identity.uri}#${spec.source.serial}|${describePeer(identity)}${spec.lane ? `|lane ${spec.lane}` : ''}`,
    };
    const headers = { ':method': 'CONNECT', ':authority': authority, ...metadataHeaders(spec.metadata) };
    // A stream refused unprocessed (a GOAWAY crossed it in flight) is safe to
    // send again, once, on another connection.
    for (let attempt = 1; ; attempt++) {
      let stream: ClientHttp2Stream;
      try {
        stream = await this.agent.request(`https://${where}`, options, headers);
      } catch (error) {
        if (attempt === 1 && systemCode(error) === 'ERR_HTTP2_GOAWAY_SESSION') continue;
        throw error instanceof AmbitError ? error : connectionError(error, where, identity);
      }
      this.trackStream(stream);
      try {
        return await this.awaitResponse(stream, authority, spec.signal);
      } catch (error) {
        if (attempt === 1 && (error as AmbitError).details.refusedUnprocessed === true) {
          this.log.debug({ target: authority }, 'tunnel refused unprocessed by a closing connection; retrying');
          continue;
        }
        throw error;
      }
    }
  }

  stats(): PoolStats {
    let streams = 0;
    for (const session of this.live) streams += ((session as TrackedSession)[kCurrentStreamCount] as number | undefined) ?? 0;
    return { connections: this.live.size, streams, opened: this.opened, resumed: this.agent.resumed };
  }

  /** Closes idle connections now; busy ones close when their tunnels end (GOAWAY). */
  closeIdle(): void {
    this.agent.closeEmptySessions();
  }

  /** Destroys every connection and refuses new tunnels. */
  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  private adopt(session: TrackedSession): void {
    this.opened++;
    this.live.add(session);
    session.once('close', () => {
      this.live.delete(session);
      clearTimeout(this.idleTimers.get(session));
    });
    session.on('error', (error: Error) => this.log.debug({ err: error.message }, 'HBONE session error'));
    // A GOAWAY means: finish what you have, start nothing new here.
    session.on('goaway', () => {
      session[kGracefullyClosing] = true;
    });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    // The pool's own stream limit, applied on top of the server's SETTINGS.
    const limit = this.options.maxStreamsPerConnection;
    const proto = sessionProtoWithRemoteSettings(session);
    if (proto !== undefined) {
      let cached: http2.Settings | undefined;
      const refresh = (): http2.Settings => {
        const settings = Reflect.get(proto, 'remoteSettings', session) as http2.Settings;
        cached = { ...settings, maxConcurrentStreams: Math.min(settings.maxConcurrentStreams ?? limit, limit) };
        return cached;
      };
      session.on('remoteSettings', refresh);
      Object.defineProperty(session, 'remoteSettings', { get: () => cached ?? refresh() });
    }
    this.armIdle(session);
  }

  private trackStream(stream: ClientHttp2Stream): void {
    const session = stream.session as TrackedSession | undefined;
    if (session === undefined) return;
    clearTimeout(this.idleTimers.get(session));
    stream.once('close', () => {
      if (((session[kCurrentStreamCount] as number | undefined) ?? 0) === 0) this.armIdle(session);
    });
  }

  private armIdle(session: ClientHttp2Session): void {
    clearTimeout(this.idleTimers.get(session));
    const timer = setTimeout(() => {
      if (((session as TrackedSession)[kCurrentStreamCount] as number | undefined ?? 0) === 0 && !session.closed) {
        this.log.debug('closing idle HBONE connection');
        session.close();
      }
    }, this.options.idleTimeoutMs);
    timer.unref();
    this.idleTimers.set(session, timer);
  }

  private awaitResponse(stream: ClientHttp2Stream, authority: string, signal: AbortSignal | undefined): Promise<ClientHttp2Stream> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        stream.off('response', onResponse);
        stream.off('error', onError);
        stream.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: AmbitError): void => {
        cleanup();
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(error);
      };
      const onResponse = (headers: IncomingHttpHeaders): void => {
        const status = Number(headers[':status']);
        if (status === 200) {
          cleanup();
          resolve(stream);
          return;
        }
        const reason = headers['ambit-reason'];
        fail(errorForStatus(status, authority, Array.isArray(reason) ? reason[0] : reason));
      };
      const onError = (cause: Error): void => {
        const rst = stream.rstCode;
        const refused = rst === http2.constants.NGHTTP2_REFUSED_STREAM || rst === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM;
        fail(new AmbitError(refused ? 'limit' : 'protocol', `tunnel to ${authority} failed before an answer: ${cause.message}`, {
          cause,
          details: { rstCode: rst, refusedUnprocessed: rst === http2.constants.NGHTTP2_REFUSED_STREAM },
        }));
      };
      const onClose = (): void => {
        const rst = stream.rstCode;
        const refused = rst === http2.constants.NGHTTP2_REFUSED_STREAM || rst === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM;
        fail(new AmbitError(refused ? 'limit' : 'protocol', `tunnel to ${authority} closed before an answer (RST_STREAM code ${rst ?? 'none'})`, {
          details: { rstCode: rst, refusedUnprocessed: rst === http2.constants.NGHTTP2_REFUSED_STREAM },
        }));
      };
      const onAbort = (): void => fail(new AmbitError('closed', `tunnel to ${authority} was cancelled`));
      const timer = setTimeout(() => {
        fail(new AmbitError('timeout', `no answer to CONNECT ${authority} within ${this.options.responseTimeoutMs} ms`));
      }, this.options.responseTimeoutMs);
      stream.once('response', onResponse);
      stream.once('error', onError);
      stream.once('close', onClose);
      if (signal?.aborted === true) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function sessionProtoWithRemoteSettings(session: ClientHttp2Session): object | undefined {
  // remoteSettings is an accessor on Http2Session.prototype.
  let proto: object | null = Object.getPrototypeOf(session) as object | null;
  while (proto !== null && Object.getOwnPropertyDescriptor(proto, 'remoteSettings') === undefined) {
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return proto ?? undefined;
}

function connectionError(cause: unknown, where: string, identity: PeerMatcher): AmbitError {
  if (cause instanceof AmbitError) return cause;
  const code = systemCode(cause);
  const message = cause instanceof Error ? cause.message : String(cause);
  const unreachable = code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
  if (unreachable || (code === 'ECONNRESET' && !/ssl|tls/i.test(message))) {
    return new AmbitError('no-upstream', `HBONE connection to ${where} failed: ${code}`, { cause, details: { code } });
  }
  if (code === 'ETIMEDOUT') return new AmbitError('timeout', `HBONE connection to ${where} timed out`, { cause });
  return new AmbitError('tls-failure', `mutual TLS with ${where} (expecting ${describePeer(identity)}) failed: ${message}`, {
    cause,
    details: { code },
    hint: 'both sides need certificates from the same mesh CA, valid now',
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
