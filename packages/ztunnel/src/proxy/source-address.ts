// The address a local pod sees its clients connect from. ztunnel dials the pod
// itself (inbound HBONE, inbound plaintext, same-node), so without more the
// pod would see the node's address for every caller: access logs, its own
// source-based decisions and NetworkPolicy would all lose the client. Like
// Istio's ztunnel, Ambit dials from the original source address instead.
//
// With capture the source is an address of another pod, not of this node: the
// socket binds it through `net.ipv4.ip_nonlocal_bind` (set in the node's
// namespace by the capture; Node cannot make a socket transparent before it
// binds), is made transparent before it connects (so the kernel sends from a
// foreign address), and the pod's answers, addressed to that pod, reach it
// through the capture's established-socket rule. In the loopback mode every
// pod address is a loopback address of the machine, so binding it needs
// nothing.
import net from 'node:net';
import { formatAuthority, type SocketAddress } from '@ambit/api';
import { dialTcp, type DialOptions } from '@ambit/hbone';
import { transparentSocket } from '../capture/transparent.js';
import { isLoopbackIp, type Logger } from '@ambit/core';

/** `nonlocal`: any source (capture set ip_nonlocal_bind); `loopback`: loopback sources only; `off`: the node's own address. */
export type SourceMode = 'nonlocal' | 'loopback' | 'off';

/** The address to bind when dialling `target` for a client at `sourceIp`, or undefined for the node's own. */
export function sourceAddressFor(mode: SourceMode, sourceIp: string, target: SocketAddress): string | undefined {
  if (mode === 'off') return undefined;
  const family = net.isIP(sourceIp);
  // A pod calling itself through the mesh must not get packets from its own address (it would answer itself).
  if (family === 0 || family !== net.isIP(target.ip) || sourceIp === target.ip) return undefined;
  if (mode === 'loopback' && !isLoopbackIp(sourceIp)) return undefined;
  return sourceIp;
}

/**
 * Dials a local pod from the client's address when `mode` allows, else from
 * the node's. A source the kernel will not bind (the sysctl was reset, an
 * address in use) falls back to the node's address: the connection still
 * works, the pod sees the node, and a warning says so.
 */
export async function dialFromSource(
  mode: SourceMode,
  sourceIp: string,
  target: SocketAddress,
  options: Omit<DialOptions, 'localAddress'>,
  log: Logger,
): Promise<net.Socket> {
  const localAddress = sourceAddressFor(mode, sourceIp, target);
  if (localAddress === undefined) return dialTcp(target, options);
  try {
    // A loopback address is the machine's own: a plain bind. Another pod's needs a transparent socket.
    return await dialTcp(target, mode === 'nonlocal' ? { ...options, socket: transparentSocket(localAddress) } : { ...options, localAddress });
  } catch (error) {
    // dialTcp puts the system error code in the details.
    const code = (error as { details?: { code?: unknown } }).details?.code;
    if (code !== 'EADDRNOTAVAIL' && code !== 'EADDRINUSE') throw error;
    log.warn({ source: sourceIp, target: formatAuthority(target), code }, 'cannot dial from the client\'s address; the pod sees the node\'s address for this connection');
    return dialTcp(target, options);
  }
}

/** Dials a local pod for a client at `sourceIp`: how the inbound paths reach pods. */
export type PodDialer = (sourceIp: string, target: SocketAddress, options: Omit<DialOptions, 'localAddress'>) => Promise<net.Socket>;

/** `mode` is read at every dial: the capture decides it when it starts. */
export function podDialer(mode: () => SourceMode, log: Logger): PodDialer {
  return (sourceIp, target, options) => dialFromSource(mode(), sourceIp, target, options, log);
}

/** Always from the node's address (the default of the proxies' options). */
export const fromNode: PodDialer = (_sourceIp, target, options) => dialTcp(target, options);
