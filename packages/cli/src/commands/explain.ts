// `ambit explain NS/POD DESTINATION`: what the mesh would do with one
// connection (an HTTP request unless --tcp) from a pod, hop by hop: which
// proxies it crosses, which identity each side presents, which policy allows
// or denies it, and which endpoints it may end at. Nothing is sent: the
// proxies' own decision functions (@ambit/ztunnel/decisions,
// @ambit/waypoint/decisions) run on the state each proxy's admin API shows —
// the source node's ztunnel for the way out, the waypoint for routes and L7
// policy, each destination node's ztunnel for the way in — so the answer is
// what those proxies would do with that state.
import { isIP } from 'node:net';
import { AmbitError, findAmbitError } from '@ambit/core';
import { formatAuthority, serviceKey, socketAddress, type Authorization, type HttpRoute, type HttpRouteRule, type Service, type SocketAddress, type Workload } from '@ambit/api';
import { MeshIndex } from '@ambit/cp-client/mesh-index';
import { authorizeInbound, resolveOutbound, serviceVipByName, type MeshLookup, type Picker, type Route } from '@ambit/ztunnel/decisions';
import { Balancer, calledBackend, evaluateL7, hostOf, redirectLocation, resolveDestination, selectFor, type Backend, type Destination, type Endpoint } from '@ambit/waypoint/decisions';
import { usage } from '../errors.js';
import { render, type OutputFormat } from '../output.js';
import type { PodView } from '../mesh-view.js';

/** What a ztunnel's /config_dump holds that explaining needs. */
export interface ZtunnelDump {
  node: string; version?: string; workloads: Workload[]; services: Service[]; policies: Authorization[];
  /** `none` in the loopback mode: only what a pod sends through its SOCKS5 proxy is in the mesh. */
  capture?: { mode: string };
  config?: { hbonePort?: number };
}
/**
 * What a waypoint's /config_dump holds that explaining needs. A waypoint of
 * several workers dumps its first worker's state with a `workers` list: each
 * worker has its own discovery stream and its own outlier ejection.
 */
export interface WaypointDump {
  gateway: string; identity: string; discovery?: { version?: string }; routes: HttpRoute[]; policies: Authorization[]; outliers?: string[];
  config?: { upstreamHbonePort?: number };
  workers?: { worker: number; discovery?: { version?: string }; outliers?: string[] }[];
}

/** Where ztunnels serve HBONE unless their settings say otherwise. */
const HBONE_PORT = 15008;

/** Where the proxies' state comes from (a MeshView in the command; fixtures in tests). */
export interface ExplainSources {
  pods(): Promise<PodView[]>;
  ztunnel(node: string): Promise<ZtunnelDump>;
  waypoint(pod: { namespace: string; name: string }): Promise<WaypointDump>;
}

export interface ExplainRequest {
  /** NAMESPACE/POD. */
  source: string;
  /** http://HOST[:PORT]/PATH, HOST[:PORT], IP[:PORT] or NAMESPACE/POD[:PORT]. */
  destination: string;
  port?: number;
  /** The request the waypoint judges and routes; absent with --tcp. */
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  tcp?: boolean;
}

/** allowed / denied: on every path; mixed: allowed on some paths only; unknown: a proxy's state could not be read. */
export type Verdict = 'allowed' | 'denied' | 'mixed' | 'unknown';

export interface Hop {
  /** Who acts: `ztunnel node-1`, `waypoint demo/waypoint`, or the source pod. */
  at: string;
  /** What it does, one sentence. */
  does: string;
  /** Set when this hop decides. */
  verdict?: Verdict;
  /** namespace/name of the policy that decided. */
  policy?: string;
  /** The proxy's reason for a refusal (as in its metric and log line). */
  reason?: string;
  hint?: string;
}

export interface ExplainPath {
  /** Where this path ends: the endpoint's pod (or address). */
  to: string;
  /** The share of requests the route sends to this path's backend, when a route splits traffic. */
  weight?: string;
  hops: Hop[];
  verdict: Verdict;
}

