// The live connection table and each connection's accounting: opened when
// its context is known, closed exactly once with bytes, a response flag and
// an error, which becomes the TCP metrics and one access-log line. Refusals
// are counted here too, so every refusal is a metric and a log line.
import type { Service, Workload } from '@ambit/api';
import { causeChain, SpiffeId, type Logger } from '@ambit/core';
import type { ZtunnelMetrics, SecurityPolicy, TrafficLabels, TrafficCounters } from '../metrics.js';
import { writeAccessLog } from '../access-log.js';
import { responseFlagFor, type ResponseFlag } from './flags.js';

export type Direction = 'outbound' | 'inbound';

/** How a connection arrived. */
export type Via = 'socks5' | 'capture' | 'hbone' | 'plaintext' | 'same-node';

export interface Party {
  workload?: Workload | undefined;
  /** The SPIFFE ID: a local workload's, or the one a peer proved with its certificate. */
  identity?: string | undefined;
}

export interface ConnectionContext {
  direction: Direction;
  via: Via;
  /** The client, ip:port. */
  src: string;
  /** The original destination, ip:port. */
  dst: string;
  /** Where the bytes go: the dialled address, or the CONNECT authority inside a tunnel. */
  upstream?: string | undefined;
  /** The HBONE hop (a remote node or a waypoint), when there is one. */
  hop?: string | undefined;
  source: Party;
  destination: Party & { service?: Service | undefined };
  securityPolicy: SecurityPolicy;
}

export interface Outcome {
  /** Bytes from the destination back to the client. */
  sent: number;
  /** Bytes from the client to the destination. */
  received: number;
  error?: unknown;
  /** Overrides the flag derived from the error. */
  flag?: ResponseFlag;
}

export interface ConnectionSnapshot {
  id: string;
  direction: Direction;
  via: Via;
  src: string;
  dst: string;
  upstream?: string | undefined;
  hop?: string | undefined;
  sourceWorkload?: string | undefined;
  sourceIdentity?: string | undefined;
  destinationWorkload?: string | undefined;
  destinationIdentity?: string | undefined;
  destinationService?: string | undefined;
  securityPolicy: SecurityPolicy;
  startedAt: string;
  durationMs: number;
  state: 'open' | 'closed';
  /** Once closed: bytes each way and the response flag ('-' when it ended cleanly). */
  sent?: number;
  received?: number;
  flag?: ResponseFlag;
}

/** Closed connections stay listed this long (at most RECENT_MAX of them), so a short request can still be seen. */
export const RECENT_MS = 60_000;
export const RECENT_MAX = 64;

export class ConnectionTable {
  private readonly live = new Map<string, Connection>();
  private recent: ConnectionSnapshot[] = [];
  private readonly log: Logger;
  private readonly accessLog: Logger;

  constructor(private readonly metrics: ZtunnelMetrics, logger: Logger) {
    this.log = logger.child({ component: 'connections' });
    this.accessLog = logger.child({ component: 'access' });
  }

  /** Starts accounting for a connection whose context is known: counts it opened and lists it. */
  open(id: string, context: ConnectionContext): Connection {
    const connection = new Connection(id, context, this.metrics, this.accessLog, (closed) => {
      this.live.delete(id);
      this.recent.push(closed);
      if (this.recent.length > RECENT_MAX) this.recent.shift();
    });
    this.live.set(id, connection);
    return connection;
  }

  /**
   * Counts a refusal and, unless the component that refused already logged
   * it, writes the one warn line that says why.
   */
  refused(direction: Direction, reason: string, fields: Record<string, unknown>, error: unknown, alreadyLogged = false): void {
    this.metrics.refusals.inc({ direction, reason });
    if (!alreadyLogged) {
      this.log.warn({ direction, reason, ...fields, err: causeChain(error).join(': ') }, `refused: ${explain(error)}`);
    }
  }

