// The L7 front ends: an HTTP/1.1 server (keep-alive) and HTTP/2 sessions
// (h2c, prior knowledge) served on the byte streams the HBONE terminator
// hands over. Both turn a request into an Exchange for the L7 stack and
// write its response back; the stack never throws (telemetry answers
// failures). Drain: keep-alive connections are told to close after their
// current response, HTTP/2 sessions get GOAWAY.
import http from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex, Readable, Writable } from 'node:stream';
import { connectionId, findAmbitError, readBody, Tracker, type DrainParticipant, type Logger } from '@ambit/core';
import { failure } from '../flags.js';
import { Cancellation } from '../l7/cancellation.js';
import { withoutHopByHop } from '../l7/forward.js';
import { writesBuffers } from './upstream.js';
import { deliver, type Destination, type Handler, type HeaderMap, type ProxyResponse, type Source } from '../l7/exchange.js';

export interface ConnectionContext {
  source: Source;
  destination: Destination;
}

export interface FrontendOptions {
  handler: Handler;
  logger: Logger;
  /** The waypoint's own SPIFFE ID: `By=` in the x-forwarded-client-cert header it sets. */
  identity: string;
  /** Request bodies are buffered (for retries) up to this size; larger ones get 413. */
  maxRequestBodyBytes?: number;
  /** Told each request refused before the L7 stack saw it (for the refusal counter). */
  onRefused?: (reason: FrontendRefusal) => void;
}

/** Requests the front ends answer themselves: 400, 431, 413, 408. */
export type FrontendRefusal = 'malformed-request' | 'headers-too-large' | 'body-too-large' | 'request-timeout';

export const DEFAULT_MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024;

