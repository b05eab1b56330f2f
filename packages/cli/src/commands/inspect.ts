// What the mesh is doing: `ambit proxy-status` (the control plane's view of
// every proxy), `ambit ztunnel workloads|services|policies|certificates|
// connections` (a ztunnel's admin API, columns as istioctl shows them) and
// `ambit status` (one screen, warnings at the bottom). Each reads a MeshView:
// the local mesh, or a cluster through the API server (port-forward to the
// admin APIs in ambit-system).
import { AmbitError } from '@ambit/core';
import { LABEL_DATAPLANE_MODE, LABEL_USE_WAYPOINT, type ControlPlaneStatus, type SubscriberStatus } from '@ambit/control-plane';
import type { LocalContext } from '../context.js';
import { usage } from '../errors.js';
import { nodesOf as meshNodes, ztunnelJson, type ControlPlaneReplica, type MeshView } from '../mesh-view.js';
import { age, render, table, yellow, type OutputFormat } from '../output.js';
import { waypointGateways } from './waypoint.js';

interface WorkloadView { uid: string; namespace: string; name: string; addresses: string[]; node: string; protocol: string; waypoint?: { gateway: string }; serviceAccount?: string }
interface ServiceView { namespace: string; name: string; vips: string[]; waypoint?: { gateway: string }; endpoints: { healthy: boolean }[]; ports: { port: number }[] }
interface PolicyView { namespace: string; name: string; action: string; scope: { kind: string } }
interface CertificateView { kind: string; identity: string; state: string; notAfter?: string; expiresInMs?: number }
interface ConnectionView { direction: string; src: string; dst: string; sourceIdentity?: string; destinationIdentity?: string; securityPolicy: string; durationMs: number; state?: string }

export const ZTUNNEL_VIEWS = ['workloads', 'services', 'policies', 'certificates', 'connections'] as const;
export type ZtunnelView = (typeof ZTUNNEL_VIEWS)[number];

/** The nodes asked for (every node without --node); an unknown node is a usage error. */
async function nodesOf(view: MeshView, node: string | undefined): Promise<string[]> {
  try {
    return await meshNodes(view, node);
  } catch (error) {
    if (error instanceof AmbitError && error.code === 'not-found') usage(`no node ${node ?? ''} runs a ztunnel`, error.hint ?? '');
    throw error;
  }
}

export async function stopZtunnel(local: LocalContext, view: MeshView, node: string): Promise<string> {
  await nodesOf(view, node);
  if (!await local.mesh.stopZtunnel(node)) return `ztunnel on ${node} is not running`;
  return `ztunnel on ${node} stopped: traffic of its enrolled pods is dropped (fail closed) until \`ambit up\` starts it again`;
}

