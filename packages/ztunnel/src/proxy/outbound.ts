// Outbound: a local workload's connection, captured on 15001 or asked for
// through SOCKS5, handled in phases: build the context (source workload,
// route) → obtain the source identity's certificate → connect upstream (an
// HBONE tunnel from the pool, the same-node path, or plain TCP) → answer →
// copy. A failure before the context exists is still logged and counted
// with what is known.
import type net from 'node:net';
import type { ClientHttp2Stream } from 'node:http2';
import { AmbitError, connectionId, SpiffeId, type Logger } from '@ambit/core';
import { formatAuthority, normalizeIp, socketAddress, type SocketAddress, type Workload } from '@ambit/api';
import { dialTcp, joinTunnel, type HbonePool, type TunnelMetadata } from '@ambit/hbone';
import type { WorkloadCertificate } from '@ambit/identity';
import { authorizeInbound } from '../rbac.js';
import { guessInboundService, type ZtunnelState } from '../state.js';
import type { Connection, ConnectionContext, ConnectionTable, Via } from './connections.js';
import { joinSockets, reset } from './copy.js';
import { WaypointLanes } from './lanes.js';
import { refusal, refusalReasonFor } from './flags.js';
import { fromNode, type PodDialer } from './source-address.js';
import { describeRoute, randomPicker, resolveDirect, resolveOutbound, type Picker, type Route } from './resolve.js';

export interface OutboundOptions {
  node: string;
  state: ZtunnelState;
  /** Certificates of local workload identities only. */
  identity: { fetch(identity: string): Promise<WorkloadCertificate> };
  pool: HbonePool;
  connections: ConnectionTable;
  /** The port remote ztunnels serve HBONE on, at each pod address. */
  hbonePort: number;
  connectTimeoutMs: number;
  /** Connections (pool lanes) one source's tunnels to a waypoint may be spread over (lanes.ts); default 1. */
  waypointConnections?: number;
  /** True for addresses of this ztunnel's own listeners: connecting there would loop. */
  isSelf?: (destination: SocketAddress) => boolean;
  pick?: Picker;
  /** How a same-node pod is dialled: from the client's address or the node's (source-address.ts); default the node's. */
  dialPod?: PodDialer;
  logger: Logger;
}

export type AnswerResult = { ok: true } | { ok: false; error: unknown };

export interface OutboundRequest {
  socket: net.Socket;
  /** The original destination. */
  destination: SocketAddress;
  via: Extract<Via, 'socks5' | 'capture'>;
  /** The source pod's address when it is not the client's own (a per-pod SOCKS5 listener's address). */
  source?: string;
  /**
   * A source pod on this node that is not in the mesh: refused (default), or
   * connected directly as itself, service VIPs resolved to an endpoint (the
   * loopback mode, where nothing else plays kube-proxy).
   */
  outsideMesh?: 'refuse' | 'direct';
  /** SOCKS5 answers once the upstream is connected or refused; captured connections are reset on refusal. */
  answer?: (result: AnswerResult) => void;
}

type Upstream =
  | { kind: 'tunnel'; stream: ClientHttp2Stream }
  | { kind: 'socket'; socket: net.Socket; inbound?: Connection };

/**
 * Open tunnels from one source to a waypoint before the next connection
 * (lane) is used. Below it a workload's tunnels share one connection, so one
 * warm waypoint worker (fewer wake-ups per request); past it a second
 * connection brings in another worker (docs/performance.md, "Waypoint workers").
 */
export const WAYPOINT_TUNNELS_PER_CONNECTION = 32;

export class Outbound {
  private readonly log: Logger;
  private readonly pick: Picker;
  private readonly lanes: WaypointLanes;

  constructor(private readonly options: OutboundOptions) {
    this.log = options.logger.child({ component: 'outbound' });
    this.pick = options.pick ?? randomPicker;
    this.lanes = new WaypointLanes(options.waypointConnections ?? 1, WAYPOINT_TUNNELS_PER_CONNECTION);
  }

