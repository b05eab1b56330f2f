// SOCKS5 (RFC 1928) for explicit outbound use without capture: CONNECT only,
// no authentication only, destinations as IPv4, IPv6 or a domain name (an IP
// literal, or a name the listener resolves: mesh service names first, as
// `socks5h://` clients such as curl send them). The parsers are pure; the
// handshake reads from a socket until a request is complete and leaves any
// bytes the client pipelined after it on the socket.
//
// Two kinds of listener: the node's (the source pod is the client's address)
// and, in the loopback mode, one per pod at <pod IP>:<port> (the source pod is
// the address the client connected to; a pod outside the mesh is connected
// directly, as the pod itself, the way kube-proxy would).
import { isIP, type Socket } from 'node:net';
import { causeChain, findAmbitError, type Logger } from '@ambit/core';
import { formatAuthority, normalizeIp, socketAddress, type SocketAddress } from '@ambit/api';
import type { ConnectionTable } from './connections.js';
import { refusalReasonFor, responseFlagFor } from './flags.js';
import type { Outbound } from './outbound.js';

export const SOCKS_VERSION = 0x05;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_NONE_ACCEPTABLE = 0xff;
export const COMMAND_CONNECT = 0x01;
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type ReplyCode = (typeof Reply)[keyof typeof Reply];

export type GreetingParse =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'ok'; methods: number[]; length: number };

/** A destination given by name (SOCKS5 address type 3, not an IP literal). */
export interface NamedDestination {
  name: string;
  port: number;
}

export type RequestParse =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string; reply: ReplyCode }
  | { kind: 'ok'; destination: SocketAddress | NamedDestination; length: number };

// A DNS name: labels of letters, digits and '-', dot-separated, an optional final dot.
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isNamed(destination: SocketAddress | NamedDestination): destination is NamedDestination {
  return 'name' in destination;
}

/** VER NMETHODS METHODS... */
export function parseGreeting(buffer: Buffer): GreetingParse {
  if (buffer.length < 1) return { kind: 'incomplete' };
  if (buffer[0] !== SOCKS_VERSION) return { kind: 'invalid', reason: `version ${buffer[0]} is not SOCKS5` };
  if (buffer.length < 2) return { kind: 'incomplete' };
  const count = buffer[1] as number;
  if (count === 0) return { kind: 'invalid', reason: 'the greeting offers no authentication method' };
  if (buffer.length < 2 + count) return { kind: 'incomplete' };
  return { kind: 'ok', methods: [...buffer.subarray(2, 2 + count)], length: 2 + count };
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export function parseRequest(buffer: Buffer): RequestParse {
  if (buffer.length < 4) return { kind: 'incomplete' };
  if (buffer[0] !== SOCKS_VERSION) return { kind: 'invalid', reason: `version ${buffer[0]} is not SOCKS5`, reply: Reply.generalFailure };
  const command = buffer[1] as number;
  if (command !== COMMAND_CONNECT) {
    return { kind: 'invalid', reason: `command ${command} is not supported; only CONNECT (1) is`, reply: Reply.commandNotSupported };
  }
  const atyp = buffer[3] as number;
  let ip: string;
  let name: string | undefined;
  let offset: number;
  switch (atyp) {
    case ATYP_IPV4:
      if (buffer.length < 4 + 4 + 2) return { kind: 'incomplete' };
      ip = [...buffer.subarray(4, 8)].join('.');
      offset = 8;
      break;
    case ATYP_IPV6: {
      if (buffer.length < 4 + 16 + 2) return { kind: 'incomplete' };
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(buffer.readUInt16BE(4 + i * 2).toString(16));
      ip = canonicalIPv6(groups.join(':'));
      offset = 20;
      break;
    }
    case ATYP_DOMAIN: {
      if (buffer.length < 5) return { kind: 'incomplete' };
      const length = buffer[4] as number;
      if (buffer.length < 5 + length + 2) return { kind: 'incomplete' };
      const text = buffer.subarray(5, 5 + length).toString('latin1');
      const literal = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
      offset = 5 + length;
      if (isIP(literal) !== 0) {
        ip = isIP(literal) === 6 ? canonicalIPv6(literal) : literal;
        break;
      }
      if (!DNS_NAME.test(text)) {
        return { kind: 'invalid', reason: `destination ${JSON.stringify(text)} is neither an IP address nor a DNS name`, reply: Reply.hostUnreachable };
      }
      ip = '';
      name = text.toLowerCase().replace(/\.$/, '');
      break;
    }
    default:
      return { kind: 'invalid', reason: `address type ${atyp} is not supported`, reply: Reply.addressTypeNotSupported };
  }
  const port = buffer.readUInt16BE(offset);
  if (port === 0) return { kind: 'invalid', reason: `destination ${name ?? ip} has port 0`, reply: Reply.hostUnreachable };
  return { kind: 'ok', destination: name === undefined ? socketAddress(ip, port) : { name, port }, length: offset + 2 };
}

/**
 * VER REP RSV ATYP BND.ADDR BND.PORT. The bound address is always 0.0.0.0:0:
 * the upstream side is a tunnel, not a socket of this host the client could use.
 */
export function encodeReply(code: ReplyCode): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

export interface Socks5Request {
  destination: SocketAddress | NamedDestination;
  /** Answers the request; anything but success ends the connection. */
  reply(code: ReplyCode): void;
}

export class Socks5Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Socks5Error';
  }
}

