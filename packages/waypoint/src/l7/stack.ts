// The L7 stack, assembled in one place, outermost first: telemetry (the
// error boundary), authorization, routing, request mutation (headers, then
// the URL: rewrite, or a redirect answered there), fault injection, the
// request timeout, retries, load balancing, forwarding.
// Every layer is `(next) => handler` in its own file.
import type { Logger } from '@ambit/core';
import type { MeshView } from '@ambit/cp-client';
import type { WaypointMetrics } from '../metrics.js';
import type { Upstream } from '../proxy/upstream.js';
import { authorize } from './authz.js';
import { balance } from './balance.js';
import type { Balancer } from './balancer.js';
import type { Handler, Layer } from './exchange.js';
import { injectFaults } from './fault.js';
import { forward } from './forward.js';
import { modifyHeaders } from './headers.js';
import { retry } from './retry.js';
import { rewriteUrl } from './rewrite.js';
import type { RetryBudgetOptions } from './retry-budget.js';
import { route } from './route.js';
import { telemetry } from './telemetry.js';
import { requestTimeout } from './timeout.js';

export interface StackOptions {
  mesh: Pick<MeshView, 'routes' | 'authorizations' | 'service'>;
  gateway: string;
  balancer: Balancer;
  upstream: Upstream;
  metrics: WaypointMetrics;
  accessLog: Logger;
  retryBudget?: RetryBudgetOptions;
  /** Randomness for weighted choice, faults and backoff jitter (tests fix it). */
  random?: () => number;
}

export function buildStack(options: StackOptions): Handler {
  const random = options.random === undefined ? {} : { random: options.random };
  const layers: Layer[] = [
    telemetry({ metrics: options.metrics, log: options.accessLog }),
    authorize({ policies: () => options.mesh.authorizations(), gateway: options.gateway }),
    route({ routes: () => options.mesh.routes(), service: (key) => options.mesh.service(key), gateway: options.gateway, ...random }),
    modifyHeaders(),
    rewriteUrl(),
    injectFaults(random),
    requestTimeout(),
    retry({
      ...random,
      ...(options.retryBudget === undefined ? {} : { budget: options.retryBudget }),
      onOverflow: (backend) => options.metrics.retryOverflows.inc({ backend }),
    }),
    balance(options.balancer),
  ];
  const innermost = forward(options.upstream)(unreachable);
  return layers.reduceRight<Handler>((next, layer) => layer(next), innermost);
}

/** forward() answers itself; nothing is inside it. */
const unreachable: Handler = () => Promise.reject(new Error('nothing is inside the forwarding layer'));