  async handle(request: OutboundRequest): Promise<void> {
    const { socket, destination, via } = request;
    const id = connectionId();
    const peerIp = normalizeIp(socket.remoteAddress ?? '');
    const clientIp = request.source ?? peerIp;
    // A per-pod listener's client is the pod (its TCP peer may be 127.0.0.1): the pod's address is the source shown.
    const src = clientIp === '' ? 'unknown' : formatAuthority({ ip: clientIp, port: socket.remotePort ?? 0 });
    const known: Record<string, unknown> = { conn: id, via, src, dst: formatAuthority(destination), ...(request.source === undefined ? {} : { pod: request.source }) };

    // Phase 1: the context. Who is asking, and where do the bytes go?
    let source: Workload;
    let route: Route;
    try {
      if (request.outsideMesh === 'direct') {
        const pod = this.options.state.workloadByAddress(clientIp);
        if (pod !== undefined && pod.node === this.options.node && pod.protocol !== 'HBONE') return await this.direct(request, pod, clientIp, id, src, known);
      }
      source = this.sourceOf(clientIp);
      known.source = source.identity;
      if (this.options.isSelf?.(destination) === true) {
        throw refusal('bad-request', 'self-call', 'NR', `${formatAuthority(destination)} is this ztunnel's own listener`, {
          hint: 'connecting there would loop',
        });
      }
      route = resolveOutbound(this.options.state, { source, destination, node: this.options.node }, this.pick);
    } catch (error) {
      this.refuse(request, known, error);
      return;
    }
    known.route = describeRoute(route);
    const connection = this.options.connections.open(id, this.contextFor(route, source, via, src, destination));
    const log = this.log.child(known);

    // Phases 2 and 3: the source certificate, then the upstream (abandoned if the client leaves first).
    const abort = new AbortController();
    const onClientGone = (): void => abort.abort();
    socket.once('close', onClientGone);
    let upstream: Upstream;
    try {
      upstream = await this.connect(route, source, clientIp, src, abort.signal);
    } catch (error) {
      socket.off('close', onClientGone);
      this.refuse(request, known, error);
      connection.close({ sent: 0, received: 0, error });
      return;
    }
    socket.off('close', onClientGone);
    if (socket.destroyed) {
      const error = new AmbitError('closed', 'the client left before the upstream was connected');
      if (upstream.kind === 'tunnel') upstream.stream.destroy();
      else upstream.socket.destroy();
      connection.close({ sent: 0, received: 0, error });
      if (upstream.kind === 'socket') upstream.inbound?.close({ sent: 0, received: 0, error });
      return;
    }

    // Phase 4: answer. Phase 5: copy until both sides are done.
    request.answer?.({ ok: true });
    log.debug('connected');
    let outcome;
    if (upstream.kind === 'tunnel') {
      const result = await joinTunnel(upstream.stream, socket);
      outcome = { sent: result.bytesToSocket, received: result.bytesToTunnel, error: result.error };
    } else {
      outcome = await joinSockets(socket, upstream.socket);
    }
    connection.close(outcome);
    if (upstream.kind === 'socket') upstream.inbound?.close(outcome);
  }

  /**
   * A pod of this node outside the mesh, connected as itself (source address
   * its own) to the endpoint a VIP stands for: what kube-proxy would do for it.
   */
  private async direct(request: OutboundRequest, pod: Workload, podIp: string, id: string, src: string, known: Record<string, unknown>): Promise<void> {
    const { socket, destination, via } = request;
    known.source = `${pod.namespace}/${pod.name}`;
    if (this.options.isSelf?.(destination) === true) {
      throw refusal('bad-request', 'self-call', 'NR', `${formatAuthority(destination)} is this ztunnel's own listener`, { hint: 'connecting there would loop' });
    }
    const { target, service, workload } = resolveDirect(this.options.state, destination, this.pick);
    known.route = `direct ${formatAuthority(target)}`;
    const connection = this.options.connections.open(id, {
      direction: 'outbound', via, src, dst: formatAuthority(destination), upstream: formatAuthority(target),
      source: { workload: pod }, destination: { workload, service }, securityPolicy: 'none',
    });
    let upstream: net.Socket;
    try {
      upstream = await dialTcp(target, { timeoutMs: this.options.connectTimeoutMs, localAddress: podIp });
    } catch (error) {
      this.refuse(request, known, error);
      connection.close({ sent: 0, received: 0, error });
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      connection.close({ sent: 0, received: 0, error: new AmbitError('closed', 'the client left before the upstream was connected') });
      return;
    }
    request.answer?.({ ok: true });
    connection.close(await joinSockets(socket, upstream));
  }

  /** The source must be a workload enrolled on this node: its identity is the one presented. */
  private sourceOf(ip: string): Workload {
    const workload = this.options.state.workloadByAddress(ip);
    if (workload !== undefined && workload.node === this.options.node && workload.protocol === 'HBONE') return workload;
    const why = workload === undefined
      ? `no workload has address ${ip || '(none)'}`
      : workload.node !== this.options.node
        ? `workload ${workload.namespace}/${workload.name} at ${ip} runs on node ${workload.node}, not ${this.options.node}`
        : `workload ${workload.namespace}/${workload.name} at ${ip} is not enrolled in the mesh`;
    throw refusal('denied', 'unknown-source', 'DENY', `${why}, so it has no identity to connect with`, {
      hint: `only enrolled pods on node ${this.options.node} may use this ztunnel`,
    });
  }