/**
 * Runs the handshake up to a complete CONNECT request. Rejects (after
 * answering and ending the socket where the protocol allows) on malformed
 * input, an unsupported method or command, a closed socket or the deadline.
 */
export function negotiate(socket: Socket, timeoutMs: number): Promise<Socks5Request> {
  return new Promise((resolve, reject) => {
    let buffer: Buffer = Buffer.alloc(0);
    let phase: 'greeting' | 'request' = 'greeting';
    const timer = setTimeout(() => fail(`no complete SOCKS5 request within ${timeoutMs} ms`), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('end', onClose);
    };
    const fail = (reason: string, answer?: Buffer): void => {
      cleanup();
      if (answer !== undefined && socket.writable) socket.end(answer);
      else socket.destroy();
      reject(new Socks5Error(reason));
    };
    const onClose = (): void => fail('the client closed the connection during the SOCKS5 handshake');
    const onData = (chunk: Buffer): void => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (buffer.length > 1024) return fail('the SOCKS5 handshake is longer than 1024 bytes');
      if (phase === 'greeting') {
        const greeting = parseGreeting(buffer);
        if (greeting.kind === 'incomplete') return;
        if (greeting.kind === 'invalid') return fail(greeting.reason);
        if (!greeting.methods.includes(METHOD_NO_AUTH)) {
          return fail(`the client offers methods ${greeting.methods.join(', ')} but only "no authentication" (0) is supported`,
            Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]));
        }
        socket.write(Buffer.from([SOCKS_VERSION, METHOD_NO_AUTH]));
        buffer = buffer.subarray(greeting.length);
        phase = 'request';
      }
      const request = parseRequest(buffer);
      if (request.kind === 'incomplete') return;
      if (request.kind === 'invalid') return fail(request.reason, encodeReply(request.reply));
      cleanup();
      // Bytes the client sent ahead of our answer belong to the connection.
      socket.pause();
      const rest = buffer.subarray(request.length);
      if (rest.length > 0) socket.unshift(rest);
      resolve({
        destination: request.destination,
        reply: (code) => {
          if (code === Reply.succeeded) socket.write(encodeReply(code));
          else if (socket.writable) socket.end(encodeReply(code));
        },
      });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    // Half-open listeners see a client that leaves as 'end' first (it never closes on its own).
    socket.once('end', onClose);
  });
}

export interface Socks5Options {
  outbound: Outbound;
  connections: ConnectionTable;
  handshakeTimeoutMs: number;
  /** The IP a name stands for, asked by the pod at `sourceIp` (rejects with a refusal when there is none). */
  resolveName: (name: string, sourceIp: string) => Promise<string>;
  /**
   * A per-pod listener: the pod is the address the client connected to, not
   * the client's own, and a pod outside the mesh is connected directly.
   */
  perPod?: boolean;
  logger: Logger;
}

/** The SOCKS5 listener's connection handler: handshake, then the outbound path with a SOCKS answer. */
export function socks5Handler(options: Socks5Options): (socket: Socket) => void {
  const log = options.logger.child({ component: 'socks5' });
  return (socket) => {
    const clientIp = normalizeIp(socket.remoteAddress ?? '0.0.0.0');
    const pod = options.perPod === true ? normalizeIp(socket.localAddress ?? '') : undefined;
    const src = formatAuthority({ ip: pod ?? clientIp, port: socket.remotePort ?? 0 });
    negotiate(socket, options.handshakeTimeoutMs).then(
      async (request) => {
        let destination: SocketAddress;
        if (isNamed(request.destination)) {
          const { name, port } = request.destination;
          try {
            destination = socketAddress(await options.resolveName(name, pod ?? clientIp), port);
          } catch (error) {
            options.connections.refused('outbound', refusalReasonFor(error), { via: 'socks5', src, dst: `${name}:${port}` }, error);
            request.reply(replyFor(error));
            return;
          }
        } else {
          destination = request.destination;
        }
        await options.outbound.handle({
          socket,
          destination,
          via: 'socks5',
          ...(pod === undefined ? {} : { source: pod, outsideMesh: 'direct' as const }),
          answer: (result) => request.reply(result.ok ? Reply.succeeded : replyFor(result.error)),
        });
      },
      (error: unknown) => options.connections.refused('outbound', 'socks5-handshake', { via: 'socks5', src }, error),
    ).catch((error: unknown) => {
      // A bug, not a refusal: keep serving, say so loudly.
      log.error({ src, err: causeChain(error).join(': ') }, 'SOCKS5 connection failed unexpectedly');
      socket.destroy();
    });
  };
}

/** The SOCKS5 reply for a refusal: the closest code RFC 1928 has. */
export function replyFor(error: unknown): ReplyCode {
  switch (responseFlagFor(error)) {
    case 'DENY': return Reply.notAllowed;
    case 'NR': return Reply.hostUnreachable;
    case 'CONNECT': return findAmbitError(error)?.code === 'timeout' ? Reply.hostUnreachable : Reply.connectionRefused;
    default: return Reply.generalFailure;
  }
}

/** The canonical (compressed, lowercase) text of an IPv6 address, as the mesh stores addresses. */
function canonicalIPv6(ip: string): string {
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}
