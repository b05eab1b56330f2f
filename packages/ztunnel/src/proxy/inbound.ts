// Inbound HBONE (15008): the HboneServer terminates mutual TLS presenting
// the identity of the local workload whose address the client connected to,
// then runs each CONNECT through its phases with our hooks: authorize (the
// inbound checks of rbac.ts, with the peer identity from the certificate)
// and connect (dial the pod). Its events become connection records, metrics
// and access-log lines; its refusals become refusal counters (the server
// itself writes the warn line).
import type net from 'node:net';
import { findAmbitError, type Logger } from '@ambit/core';
import { formatAuthority, normalizeIp, type Workload } from '@ambit/api';
import { HboneServer, type RefusalReason, type TunnelRequest } from '@ambit/hbone';
import type { WorkloadCertificate } from '@ambit/identity';
import { authorizeInbound } from '../rbac.js';
import { guessInboundService, type ZtunnelState } from '../state.js';
import type { Connection, ConnectionContext, ConnectionTable } from './connections.js';
import { responseFlagFor, type ResponseFlag } from './flags.js';
import { fromNode, type PodDialer } from './source-address.js';

export interface InboundOptions {
  node: string;
  state: ZtunnelState;
  /**
   * Certificates of local workload identities (synchronous: chosen during the
   * TLS accept); `fetch` waits for one still being issued.
   */
  identity: { certificate(identity: string): WorkloadCertificate | undefined; fetch?(identity: string): Promise<WorkloadCertificate> };
  connections: ConnectionTable;
  trustDomain: string;
  connectTimeoutMs: number;
  /** How the pod is dialled: from the client's address or the node's (source-address.ts); default the node's. */
  dialPod?: PodDialer;
  logger: Logger;
}

export class Inbound {
  readonly server: HboneServer;
  private readonly contexts = new WeakMap<TunnelRequest, ConnectionContext>();
  private readonly open = new WeakMap<TunnelRequest, Connection>();

  constructor(private readonly options: InboundOptions) {
    const { state, identity } = options;
    this.server = new HboneServer({
      certificate: (local) => {
        const workload = state.localWorkloadByAddress(local.ip);
        return workload === undefined ? undefined : identity.certificate(workload.identity);
      },
      trustDomain: options.trustDomain,
      authorize: (request) => this.authorize(request),
      connect: (request, signal) => (options.dialPod ?? fromNode)(sourceIpOf(request), request.target, { timeoutMs: options.connectTimeoutMs, signal }),
      limits: { connectTimeoutMs: options.connectTimeoutMs },
      logger: options.logger,
    });
    this.server.on('tunnel-open', (request) => {
      this.open.set(request, options.connections.open(request.id, this.contextOf(request)));
    });
    this.server.on('tunnel-close', ({ request, result }) => {
      // From the pod's side: what the tunnel delivered to it was received from the client.
      this.open.get(request)?.close({ sent: result.bytesToTunnel, received: result.bytesToSocket, error: result.error });
    });
    this.server.on('refused', (reason, event) => this.onRefused(reason, event));
  }

  /**
   * Serves a connection accepted by a listener this ztunnel owns (per-pod, or
   * transparent). A pod's listener is bound as soon as discovery names it, a
   * moment before its first certificate is issued: a client arriving then
   * waits for it (up to the connect timeout) instead of being refused.
   */
  accept(socket: net.Socket): void {
    const { state, identity, connectTimeoutMs } = this.options;
    const workload = state.localWorkloadByAddress(normalizeIp(socket.localAddress ?? ''));
    if (workload === undefined || identity.fetch === undefined || identity.certificate(workload.identity) !== undefined) {
      this.server.accept(socket);
      return;
    }
    socket.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, connectTimeoutMs); });
    // Whatever happens, the server decides: with the certificate it serves, without it it refuses (and reports).
    void Promise.race([identity.fetch(workload.identity).then(() => undefined, () => undefined), deadline]).then(() => {
      clearTimeout(timer);
      if (socket.destroyed) return;
      this.server.accept(socket);
    });
  }

  private authorize(request: TunnelRequest): void {
    const context = this.contextOf(request);
    const { workload } = authorizeInbound(this.options.state, this.options.node, {
      peerIdentity: request.peer.uri,
      sourceIp: sourceIpOf(request),
      target: request.target,
      localIp: request.localAddress.ip,
    });
    context.destination = {
      workload, identity: workload.identity, service: guessInboundService(this.options.state, workload, request.target.port),
    };
  }

  /** Everything known about a tunnel request, built once and completed by authorize(). */
  private contextOf(request: TunnelRequest): ConnectionContext {
    let context = this.contexts.get(request);
    if (context === undefined) {
      const sourceIp = sourceIpOf(request);
      const peer = request.peer.uri;
      // The source workload is whoever has the source address, if it also holds the identity the peer proved.
      const candidate = this.options.state.workloadByAddress(sourceIp);
      const sourceWorkload: Workload | undefined = candidate?.identity === peer ? candidate : undefined;
      const target = this.options.state.localWorkloadByAddress(request.target.ip);
      context = {
        direction: 'inbound', via: 'hbone',
        // `forwarded` carries the client's address without its port.
        src: request.metadata.forwardedFor === undefined ? formatAuthority(request.peerAddress) : sourceIp,
        dst: formatAuthority(request.target),
        upstream: formatAuthority(request.target),
        hop: formatAuthority(request.peerAddress),
        source: { workload: sourceWorkload, identity: peer },
        destination: { workload: target, identity: target?.identity },
        securityPolicy: 'mutual_tls',
      };
      this.contexts.set(request, context);
    }
    return context;
  }

  private onRefused(reason: RefusalReason, event: { request?: TunnelRequest; error?: unknown; peerAddress?: string }): void {
    const { connections } = this.options;
    const ours = findAmbitError(event.error)?.details.reason;
    const label = typeof ours === 'string' ? ours : reason;
    connections.refused('inbound', label, {}, event.error, true);
    if (event.request === undefined) return;
    // A tunnel that was refused still gets its metrics and access-log line.
    const error = event.error ?? new Error(`refused: ${reason}`);
    connections.open(event.request.id, this.contextOf(event.request)).close({ sent: 0, received: 0, error, flag: flagForRefusal(reason, event.error) });
  }
}

/** The original source: the `forwarded` header's address when the client sent one, else the TCP peer. */
function sourceIpOf(request: TunnelRequest): string {
  return request.metadata.forwardedFor ?? request.peerAddress.ip;
}

function flagForRefusal(reason: RefusalReason, error: unknown): ResponseFlag {
  if (findAmbitError(error) !== undefined) return responseFlagFor(error);
  switch (reason) {
    case 'draining': return 'DRAIN';
    case 'denied': return 'DENY';
    case 'tls-handshake':
    case 'no-certificate':
    case 'untrusted-peer':
      return 'TLS_FAILURE';
    case 'no-upstream':
    case 'upstream-timeout':
      return 'CONNECT';
    default:
      return 'NR';
  }
}
