// The discovery service: one long-lived HTTP/2 stream per proxy, mounted on
// the control-plane endpoint (mutual TLS required here). The request body
// carries the subscription then ACK/NACK lines; the response body carries a
// snapshot, then deltas. Publishes are coalesced in a fixed debounce window;
// a subscriber whose stream is backpressured is skipped and later sent one
// coalesced delta, so it never delays others and costs one version number
// of memory. A ztunnel receives the whole state; a waypoint only the scope
// of its Gateway (scope.ts), whose membership is recorded per version
// (membership.ts) so resources entering or leaving it arrive as upserts and
// removals.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { ServerHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { AmbitError, connectionId, silentLogger, type Logger } from '@ambit/core';
import {
  LineSplitter, encodeLine, type DiscoveryAck, type DiscoveryUpdate, type Resource, type SubscribeRequest,
} from '@ambit/api';
import { respondError, type Caller } from '../endpoint.js';
import { ScopeMembership } from './membership.js';
import { ScopeIndex } from './scope.js';
import { VersionedState } from './state.js';

export const DISCOVERY_PATH = '/ambit.v1/discovery';

/** How long a Gateway's scope is kept after its last waypoint left, so one that reconnects resumes with a delta. */
export const IDLE_SCOPE_RETENTION_MS = 5 * 60_000;

export interface SubscriberStatus {
  id: string;
  peer: string;
  role: SubscribeRequest['role'];
  node?: string;
  gateway?: string;
  connectedSince: string;
  lastSentVersion?: string;
  lastSentAt?: string;
  lastAckedVersion?: string;
  lastAckAt?: string;
  lastNack?: { version: string; error: string; at: string };
  /** An update is waiting for the subscriber's stream to drain. */
  backlogged: boolean;
}

export type SubscriberDecision = { allowed: true } | { allowed: false; reason: string };

export interface DiscoveryServiceOptions {
  /** Decides whether `caller` may subscribe as described; default: any caller with a mesh certificate. */
  authorize?: (caller: Caller, request: SubscribeRequest) => SubscriberDecision;
  debounceMs?: number;
  logger?: Logger;
}

interface Subscriber {
  status: SubscriberStatus;
  stream: ServerHttp2Stream;
  /** Numeric part of the last version sent. */
  sent: number | undefined;
  /** A waypoint's: the scope it receives. */
  scope: GatewayScope | undefined;
}

interface GatewayScope {
  gateway: string;
  membership: ScopeMembership;
  subscribers: number;
  /** When the last subscriber left (epoch ms). */
  idleSince: number;
}

export interface DiscoveryServiceEvents {
  pushed: [{ version: string; subscribers: number; durationMs: number }];
  ack: [SubscriberStatus];
  nack: [SubscriberStatus];
  /** A subscriber's stream ended (its last status). */
  disconnected: [SubscriberStatus];
  refused: [string];
}

