// `ambit waypoint apply|delete|list|status`: the Gateway of class
// ambit-waypoint that the control plane's waypoint controller runs.
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, isAmbitError } from '@ambit/core';
import {
  LABEL_USE_WAYPOINT, LABEL_USE_WAYPOINT_NAMESPACE, LABEL_WAYPOINT_FOR, WAYPOINT_GATEWAY_CLASS, WAYPOINT_PORT, type Condition, type Gateway, type KubeObject, type Store,
} from '@ambit/control-plane';
import { usage } from '../errors.js';
import { render, table, type OutputFormat } from '../output.js';
import type { Backend } from '../context.js';

export const WAYPOINT_FOR = ['service', 'workload', 'all', 'none'] as const;

export function waypointGateway(namespace: string, name: string, forWhat: string): Gateway {
  if (!(WAYPOINT_FOR as readonly string[]).includes(forWhat)) usage(`--for ${forWhat} is not a traffic type`, `use one of ${WAYPOINT_FOR.join(', ')}`);
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name, namespace, labels: { [LABEL_WAYPOINT_FOR]: forWhat } },
    spec: { gatewayClassName: WAYPOINT_GATEWAY_CLASS, listeners: [{ name: 'mesh', port: WAYPOINT_PORT, protocol: 'HBONE' }] },
  };
}

export async function applyWaypoint(backend: Backend, options: { namespace: string; name: string; for: string; enrollNamespace: boolean; waitMs?: number }): Promise<string[]> {
  const gateway = waypointGateway(options.namespace, options.name, options.for);
  const namespaces = await backend.namespaces();
  if (!namespaces.includes(options.namespace)) usage(`namespace ${options.namespace} does not exist`, `namespaces: ${namespaces.join(', ')}`);
  const lines: string[] = [];
  const existing = await backend.store.get<Gateway>('Gateway', options.name, options.namespace);
  if (existing === undefined) {
    await backend.store.create(gateway);
    lines.push(`waypoint ${options.namespace}/${options.name} applied`);
  } else {
    await backend.store.patch('Gateway', options.name, options.namespace, { metadata: { labels: gateway.metadata.labels }, spec: gateway.spec });
    lines.push(`waypoint ${options.namespace}/${options.name} configured`);
  }
  if (options.enrollNamespace) {
    await backend.labelNamespace(options.namespace, { [LABEL_USE_WAYPOINT]: options.name });
    lines.push(`namespace/${options.namespace} labelled ${LABEL_USE_WAYPOINT}=${options.name}`);
  }
  if (options.waitMs !== undefined) {
    const condition = await waitProgrammed(backend.store, options.namespace, options.name, options.waitMs);
    lines.push(`waypoint ${options.namespace}/${options.name} programmed: ${condition.message}`);
  }
  return lines;
}

async function waitProgrammed(store: Store, namespace: string, name: string, waitMs: number): Promise<Condition> {
  const deadline = Date.now() + waitMs;
  let last: Condition | undefined;
  for (;;) {
    last = programmedOf(await store.get<Gateway>('Gateway', name, namespace));
    if (last?.status === 'True') return last;
    if (Date.now() > deadline) {
      throw new AmbitError('timeout', `waypoint ${namespace}/${name} is not programmed after ${Math.round(waitMs / 1000)} s: ${last === undefined ? 'no status yet' : `${last.reason}: ${last.message}`}`, {
        hint: `see \`ambit waypoint status -n ${namespace}\``,
      });
    }
    await sleep(250);
  }
}

