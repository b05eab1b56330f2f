// Connections to endpoints. A mesh endpoint (its workload is HBONE) is
// reached through a pooled HBONE tunnel to `<podIP>:<hbone port>`, expecting
// the workload's identity and presenting the waypoint's own certificate, with
// `:authority` podIP:targetPort; anything else gets plain TCP. HTTP rides
// HTTP/1.1 keep-alive connections kept by an http.Agent whose
// createConnection hands back such a stream (asynchronously, through its
// callback).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { SpiffeId } from '@ambit/core';
import { formatAuthority, socketAddress } from '@ambit/api';
import { dialTcp, type HbonePool } from '@ambit/hbone';
import type { WorkloadCertificate } from '@ambit/identity';
import type { Endpoint } from '../l7/exchange.js';

export interface UpstreamOptions {
  pool: HbonePool;
  /** The waypoint's certificate (rotates; asked for at every new connection). */
  certificate: () => WorkloadCertificate | Promise<WorkloadCertificate>;
  /** The port mesh endpoints' ztunnels serve HBONE on. */
  hbonePort: number;
  connectTimeoutMs: number;
  /** Idle keep-alive connections kept per endpoint. */
  maxFreeSockets?: number;
}

const kEndpoint = Symbol('ambit.endpoint');

export class Upstream {
  readonly agent: http.Agent;

  constructor(private readonly options: UpstreamOptions) {
    this.agent = new StreamAgent((request) => {
      const endpoint = request[kEndpoint] as Endpoint | undefined;
      if (endpoint === undefined) return Promise.reject(new Error(`no endpoint for ${String(request.host)}:${String(request.port)}`));
      return this.connect(endpoint);
    }, { keepAlive: true, maxFreeSockets: options.maxFreeSockets ?? 64, scheduling: 'lifo' }, (request) => {
      // A pod that joins or leaves the mesh keeps its address: its old connections are not reused.
      const workload = (request[kEndpoint] as Endpoint | undefined)?.workload;
      return workload?.protocol === 'HBONE' ? `hbone ${workload.identity}` : 'tcp';
    });
  }

  /** A byte stream to `endpoint`: an HBONE tunnel for mesh workloads, else TCP. */
  async connect(endpoint: Endpoint, signal?: AbortSignal): Promise<Duplex> {
    const workload = endpoint.workload;
    if (workload === undefined || workload.protocol !== 'HBONE') {
      return dialTcp(endpoint.address, { timeoutMs: this.options.connectTimeoutMs, ...(signal === undefined ? {} : { signal }) });
    }
    const node = socketAddress(endpoint.address.ip, this.options.hbonePort);
    return this.options.pool.connect({
      source: await this.options.certificate(),
      destination: { address: node, identity: SpiffeId.parse(workload.identity) },
      target: endpoint.address,
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /** Request options that route an http.request through this upstream's agent to `endpoint`. */
  requestOptions(endpoint: Endpoint): http.RequestOptions {
    return { agent: this.agent, host: endpoint.address.ip, port: endpoint.address.port, [kEndpoint]: endpoint } as http.RequestOptions;
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * An http.Agent whose connections are any byte streams `connect` opens
 * (tunnels): http.Agent accepts them through createConnection's callback.
 */
export class StreamAgent extends http.Agent {
  /** `transport` names how a request's connection is made; idle connections are reused only for the same one. */
  constructor(
    private readonly open: (options: Record<string | symbol, unknown>) => Promise<Duplex>,
    options: http.AgentOptions = { keepAlive: true },
    private readonly transport: (options: Record<string | symbol, unknown>) => string = () => '',
  ) {
    super(options);
  }

  override getName(options?: http.ClientRequestArgs): string {
    return `${super.getName(options)}|${this.transport((options ?? {}) as Record<string | symbol, unknown>)}`;
  }

  override createConnection(options: Record<string | symbol, unknown>, callback: (error: Error | null, socket?: Duplex) => void): undefined {
    this.open(options).then((stream) => callback(null, socketLike(stream)), (error: Error) => callback(error));
    return undefined;
  }

  // The default sets a TCP keep-alive and an idle timeout on the socket; a tunnel stream has neither.
  // (reuseSocket stays Node's: it removes the free-socket error listener, and socketLike supplies ref.)
  override keepSocketAlive(): boolean {
    return true;
  }
}

/** Gives a tunnel stream the few net.Socket methods the HTTP client calls. */
function socketLike(stream: Duplex): Duplex {
  const target = stream as Duplex & Record<string, unknown>;
  const noop = function (this: Duplex): Duplex { return this; };
  for (const name of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) if (typeof target[name] !== 'function') target[name] = noop;
  if (typeof target.destroySoon !== 'function') target.destroySoon = () => { stream.end(); };
  // A tunnel's failures reach the request using it (the HTTP client listens meanwhile). A
  // request destroyed with an error once its response has arrived (the client went away)
  // destroys the stream with that error after the client stopped listening: the tunnel is
  // over then, which must never be fatal to the process.
  stream.on('error', () => undefined);
  // A tunnel stream stays writable after the endpoint's end (it is half-open); an HTTP/1.1
  // connection the server ended is over, though: end ours too, so it closes and leaves the
  // agent's idle pool instead of taking the next request into a closed connection (a TCP
  // socket without allowHalfOpen does the same).
  stream.once('end', () => { if (!stream.writableEnded) stream.end(); });
  return writesBuffers(stream);
}

/**
 * Node's HTTP client and server write a message's head as a latin1 string,
 * corked with the body; an HTTP/2 stream's writev of string chunks can send
 * them from memory already reused (garbled heads), so on a tunnel stream
 * strings become Buffers before they reach it, through `write` and through
 * `end` (which queues its chunk without calling `write`).
 */
export function writesBuffers<T extends Duplex>(stream: T): T {
  type Method = (chunk?: unknown, encoding?: unknown, callback?: unknown) => unknown;
  const target = stream as unknown as Record<'write' | 'end', Method>;
  for (const name of ['write', 'end'] as const) {
    const original = target[name].bind(stream);
    target[name] = (chunk?: unknown, encoding?: unknown, callback?: unknown): unknown => typeof chunk === 'string'
      ? original(Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8'), typeof encoding === 'function' ? encoding : callback)
      : original(chunk, encoding, callback);
  }
  return stream;
}

export function describeEndpoint(endpoint: Endpoint | undefined): string {
  return endpoint === undefined ? '-' : formatAuthority(endpoint.address);
}