export interface Explanation {
  source: { pod: string; ip: string; node: string; enrolled: boolean; identity: string };
  destination: { given: string; address: string; as: string; request?: { method: string; path: string; host: string } };
  /** The hops every path shares. */
  hops: Hop[];
  /** One per endpoint the connection may end at; empty when a shared hop refuses it. */
  paths: ExplainPath[];
  /** Denied or unknown at a shared hop; else allowed or denied when every path agrees, mixed or unknown when not. */
  verdict: Verdict;
}

interface Target { host: string; port?: number; path?: string; url: boolean; pod?: string }

/** Splits the DESTINATION argument; the port is checked later, against what the name resolves to. */
export function parseTarget(text: string): Target {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return usage(`${text} is not a URL`, 'e.g. http://echo.demo/v2');
    }
    if (url.protocol !== 'http:') usage(`${url.protocol}// is not explained`, 'give http://HOST/PATH, or HOST:PORT with --tcp for other protocols');
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}`, url: true };
  }
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/i.exec(text);
  if (bracketed !== null) return { host: bracketed[1] as string, ...portOf(text, bracketed[2]), url: false };
  if (text.split(':').length > 2) return { host: text, url: false }; // a bare IPv6 address
  const [hostPart = '', portText] = text.split(':');
  if (hostPart === '') usage(`${text} names no destination`, 'e.g. echo.demo:80, http://echo.demo/ or demo/echo-v1:8080');
  const slash = hostPart.split('/');
  if (slash.length === 2 && slash.every((s) => s !== '')) return { host: hostPart, pod: hostPart, ...portOf(text, portText), url: false };
  if (slash.length > 1) usage(`${text} is not a destination`, 'a pod is NAMESPACE/POD[:PORT]; a URL starts with http://');
  return { host: hostPart, ...portOf(text, portText), url: false };
}

function portOf(text: string, port: string | undefined): { port?: number } {
  if (port === undefined) return {};
  const value = Number(port);
  if (!/^\d+$/.test(port) || value < 1 || value > 65535) usage(`${text}: ${port} is not a port`, 'a port is 1 to 65535');
  return { port: value };
}

/** Runs the decisions; throws only when the source's own ztunnel cannot be read (nothing could be explained). */
export async function explainFlow(sources: ExplainSources, request: ExplainRequest): Promise<Explanation> {
  if (!/^[^/]+\/[^/]+$/.test(request.source)) usage(`${request.source} is not NAMESPACE/POD`, 'e.g. ambit explain demo/client http://echo.demo/');
  if (request.tcp === true && (request.method !== undefined || request.path !== undefined || request.headers !== undefined)) {
    usage('--tcp explains a connection, not a request', 'drop --tcp, or --method/--path/--header');
  }
  const [namespace, name] = request.source.split('/') as [string, string];
  const pods = await sources.pods();
  const pod = pods.find((p) => p.namespace === namespace && p.name === name);
  if (pod === undefined) {
    const here = pods.filter((p) => p.namespace === namespace).map((p) => p.name);
    usage(`no pod ${request.source}`, here.length === 0 ? `namespace ${namespace} has no pods` : `pods in ${namespace}: ${here.join(', ')}`);
  }
  if (pod.ip === '' || pod.node === '') throw new AmbitError('unavailable', `pod ${request.source} has no address or node yet`, { hint: 'wait until it runs' });
  const states = new ZtunnelStates(sources);
  const state = await states.get(pod.node);
  if (state instanceof Error) {
    throw new AmbitError('unavailable', `the ztunnel on ${pod.node} (${request.source}'s node) did not answer: ${state.message}`, { hint: 'see `ambit status`' });
  }
  const source = state.lookup.workloadByAddress(pod.ip);
  if (source === undefined) {
    throw new AmbitError('unavailable', `the ztunnel on ${pod.node} does not know ${request.source} (${pod.ip}) yet`, {
      hint: 'the control plane has not pushed it: see `ambit proxy-status` and `ambit ztunnel workloads`',
    });
  }
  const target = parseTarget(request.destination);
  const { address, as } = resolveTarget(target, request, state, namespace);
  const http = request.tcp === true ? undefined : {
    method: (request.method ?? 'GET').toUpperCase(),
    path: request.path ?? target.path ?? '/',
    host: target.url || target.pod === undefined ? target.host : formatAuthority(address),
    headers: Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const enrolled = source.protocol === 'HBONE';
  const explanation: Explanation = {
    source: { pod: request.source, ip: pod.ip, node: pod.node, enrolled, identity: source.identity },
    destination: {
      given: request.destination, address: formatAuthority(address), as,
      ...(http === undefined ? {} : { request: { method: http.method, path: http.path, host: http.host } }),
    },
    hops: [], paths: [], verdict: 'unknown',
  };
  const flow = new Flow(states, explanation, source, pod, http);
  await (enrolled ? flow.meshed(state, address) : flow.plain(state, address));
  explanation.verdict = overall(explanation);
  return explanation;
}