const BAD_REQUEST = Buffer.from('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
const HEADERS_TOO_LARGE = Buffer.from('HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');

/**
 * What the HTTP/1 server's 'clientError' means. Node reports there what its
 * parser refused (codes `HPE_*`) and a request's head not arriving in time,
 * but also the connection's own end: a tunnel reset because its client went
 * away (ztunnel resets the stream), or ended in the middle of a request
 * (`HPE_INVALID_EOF_STATE`). Those are not bad requests: undefined.
 */
export function clientErrorAnswer(error: NodeJS.ErrnoException): { reason: FrontendRefusal; answer: Buffer } | undefined {
  if (error.code === 'HPE_INVALID_EOF_STATE') return undefined;
  if (error.code === 'HPE_HEADER_OVERFLOW') return { reason: 'headers-too-large', answer: HEADERS_TOO_LARGE };
  if (error.code?.startsWith('HPE_') === true) return { reason: 'malformed-request', answer: BAD_REQUEST };
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { reason: 'request-timeout', answer: REQUEST_TIMEOUT };
  return undefined;
}

const kContext = Symbol('ambit.context');
type ContextSocket = Duplex & { [kContext]?: ConnectionContext };

export class Frontends implements DrainParticipant {
  private readonly http1: http.Server;
  private readonly sessions = new Tracker<ServerHttp2Session>();
  private readonly connections = new Tracker<Duplex>();
  private readonly log: Logger;
  private readonly maxBody: number;
  private draining = false;

  constructor(private readonly options: FrontendOptions) {
    this.log = options.logger.child({ component: 'http' });
    this.maxBody = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;
    // An idle keep-alive connection lasts as long as its tunnel: the HBONE
    // server closes idle tunnels (Node's 5 s keepAliveTimeout would close
    // them far sooner than a client's pool expects).
    this.http1 = http.createServer({ keepAliveTimeout: 0 }, (request, response) => {
      const context = (request.socket as ContextSocket)[kContext];
      if (context === undefined) return void response.destroy();
      if (this.draining) response.shouldKeepAlive = false;
      void this.serve(context, {
        method: request.method ?? 'GET', path: request.url ?? '/', authority: request.headers.host ?? '',
        headers: request.headers, body: request,
      }, {
        head: (status, headers) => {
          response.writeHead(status, headers);
          return response;
        },
        closed: response,
      });
    });
    this.http1.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      const refusal = clientErrorAnswer(error);
      if (refusal === undefined) {
        this.log.debug({ err: error.message }, 'client connection failed');
        socket.destroy();
        return;
      }
      this.refuse(refusal.reason, error.message);
      // A Buffer: on a tunnel stream, strings take the HTTP/2 writev path writesBuffers avoids.
      if (socket.writable) socket.end(refusal.answer);
    });
  }

  /** Serves HTTP/1.x on `socket` (keep-alive: many requests per tunnel). */
  serveHttp1(socket: Duplex, context: ConnectionContext): void {
    (socket as ContextSocket)[kContext] = context;
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    this.http1.emit('connection', writesBuffers(socket));
  }

  /** Serves HTTP/2 with prior knowledge on `socket`. */
  serveH2(socket: Duplex, context: ConnectionContext): void {
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    const session = http2.performServerHandshake(socket, { settings: { enablePush: false } });
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', (error: Error) => this.log.debug({ err: error.message }, 'HTTP/2 session error'));
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      stream.on('error', () => undefined);
      void this.serve(context, {
        method: String(headers[':method'] ?? 'GET'), path: String(headers[':path'] ?? '/'), authority: String(headers[':authority'] ?? headers.host ?? ''),
        headers, body: stream,
      }, {
        head: (status, outgoing) => {
          stream.respond({ ':status': status, ...outgoing });
          return stream;
        },
        closed: stream,
      });
    });
    if (this.draining) session.close();
  }

  stopAccepting(): void {
    this.draining = true;
    for (const session of this.sessions.values()) session.close();
    this.http1.closeIdleConnections();
  }

  idle(): Promise<void> {
    return this.connections.idle();
  }

  forceClose(): void {
    for (const session of this.sessions.values()) session.destroy();
    this.connections.destroyAll();
  }

  private refuse(reason: FrontendRefusal, message: string): void {
    this.options.onRefused?.(reason);
    this.log.info({ reason, err: message }, 'request refused');
  }

  private async serve(
    context: ConnectionContext,
    incoming: { method: string; path: string; authority: string; headers: IncomingHttpHeaders; body: Readable },
    answer: { head(status: number, headers: http.OutgoingHttpHeaders): Writable; closed: Writable },
  ): Promise<void> {
    const abort = new Cancellation();
    answer.closed.once('close', () => {
      if (!answer.closed.writableFinished) abort.abort(failure('closed', 'DC', 'the client went away'));
    });
    let body: Buffer;
    try {
      body = await readBody(incoming.body, this.maxBody);
    } catch (error) {
      const tooLarge = findAmbitError(error)?.code === 'limit';
      if (!tooLarge && incoming.body instanceof http.IncomingMessage) {
        // An HTTP/1 body fails only with its connection: what the parser refused is counted
        // by 'clientError' above, and a client that went away mid-body sent no bad request.
        this.log.debug({ err: (error as Error).message }, 'client connection failed before its request body ended');
        return;
      }
      const status = tooLarge ? 413 : 400;
      this.refuse(tooLarge ? 'body-too-large' : 'malformed-request', (error as Error).message);
      if (!answer.closed.destroyed) answer.head(status, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
      return;
    }
    const response: ProxyResponse = await this.options.handler({
      id: connectionId(),
      request: {
        method: incoming.method, path: incoming.path, authority: incoming.authority, body,
        headers: withClientCert(withoutHopByHop(incoming.headers), this.options.identity, context.source.principal),
      },
      source: context.source,
      destination: context.destination,
      signal: abort,
      trace: { retries: 0, flags: [] },
    });
    if (answer.closed.destroyed) {
      if (!Buffer.isBuffer(response.body)) response.body.destroy();
      return;
    }
    deliver(response, answer.head(response.status, outgoingHeaders(response.headers, response.body)));
  }
}

/**
 * Tells the upstream who the waypoint is and which peer it authenticated, as
 * Envoy's x-forwarded-client-cert does (By=us;URI=peer). A client's own value
 * is replaced, never trusted. Sets it on `headers` (the front end's own copy)
 * and returns them.
 */
export function withClientCert(headers: HeaderMap, own: string, peer: string): HeaderMap {
  headers[CLIENT_CERT_HEADER] = `By=${own};URI=${peer}`;
  return headers;
}

export const CLIENT_CERT_HEADER = 'x-forwarded-client-cert';

function outgoingHeaders(headers: HeaderMap, body: Readable | Buffer): http.OutgoingHttpHeaders {
  const result: http.OutgoingHttpHeaders = withoutHopByHop(headers);
  if (Buffer.isBuffer(body)) result['content-length'] = String(body.length);
  return result;
}