  /** Open connections, then those closed in the last minute (newest last). */
  list(now = Date.now()): ConnectionSnapshot[] {
    this.recent = this.recent.filter((c) => Date.parse(c.startedAt) + c.durationMs > now - RECENT_MS);
    return [...[...this.live.values()].map((c) => c.snapshot()), ...this.recent];
  }

  counts(): { outbound: number; inbound: number } {
    let outbound = 0;
    for (const connection of this.live.values()) if (connection.context.direction === 'outbound') outbound++;
    return { outbound, inbound: this.live.size - outbound };
  }
}

export class Connection {
  readonly startedAt = Date.now();
  private readonly labels: TrafficLabels;
  private closed = false;

  constructor(
    readonly id: string,
    readonly context: ConnectionContext,
    private readonly metrics: ZtunnelMetrics,
    private readonly accessLog: Logger,
    private readonly onClose: (closed: ConnectionSnapshot) => void,
  ) {
    this.labels = trafficLabels(context);
    this.metrics.traffic(this.labels, '-').opened.inc();
  }

  /** Ends the accounting (idempotent): metrics, then one access-log line. */
  close(outcome: Outcome): void {
    if (this.closed) return;
    this.closed = true;
    const flag = outcome.flag ?? (outcome.error === undefined ? '-' : responseFlagFor(outcome.error));
    this.onClose({ ...this.snapshot(), state: 'closed', sent: outcome.sent, received: outcome.received, flag });
    const counters: TrafficCounters = this.metrics.traffic(this.labels, flag);
    counters.closed.inc();
    if (outcome.sent > 0) counters.sent.inc(outcome.sent);
    if (outcome.received > 0) counters.received.inc(outcome.received);
    writeAccessLog(this.accessLog, {
      id: this.id, context: this.context, outcome, flag, durationMs: Date.now() - this.startedAt,
    });
  }

  snapshot(): ConnectionSnapshot {
    const { context } = this;
    return {
      id: this.id,
      direction: context.direction,
      via: context.via,
      src: context.src,
      dst: context.dst,
      upstream: context.upstream,
      hop: context.hop,
      sourceWorkload: workloadName(context.source.workload),
      sourceIdentity: context.source.identity,
      destinationWorkload: workloadName(context.destination.workload),
      destinationIdentity: context.destination.identity,
      destinationService: context.destination.service?.hostname,
      securityPolicy: context.securityPolicy,
      startedAt: new Date(this.startedAt).toISOString(),
      durationMs: Date.now() - this.startedAt,
      state: 'open',
    };
  }
}

const UNKNOWN = 'unknown';

export function trafficLabels(context: ConnectionContext): TrafficLabels {
  const { source, destination } = context;
  return {
    reporter: context.direction === 'outbound' ? 'source' : 'destination',
    source_workload: source.workload?.name ?? UNKNOWN,
    source_workload_namespace: source.workload?.namespace ?? namespaceOf(source.identity) ?? UNKNOWN,
    source_principal: source.identity ?? UNKNOWN,
    destination_workload: destination.workload?.name ?? UNKNOWN,
    destination_workload_namespace: destination.workload?.namespace ?? namespaceOf(destination.identity) ?? UNKNOWN,
    destination_principal: destination.identity ?? UNKNOWN,
    destination_service: destination.service?.hostname ?? UNKNOWN,
    destination_service_namespace: destination.service?.namespace ?? UNKNOWN,
    connection_security_policy: context.securityPolicy,
  };
}

export function workloadName(workload: Workload | undefined): string | undefined {
  return workload === undefined ? undefined : `${workload.namespace}/${workload.name}`;
}

function namespaceOf(identity: string | undefined): string | undefined {
  return identity === undefined ? undefined : SpiffeId.tryParse(identity)?.namespace;
}

function explain(error: unknown): string {
  if (error instanceof Error) {
    const hint = (error as { hint?: unknown }).hint;
    return typeof hint === 'string' ? `${error.message} (${hint})` : error.message;
  }
  return String(error);
}
