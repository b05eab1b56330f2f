// Inbound plaintext (15006, capture mode): TCP to an enrolled pod that did
// not arrive over HBONE. The original destination is the socket's local
// address (TPROXY keeps it). Judged with no peer identity — STRICT mTLS
// arrives from the control plane as a DENY policy for "no principal", so
// nothing special happens here — then the pod is dialled and the bytes copied.
import type net from 'node:net';
import { connectionId, type Logger } from '@ambit/core';
import { formatAuthority, normalizeIp, socketAddress, type SocketAddress } from '@ambit/api';
import { authorizeInbound } from '../rbac.js';
import { guessInboundService, type ZtunnelState } from '../state.js';
import type { ConnectionContext, ConnectionTable } from './connections.js';
import { joinSockets, reset } from './copy.js';
import { refusal, refusalReasonFor } from './flags.js';
import { fromNode, type PodDialer } from './source-address.js';

export interface InboundPlaintextOptions {
  node: string;
  state: ZtunnelState;
  connections: ConnectionTable;
  connectTimeoutMs: number;
  /** How the pod is dialled: from the client's address or the node's (source-address.ts); default the node's. */
  dialPod?: PodDialer;
  logger: Logger;
}

export class InboundPlaintext {
  private readonly log: Logger;

  constructor(private readonly options: InboundPlaintextOptions) {
    this.log = options.logger.child({ component: 'inbound-plaintext' });
  }

  async handle(socket: net.Socket): Promise<void> {
    const { connections, state, node } = this.options;
    const id = connectionId();
    const sourceIp = normalizeIp(socket.remoteAddress ?? '');
    const src = sourceIp === '' ? 'unknown' : formatAuthority({ ip: sourceIp, port: socket.remotePort ?? 0 });
    const known: Record<string, unknown> = { conn: id, via: 'plaintext', src };

    // Phase 1: the context; the original destination is where the client thought it connected.
    let target: SocketAddress;
    try {
      target = socketAddress(normalizeIp(socket.localAddress ?? ''), socket.localPort ?? 0);
    } catch (cause) {
      connections.refused('inbound', 'no-original-destination', known, refusal('invalid-address', 'no-original-destination', 'NR',
        `the connection from ${src} has no usable original destination`, { cause }));
      reset(socket);
      return;
    }
    known.dst = formatAuthority(target);
    const destination = state.localWorkloadByAddress(target.ip);
    const context: ConnectionContext = {
      direction: 'inbound', via: 'plaintext', src, dst: formatAuthority(target), upstream: formatAuthority(target),
      source: { workload: state.workloadByAddress(sourceIp) },
      destination: {
        workload: destination, identity: destination?.identity,
        service: destination === undefined ? undefined : guessInboundService(state, destination, target.port),
      },
      securityPolicy: 'none',
    };

    // Phase 2: authorize, with no identity. Phase 3: connect to the pod.
    let upstream: net.Socket;
    try {
      authorizeInbound(state, node, { peerIdentity: undefined, sourceIp, target });
      upstream = await (this.options.dialPod ?? fromNode)(sourceIp, target, { timeoutMs: this.options.connectTimeoutMs });
    } catch (error) {
      connections.refused('inbound', refusalReasonFor(error), known, error);
      connections.open(id, context).close({ sent: 0, received: 0, error });
      if (!socket.destroyed) reset(socket);
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }

    // Phase 4: copy (plain TCP has nothing to answer).
    const connection = connections.open(id, context);
    this.log.debug(known, 'connected');
    connection.close(await joinSockets(socket, upstream));
  }
}