/** The destination as the source pod would reach it: a service name resolves to its VIP (as its DNS does). */
function resolveTarget(target: Target, request: ExplainRequest, state: NodeState, namespace: string): { address: SocketAddress; as: string } {
  const { lookup, services } = state;
  const port = request.port ?? target.port;
  if (target.pod !== undefined) {
    const workload = state.workloads.find((w) => `${w.namespace}/${w.name}` === target.pod);
    if (workload === undefined || workload.addresses[0] === undefined) usage(`no pod ${target.pod} in the mesh state`, 'see `ambit ztunnel workloads`');
    if (port === undefined) usage(`give the port of ${target.pod}`, `e.g. ${target.pod}:8080`);
    return { address: socketAddress(workload.addresses[0], port), as: `pod ${target.pod}` };
  }
  const vip = isIP(target.host) !== 0 ? target.host : serviceVipByName(services, target.host, namespace);
  if (vip === undefined) {
    const here = services.filter((s) => s.namespace === namespace && s.vips.length > 0).map((s) => s.name);
    usage(`no service ${target.host} as a pod in ${namespace} resolves it`, here.length === 0 ? 'give SERVICE.NAMESPACE, an address or NAMESPACE/POD:PORT' : `services in ${namespace}: ${here.join(', ')}; elsewhere: SERVICE.NAMESPACE`);
  }
  const service = lookup.serviceByVip(vip);
  const resolvedPort = port ?? (service?.ports.length === 1 ? service.ports[0]?.port : undefined);
  if (resolvedPort === undefined) {
    usage(`give the port of ${target.host}`, service === undefined ? `e.g. ${target.host}:80` : `its ports: ${service.ports.map((p) => p.port).join(', ')}`);
  }
  const address = socketAddress(vip, resolvedPort);
  if (service !== undefined) return { address, as: `service ${serviceKey(service)}` };
  const workload = lookup.workloadByAddress(vip);
  return { address, as: workload === undefined ? 'an address outside the mesh' : `pod ${workload.namespace}/${workload.name}` };
}

interface NodeState { node: string; version: string; lookup: MeshLookup; services: Service[]; workloads: Workload[]; captures: boolean; hbonePort: number }

/** Each node's ztunnel state, read once. */
class ZtunnelStates {
  private readonly read = new Map<string, Promise<NodeState | Error>>();

  constructor(readonly sources: ExplainSources) {}

  get(node: string): Promise<NodeState | Error> {
    let state = this.read.get(node);
    if (state === undefined) {
      state = this.sources.ztunnel(node).then((dump) => stateOf(node, dump), (error: unknown) => error instanceof Error ? error : new Error(String(error)));
      this.read.set(node, state);
    }
    return state;
  }
}

function stateOf(node: string, dump: ZtunnelDump): NodeState {
  const index = new MeshIndex();
  index.apply({
    type: 'update', version: dump.version ?? '', snapshot: true, removals: [],
    upserts: [
      ...dump.workloads.map((value) => ({ kind: 'workload' as const, value })),
      ...dump.services.map((value) => ({ kind: 'service' as const, value })),
      ...dump.policies.map((value) => ({ kind: 'authorization' as const, value })),
    ],
  });
  return { node, version: dump.version ?? '', lookup: index, services: dump.services, workloads: dump.workloads, captures: dump.capture?.mode !== 'none', hbonePort: dump.config?.hbonePort ?? HBONE_PORT };
}

