// Fixtures for the L7 layers' unit tests (never imported by runtime code):
// services, workloads and routes; an exchange as a frontend builds it; stub
// inner handlers that record what reached them; the telemetry boundary with
// metrics and an access log kept in memory.
import { Writable, type Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { socketAddress, type HttpRoute, type HttpRouteRule, type Service, type Workload } from '@ambit/api';
import { createLogger } from '@ambit/core';
import { WaypointMetrics } from '../metrics.js';
import { deliver, type Backend, type Destination, type Exchange, type Handler, type HeaderMap, type ProxyRequest, type ProxyResponse, type Source } from './exchange.js';
import { Cancellation, type ExchangeSignal } from './cancellation.js';
import { telemetry } from './telemetry.js';

export const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';

export function workload(name: string, overrides: Partial<Workload> & { ip?: string } = {}): Workload {
  const { ip, ...rest } = overrides;
  const namespace = rest.namespace ?? 'demo';
  const serviceAccount = rest.serviceAccount ?? name;
  return {
    uid: `uid-${name}`, name, namespace, serviceAccount, identity: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
    addresses: [ip ?? '10.0.0.1'], node: 'node-a', protocol: 'HBONE', services: [], canonicalName: name, canonicalRevision: 'latest',
    healthy: true, labels: { app: name }, ...rest,
  };
}

/** A service on port 80 (target 8080); `endpoints` lists `[ip, healthy]` pairs of workloads `<name>-<i>`. */
export function service(name: string, endpoints: [string, boolean][] = [], overrides: Partial<Service> = {}): Service {
  const namespace = overrides.namespace ?? 'demo';
  return {
    name, namespace, hostname: `${name}.${namespace}.svc.cluster.local`, vips: ['10.96.0.1'], ports: [{ port: 80, targetPort: 8080 }],
    endpoints: endpoints.map(([address, healthy], i) => ({ workloadUid: `uid-${name}-${i}`, address, ports: {}, healthy })),
    ...overrides,
  };
}

/** A route attached to demo/echo with one rule built from `rule` (matching everything unless it says otherwise). */
export function httpRoute(rule: Partial<HttpRouteRule>, overrides: Partial<HttpRoute> = {}): HttpRoute {
  return {
    key: 'demo/echo-route', namespace: 'demo', name: 'echo-route', parents: [{ kind: 'Service', key: 'demo/echo' }], hostnames: [],
    rules: [{ matches: [], backends: [{ service: 'demo/echo', port: 80, weight: 1 }], ...rule }], ...overrides,
  };
}

export interface ExchangeOptions {
  request?: Partial<ProxyRequest>;
  source?: Partial<Source>;
  destination?: Partial<Destination>;
  signal?: ExchangeSignal;
  /** The matched rule, as route() would record it. */
  rule?: Partial<HttpRouteRule>;
  backend?: Backend;
}

/** A GET / from the demo client to demo/echo:80, as a frontend hands it to the stack. */
export function exchange(options: ExchangeOptions = {}): Exchange {
  const matched = options.rule === undefined ? undefined : httpRoute(options.rule);
  const rule = matched?.rules[0];
  return {
    id: 'test',
    request: { method: 'GET', path: '/', authority: 'echo.demo.svc.cluster.local', headers: {}, body: Buffer.alloc(0), ...options.request },
    source: { principal: CLIENT, ip: '10.0.0.9', workload: undefined, ...options.source },
    destination: { address: socketAddress('10.96.0.1', 80), service: undefined, workload: undefined, port: 80, ...options.destination },
    signal: options.signal ?? new Cancellation(),
    trace: {
      retries: 0, flags: [],
      ...(matched === undefined || rule === undefined ? {} : { route: { route: matched, rule } }),
      ...(options.backend === undefined ? {} : { backend: options.backend }),
    },
  };
}

export function respond(status: number, body: string | Readable = '', headers: HeaderMap = {}): ProxyResponse {
  return { status, headers, body: typeof body === 'string' ? Buffer.from(body) : body };
}

/** An inner handler that records each exchange it is given and answers with `answer` (call counts from 1). */
export interface Stub extends Handler {
  readonly calls: Exchange[];
}

export function stub(answer: (exchange: Exchange, call: number) => ProxyResponse | Promise<ProxyResponse> = () => respond(200)): Stub {
  const calls: Exchange[] = [];
  const handler = async (exchange: Exchange): Promise<ProxyResponse> => {
    calls.push(exchange);
    return answer(exchange, calls.length);
  };
  return Object.assign(handler, { calls });
}

/** A handler that never answers (and ignores its signal): only the layer under test can end the exchange. */
export const never: Handler = () => new Promise(() => undefined);

/** The whole body as text; waits a turn of the event loop first, as a slow client would. */
export async function text(body: Readable | Buffer): Promise<string> {
  if (Buffer.isBuffer(body)) return body.toString();
  await nextTurn();
  let result = '';
  for await (const chunk of body) result += String(chunk);
  return result;
}

/** What a client receives of `response` through deliver(); waits a turn of the event loop first, as a slow client would. */
export async function received(response: ProxyResponse): Promise<string> {
  await nextTurn();
  let result = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      result += String(chunk);
      callback();
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    sink.once('finish', resolve);
    sink.once('close', () => reject(new Error('the body was cut short')));
  });
  deliver(response, sink);
  await finished;
  return result;
}

/** The outermost layer with metrics and an access log in memory, around `inner`. */
export function boundary(inner: Handler): { handler: Handler; metrics: WaypointMetrics; lines: Record<string, unknown>[] } {
  const metrics = new WaypointMetrics();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ destination: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
  return { handler: telemetry({ metrics, log })(inner), metrics, lines };
}

export function elapsedSince(started: number): number {
  return performance.now() - started;
}
