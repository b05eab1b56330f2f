// The L4 fallback: bytes that are not HTTP go to the called destination
// (an endpoint of the service, or the workload) over a new HBONE tunnel with
// the waypoint's identity, after the waypoint policies judged the
// connection without a request (rbac.ts). Measured as istio_tcp_* with
// reporter="waypoint".
import type { Duplex } from 'node:stream';
import { causeChain, findAmbitError, type Logger } from '@ambit/core';
import { serviceKey, type Authorization } from '@ambit/api';
import { failure } from '../flags.js';
import type { Balancer } from '../l7/balancer.js';
import { Cancellation } from '../l7/cancellation.js';
import { calledBackend } from '../l7/route.js';
import { evaluateL7 } from '../l7/rbac.js';
import { labelsOf } from '../l7/telemetry.js';
import type { WaypointMetrics } from '../metrics.js';
import type { ConnectionContext } from './frontends.js';
import { describeEndpoint, type Upstream } from './upstream.js';

export interface L4Options {
  gateway: string;
  policies: () => readonly Authorization[];
  balancer: Balancer;
  upstream: Upstream;
  metrics: WaypointMetrics;
  logger: Logger;
}

export class L4Forwarder {
  private readonly log: Logger;

  constructor(private readonly options: L4Options) {
    this.log = options.logger.child({ component: 'l4' });
  }

  async forward(id: string, client: Duplex, context: ConnectionContext): Promise<void> {
    const { source, destination } = context;
    const trace = { retries: 0, flags: [] as never[] };
    const exchange = {
      id, source, destination, signal: new Cancellation(), trace,
      request: { method: '', path: '', authority: '', headers: {}, body: Buffer.alloc(0) },
    };
    const backend = calledBackend(destination);
    let sent = 0;
    let received = 0;
    let flag = '-';
    const labels = (): ReturnType<typeof tcpLabels> => tcpLabels(labelsOf({ ...exchange, trace: { ...trace, ...(backend === undefined ? {} : { backend }) } }, 0, flag));
    try {
      const decision = evaluateL7(this.options.policies(), { gateway: this.options.gateway, service: destination.service === undefined ? undefined : serviceKey(destination.service) }, {
        principal: source.principal, sourceIp: source.ip, destinationIp: destination.address.ip, port: destination.port,
      });
      if (!decision.allowed) {
        this.options.metrics.refusals.inc({ reason: decision.reason });
        throw failure('denied', 'DENY', `${source.principal} may not connect to ${destination.address.ip}:${destination.port}: ${decision.policy ?? 'no ALLOW policy matches'}`);
      }
      const endpoint = backend === undefined ? undefined : this.options.balancer.pick(this.options.balancer.endpoints(backend));
      if (endpoint === undefined) throw failure('no-upstream', 'UH', `no healthy upstream for ${destination.address.ip}:${destination.port}`);
      (exchange.trace as { upstream?: unknown }).upstream = endpoint;
      const upstream = await this.options.upstream.connect(endpoint);
      this.options.metrics.tcpOpened.inc(labels());
      client.on('data', (chunk: Buffer) => { received += chunk.length; });
      upstream.on('data', (chunk: Buffer) => { sent += chunk.length; });
      await join(client, upstream);
      this.log.info({ conn: id, src: source.principal, upstream: describeEndpoint(endpoint), bytes_recv: received, bytes_sent: sent }, 'connection complete');
    } catch (caught) {
      const explicit = findAmbitError(caught)?.details.flag;
      flag = typeof explicit === 'string' ? explicit : 'UF';
      client.destroy();
      this.options.metrics.tcpOpened.inc(labels());
      this.log.info({ conn: id, src: source.principal, response_flags: flag, err: causeChain(caught).join(': ') }, 'connection refused');
    } finally {
      const final = labels();
      this.options.metrics.tcpClosed.inc(final);
      this.options.metrics.tcpSent.inc(final, sent);
      this.options.metrics.tcpReceived.inc(final, received);
    }
  }
}

/** Bytes both ways with backpressure; half-close crosses; a reset on either side tears down both. */
function join(a: Duplex, b: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const done = (): void => {
      if (--open === 0) resolve();
    };
    for (const [from, to] of [[a, b], [b, a]] as const) {
      from.pipe(to);
      from.once('close', () => {
        if (!from.readableEnded) to.destroy();
        done();
      });
      from.on('error', () => to.destroy());
    }
  });
}

function tcpLabels(labels: ReturnType<typeof labelsOf>): Omit<ReturnType<typeof labelsOf>, 'response_code' | 'request_protocol'> {
  const { response_code: _code, request_protocol: _protocol, ...rest } = labels;
  return rest;
}