interface HttpRequest { method: string; path: string; host: string; headers: Record<string, string> }

/** Builds an Explanation's hops and paths. */
class Flow {
  constructor(
    private readonly states: ZtunnelStates,
    private readonly explanation: Explanation,
    private readonly source: Workload,
    private readonly pod: PodView,
    private readonly http: HttpRequest | undefined,
  ) {}

  /** An enrolled source: its node's ztunnel resolves the destination and carries the connection. */
  async meshed(state: NodeState, destination: SocketAddress): Promise<void> {
    const at = `ztunnel ${state.node}`;
    const { hops } = this.explanation;
    hops.push({ at, does: `takes ${this.explanation.source.pod}'s connection to ${formatAuthority(destination)} (enrolled; mesh state version ${state.version || 'none'})` });
    let routes: Route[];
    try {
      routes = everyRoute((pick) => resolveOutbound(state.lookup, { source: this.source, destination, node: state.node }, pick));
    } catch (error) {
      hops.push(refused(at, error));
      return;
    }
    const first = routes[0] as Route;
    if (first.kind === 'waypoint') {
      await this.throughWaypoint(state, first);
      return;
    }
    if (first.service !== undefined) {
      hops.push({ at, does: `service ${serviceKey(first.service)} (no waypoint): one of ${routes.length} healthy endpoint(s), chosen at random` });
    }
    for (const route of routes) {
      const path = this.path(describeTarget(route.target, 'workload' in route ? route.workload : undefined));
      switch (route.kind) {
        case 'passthrough':
          path.hops.push({ at, does: `passthrough: ${formatAuthority(route.target)} is not a mesh address, so plain TCP leaves the mesh`, verdict: 'allowed' });
          break;
        case 'tcp':
          path.hops.push({ at, does: `plain TCP: ${name(route.workload)} is not enrolled (no mTLS, no policy on its side)`, verdict: 'allowed' });
          break;
        case 'hbone':
          path.hops.push({
            at, does: route.local
              ? `same node: hands the connection to its own inbound side as ${this.source.identity}`
              : `HBONE (mTLS) to ${route.target.ip}:${state.hbonePort} on ${route.workload.node} as ${this.source.identity}, expecting ${route.workload.identity}`,
          });
          path.hops.push(await this.inbound(route.workload, route.target, this.source.identity, this.pod.ip));
          break;
      }
    }
  }

  /** A source outside the mesh: plain TCP (a service VIP is load-balanced by kube-proxy); the destination's ztunnel may still judge it. */
  async plain(state: NodeState, destination: SocketAddress): Promise<void> {
    const { hops } = this.explanation;
    hops.push({ at: this.explanation.source.pod, does: 'is not enrolled: its ztunnel does not take its connections; plain TCP, no identity' });
    const service = state.lookup.serviceByVip(destination.ip);
    let endpoints: Endpoint[];
    if (service === undefined) {
      endpoints = [{ address: destination, workload: state.lookup.workloadByAddress(destination.ip) }];
    } else {
      endpoints = new Balancer(state.lookup).endpoints({ kind: 'service', service, port: destination.port });
      hops.push({
        // The loopback mode has no kube-proxy: the pod's SOCKS5 proxy (its node's ztunnel) picks the endpoint.
        at: state.captures ? 'kube-proxy' : `ztunnel ${state.node} (SOCKS5)`, does: `service ${serviceKey(service)}: one of ${endpoints.length} ready endpoint(s)${service.waypoint === undefined ? '' : ` (its waypoint ${service.waypoint.gateway} is for mesh clients)`}`,
        ...(endpoints.length === 0 ? { verdict: 'denied' as const, reason: 'no-healthy-endpoint', hint: 'no ready pod matches its selector' } : {}),
      });
    }
    for (const endpoint of endpoints) {
      const path = this.path(describeTarget(endpoint.address, endpoint.workload));
      const workload = endpoint.workload;
      if (workload?.protocol === 'HBONE') path.hops.push(await this.plainInbound(workload, endpoint.address));
      else path.hops.push({ at: 'network', does: `plain TCP to ${describeTarget(endpoint.address, workload)}, which is not in the mesh`, verdict: 'allowed' });
    }
  }

