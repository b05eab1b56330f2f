// The discovery subscription: one HTTP/2 stream over mutual TLS to the
// control plane. Updates are applied into the MeshIndex and acknowledged;
// a malformed one is rejected (NACK) and the last good state keeps serving.
// When the control plane goes away the state stays as it was and the client
// reconnects with backoff, resuming from the version it holds.
import { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import tls from 'node:tls';
import { AmbitError, Backoff, silentLogger, type BackoffOptions, type Logger } from '@ambit/core';
import {
  LineSplitter, encodeLine, formatAuthority, type DiscoveryAck, type DiscoveryUpdate, type SocketAddress, type SubscribeRequest,
} from '@ambit/api';
import { meshClientOptions, type PeerMatcher, type WorkloadCertificate } from '@ambit/identity';
import { MeshIndex } from './mesh-index.js';

export const DISCOVERY_PATH = '/ambit.v1/discovery';

export interface DiscoveryClientOptions {
  /** The control plane's discovery address (port 15012). */
  address: SocketAddress;
  /** Who the control plane must prove to be. */
  serverIdentity: PeerMatcher;
  /** The proxy's own certificate, asked for on every (re)connect so rotations are picked up. */
  certificate: () => WorkloadCertificate | Promise<WorkloadCertificate>;
  subscription: Omit<SubscribeRequest, 'lastVersion'>;
  index?: MeshIndex;
  backoff?: BackoffOptions;
  connectTimeoutMs?: number;
  logger?: Logger;
}

export interface DiscoveryClientEvents {
  connected: [];
  disconnected: [AmbitError];
  /** A version was applied and acknowledged. */
  synced: [string];
  /** A version was rejected; the previous state is kept. */
  rejected: [string, AmbitError];
}

export class DiscoveryClient extends EventEmitter<DiscoveryClientEvents> {
  readonly index: MeshIndex;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private session: ClientHttp2Session | undefined;
  private stream: ClientHttp2Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private isConnected = false;
  private firstSync: Promise<string>;
  private resolveFirstSync!: (version: string) => void;

  constructor(private readonly options: DiscoveryClientOptions) {
    super();
    this.index = options.index ?? new MeshIndex();
    this.log = (options.logger ?? silentLogger).child({ component: 'discovery-client' });
    this.backoff = new Backoff(options.backoff ?? { initialMs: 250, maxMs: 30_000, jitter: 0.5 });
    this.firstSync = new Promise((resolve) => { this.resolveFirstSync = resolve; });
  }

  /** Starts subscribing; resolves once, when the first update has been applied. */
  start(): Promise<string> {
    void this.connect();
    return this.firstSync;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.stream?.close();
    this.session?.destroy();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const where = formatAuthority(this.options.address);
    try {
      const certificate = await this.options.certificate();
      const session = await this.openSession(certificate);
      if (this.closed) {
        session.destroy();
        return;
      }
      this.session = session;
      const request: SubscribeRequest = {
        ...this.options.subscription,
        ...(this.index.version === undefined ? {} : { lastVersion: this.index.version }),
      };
      const stream = session.request({ ':method': 'POST', ':path': DISCOVERY_PATH, 'content-type': 'application/x-ndjson' }, { endStream: false });
      this.stream = stream;
      stream.write(encodeLine(request));
      this.read(stream, where);
    } catch (error) {
      this.lost(error instanceof AmbitError ? error : new AmbitError('unavailable', `control plane ${where} unreachable: ${(error as Error).message}`, { cause: error }));
    }
  }

  private openSession(certificate: WorkloadCertificate): Promise<ClientHttp2Session> {
    const { address } = this.options;
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ ...meshClientOptions(certificate, this.options.serverIdentity), host: address.ip, port: address.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new AmbitError('timeout', `control plane ${formatAuthority(address)} did not complete TLS within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const session = http2.connect(`https://${formatAuthority(address)}`, { createConnection: () => socket });
        session.on('error', () => undefined);
        resolve(session);
      });
    });
  }

  private read(stream: ClientHttp2Stream, where: string): void {
    const splitter = new LineSplitter();
    let status = 0;
    let errorBody = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      if (status === 200) {
        this.isConnected = true;
        this.log.info({ controlPlane: where }, 'subscribed');
        this.emit('connected');
      }
    });
    stream.on('data', (chunk: Buffer) => {
      if (status !== 200) {
        errorBody += chunk.toString();
        return;
      }
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.lost(new AmbitError('protocol', `control plane sent an oversized message: ${(error as Error).message}`));
        return;
      }
      for (const line of lines) this.onLine(stream, line);
    });
    stream.on('error', () => undefined);
    // The server ending its side ends the subscription: close ours so 'close' follows.
    stream.once('end', () => stream.close());
    stream.once('close', () => {
      const reason = status === 200 || status === 0
        ? new AmbitError('unavailable', `subscription to ${where} ended`)
        : new AmbitError(status === 403 || status === 401 ? 'denied' : 'protocol', `control plane ${where} refused the subscription (${status}): ${readError(errorBody)}`);
      this.lost(reason);
    });
  }

  private onLine(stream: ClientHttp2Stream, line: string): void {
    let version = '?';
    try {
      const update = JSON.parse(line) as DiscoveryUpdate;
      version = typeof update.version === 'string' ? update.version : '?';
      const change = this.index.apply(update);
      this.backoff.reset();
      stream.write(encodeLine({ type: 'ack', version: update.version } satisfies DiscoveryAck));
      this.log.debug({ version, snapshot: change.snapshot, upserted: change.upserted.length, removed: change.removed.length }, 'applied');
      this.emit('synced', update.version);
      this.resolveFirstSync(update.version);
    } catch (cause) {
      const error = cause instanceof AmbitError ? cause : new AmbitError('invalid-argument', `unparseable update: ${(cause as Error).message}`, { cause });
      stream.write(encodeLine({ type: 'ack', version, error: error.message } satisfies DiscoveryAck));
      this.log.warn({ version, err: error.message }, 'rejected an update (NACK); keeping the last good state');
      this.emit('rejected', version, error);
    }
  }

  private lost(reason: AmbitError): void {
    const wasConnected = this.isConnected;
    this.isConnected = false;
    this.stream = undefined;
    this.session?.destroy();
    this.session = undefined;
    if (this.closed) return;
    clearTimeout(this.timer);
    const delay = this.backoff.next();
    if (wasConnected) this.log.warn({ err: reason.message, retryInMs: delay }, 'lost the control plane; serving the last known state');
    else this.log.debug({ err: reason.message, retryInMs: delay }, 'control plane not reachable');
    this.emit('disconnected', reason);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }
}

function readError(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : body;
  } catch {
    return body.slice(0, 200) || 'no reason given';
  }
}
