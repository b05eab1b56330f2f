// Layer (outermost): the one boundary where a failure becomes a response
// (status and flag from flags.ts, a short text body naming the reason), and
// where each exchange is measured: Istio request metrics with
// reporter="waypoint", a refusal count for deliberate refusals, and one
// access-log line when the response's last byte has gone.
import { causeChain, findAmbitError, SpiffeId, type Logger } from '@ambit/core';
import { outcomeFor, type ResponseFlag } from '../flags.js';
import type { RequestLabels, WaypointMetrics } from '../metrics.js';
import { describeEndpoint } from '../proxy/upstream.js';
import { textResponse, type Exchange, type Layer, type ProxyResponse } from './exchange.js';

export interface TelemetryOptions {
  metrics: WaypointMetrics;
  /** The access log (component `access`). */
  log: Logger;
}

export function telemetry(options: TelemetryOptions): Layer {
  return (next) => async (exchange) => {
    const started = performance.now();
    let response: ProxyResponse;
    let error: unknown;
    try {
      response = await next(exchange);
    } catch (caught) {
      error = caught;
      const { status, flag } = outcomeFor(caught);
      exchange.trace.flags.push(flag);
      const reason = findAmbitError(caught)?.details.reason;
      if (typeof reason === 'string') options.metrics.refusals.inc({ reason });
      response = textResponse(status, findAmbitError(caught)?.message ?? 'upstream failure');
    }
    const finish = (responseBytes: number): void => {
      const durationMs = performance.now() - started;
      const flags = responseFlags(exchange.trace.flags);
      options.metrics.request(labelsOf(exchange, response.status, flags), durationMs, exchange.request.body.length, responseBytes);
      accessLog(options.log, exchange, response.status, flags, durationMs, responseBytes, error);
    };
    if (Buffer.isBuffer(response.body)) {
      finish(response.body.length);
      return response;
    }
    // Counted as the body goes to the client (deliver() calls the counter),
    // reported when it has all gone or the exchange ended without it.
    let bytes = 0;
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      finish(bytes);
    };
    const body = response.body;
    body.once('end', end);
    body.once('close', end);
    body.once('error', () => {
      exchange.trace.flags.push('UC');
    });
    return { ...response, counter: (chunk) => { bytes += chunk; } };
  };
}

export function responseFlags(flags: readonly ResponseFlag[]): string {
  const distinct = [...new Set(flags.filter((f) => f !== '-'))];
  return distinct.length === 0 ? '-' : distinct.join(',');
}

const UNKNOWN = 'unknown';

export function labelsOf(exchange: Exchange, status: number, flags: string): RequestLabels {
  const { source, destination, trace } = exchange;
  const upstream = trace.upstream?.workload;
  const service = trace.backend?.kind === 'service' ? trace.backend.service : destination.service;
  return {
    reporter: 'waypoint',
    source_workload: source.workload?.name ?? UNKNOWN,
    source_workload_namespace: source.workload?.namespace ?? SpiffeId.tryParse(source.principal)?.namespace ?? UNKNOWN,
    source_principal: source.principal,
    destination_workload: upstream?.name ?? destination.workload?.name ?? UNKNOWN,
    destination_workload_namespace: upstream?.namespace ?? destination.workload?.namespace ?? service?.namespace ?? UNKNOWN,
    destination_principal: upstream?.identity ?? destination.workload?.identity ?? UNKNOWN,
    destination_service: service?.hostname ?? UNKNOWN,
    destination_service_namespace: service?.namespace ?? UNKNOWN,
    request_protocol: 'http',
    response_code: String(status),
    response_flags: flags,
    connection_security_policy: 'mutual_tls',
  };
}

function accessLog(log: Logger, exchange: Exchange, status: number, flags: string, durationMs: number, responseBytes: number, error: unknown): void {
  if (!log.isLevelEnabled('info')) return;
  const { request, trace } = exchange;
  log.info({
    req: exchange.id,
    method: request.method,
    path: request.path,
    authority: request.authority,
    status,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    src: { principal: exchange.source.principal, addr: exchange.source.ip },
    route: trace.route?.route.key,
    upstream: describeEndpoint(trace.upstream),
    retries: trace.retries,
    policy: trace.policy,
    bytes_recv: request.body.length,
    bytes_sent: responseBytes,
    response_flags: flags,
    error: error === undefined ? undefined : causeChain(error).join(': '),
  }, 'request complete');
}