  private async throughWaypoint(state: NodeState, route: Extract<Route, { kind: 'waypoint' }>): Promise<void> {
    const { hops } = this.explanation;
    const { waypoint } = route;
    const ztunnel = `ztunnel ${state.node}`;
    const what = route.service !== undefined ? `service ${serviceKey(route.service)}` : route.workload !== undefined ? name(route.workload) : formatAuthority(route.target);
    const pod = state.lookup.workloadByAddress(route.hop.ip);
    hops.push({
      at: ztunnel,
      does: `${what} uses waypoint ${waypoint.gateway}: HBONE (mTLS) to ${formatAuthority(route.hop)}${pod === undefined ? '' : ` (${name(pod)} on ${pod.node})`} as ${this.source.identity}, expecting ${waypoint.identity}`,
    });
    const at = `waypoint ${waypoint.gateway}`;
    if (pod === undefined) {
      hops.push({ at, does: `no pod of the waypoint is known at ${route.hop.ip}`, verdict: 'unknown', hint: 'see `ambit waypoint status`' });
      return;
    }
    let dump: WaypointDump;
    try {
      dump = await this.states.sources.waypoint({ namespace: pod.namespace, name: pod.name });
    } catch (error) {
      hops.push({ at, does: `its admin API did not answer, so its routes and policies are not known: ${(error as Error).message}`, verdict: 'unknown', hint: 'see `ambit waypoint status`' });
      return;
    }
    let destination;
    try {
      destination = resolveDestination(state.lookup, route.target, waypoint.gateway);
    } catch (error) {
      hops.push(refused(at, error));
      return;
    }
    const called = destination.service === undefined ? undefined : serviceKey(destination.service);
    const decision = evaluateL7(dump.policies, { gateway: waypoint.gateway, service: called }, {
      principal: this.source.identity, sourceIp: this.pod.ip, destinationIp: route.target.ip, port: route.target.port,
      ...(this.http === undefined ? {} : { http: { method: this.http.method, path: this.http.path, host: this.http.host, headers: this.http.headers } }),
    });
    const request = this.http === undefined ? 'the connection (not HTTP: L4 rules only)' : `${this.http.method} ${this.http.path}`;
    const version = stateVersions(dump);
    hops.push(decision.allowed
      ? { at, does: `allows ${request}: ${decision.policy === undefined ? 'no authorization policy applies' : `policy ${decision.policy}`}${version}`, verdict: 'allowed', ...(decision.policy === undefined ? {} : { policy: decision.policy }) }
      : {
        at, does: `denies ${request} with 403: ${decision.policy === undefined ? 'no ALLOW policy matches' : `policy ${decision.policy}`}${version}`,
        verdict: 'denied', reason: decision.reason, ...(decision.policy === undefined ? {} : { policy: decision.policy }),
      });
    if (!decision.allowed) return;
    const backends = this.backends(at, dump, destination, state);
    if (backends === undefined) return;
    const balancer = new Balancer(state.lookup);
    const ejection = outlierEjection(dump);
    for (const { backend, weight } of backends) {
      const all = balancer.endpoints(backend);
      const usable = all.filter((e) => !ejection.byAll(formatAuthority(e.address)));
      // As the balancer: with every endpoint ejected, all are used again (panic mode).
      const endpoints = usable.length === 0 ? all : usable;
      if (endpoints.length === 0) {
        const path = this.path(backendName(backend), weight);
        path.hops.push({ at, does: `answers 503: ${backendName(backend)} has no healthy endpoint`, verdict: 'denied', reason: 'no-healthy-upstream', hint: 'no ready pod matches its selector' });
        continue;
      }
      for (const endpoint of endpoints) {
        const path = this.path(describeTarget(endpoint.address, endpoint.workload), weight);
        const workload = endpoint.workload;
        if (workload?.protocol !== 'HBONE') {
          path.hops.push({ at, does: `plain TCP to ${describeTarget(endpoint.address, workload)} (not enrolled)`, verdict: 'allowed' });
          continue;
        }
        const some = ejection.bySome(formatAuthority(endpoint.address));
        if (some !== undefined) path.hops.push({ at, does: some });
        path.hops.push({ at, does: `HBONE (mTLS) to ${endpoint.address.ip}:${dump.config?.upstreamHbonePort ?? HBONE_PORT} on ${workload.node} as ${dump.identity}, expecting ${workload.identity}` });
        path.hops.push(await this.inbound(workload, endpoint.address, dump.identity, pod.addresses[0] ?? route.hop.ip));
      }
    }
  }