  private async connect(route: Route, source: Workload, clientIp: string, src: string, signal: AbortSignal): Promise<Upstream> {
    const { connectTimeoutMs } = this.options;
    switch (route.kind) {
      case 'passthrough':
      case 'tcp':
        return { kind: 'socket', socket: await dialTcp(route.target, { timeoutMs: connectTimeoutMs, signal }) };
      case 'hbone':
        if (route.local) return this.sameNode(route, source, clientIp, src, signal);
        return { kind: 'tunnel', stream: await this.tunnel(source, socketAddress(route.target.ip, this.options.hbonePort), route.workload.identity, route.target, clientIp, signal) };
      case 'waypoint': {
        const { lane, release } = this.lanes.take(`${source.identity} ${formatAuthority(route.hop)}`);
        try {
          const stream = await this.tunnel(source, route.hop, route.waypoint.identity, route.target, clientIp, signal, lane);
          stream.once('close', release);
          return { kind: 'tunnel', stream };
        } catch (error) {
          release();
          throw error;
        }
      }
    }
  }

  private async tunnel(
    source: Workload, hop: SocketAddress, expected: string, target: SocketAddress, clientIp: string, signal: AbortSignal, lane = 0,
  ): Promise<ClientHttp2Stream> {
    const certificate = await withDeadline(this.options.identity.fetch(source.identity), this.options.connectTimeoutMs,
      () => refusal('issuance-failed', 'no-certificate', 'TLS_FAILURE', `no certificate for ${source.identity} within ${this.options.connectTimeoutMs} ms`, {
        hint: 'is the control plane reachable?',
      }));
    let identity: SpiffeId;
    try {
      identity = SpiffeId.parse(expected);
    } catch (cause) {
      throw refusal('tls-failure', 'invalid-peer-identity', 'TLS_FAILURE', `the destination's identity ${expected} is not a SPIFFE ID`, { cause });
    }
    const metadata: TunnelMetadata = { forwardedFor: clientIp, baggage: baggageOf(source) };
    return this.options.pool.connect({ source: certificate, destination: { address: hop, identity }, target, metadata, signal, lane });
  }

  /**
   * The destination is enrolled on this node: the inbound checks run here, in
   * process, with the source's identity (as if it had arrived over HBONE),
   * then the pod is dialled directly. Reported by both sides, as mutual TLS.
   */
  private async sameNode(route: Extract<Route, { kind: 'hbone' }>, source: Workload, clientIp: string, src: string, signal: AbortSignal): Promise<Upstream> {
    const { connections, state } = this.options;
    const id = connectionId();
    const context: ConnectionContext = {
      direction: 'inbound', via: 'same-node', src, dst: formatAuthority(route.target), upstream: formatAuthority(route.target),
      source: { workload: source, identity: source.identity },
      destination: { workload: route.workload, identity: route.workload.identity, service: route.service ?? guessInboundService(state, route.workload, route.target.port) },
      securityPolicy: 'mutual_tls',
    };
    const refused = (error: unknown): never => {
      connections.open(id, context).close({ sent: 0, received: 0, error });
      // The outbound side logs the one line for this refusal.
      connections.refused('inbound', refusalReasonFor(error), { conn: id, via: 'same-node' }, error, true);
      throw error;
    };
    try {
      authorizeInbound(state, this.options.node, { peerIdentity: source.identity, sourceIp: clientIp, target: route.target });
    } catch (error) {
      return refused(error);
    }
    let socket: net.Socket;
    try {
      socket = await (this.options.dialPod ?? fromNode)(clientIp, route.target, { timeoutMs: this.options.connectTimeoutMs, signal });
    } catch (error) {
      return refused(error);
    }
    return { kind: 'socket', socket, inbound: connections.open(id, context) };
  }

  private contextFor(route: Route, source: Workload, via: Via, src: string, destination: SocketAddress): ConnectionContext {
    const base = {
      direction: 'outbound' as const, via, src, dst: formatAuthority(destination), upstream: formatAuthority(route.target),
      source: { workload: source, identity: source.identity },
    };
    switch (route.kind) {
      case 'waypoint':
        return {
          ...base, hop: formatAuthority(route.hop),
          destination: { workload: route.workload, identity: route.waypoint.identity, service: route.service },
          securityPolicy: 'mutual_tls',
        };
      case 'hbone':
        return {
          ...base, hop: route.local ? undefined : formatAuthority({ ip: route.target.ip, port: this.options.hbonePort }),
          destination: { workload: route.workload, identity: route.workload.identity, service: route.service },
          securityPolicy: 'mutual_tls',
        };
      case 'tcp':
        return { ...base, destination: { workload: route.workload, service: route.service }, securityPolicy: 'none' };
      case 'passthrough':
        return { ...base, destination: { service: route.service }, securityPolicy: 'none' };
    }
  }

  private refuse(request: OutboundRequest, fields: Record<string, unknown>, error: unknown): void {
    this.options.connections.refused('outbound', refusalReasonFor(error), fields, error);
    if (request.answer !== undefined) request.answer({ ok: false, error });
    else if (!request.socket.destroyed) reset(request.socket);
  }
}

/** Source workload attributes for the destination's telemetry (W3C baggage, as ztunnel sends). */
function baggageOf(workload: Workload): Record<string, string> {
  return {
    'k8s.namespace.name': workload.namespace,
    'k8s.pod.name': workload.name,
    'service.name': workload.canonicalName,
    'service.version': workload.canonicalRevision,
  };
}

function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