/** Deletes the Gateway; then says which namespaces, services and pods still name it (their traffic now goes direct). */
export async function deleteWaypoint(store: Store, namespace: string, name: string): Promise<string[]> {
  try {
    await store.delete('Gateway', name, namespace);
  } catch (error) {
    if (isAmbitError(error, 'not-found')) throw new AmbitError('not-found', `no waypoint ${namespace}/${name}`, { hint: `list them with \`ambit waypoint list -n ${namespace}\`` });
    throw error;
  }
  const lines = [`waypoint ${namespace}/${name} deleted`];
  for (const object of await namingWaypoint(store, namespace, name)) {
    const { kind, metadata } = object;
    const ns = kind === 'Namespace' ? undefined : metadata.namespace ?? 'default';
    const labels = [LABEL_USE_WAYPOINT, ...(metadata.labels?.[LABEL_USE_WAYPOINT_NAMESPACE] === undefined ? [] : [LABEL_USE_WAYPOINT_NAMESPACE])];
    lines.push(`‼ ${kind.toLowerCase()}/${ns === undefined ? '' : `${ns}/`}${metadata.name} still names it (${LABEL_USE_WAYPOINT}=${name}): its traffic goes direct, ztunnel to ztunnel, with no L7 routes or policies; `
      + `\`ambit label ${kind.toLowerCase()} ${metadata.name}${ns === undefined ? '' : ` -n ${ns}`} ${labels.map((l) => `${l}-`).join(' ')}\` removes the label`);
  }
  return lines;
}

/** Namespaces, Services and Pods whose use-waypoint label binds them to namespace/name (as the control plane reads it). */
async function namingWaypoint(store: Store, namespace: string, name: string): Promise<KubeObject[]> {
  const found: KubeObject[] = [];
  for (const kind of ['Namespace', 'Service', 'Pod'] as const) {
    for (const object of (await store.list(kind, { labelSelector: `${LABEL_USE_WAYPOINT}=${name}` })).items) {
      const own = kind === 'Namespace' ? object.metadata.name : object.metadata.namespace ?? 'default';
      if ((object.metadata.labels?.[LABEL_USE_WAYPOINT_NAMESPACE] ?? own) === namespace) found.push({ ...object, kind });
    }
  }
  return found;
}

export async function listWaypoints(store: Store, namespace: string | undefined, format: OutputFormat): Promise<string> {
  const gateways = await waypointGateways(store, namespace);
  const rows = gateways.map((g) => ({
    namespace: g.metadata.namespace ?? 'default', name: g.metadata.name,
    trafficType: g.metadata.labels?.[LABEL_WAYPOINT_FOR] ?? 'service', programmed: programmedOf(g)?.status ?? 'Unknown',
  }));
  return render(format, rows, () => (rows.length === 0
    ? `No waypoints found${namespace === undefined ? '' : ` in namespace ${namespace}`}.\n`
    : table(['NAMESPACE', 'NAME', 'TRAFFIC-TYPE', 'PROGRAMMED'], rows.map((r) => [r.namespace, r.name, r.trafficType, r.programmed]))));
}

export async function waypointStatus(store: Store, namespace: string, name: string | undefined, format: OutputFormat): Promise<string> {
  const gateways = (await waypointGateways(store, namespace)).filter((g) => name === undefined || g.metadata.name === name);
  if (name !== undefined && gateways.length === 0) throw new AmbitError('not-found', `no waypoint ${namespace}/${name}`);
  const rows = gateways.flatMap((g) => (g.status?.conditions ?? []).map((c) => ({
    name: g.metadata.name, status: c.status, type: c.type, reason: c.reason, message: c.message,
  })));
  return render(format, rows, () => (rows.length === 0
    ? `No waypoint status in namespace ${namespace}.\n`
    : table(['NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'], rows.map((r) => [r.name, r.status, r.type, r.reason, r.message]))));
}

/** Gateways of class ambit-waypoint, in one namespace or all. */
export async function waypointGateways(store: Store, namespace?: string): Promise<Gateway[]> {
  return (await store.list<Gateway>('Gateway', namespace === undefined ? {} : { namespace })).items
    .filter((g) => g.spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS);
}

function programmedOf(gateway: Gateway | undefined): Condition | undefined {
  return gateway?.status?.conditions?.find((c) => c.type === 'Programmed');
}
