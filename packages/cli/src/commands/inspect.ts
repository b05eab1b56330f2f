// What the mesh is doing: `ambit proxy-status` (the control plane's view of
// every proxy), `ambit ztunnel workloads|services|policies|certificates|
// connections` (a ztunnel's admin API, columns as istioctl shows them) and
// `ambit status` (one screen, warnings at the bottom).
import { AmbitError } from '@ambit/core';
import { LABEL_DATAPLANE_MODE, LABEL_USE_WAYPOINT, type ControlPlaneStatus, type RemoteStore } from '@ambit/control-plane';
import type { LocalContext } from '../context.js';
import { usage } from '../errors.js';
import { age, render, table, yellow, type OutputFormat } from '../output.js';
import { waypointGateways } from './waypoint.js';

interface WorkloadView { uid: string; namespace: string; name: string; addresses: string[]; node: string; protocol: string; waypoint?: { gateway: string }; serviceAccount?: string }
interface ServiceView { namespace: string; name: string; vips: string[]; waypoint?: { gateway: string }; endpoints: { healthy: boolean }[]; ports: { port: number }[] }
interface PolicyView { namespace: string; name: string; action: string; scope: { kind: string } }
interface CertificateView { kind: string; identity: string; state: string; notAfter?: string; expiresInMs?: number }
interface ConnectionView { direction: string; src: string; dst: string; sourceIdentity?: string; destinationIdentity?: string; securityPolicy: string; durationMs: number; state?: string }

export const ZTUNNEL_VIEWS = ['workloads', 'services', 'policies', 'certificates', 'connections'] as const;
export type ZtunnelView = (typeof ZTUNNEL_VIEWS)[number];

function nodesOf(local: LocalContext, node: string | undefined): string[] {
  const nodes = local.cluster.nodes.map((n) => n.name);
  if (node === undefined) return nodes;
  if (!nodes.includes(node)) usage(`no node ${node}`, `nodes: ${nodes.join(', ')}`);
  return [node];
}

export async function stopZtunnel(local: LocalContext, node: string): Promise<string> {
  nodesOf(local, node);
  if (!await local.mesh.stopZtunnel(node)) return `ztunnel on ${node} is not running`;
  return `ztunnel on ${node} stopped: traffic of its enrolled pods is dropped (fail closed) until \`ambit up\` starts it again`;
}