export async function ztunnelView(mesh: MeshView, view: ZtunnelView, node: string | undefined, format: OutputFormat): Promise<string> {
  // Workloads, services and policies are the same mesh state on every node: one node answers.
  const nodes = view === 'certificates' || view === 'connections' ? await nodesOf(mesh, node) : (await nodesOf(mesh, node)).slice(0, 1);
  if (nodes.length === 0) throw new AmbitError('not-found', 'no node runs a ztunnel', { hint: 'see `ambit status`' });
  const rows: Record<string, unknown>[] = [];
  for (const name of nodes) {
    const items = await ztunnelJson<Record<string, unknown>[]>(mesh, name, `/${view}`).catch((error: Error) => {
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

/** The replicas that answered; none answering is an error naming why. */
async function answering(view: MeshView): Promise<{ replicas: ControlPlaneReplica[]; up: (ControlPlaneReplica & { status: ControlPlaneStatus })[] }> {
  const replicas = await view.controlPlanes();
  const up = replicas.filter((r): r is ControlPlaneReplica & { status: ControlPlaneStatus } => r.status !== undefined);
  return { replicas, up };
}

function syncState(s: SubscriberStatus, version: string): string {
  return s.lastNack !== undefined && s.lastNack.version === s.lastSentVersion ? 'NACK' : s.lastAckedVersion === version ? 'SYNCED' : 'STALE';
}

export async function proxyStatus(view: MeshView, format: OutputFormat): Promise<string> {
  const { replicas, up } = await answering(view);
  if (up.length === 0) {
    throw new AmbitError('unavailable', replicas.length === 0 ? 'no control plane pod is running' : `the control plane does not answer: ${replicas.map((r) => `${r.name}: ${r.error ?? ''}`).join('; ')}`, {
      hint: view.context === 'kube' ? view.restart : 'start it with `ambit up`',
    });
  }
  const rows = up.flatMap(({ name: controlPlane, status }) => status.subscribers.map((s) => ({
    name: s.role === 'ztunnel' ? `ztunnel/${s.node ?? '?'}` : `waypoint/${s.gateway ?? '?'}`,
    role: s.role,
    synced: syncState(s, status.version),
    version: s.lastAckedVersion ?? '',
    lastAck: s.lastAckAt ?? '',
    controlPlane,
  }))).sort((a, b) => a.name.localeCompare(b.name));
  const missing = replicas.filter((r) => r.status === undefined);
  const data = {
    version: up[0]!.status.version,
    controlPlanes: replicas.map((r) => ({ name: r.name, ...(r.status === undefined ? { error: r.error } : { version: r.status.version, leader: r.status.leader?.isLeader ?? true }) })),
    proxies: rows,
  };
  const cluster = view.context === 'kube';
  return render(format, data, () => {
    const text = rows.length === 0
      ? 'No proxy is connected to the control plane.\n'
      : cluster
        ? table(['NAME', 'ROLE', 'SYNCED', 'VERSION', 'LAST-ACK', 'CONTROL-PLANE'], rows.map((r) => [r.name, r.role, r.synced, r.version, age(r.lastAck), r.controlPlane]))
        : table(['NAME', 'ROLE', 'SYNCED', 'VERSION', 'LAST-ACK'], rows.map((r) => [r.name, r.role, r.synced, r.version, age(r.lastAck)]));
    return text + missing.map((r) => `${yellow('‼')} control plane ${r.name} did not answer (${r.error ?? ''}): its proxies are not listed\n`).join('');
  });
}
export async function meshStatus(view: MeshView, format: OutputFormat): Promise<string> {
  const warnings: string[] = [];
  const { replicas, up } = await answering(view);
  const cluster = view.context === 'kube';
  if (replicas.length === 0) warnings.push(`no control plane pod is running (${view.restart})`);
  for (const r of replicas) if (r.status === undefined) warnings.push(`the control plane${cluster ? ` replica ${r.name}` : ''} does not answer: ${r.error ?? ''}`);
  // The leader's view first: it writes the status the other commands show.
  const cp = (up.find((r) => r.status.leader?.isLeader === true) ?? up[0])?.status;
  const subscribers = up.flatMap((r) => r.status.subscribers.map((s) => ({ ...s, controlPlane: r.name })));
  const ztunnels: { node: string; ready: boolean; version: string; controlPlane?: string; workloads: number; certificates: number; connections: number; problem?: string }[] = [];
  for (const node of await view.nodes()) {
    try {
      const ready = (await view.ztunnel(node, '/healthz/ready')).status === 200;
      const [workloads, certificates, connections] = await Promise.all([
        ztunnelJson<WorkloadView[]>(view, node, '/workloads'),
        ztunnelJson<CertificateView[]>(view, node, '/certificates'),
        ztunnelJson<ConnectionView[]>(view, node, '/connections'),
      ]);
      const subscriber = subscribers.find((s) => s.role === 'ztunnel' && s.node === node);
      ztunnels.push({
        node, ready, version: subscriber?.lastAckedVersion ?? 'not subscribed', ...(cluster && subscriber !== undefined ? { controlPlane: subscriber.controlPlane } : {}),
        workloads: workloads.filter((w) => w.node === node).length, certificates: certificates.filter((c) => c.kind === 'workload').length, connections: connections.filter((c) => c.state !== 'closed').length,
      });
      if (!ready) warnings.push(`ztunnel on ${node} is not ready`);
      if (subscriber === undefined) warnings.push(`ztunnel on ${node} is not subscribed to the control plane`);
    } catch (error) {
      ztunnels.push({ node, ready: false, version: '', workloads: 0, certificates: 0, connections: 0, problem: (error as Error).message });
      warnings.push(`ztunnel on ${node} does not answer (${(error as Error).message})`);
    }
  }
  const gateways = cp === undefined && !cluster ? [] : await waypointGateways(view.store);
  const pods = await view.pods();
  const namespaces = (await view.namespaces()).map((ns) => {
    const here = pods.filter((p) => p.namespace === ns.name);
    const enrolled = ns.labels[LABEL_DATAPLANE_MODE] === 'ambient';
    // Pods labelled dataplane-mode=none (waypoints among them) opt out: not counted as missing from the mesh.
    const optedOut = here.filter((p) => p.labels[LABEL_DATAPLANE_MODE] === 'none').length;
    const captured = here.filter((p) => p.labels[LABEL_DATAPLANE_MODE] === 'ambient' || (enrolled && p.labels[LABEL_DATAPLANE_MODE] !== 'none')).length;
    const waypoint = ns.labels[LABEL_USE_WAYPOINT];
    const gateway = gateways.find((g) => g.metadata.namespace === ns.name && g.metadata.name === waypoint);
    const programmed = gateway?.status?.conditions?.find((c) => c.type === 'Programmed');
    if (waypoint !== undefined && waypoint !== 'none' && programmed?.status !== 'True') {
      warnings.push(`namespace ${ns.name} uses waypoint ${waypoint}, which is ${gateway === undefined ? 'missing' : `not programmed (${programmed?.reason ?? 'no status'}: ${programmed?.message ?? ''})`}`);
    }
    return { name: ns.name, enrolled, pods: here.length, captured, optedOut, waypoint: waypoint ?? 'none', waypointProgrammed: programmed?.status ?? '' };
  })
    // A cluster has namespaces the mesh has nothing to do with (kube-system, ...): only those it touches.
    .filter((n) => !cluster || n.enrolled || n.captured > 0 || n.waypoint !== 'none' || gateways.some((g) => g.metadata.namespace === n.name));
  for (const r of up) {
    if (!r.status.ready) warnings.push(`the control plane${cluster ? ` replica ${r.name}` : ''} is not ready: ${r.status.notReady ?? ''}`);
  }
  if (cluster && up.length > 0 && !up.some((r) => r.status.leader?.isLeader === true)) {
    warnings.push('no control plane replica holds the leader Lease: status and waypoints are not being written');
  }
  if (cp !== undefined && Date.parse(cp.rootCertificate.notAfter) - Date.now() < 30 * 86_400_000) warnings.push(`the root CA expires at ${cp.rootCertificate.notAfter}`);
  const data = {
    controlPlane: cp === undefined ? undefined : {
      backend: cp.backend, ready: up.every((r) => r.status.ready), version: cp.version, startedAt: cp.startedAt, subscribers: subscribers.length,
      ...(cluster ? { replicas: replicas.map((r) => ({ name: r.name, ready: r.status?.ready ?? false, leader: r.status?.leader?.isLeader ?? false, subscribers: r.status?.subscribers.length ?? 0, ...(r.error === undefined ? {} : { error: r.error }) })) } : {}),
    },
    ztunnels, namespaces, warnings,
  };
  return render(format, data, () => {
    const leader = up.find((r) => r.status.leader?.isLeader === true);
    const parts = [
      cp === undefined
        ? 'Control plane: unreachable\n'
        : cluster
          ? `Control plane: ${cp.backend} backend, ${up.filter((r) => r.status.ready).length}/${replicas.length} replica(s) ready, leader ${leader?.name ?? 'none'}, ${subscribers.length} subscriber(s)\n`
          : `Control plane: ${cp.backend} backend, ${cp.ready ? 'ready' : 'NOT READY'}, version ${cp.version}, up ${age(cp.startedAt)}, ${cp.subscribers.length} subscriber(s)\n`,
      '\nZtunnels:\n',
      cluster
        ? table(['NODE', 'READY', 'VERSION', 'CONTROL-PLANE', 'WORKLOADS', 'CERTIFICATES', 'CONNECTIONS'], ztunnels.map((z) => [z.node, z.ready ? 'yes' : 'no', z.version, z.controlPlane ?? '', String(z.workloads), String(z.certificates), String(z.connections)]))
        : table(['NODE', 'READY', 'VERSION', 'WORKLOADS', 'CERTIFICATES', 'CONNECTIONS'], ztunnels.map((z) => [z.node, z.ready ? 'yes' : 'no', z.version, String(z.workloads), String(z.certificates), String(z.connections)])),
      '\nNamespaces:\n',
      namespaces.length === 0 ? 'No namespace is enrolled (ambit namespace enroll NAME).\n'
        : table(['NAMESPACE', 'ENROLLED', 'CAPTURED', 'WAYPOINT', 'PROGRAMMED'], namespaces.map((n) => [n.name, n.enrolled ? 'yes' : 'no', `${n.captured}/${n.pods - n.optedOut}${n.optedOut > 0 ? ` (+${n.optedOut} opted out)` : ''}`, n.waypoint, n.waypointProgrammed])),
    ];
    if (warnings.length > 0) parts.push(`\n${warnings.map((w) => `${yellow('‼')} ${w}`).join('\n')}\n`);
    return parts.join('');
  });
}
