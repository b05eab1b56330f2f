// IP_TRANSPARENT for Node sockets. A TPROXY rule only hands a packet to a
// listener whose socket is transparent, and only a transparent socket may
// accept connections addressed to someone else (the original destination
// becomes the accepted socket's local address). Node has no API for it, so
// the `sockopt` native addon sets it on the socket's fd; the option is read
// when packets arrive, so setting it right after listen() is enough.
import { createRequire } from 'node:module';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { AmbitError } from '@ambit/core';

export const SOL_IP = 0;
export const IP_TRANSPARENT = 19;
export const SOL_IPV6 = 41;
export const IPV6_TRANSPARENT = 75;

type Transparentable = net.Server | net.Socket;

interface SockoptModule {
  setsockopt(socket: unknown, level: number, option: number, value: number): void;
  getsockopt(socket: unknown, level: number, option: number): number;
}

let loaded: SockoptModule | undefined;

/** Sets IP_TRANSPARENT (or IPV6_TRANSPARENT for an IPv6 socket). Call after listen()/connect has given it an fd. */
export function setTransparent(target: Transparentable, enabled = true): void {
  const [level, option] = levelFor(target);
  try {
    sockopt().setsockopt(target, level, option, enabled ? 1 : 0);
  } catch (error) {
    throw new AmbitError('unavailable', `cannot set IP_TRANSPARENT on ${describe(target)}: ${(error as Error).message}`, {
      cause: error,
      hint: 'IP_TRANSPARENT needs CAP_NET_ADMIN: run ztunnel as root inside the node network namespace',
    });
  }
}

/** Whether the socket is transparent (false when it has no fd yet). */
export function isTransparent(target: Transparentable): boolean {
  if (!hasHandle(target)) return false;
  const [level, option] = levelFor(target);
  return sockopt().getsockopt(target, level, option) !== 0;
}

interface TcpHandle { bind(ip: string, port: number): number; bind6(ip: string, port: number, flags: number): number; fd: number; close(): void }
interface TcpWrap { TCP: new (type: number) => TcpHandle; constants: { SOCKET: number } }

/**
 * An unconnected socket bound to `ip`, an address of another host, and made
 * transparent before it connects: the kernel then sends from `ip`, and the
 * answers (routed here by the capture's rules) reach it. Binding a foreign
 * address needs `ip_nonlocal_bind` in this namespace: Node creates a socket's
 * fd only when it binds, so IP_TRANSPARENT cannot come first. Node's
 * net.connect binds and connects in one step; the handle is made here instead
 * (tcp_wrap, what net uses), bound, marked, and given to a net.Socket.
 */
export function transparentSocket(ip: string): net.Socket {
  const family = net.isIP(ip);
  if (family === 0) throw new AmbitError('invalid-argument', `${ip} is not an IP address`);
  const { TCP, constants } = tcpWrap();
  const handle = new TCP(constants.SOCKET);
  const code = family === 6 ? handle.bind6(ip, 0, 0) : handle.bind(ip, 0);
  if (code !== 0) {
    handle.close();
    const name = getSystemErrorName(code);
    throw new AmbitError('unavailable', `cannot bind ${ip}: ${name}`, { details: { code: name }, hint: 'ztunnel sets net.ipv4.ip_nonlocal_bind at start; was it reset?' });
  }
  try {
    const [level, option] = transparentOption(family === 6 ? 'IPv6' : 'IPv4');
    sockopt().setsockopt({ _handle: handle }, level, option, 1);
  } catch (error) {
    handle.close();
    throw new AmbitError('unavailable', `cannot set IP_TRANSPARENT on a socket bound to ${ip}: ${(error as Error).message}`, { cause: error });
  }
  // manualStart: no read before connect() (the socket is not connected yet).
  return new net.Socket({ handle, allowHalfOpen: true, manualStart: true } as net.SocketConstructorOpts);
}

function levelFor(target: Transparentable): [number, number] {
  if (!hasHandle(target)) {
    throw new AmbitError('invalid-argument', `${describe(target)} has no file descriptor yet`, {
      hint: 'call setTransparent after the server is listening (or the socket is bound)',
    });
  }
  const address = target.address();
  const family = typeof address === 'object' && address !== null && 'family' in address ? address.family : 'IPv4';
  return transparentOption(String(family));
}

function transparentOption(family: string): [number, number] {
  return family === 'IPv6' ? [SOL_IPV6, IPV6_TRANSPARENT] : [SOL_IP, IP_TRANSPARENT];
}

let tcpWrapModule: TcpWrap | undefined;

function tcpWrap(): TcpWrap {
  // No public API creates an unconnected, bound TCP handle; process.binding is not in Node's types.
  tcpWrapModule ??= (process as unknown as { binding(name: string): unknown }).binding('tcp_wrap') as TcpWrap;
  return tcpWrapModule;
}

function hasHandle(target: Transparentable): boolean {
  // sockopt reads the fd from the libuv handle, which exists once listening/bound.
  const handle = (target as unknown as { _handle?: unknown })._handle;
  return handle !== undefined && handle !== null;
}

function describe(target: Transparentable): string {
  const address = target.address() as Partial<net.AddressInfo> | string | null;
  if (typeof address === 'object' && address !== null && address.port !== undefined) return `socket ${address.address ?? '?'}:${address.port}`;
  return 'socket';
}

function sockopt(): SockoptModule {
  if (loaded !== undefined) return loaded;
  try {
    // sockopt is CommonJS with a native addon; createRequire keeps this file ESM.
    loaded = createRequire(import.meta.url)('sockopt') as SockoptModule;
    return loaded;
  } catch (error) {
    throw new AmbitError('unavailable', `the sockopt native addon did not load: ${(error as Error).message}`, {
      cause: error,
      hint: 'reinstall dependencies (pnpm install) so sockopt builds for this Node version',
    });
  }
}