export class DiscoveryService extends EventEmitter<DiscoveryServiceEvents> {
  readonly state = new VersionedState();
  /** Distinguishes this process's versions from another replica's or a previous run's. */
  readonly epoch = randomBytes(4).toString('hex');
  private readonly log: Logger;
  private readonly subscriberSet = new Set<Subscriber>();
  private readonly debounceMs: number;
  private pending: readonly Resource[] | undefined;
  private readonly encodedCache = new Map<string, Buffer>();
  private encodedVersion = -1;
  /** By Gateway key; every one is updated at every version (a delta needs the membership at its starting point). */
  private readonly scopes = new Map<string, GatewayScope>();
  private scopeIndex: { version: number; index: ScopeIndex } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DiscoveryServiceOptions = {}) {
    super();
    this.log = (options.logger ?? silentLogger).child({ component: 'discovery' });
    this.debounceMs = options.debounceMs ?? 100;
  }

  get version(): string {
    return this.format(this.state.version);
  }

  /** Offers a new complete state; pushed after the debounce window (bursts coalesce, the latest wins). */
  publish(resources: readonly Resource[]): void {
    this.pending = resources;
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  /** Applies the pending state now and pushes it; returns how many resources changed. */
  flush(): number {
    clearTimeout(this.timer);
    this.timer = undefined;
    const resources = this.pending;
    this.pending = undefined;
    if (resources === undefined) return 0;
    const started = Date.now();
    const changed = this.state.publish(resources);
    if (changed > 0) {
      this.rescope();
      for (const subscriber of this.subscriberSet) this.send(subscriber);
      this.emit('pushed', { version: this.version, subscribers: this.subscriberSet.size, durationMs: Date.now() - started });
      this.log.debug({ version: this.version, changed, subscribers: this.subscriberSet.size }, 'pushed');
    }
    return changed;
  }

  /** Records every kept Gateway scope at the new version; forgets those idle for longer than the retention. */
  private rescope(): void {
    const now = Date.now();
    for (const [gateway, scope] of this.scopes) {
      if (scope.subscribers === 0 && now - scope.idleSince >= IDLE_SCOPE_RETENTION_MS) {
        this.scopes.delete(gateway);
        continue;
      }
      scope.membership.update(this.state.version, this.index().scopeOf(gateway));
    }
  }

  /** The scope index of the current version, built at most once per version and only when a waypoint needs it. */
  private index(): ScopeIndex {
    if (this.scopeIndex?.version !== this.state.version) {
      this.scopeIndex = { version: this.state.version, index: new ScopeIndex(this.state.resources()) };
    }
    return this.scopeIndex.index;
  }

  private joinScope(gateway: string): GatewayScope {
    let scope = this.scopes.get(gateway);
    if (scope === undefined) {
      scope = { gateway, membership: new ScopeMembership(this.state.version, this.index().scopeOf(gateway)), subscribers: 0, idleSince: 0 };
      this.scopes.set(gateway, scope);
    }
    scope.subscribers++;
    return scope;
  }

  subscribers(): SubscriberStatus[] {
    return [...this.subscriberSet].map((s) => ({ ...s.status }));
  }

  /**
   * Ends every subscription while the endpoint keeps accepting: proxies
   * reconnect, here or to another replica, and resume from their version.
   */
  goAway(): void {
    for (const subscriber of this.subscriberSet) subscriber.stream.close();
  }

  /** Stops pushing and ends every subscription. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.goAway();
  }

  private format(version: number): string {
    return `${this.epoch}.${version}`;
  }

  /** The numeric version of `version` if it is one of ours, else undefined (forces a snapshot). */
  private parse(version: string | undefined): number | undefined {
    if (version === undefined) return undefined;
    const [epoch, number] = version.split('.');
    return epoch === this.epoch && number !== undefined && /^\d+$/.test(number) ? Number(number) : undefined;
  }

  /** The route handler for DISCOVERY_PATH. */
  readonly handle = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, caller: Caller): void => {
    if (caller.identity === undefined) {
      return this.reject(stream, 401, 'discovery needs a mesh client certificate; bootstrap one from the CA first');
    }
    if (headers[':method'] !== 'POST') {
      return this.reject(stream, 405, `${String(headers[':method'])} is not supported; subscribe with POST ${DISCOVERY_PATH}`);
    }
    const splitter = new LineSplitter(1024 * 1024);
    let subscriber: Subscriber | undefined;
    stream.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        return this.reject(stream, 400, (error as Error).message);
      }
      for (const line of lines) {
        if (subscriber === undefined) {
          subscriber = this.subscribe(stream, caller, line);
          if (subscriber === undefined) return;
        } else {
          this.onAck(subscriber, line);
        }
      }
    });
    stream.once('close', () => {
      if (subscriber === undefined) return;
      this.subscriberSet.delete(subscriber);
      if (subscriber.scope !== undefined && --subscriber.scope.subscribers === 0) subscriber.scope.idleSince = Date.now();
      this.log.info({ subscriber: subscriber.status.id, peer: caller.identity?.uri }, 'subscriber disconnected');
      this.emit('disconnected', { ...subscriber.status });
    });
  };

  private subscribe(stream: ServerHttp2Stream, caller: Caller, line: string): Subscriber | undefined {
    let request: SubscribeRequest;
    try {
      request = parseSubscribe(line);
    } catch (error) {
      this.reject(stream, 400, (error as Error).message);
      return undefined;
    }
    const peer = caller.identity as NonNullable<Caller['identity']>;
    const decision = this.options.authorize?.(caller, request) ?? { allowed: true };
    if (!decision.allowed) {
      this.reject(stream, 403, `${peer.uri} may not subscribe as ${describe(request)}: ${decision.reason}`);
      return undefined;
    }
    const status: SubscriberStatus = {
      id: connectionId(),
      peer: peer.uri,
      role: request.role,
      connectedSince: new Date().toISOString(),
      backlogged: false,
      ...(request.node === undefined ? {} : { node: request.node }),
      ...(request.gateway === undefined ? {} : { gateway: request.gateway }),
    };
    const subscriber: Subscriber = {
      status, stream, sent: this.parse(request.lastVersion), scope: request.role === 'waypoint' ? this.joinScope(request.gateway as string) : undefined,
    };
    this.subscriberSet.add(subscriber);
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    stream.on('drain', () => {
      if (subscriber.status.backlogged) this.send(subscriber);
    });
    this.log.info({ subscriber: status.id, peer: peer.uri, as: describe(request), resumeFrom: request.lastVersion }, 'subscriber connected');
    // First answer: a snapshot, or a delta when resuming from a version we still know.
    this.send(subscriber, true);
    return subscriber;
  }

  private send(subscriber: Subscriber, always = false): void {
    const { stream, status } = subscriber;
    if (stream.closed || stream.destroyed) return;
    if (!always && subscriber.sent === this.state.version) return;
    if (stream.writableNeedDrain) {
      status.backlogged = true;
      return;
    }
    stream.write(this.encoded(subscriber));
    subscriber.sent = this.state.version;
    status.backlogged = false;
    status.lastSentVersion = this.version;
    status.lastSentAt = new Date().toISOString();
  }

  /**
   * The update taking a subscriber from its last version to the current one,
   * encoded once per version, starting point and scope and shared by every
   * subscriber in the same place: 100 proxies syncing at once hold one
   * snapshot buffer, not 100 (and a waypoint's replicas share theirs).
   */
  private encoded(subscriber: Subscriber): Buffer {
    if (this.encodedVersion !== this.state.version) {
      this.encodedCache.clear();
      this.encodedVersion = this.state.version;
    }
    const { sent, scope } = subscriber;
    const from = (scope?.membership ?? this.state).needsSnapshot(sent) ? 'snapshot' : String(sent);
    const key = scope === undefined ? from : `${scope.gateway} ${from}`;
    let buffer = this.encodedCache.get(key);
    if (buffer === undefined) {
      const changes = scope === undefined ? this.state.changesSince(sent) : scope.membership.changesSince(sent, this.state);
      const update: DiscoveryUpdate = {
        type: 'update', version: this.format(changes.version), snapshot: changes.snapshot, upserts: changes.upserts, removals: changes.removals,
      };
      buffer = Buffer.from(encodeLine(update));
      this.encodedCache.set(key, buffer);
    }
    return buffer;
  }

  private onAck(subscriber: Subscriber, line: string): void {
    let ack: DiscoveryAck;
    try {
      ack = JSON.parse(line) as DiscoveryAck;
      if (ack.type !== 'ack' || typeof ack.version !== 'string') throw new Error('expected {"type":"ack","version":...}');
    } catch (error) {
      this.log.warn({ subscriber: subscriber.status.id, err: (error as Error).message }, 'ignoring a malformed ack line');
      return;
    }
    const now = new Date().toISOString();
    if (ack.error === undefined) {
      subscriber.status.lastAckedVersion = ack.version;
      subscriber.status.lastAckAt = now;
      this.emit('ack', { ...subscriber.status });
    } else {
      subscriber.status.lastNack = { version: ack.version, error: String(ack.error).slice(0, 1024), at: now };
      this.log.warn({ subscriber: subscriber.status.id, peer: subscriber.status.peer, version: ack.version, err: ack.error }, 'proxy rejected a version (NACK)');
      this.emit('nack', { ...subscriber.status });
    }
  }

  private reject(stream: ServerHttp2Stream, status: number, reason: string): void {
    this.log.warn({ status, reason }, 'refused a discovery request');
    this.emit('refused', reason);
    respondError(stream, status, reason);
  }
}

