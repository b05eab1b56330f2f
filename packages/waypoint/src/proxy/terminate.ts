// HBONE termination: the waypoint's HboneServer hooks. authorize() resolves
// what the client called (destination.ts) and refuses unknown destinations
// with 503 before the tunnel opens; serve() gets the CONNECT stream itself,
// so the tunnelled bytes are read and written in place, with no copy into a
// second stream. Its first bytes are sniffed (sniff.ts): h2c and HTTP/1 go
// to the L7 front ends, anything else to the L4 forwarder. The tunnel
// peer's identity is the source principal for policy and metrics.
import type { Duplex } from 'node:stream';
import { causeChain, type Logger } from '@ambit/core';
import type { MeshView } from '@ambit/cp-client';
import type { TunnelRequest } from '@ambit/hbone';
import type { Destination } from '../l7/exchange.js';
import { resolveDestination, resolveSource } from './destination.js';
import type { ConnectionContext, Frontends } from './frontends.js';
import type { L4Forwarder } from './l4.js';
import { sniff, type Sniffed } from './sniff.js';

export interface TerminatorOptions {
  mesh: Pick<MeshView, 'serviceByVip' | 'workloadByAddress'>;
  gateway: string;
  frontends: Frontends;
  l4: L4Forwarder;
  /** How long to wait for a client's first bytes before treating the stream as TCP (server-speaks-first protocols). */
  sniffTimeoutMs?: number;
  logger: Logger;
}

export const DEFAULT_SNIFF_TIMEOUT_MS = 1_000;

export class Terminator {
  private readonly destinations = new WeakMap<TunnelRequest, Destination>();
  private readonly log: Logger;
  /** Tunnels by detected protocol since start. */
  readonly protocols: Record<Exclude<Sniffed, 'more'>, number> = { h2: 0, http1: 0, tcp: 0 };

  constructor(private readonly options: TerminatorOptions) {
    this.log = options.logger.child({ component: 'terminate' });
  }

  authorize(request: TunnelRequest): void {
    this.destinations.set(request, resolveDestination(this.options.mesh, request.target, this.options.gateway));
  }

  serve(request: TunnelRequest, tunnel: Duplex): void {
    const destination = this.destinations.get(request) ?? resolveDestination(this.options.mesh, request.target, this.options.gateway);
    const source = resolveSource(this.options.mesh, request.peer.uri, request.metadata.forwardedFor ?? request.peerAddress.ip);
    this.dispatch(request.id, tunnel, { source, destination }).catch((error: unknown) => {
      this.log.error({ conn: request.id, err: causeChain(error).join(': ') }, 'tunnel handling failed unexpectedly');
      tunnel.destroy();
    });
  }

  private async dispatch(id: string, stream: Duplex, context: ConnectionContext): Promise<void> {
    const { protocol, head } = await this.detect(stream);
    this.protocols[protocol]++;
    if (stream.destroyed) return;
    if (head.length > 0) stream.unshift(head);
    this.log.debug({ conn: id, protocol }, 'tunnel protocol detected');
    // The consumer attaches its listeners first; only then may the (paused) bytes flow again.
    switch (protocol) {
      case 'h2':
        this.options.frontends.serveH2(stream, context);
        break;
      case 'http1':
        this.options.frontends.serveHttp1(stream, context);
        break;
      case 'tcp':
        // Stays paused until the upstream exists and the forwarder pipes it.
        return this.options.l4.forward(id, stream, context);
    }
    stream.resume();
  }

  /** Reads until the first bytes decide; the bytes read are handed back to be unshifted. */
  private detect(stream: Duplex): Promise<{ protocol: Exclude<Sniffed, 'more'>; head: Buffer }> {
    return new Promise((resolve) => {
      let head = Buffer.alloc(0);
      const finish = (protocol: Exclude<Sniffed, 'more'>): void => {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('close', onEnd);
        stream.pause();
        resolve({ protocol, head });
      };
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const verdict = sniff(head);
        if (verdict !== 'more') finish(verdict);
      };
      const onEnd = (): void => finish('tcp');
      const timer = setTimeout(() => finish('tcp'), this.options.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS);
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.once('close', onEnd);
    });
  }
}
