// Joins a tunnel stream and a TCP socket: bytes both ways with backpressure
// (relay.ts), half-close both ways (a relay ends the destination when the
// source ends; sockets must be allowHalfOpen), and resets both ways.
import type { Duplex } from 'node:stream';
import { constants, type Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { relay } from './relay.js';

export interface JoinResult {
  /** Bytes that went from the tunnel to the socket. */
  bytesToSocket: number;
  /** Bytes that went from the socket to the tunnel. */
  bytesToTunnel: number;
  /** The first error seen, if the join did not end with a clean close both ways. */
  error: Error | undefined;
  /** Who reset: a peer reset the tunnel (RST_STREAM) or the socket (RST). */
  resetBy: 'tunnel' | 'socket' | undefined;
}

export interface JoinOptions {
  /** Close both sides after this long without a byte either way; 0 disables. */
  idleTimeoutMs?: number;
}

export function joinTunnel(tunnel: Http2Stream, socket: Socket | Duplex, options: JoinOptions = {}): Promise<JoinResult> {
  return new Promise((resolve) => {
    const result: JoinResult = { bytesToSocket: 0, bytesToTunnel: 0, error: undefined, resetBy: undefined };
    let open = 2;
    const done = (): void => {
      if (--open > 0) return;
      result.bytesToSocket = toSocket.bytes;
      result.bytesToTunnel = toTunnel.bytes;
      resolve(result);
    };
    const fail = (error: Error, resetBy: JoinResult['resetBy']): void => {
      result.error ??= error;
      result.resetBy ??= resetBy;
    };

    // Records arriving together from the tunnel leave in one write; the socket side needs no coalescing.
    const toSocket = relay(tunnel, socket, { cork: true });
    const toTunnel = relay(socket, tunnel);

    socket.on('error', (error) => {
      fail(error, 'socket');
      // RFC 9113 §8.5: a reset or errored TCP connection is signalled with CONNECT_ERROR.
      if (!tunnel.closed) tunnel.close(constants.NGHTTP2_CONNECT_ERROR);
    });
    tunnel.on('error', (error) => fail(error, 'tunnel'));
    // RST_STREAM before our side finished, whatever its code (a peer's destroy()
    // sends NO_ERROR): a reset, not an end. Node emits 'aborted' before the
    // readable side ends, so the socket gets RST instead of a FIN.
    tunnel.once('aborted', () => {
      fail(new Error(`tunnel stream reset by the peer (code ${tunnel.rstCode ?? 'unknown'})`), 'tunnel');
      toSocket.stop();
      if (!socket.destroyed) reset(socket);
    });
    tunnel.on('close', () => {
      if (tunnel.rstCode !== undefined && tunnel.rstCode !== constants.NGHTTP2_NO_ERROR) {
        fail(new Error(`tunnel stream reset with code ${tunnel.rstCode}`), result.resetBy ?? 'tunnel');
      }
      if (!socket.destroyed) {
        // A tunnel that closed without both sides ending cleanly is a reset for the socket too.
        if (result.error !== undefined || !tunnel.writableFinished || !tunnel.readableEnded) reset(socket);
      }
      done();
    });
    socket.on('close', () => {
      if (!tunnel.closed && (result.error !== undefined || !socket.readableEnded)) {
        tunnel.close(constants.NGHTTP2_CONNECT_ERROR);
      }
      done();
    });

    if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs > 0) {
      tunnel.setTimeout(options.idleTimeoutMs, () => {
        fail(new Error(`tunnel idle for ${options.idleTimeoutMs} ms`), undefined);
        tunnel.close(constants.NGHTTP2_CANCEL);
        socket.destroy();
      });
    }
  });
}

function reset(socket: Socket | Duplex): void {
  const tcp = socket as Partial<Socket>;
  if (typeof tcp.resetAndDestroy === 'function' && (tcp as Socket).readyState !== 'opening') tcp.resetAndDestroy();
  else socket.destroy();
}