function parseSubscribe(line: string): SubscribeRequest {
  const value = JSON.parse(line) as Partial<SubscribeRequest> | null;
  if (value === null || typeof value !== 'object') throw new AmbitError('invalid-argument', 'the first line must be a subscribe request object');
  if (value.role !== 'ztunnel' && value.role !== 'waypoint') {
    throw new AmbitError('invalid-argument', `role ${JSON.stringify(value.role)} is not ztunnel or waypoint`);
  }
  if (value.role === 'ztunnel' && (typeof value.node !== 'string' || value.node === '')) {
    throw new AmbitError('invalid-argument', 'a ztunnel subscription needs the node it serves');
  }
  if (value.role === 'waypoint' && (typeof value.gateway !== 'string' || !value.gateway.includes('/'))) {
    throw new AmbitError('invalid-argument', 'a waypoint subscription needs its gateway as namespace/name');
  }
  if (value.lastVersion !== undefined && typeof value.lastVersion !== 'string') {
    throw new AmbitError('invalid-argument', 'lastVersion must be a string');
  }
  return value as SubscribeRequest;
}

function describe(request: SubscribeRequest): string {
  return request.role === 'ztunnel' ? `ztunnel of node ${request.node ?? '?'}` : `waypoint ${request.gateway ?? '?'}`;
}
