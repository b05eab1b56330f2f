// Plain TCP dialling for the upstream side of a tunnel: half-open allowed
// (so half-close can propagate), Nagle off, a connect deadline, and errors
// translated into tunnel error codes.
import net from 'node:net';
import { AmbitError, systemCode } from '@ambit/core';
import { formatAuthority, type SocketAddress } from '@ambit/api';

export interface DialOptions {
  timeoutMs?: number;
  /** Source address to bind (an address of this host). */
  localAddress?: string;
  /**
   * An unconnected socket to connect instead of a new one (made with
   * `allowHalfOpen: true`), e.g. one already bound to a source address with
   * options that must precede connect().
   */
  socket?: net.Socket;
  signal?: AbortSignal;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export function dialTcp(target: SocketAddress, options: DialOptions = {}): Promise<net.Socket> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // Nagle off before connecting (connect() ignores a noDelay option; net.connect passes it to the socket).
    const socket = (options.socket ?? new net.Socket({ allowHalfOpen: true })).setNoDelay(true);
    socket.connect({
      host: target.ip,
      port: target.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AmbitError('timeout', `connecting to ${formatAuthority(target)} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new AmbitError('closed', `connecting to ${formatAuthority(target)} was cancelled`));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      // Until the caller attaches its own handler, an error must not crash the process.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    const onError = (cause: Error): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const code = systemCode(cause);
      reject(new AmbitError('no-upstream', `connecting to ${formatAuthority(target)} failed: ${code ?? cause.message}`, { cause, details: { code } }));
    };
    socket.once('error', onError);
  });
}
