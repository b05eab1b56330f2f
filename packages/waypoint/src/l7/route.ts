// Layer: HTTPRoute matching. Picks the rule (routing.ts) and, by weight, the
// backend; with no route the backend is what the client called (the service
// at the called port, or the workload). A rule without usable backends is
// answered 500, as the Gateway API prescribes; a redirecting rule has none
// and needs none (the rewrite layer answers it).
import type { HttpRoute, Service } from '@ambit/api';
import { serviceKey } from '@ambit/api';
import { failure } from '../flags.js';
import type { Backend, Destination, Exchange, Layer, ProxyRequest } from './exchange.js';
import { pickWeighted, selectRule, type SelectedRule } from './routing.js';
import { hostOf } from './url-modifier.js';

export interface RouteOptions {
  routes: () => readonly HttpRoute[];
  service: (key: string) => Service | undefined;
  gateway: string;
  random?: () => number;
}

export function route(options: RouteOptions): Layer {
  const random = options.random ?? Math.random;
  // async: a failure to route is a rejection, as a Handler's callers expect, not a throw.
  return (next) => async (exchange) => {
    exchange.trace.backend = chooseBackend(options, exchange, random);
    return next(exchange);
  };
}

function chooseBackend(options: RouteOptions, exchange: Exchange, random: () => number): Backend | undefined {
  const { request, destination } = exchange;
  const selected = selectFor(options.routes(), options.gateway, destination, request);
  if (selected === undefined) {
    const called = calledBackend(destination);
    if (called !== undefined) return called;
    throw failure('not-found', 'NR', `no route for ${request.method} ${request.path}: the destination is unknown`, { status: 404 });
  }
  exchange.trace.route = selected;
  if (selected.rule.redirect !== undefined) return undefined;
  const chosen = pickWeighted(selected.rule.backends, random);
  if (chosen === undefined) {
    throw failure('not-found', 'NR', `route ${selected.route.key} has no backend with weight for ${request.path}`, { status: 500 });
  }
  const service = options.service(chosen.service);
  if (service === undefined) {
    throw failure('not-found', 'NR', `route ${selected.route.key} names service ${chosen.service}, which is unknown`, {
      status: 500, hint: 'does the Service exist in discovery?',
    });
  }
  return { kind: 'service', service, port: chosen.port };
}

/** The rule a request to `destination` takes, when a route attached to it (or to the waypoint) matches. */
export function selectFor(
  routes: readonly HttpRoute[], gateway: string, destination: Destination, request: Pick<ProxyRequest, 'method' | 'path' | 'authority' | 'headers'>,
): SelectedRule | undefined {
  const called = destination.service;
  return selectRule(routes, {
    service: called === undefined ? undefined : serviceKey(called), port: destination.port, gateway,
  }, { method: request.method, path: request.path, host: hostOf(request.authority).toLowerCase(), headers: request.headers });
}

/** Where a request goes when no route matches: what the client called (the service at the called port, or the workload). */
export function calledBackend(destination: Destination): Backend | undefined {
  if (destination.service !== undefined) return { kind: 'service', service: destination.service, port: destination.port };
  if (destination.workload !== undefined) return { kind: 'workload', workload: destination.workload, port: destination.port };
  return undefined;
}