  /** The backends a request takes at the waypoint, with the route that chose them (a hop). */
  private backends(at: string, dump: WaypointDump, destination: Destination, state: NodeState): { backend: Backend; weight?: string }[] | undefined {
    const { hops } = this.explanation;
    const selected = this.http === undefined ? undefined : selectFor(dump.routes, dump.gateway, destination, {
      method: this.http.method, path: this.http.path, authority: this.http.host, headers: this.http.headers,
    });
    if (selected === undefined) {
      const called = calledBackend(destination);
      if (called === undefined) {
        hops.push({ at, does: 'answers 404: no route, and the destination is unknown', verdict: 'denied', reason: 'no-route' });
        return undefined;
      }
      hops.push({ at, does: `${this.http === undefined ? 'forwards the bytes' : 'no HTTPRoute matches'} to ${backendName(called)}` });
      return [{ backend: called }];
    }
    const { route, rule } = selected;
    const weighted = rule.backends.filter((b) => b.weight > 0);
    const total = weighted.reduce((sum, b) => sum + b.weight, 0);
    const index = route.rules.indexOf(rule) + 1;
    if (rule.redirect !== undefined && this.http !== undefined) {
      const location = redirectLocation(rule.redirect, { path: this.http.path, host: hostOf(this.http.host), port: destination.port });
      this.path(`redirect to ${location}`).hops.push({ at, does: `route ${route.key} rule ${index}: answers ${rule.redirect.statusCode} with Location ${location}`, verdict: 'allowed' });
      return undefined;
    }
    if (weighted.length === 0) {
      hops.push({ at, does: `route ${route.key} rule ${index} has no backend with weight: answers 500`, verdict: 'denied', reason: 'no-backend' });
      return undefined;
    }
    const result: { backend: Backend; weight?: string }[] = [];
    const parts: string[] = [];
    for (const b of weighted) {
      const share = weighted.length === 1 ? undefined : `${Math.round((b.weight / total) * 1000) / 10} %`;
      parts.push(`${b.service}:${b.port}${share === undefined ? '' : ` ${share}`}`);
      const service = state.lookup.service(b.service);
      if (service === undefined) {
        const path = this.path(`${b.service}:${b.port}`, share);
        path.hops.push({ at, does: `answers 500: route ${route.key} names service ${b.service}, which the mesh does not know`, verdict: 'denied', reason: 'unknown-backend' });
        continue;
      }
      result.push({ backend: { kind: 'service', service, port: b.port }, ...(share === undefined ? {} : { weight: share }) });
    }
    hops.push({ at, does: `route ${route.key} rule ${index}: ${parts.join(', ')}${ruleExtras(rule)}` });
    return result;
  }

  /** Plaintext for an enrolled pod: its node's ztunnel captures it and judges it without an identity (STRICT refuses it). */
  private async plainInbound(workload: Workload, target: SocketAddress): Promise<Hop> {
    const state = await this.states.get(workload.node);
    if (!(state instanceof Error) && !state.captures) {
      return {
        at: `ztunnel ${workload.node}`, verdict: 'allowed',
        does: `captures nothing (loopback mode): the plaintext reaches ${name(workload)} directly, unjudged; only what comes through a ztunnel is enforced`,
      };
    }
    return this.inbound(workload, target, undefined, this.pod.ip);
  }

