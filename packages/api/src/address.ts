// Socket addresses as they appear on the wire: the HBONE `:authority`
// (`ip:port`, `[v6]:port`) and the targets proxies dial. Only literal IPs are
// accepted: a tunnel never resolves names.
import { isIP } from 'node:net';
import { AmbitError } from '@ambit/core';

export interface SocketAddress {
  readonly ip: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export function socketAddress(ip: string, port: number): SocketAddress {
  const family = isIP(ip);
  if (family === 0) {
    throw new AmbitError('invalid-address', `${JSON.stringify(ip)} is not an IP address`, {
      hint: 'use a literal IPv4 or IPv6 address; names are never resolved here',
    });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AmbitError('invalid-address', `port ${port} is out of range`, { hint: 'use a port from 1 to 65535' });
  }
  return { ip: normalizeIp(ip), port, family: family as 4 | 6 };
}

/** Parses `1.2.3.4:80` or `[::1]:80`; anything else is an `invalid-address` error. */
export function parseAuthority(authority: string): SocketAddress {
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0 || authority[close + 1] !== ':') throw badAuthority(authority);
    host = authority.slice(1, close);
    portText = authority.slice(close + 2);
    if (isIP(host) !== 6) throw badAuthority(authority);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon < 0) throw badAuthority(authority);
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (isIP(host) !== 4) throw badAuthority(authority);
  }
  if (!/^\d{1,5}$/.test(portText)) throw badAuthority(authority);
  return socketAddress(host, Number(portText));
}

export function formatAuthority(address: Pick<SocketAddress, 'ip' | 'port'>): string {
  return address.ip.includes(':') ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
}

/** Node reports IPv4 peers on dual-stack sockets as `::ffff:a.b.c.d`; the mesh uses the plain form. */
export function normalizeIp(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

function badAuthority(authority: string): AmbitError {
  return new AmbitError('invalid-address', `authority ${JSON.stringify(authority)} is not ip:port`, {
    hint: 'HBONE CONNECT needs :authority as a literal address, e.g. 10.244.1.7:8080 or [fd00::7]:8080',
  });
}
