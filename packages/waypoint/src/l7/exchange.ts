// What flows through the L7 stack: one request/response exchange, the same
// for HTTP/1.1 and HTTP/2 clients. Layers are `(next) => handler`; each may
// replace `signal` (deadlines) for the layers inside it, and all share the
// mutable `trace` that telemetry reports when the exchange ends.
import type { Readable, Writable } from 'node:stream';
import type { HttpRoute, HttpRouteRule, Service, SocketAddress, Workload } from '@ambit/api';
import type { ResponseFlag } from '../flags.js';
import type { ExchangeSignal } from './cancellation.js';

/** Lower-case names; no pseudo-headers, no hop-by-hop headers. */
export type HeaderMap = Record<string, string | string[]>;

export interface ProxyRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** The Host / :authority the client sent (informational: routing follows the called service). */
  authority: string;
  headers: HeaderMap;
  /** Buffered, so retries can send it again. */
  body: Buffer;
}

export interface ProxyResponse {
  status: number;
  headers: HeaderMap;
  body: Readable | Buffer;
  /** Told the size of each chunk of a streamed body as it goes to the client (`deliver` calls it; telemetry sets it). */
  counter?: (bytes: number) => void;
}

export interface Source {
  /** The HBONE peer's SPIFFE ID. */
  principal: string;
  /** The original client address (`forwarded`), else the tunnel peer's. */
  ip: string;
  workload: Workload | undefined;
}

/** Where the client sent the request: a service VIP:port, or a workload podIP:port. */
export interface Destination {
  address: SocketAddress;
  service: Service | undefined;
  workload: Workload | undefined;
  port: number;
}

/** Where a request goes after routing: a service port, or (workload-addressed traffic) one workload. */
export type Backend =
  | { kind: 'service'; service: Service; port: number }
  | { kind: 'workload'; workload: Workload; port: number };

/** The endpoint one attempt is sent to. */
export interface Endpoint {
  address: SocketAddress;
  /** The workload behind it, when known: its protocol and identity decide HBONE vs TCP. */
  workload: Workload | undefined;
}

export interface ExchangeTrace {
  route?: { route: HttpRoute; rule: HttpRouteRule };
  backend?: Backend;
  /** The endpoint of the last attempt. */
  upstream?: Endpoint;
  /** The policy that decided, when one did. */
  policy?: string;
  retries: number;
  flags: ResponseFlag[];
}

export interface Exchange {
  id: string;
  request: ProxyRequest;
  source: Source;
  destination: Destination;
  /** Aborted when the client goes away or a deadline passes (cancellation.ts). */
  signal: ExchangeSignal;
  trace: ExchangeTrace;
}

export type Handler = (exchange: Exchange) => Promise<ProxyResponse>;
export type Layer = (next: Handler) => Handler;

/** A small complete response. */
export function textResponse(status: number, text: string, headers: HeaderMap = {}): ProxyResponse {
  return { status, headers: { 'content-type': 'text/plain', ...headers }, body: Buffer.from(`${text}\n`) };
}

/** Consumes and discards a response's body (a retried attempt's). */
export function discard(response: ProxyResponse): void {
  if (!Buffer.isBuffer(response.body)) response.body.resume();
}

/** The value of a header as one string (multiple values joined by `,`). */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Sends a response's body to the client's `sink` and ends it: a buffer at
 * once; a stream chunk by chunk with backpressure, each chunk counted by the
 * response's counter (one pass, no stream in between).
 */
export function deliver(response: ProxyResponse, sink: Writable): void {
  const body = response.body;
  if (Buffer.isBuffer(body)) {
    sink.end(body);
    return;
  }
  const count = response.counter;
  body.on('data', (chunk: Buffer) => {
    count?.(chunk.length);
    if (!sink.write(chunk)) body.pause();
  });
  sink.on('drain', () => body.resume());
  body.once('end', () => sink.end());
  body.once('error', () => sink.destroy());
}