  /** What the destination's ztunnel decides for a connection arriving for `workload`. */
  private async inbound(workload: Workload, target: SocketAddress, peer: string | undefined, sourceIp: string): Promise<Hop> {
    const at = `ztunnel ${workload.node}`;
    const state = await this.states.get(workload.node);
    if (state instanceof Error) return { at, does: `its admin API did not answer: ${state.message}`, verdict: 'unknown', hint: 'see `ambit status`' };
    try {
      const { decision } = authorizeInbound(state.lookup, workload.node, {
        peerIdentity: peer, sourceIp, target, ...(peer === undefined ? {} : { localIp: target.ip }),
      });
      const how = peer === undefined ? 'plaintext, no peer identity' : `from ${peer}`;
      return {
        at, does: `lets ${name(workload)} port ${target.port} in (${how}): ${decision.policy === undefined ? 'no L4 policy applies' : `policy ${decision.policy}`}`,
        verdict: 'allowed', ...(decision.policy === undefined ? {} : { policy: decision.policy }),
      };
    } catch (error) {
      return refused(at, error);
    }
  }

  private path(to: string, weight?: string): ExplainPath {
    const path: ExplainPath = { to, ...(weight === undefined ? {} : { weight }), hops: [], verdict: 'unknown' };
    this.explanation.paths.push(path);
    return path;
  }
}

/** The waypoint's mesh state version, or each worker's while they are not in step (routes and policies are the first's). */
function stateVersions(dump: WaypointDump): string {
  const workers = dump.workers ?? [];
  const versions = new Set(workers.map((w) => w.discovery?.version ?? 'none'));
  if (versions.size > 1) {
    return `; its workers' mesh state versions differ (${workers.map((w) => `worker ${w.worker} ${w.discovery?.version ?? 'none'}`).join(', ')}): `
      + `routes and policies as worker ${workers[0]?.worker ?? 1} has them, and a connection on another worker may be judged by the other version until they agree`;
  }
  return dump.discovery?.version === undefined ? '' : `; mesh state version ${dump.discovery.version}`;
}

/**
 * Outlier ejection as the waypoint applies it. Each worker ejects on its
 * own: an endpoint every worker ejected takes no new requests; one that only
 * some ejected still takes those of connections on the others.
 */
function outlierEjection(dump: WaypointDump): { byAll(address: string): boolean; bySome(address: string): string | undefined } {
  const workers = dump.workers ?? [{ worker: 1, outliers: dump.outliers ?? [] }];
  const ejecting = (address: string): number[] => workers.filter((w) => (w.outliers ?? []).includes(address)).map((w) => w.worker);
  return {
    byAll: (address) => ejecting(address).length === workers.length,
    bySome: (address) => {
      const by = ejecting(address);
      if (by.length === 0 || by.length === workers.length) return undefined;
      return `ejected as an outlier by worker ${by.join(', ')} of ${workers.length}: only requests on connections the other worker(s) serve reach it`;
    },
  };
}

/** Every route an outbound connection may take: one per healthy endpoint; a waypoint is explained at one of its pods. */
function everyRoute(resolve: (pick: Picker) => Route): Route[] {
  const routes: Route[] = [];
  let count = 1;
  for (let i = 0; i < count; i++) {
    const route = resolve((n) => { count = n; return i; });
    routes.push(route);
    if (route.kind === 'waypoint') break;
  }
  return routes;
}

function refused(at: string, error: unknown): Hop {
  const ambit = findAmbitError(error);
  if (ambit === undefined) throw error;
  const details = ambit.details as { reason?: string; policy?: string } | undefined;
  return {
    at, does: `refuses: ${ambit.message}`, verdict: 'denied',
    ...(details?.reason === undefined ? {} : { reason: details.reason }),
    ...(details?.policy === undefined ? {} : { policy: details.policy }),
    ...(ambit.hint === undefined ? {} : { hint: ambit.hint }),
  };
}

