// Joins two TCP sockets (plain TCP upstreams: passthrough, non-mesh
// workloads, the same-node path, inbound plaintext): bytes both ways with
// backpressure (relay, cheaper than pipe: see @ambit/hbone's relay.ts),
// half-close both ways (both sockets allowHalfOpen), and a reset on one side
// becomes a reset on the other.
import type net from 'node:net';
import { relay } from '@ambit/hbone';

export interface CopyResult {
  /** Bytes from the upstream to the client. */
  sent: number;
  /** Bytes from the client to the upstream. */
  received: number;
  error: Error | undefined;
}

export function joinSockets(client: net.Socket, upstream: net.Socket): Promise<CopyResult> {
  return new Promise((resolve) => {
    const result: CopyResult = { sent: 0, received: 0, error: undefined };
    let open = 2;
    const done = (): void => {
      if (--open > 0) return;
      result.received = toUpstream.bytes;
      result.sent = toClient.bytes;
      resolve(result);
    };
    const toUpstream = relay(client, upstream);
    const toClient = relay(upstream, client);
    const onError = (other: net.Socket) => (error: Error): void => {
      result.error ??= error;
      if (!other.destroyed) reset(other);
    };
    client.on('error', onError(upstream));
    upstream.on('error', onError(client));
    // A side that closed without ending cleanly (destroyed, reset) takes the other with it.
    const onClose = (self: net.Socket, other: net.Socket) => (): void => {
      if (!other.destroyed && (result.error !== undefined || !self.readableEnded)) reset(other);
      done();
    };
    client.once('close', onClose(client, upstream));
    upstream.once('close', onClose(upstream, client));
  });
}

export function reset(socket: net.Socket): void {
  if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening' && !socket.destroyed) socket.resetAndDestroy();
  else socket.destroy();
}