export async function ztunnelView(local: LocalContext, view: ZtunnelView, node: string | undefined, format: OutputFormat): Promise<string> {
  // Workloads, services and policies are the same mesh state on every node: one node answers.
  const nodes = view === 'certificates' || view === 'connections' ? nodesOf(local, node) : nodesOf(local, node).slice(0, 1);
  const rows: Record<string, unknown>[] = [];
  for (const name of nodes) {
    const items = await local.mesh.adminJson<Record<string, unknown>[]>(name, `/${view}`).catch((error: Error) => {
      throw new AmbitError('unavailable', `ztunnel on ${name} did not answer: ${error.message}`, { hint: 'is it running? see `ambit status`' });
    });
    for (const item of items) rows.push(view === 'certificates' || view === 'connections' ? { node: name, ...item } : item);
  }
  return render(format, rows, () => {
    switch (view) {
      case 'workloads': return table(['NAMESPACE', 'POD', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'], (rows as unknown as WorkloadView[])
        .map((w) => [w.namespace, w.name, w.addresses.join(','), w.node, w.waypoint?.gateway ?? 'None', w.protocol]));
      case 'services': return table(['NAMESPACE', 'SERVICE', 'VIP', 'WAYPOINT', 'ENDPOINTS'], (rows as unknown as ServiceView[])
        .map((s) => [s.namespace, s.name, s.vips.join(','), s.waypoint?.gateway ?? 'None', `${s.endpoints.filter((e) => e.healthy).length}/${s.endpoints.length}`]));
      case 'policies': return table(['NAMESPACE', 'POLICY', 'ACTION', 'SCOPE'], (rows as unknown as PolicyView[])
        .map((p) => [p.namespace, p.name, p.action, p.scope.kind]));
      case 'certificates': return table(['NODE', 'IDENTITY', 'KIND', 'STATE', 'NOT-AFTER'], (rows as unknown as (CertificateView & { node: string })[])
        .map((c) => [c.node, c.identity, c.kind, c.state, c.notAfter ?? '']));
      case 'connections': return table(['NODE', 'DIRECTION', 'SOURCE', 'DESTINATION', 'SECURITY', 'PEER', 'STATE', 'AGE'], (rows as unknown as (ConnectionView & { node: string })[])
        .map((c) => [
          c.node, c.direction, c.src, c.dst, c.securityPolicy, (c.direction === 'inbound' ? c.sourceIdentity : c.destinationIdentity) ?? '',
          c.state ?? 'open', `${Math.round(c.durationMs / 1000)}s`,
        ]));
    }
  });
}

export async function proxyStatus(store: RemoteStore, format: OutputFormat): Promise<string> {
  const status = await store.controlPlaneStatus();
  const rows = status.subscribers.map((s) => ({
    name: s.role === 'ztunnel' ? `ztunnel/${s.node ?? '?'}` : `waypoint/${s.gateway ?? '?'}`,
    role: s.role,
    synced: s.lastNack !== undefined && s.lastNack.version === s.lastSentVersion ? 'NACK' : s.lastAckedVersion === status.version ? 'SYNCED' : 'STALE',
    version: s.lastAckedVersion ?? '',
    lastAck: s.lastAckAt ?? '',
  }));
  return render(format, { version: status.version, proxies: rows }, () => (rows.length === 0
    ? 'No proxy is connected to the control plane.\n'
    : table(['NAME', 'ROLE', 'SYNCED', 'VERSION', 'LAST-ACK'], rows.map((r) => [r.name, r.role, r.synced, r.version, age(r.lastAck)]))));
}

export async function meshStatus(local: LocalContext, format: OutputFormat): Promise<string> {
  const warnings: string[] = [];
  let cp: ControlPlaneStatus | undefined;
  try {
    cp = await local.store.controlPlaneStatus();
  } catch (error) {
    warnings.push(`the control plane does not answer: ${(error as Error).message}`);
  }
  const ztunnels: { node: string; ready: boolean; version: string; workloads: number; certificates: number; connections: number; problem?: string }[] = [];
  for (const node of local.cluster.nodes) {
    try {
      const ready = (await local.mesh.admin(node.name, '/healthz/ready')).status === 200;
      const [workloads, certificates, connections] = await Promise.all([
        local.mesh.adminJson<WorkloadView[]>(node.name, '/workloads'),
        local.mesh.adminJson<CertificateView[]>(node.name, '/certificates'),
        local.mesh.adminJson<ConnectionView[]>(node.name, '/connections'),
      ]);
      const subscriber = cp?.subscribers.find((s) => s.role === 'ztunnel' && s.node === node.name);
      ztunnels.push({
        node: node.name, ready, version: subscriber?.lastAckedVersion ?? 'not subscribed',
        workloads: workloads.filter((w) => w.node === node.name).length, certificates: certificates.filter((c) => c.kind === 'workload').length, connections: connections.filter((c) => c.state !== 'closed').length,
      });
      if (!ready) warnings.push(`ztunnel on ${node.name} is not ready`);
      if (subscriber === undefined) warnings.push(`ztunnel on ${node.name} is not subscribed to the control plane`);
    } catch (error) {
      ztunnels.push({ node: node.name, ready: false, version: '', workloads: 0, certificates: 0, connections: 0, problem: (error as Error).message });
      warnings.push(`ztunnel on ${node.name} does not answer (${(error as Error).message})`);
    }
  }
  const gateways = cp === undefined ? [] : await waypointGateways(local.store);
  const namespaces = local.cluster.namespaces.map((ns) => {
    const pods = local.cluster.pods.filter((p) => p.namespace === ns.name);
    const enrolled = ns.labels[LABEL_DATAPLANE_MODE] === 'ambient';
    // Pods labelled dataplane-mode=none (waypoints among them) opt out: not counted as missing from the mesh.
    const optedOut = pods.filter((p) => p.labels[LABEL_DATAPLANE_MODE] === 'none').length;
    const captured = pods.filter((p) => p.labels[LABEL_DATAPLANE_MODE] === 'ambient' || (enrolled && p.labels[LABEL_DATAPLANE_MODE] !== 'none')).length;
    const waypoint = ns.labels[LABEL_USE_WAYPOINT];
    const gateway = gateways.find((g) => g.metadata.namespace === ns.name && g.metadata.name === waypoint);
    const programmed = gateway?.status?.conditions?.find((c) => c.type === 'Programmed');
    if (waypoint !== undefined && waypoint !== 'none' && programmed?.status !== 'True') {
      warnings.push(`namespace ${ns.name} uses waypoint ${waypoint}, which is ${gateway === undefined ? 'missing' : `not programmed (${programmed?.reason ?? 'no status'}: ${programmed?.message ?? ''})`}`);
    }
    return { name: ns.name, enrolled, pods: pods.length, captured, optedOut, waypoint: waypoint ?? 'none', waypointProgrammed: programmed?.status ?? '' };
  });
  if (cp !== undefined && !cp.ready) warnings.push(`the control plane is not ready: ${cp.notReady ?? ''}`);
  if (cp !== undefined && Date.parse(cp.rootCertificate.notAfter) - Date.now() < 30 * 86_400_000) warnings.push(`the root CA expires at ${cp.rootCertificate.notAfter}`);
  const data = { controlPlane: cp === undefined ? undefined : { backend: cp.backend, ready: cp.ready, version: cp.version, startedAt: cp.startedAt, subscribers: cp.subscribers.length }, ztunnels, namespaces, warnings };
  return render(format, data, () => {
    const parts = [
      `Control plane: ${cp === undefined ? 'unreachable' : `${cp.backend} backend, ${cp.ready ? 'ready' : 'NOT READY'}, version ${cp.version}, up ${age(cp.startedAt)}, ${cp.subscribers.length} subscriber(s)`}\n`,
      '\nZtunnels:\n',
      table(['NODE', 'READY', 'VERSION', 'WORKLOADS', 'CERTIFICATES', 'CONNECTIONS'], ztunnels.map((z) => [z.node, z.ready ? 'yes' : 'no', z.version, String(z.workloads), String(z.certificates), String(z.connections)])),
      '\nNamespaces:\n',
      table(['NAMESPACE', 'ENROLLED', 'CAPTURED', 'WAYPOINT', 'PROGRAMMED'], namespaces.map((n) => [n.name, n.enrolled ? 'yes' : 'no', `${n.captured}/${n.pods - n.optedOut}${n.optedOut > 0 ? ` (+${n.optedOut} opted out)` : ''}`, n.waypoint, n.waypointProgrammed])),
    ];
    if (warnings.length > 0) parts.push(`\n${warnings.map((w) => `${yellow('‼')} ${w}`).join('\n')}\n`);
    return parts.join('');
  });
}