function ruleExtras(rule: HttpRouteRule): string {
  const extras: string[] = [];
  if (rule.rewrite?.path !== undefined) {
    const { path } = rule.rewrite;
    extras.push(path.type === 'ReplaceFullPath' ? `path rewritten to ${path.value}` : `path prefix ${path.prefix} rewritten to ${path.value || '/'}`);
  }
  if (rule.rewrite?.hostname !== undefined) extras.push(`Host rewritten to ${rule.rewrite.hostname}`);
  if (rule.timeoutMs !== undefined) extras.push(`timeout ${rule.timeoutMs} ms`);
  if (rule.retry !== undefined && rule.retry.attempts > 0) extras.push(`${rule.retry.attempts} retr${rule.retry.attempts === 1 ? 'y' : 'ies'} on ${rule.retry.on.join(', ')}`);
  if (rule.fault?.abort !== undefined) extras.push(`fault: ${rule.fault.abort.percent} % answered ${rule.fault.abort.status}`);
  if (rule.fault?.delay !== undefined) extras.push(`fault: ${rule.fault.delay.percent} % delayed ${rule.fault.delay.delayMs} ms`);
  return extras.length === 0 ? '' : ` (${extras.join('; ')})`;
}

function name(workload: Workload): string {
  return `${workload.namespace}/${workload.name}`;
}

function describeTarget(address: SocketAddress, workload: Workload | undefined): string {
  return workload === undefined ? formatAuthority(address) : `${name(workload)} ${formatAuthority(address)}`;
}

function backendName(backend: Backend): string {
  return backend.kind === 'service' ? `${serviceKey(backend.service)}:${backend.port}` : `${name(backend.workload)}:${backend.port}`;
}

/** A path's verdict is its last deciding hop's; a hop every path shares can decide for all of them. */
function overall(explanation: Explanation): Verdict {
  const shared = explanation.hops.find((h) => h.verdict === 'denied' || h.verdict === 'unknown')?.verdict;
  for (const path of explanation.paths) path.verdict = shared ?? path.hops.findLast((h) => h.verdict !== undefined)?.verdict ?? 'unknown';
  if (shared !== undefined) return shared;
  const verdicts = new Set(explanation.paths.map((p) => p.verdict));
  if (verdicts.size === 0 || verdicts.has('unknown')) return 'unknown';
  return verdicts.size === 1 ? [...verdicts][0] as Verdict : 'mixed';
}

const MARKS: Record<Verdict, string> = { allowed: '✔', denied: '×', mixed: '‼', unknown: '?' };

export function formatExplanation(explanation: Explanation): string {
  const { source, destination, paths } = explanation;
  const lines = [
    `from ${source.pod} (${source.ip} on ${source.node}), ${source.enrolled ? `enrolled as ${source.identity}` : 'not enrolled'}`,
    `to   ${destination.given} = ${destination.address} (${destination.as}), ${destination.request === undefined ? 'a TCP connection' : `HTTP ${destination.request.method} ${destination.request.path}`}`,
    '',
  ];
  const width = Math.max(0, ...[...explanation.hops, ...paths.flatMap((p) => p.hops)].map((h) => h.at.length));
  const hop = (h: Hop, indent: string): void => {
    lines.push(`${indent}${h.at.padEnd(width)}   ${h.verdict === undefined ? ' ' : MARKS[h.verdict]} ${h.does}`);
    if (h.hint !== undefined) lines.push(`${indent}${''.padEnd(width)}     hint: ${h.hint}`);
  };
  for (const h of explanation.hops) hop(h, '  ');
  for (const path of paths) {
    lines.push(`  → ${path.to}${path.weight === undefined ? '' : ` (${path.weight})`}`);
    for (const h of path.hops) hop(h, '    ');
  }
  const allowed = paths.filter((p) => p.verdict === 'allowed').length;
  const summary = explanation.verdict === 'mixed' ? `allowed on ${allowed} of ${paths.length} paths`
    : paths.length > 1 && (explanation.verdict === 'allowed' || explanation.verdict === 'denied') ? `${explanation.verdict} on every path (${paths.length})`
      : explanation.verdict;
  lines.push('', `${MARKS[explanation.verdict]} ${summary}`);
  return `${lines.join('\n')}\n`;
}

export async function explain(sources: ExplainSources, request: ExplainRequest, format: OutputFormat): Promise<{ text: string; verdict: Verdict }> {
  const explanation = await explainFlow(sources, request);
  return { text: render(format, explanation, () => formatExplanation(explanation)), verdict: explanation.verdict };
}
