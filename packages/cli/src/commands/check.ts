// `ambit check [--pre]`: grouped checks in the manner of `linkerd check`.
// Each line is ✔ (fine), ‼ (works, but look) or × (broken), and every ‼/×
// says what is wrong and what to do. Capture is checked against the kernel
// (the node's nftables set), not against ztunnel's own report. Exit 0 only
// when nothing is ×.
import { spawnSync } from 'node:child_process';
import type { ControlPlaneStatus } from '@ambit/control-plane';
import type { KubernetesStore } from '@ambit/control-plane/kubernetes';
import type { LocalContext } from '../context.js';
import { SYSTEM_NAMESPACE, ztunnelJson, type MeshView } from '../mesh-view.js';
import { LOOPBACK_SOCKS5_PORT } from '@ambit/localcluster';
import { green, red, yellow } from '../output.js';
import { checkConfiguration } from './check-config.js';
import { waypointGateways } from './waypoint.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  group: string;
  verdict: Verdict;
  title: string;
  /** What is wrong and what to do (‼ and × only). */
  detail?: string;
  hint?: string;
}

interface Certificate { kind: string; identity: string; state: string; notAfter?: string }
interface Workload { namespace: string; name: string; node: string; protocol: string; addresses: string[]; serviceAccount?: string; identity?: string }

const CA_MIN_VALIDITY_MS = 30 * 86_400_000;
const MAX_SKEW_MS = 5_000;

export async function checkMesh(view: MeshView, local: LocalContext | undefined): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (group: string, verdict: Verdict, title: string, detail?: string, hint?: string): void => {
    results.push({ group, verdict, title, ...(detail === undefined ? {} : { detail }), ...(hint === undefined ? {} : { hint }) });
  };
  const cluster = view.context === 'kube';

  // --- control plane ---------------------------------------------------------------
  if (cluster) await checkWorkloadsRollout(view, add);
  const asked = Date.now();
  const replicas = await view.controlPlanes();
  const up: { name: string; status: ControlPlaneStatus }[] = [];
  if (replicas.length === 0) add('control plane', 'fail', 'control plane is running', 'no control plane pod exists', 'install Ambit: `ambit install --wait`');
  for (const replica of replicas) {
    const which = cluster ? `control plane ${replica.name}` : 'control plane';
    if (replica.status === undefined) {
      add('control plane', 'fail', `${which} is reachable`, replica.error, cluster ? `see its log: kubectl -n ${SYSTEM_NAMESPACE} logs ${replica.name}` : `start it again with ${view.restart}; its log is ${view.controlPlaneLog()}`);
      continue;
    }
    const cp = replica.status;
    up.push({ name: replica.name, status: cp });
    if (cp.ready) add('control plane', 'ok', `${which} is reachable and ready (${cp.backend} backend, version ${cp.version})`);
    else add('control plane', 'fail', `${which} is ready`, `not ready: ${cp.notReady ?? 'unknown'}`, 'wait a moment; if it persists, see its log');
  }
  const cp = (up.find((r) => r.status.leader?.isLeader === true) ?? up[0])?.status;
  if (cluster && up.length > 0) {
    const leaders = up.filter((r) => r.status.leader?.isLeader === true).map((r) => r.name);
    if (leaders.length === 1) add('control plane', 'ok', `one replica writes status and runs the waypoint controller (leader ${leaders[0] ?? ''})`);
    else if (leaders.length === 0) add('control plane', 'fail', 'a replica holds the leader Lease', `none of ${up.map((r) => r.name).join(', ')} leads: status and waypoints are not written`, `see the replicas' logs (${view.controlPlaneLog()}) and the Lease: kubectl -n ${SYSTEM_NAMESPACE} get lease ambit-control-plane`);
    else add('control plane', 'fail', 'exactly one replica leads', `${leaders.join(' and ')} both claim the Lease`, 'their clocks or the Lease are wrong: kubectl -n ambit-system get lease ambit-control-plane -o yaml');
  }
  if (cp !== undefined) {
    const left = Date.parse(cp.rootCertificate.notAfter) - Date.now();
    if (left >= CA_MIN_VALIDITY_MS) add('control plane', 'ok', `root CA is valid until ${cp.rootCertificate.notAfter.slice(0, 10)}`);
    else add('control plane', 'fail', 'root CA is valid for at least 30 days', `it expires at ${cp.rootCertificate.notAfter}`, 'rotate the root CA before it expires');
    const skew = cp.now === undefined ? 0 : Math.abs(Date.parse(cp.now) - (asked + Date.now()) / 2);
    if (skew <= MAX_SKEW_MS) add('control plane', 'ok', 'clocks agree (control plane and this machine)');
    else add('control plane', 'warn', 'clocks agree', `the control plane's clock is ${Math.round(skew / 1000)} s off`, 'certificates are checked against clocks: synchronise them (NTP)');
  }

  // --- ztunnels, capture and certificates ---------------------------------------------
  const nodes = await view.nodes();
  if (cluster) {
    // Every node with an enrolled pod needs a ztunnel, or that pod has no network (capture fails closed).
    const pods = await view.pods();
    const orphaned = [...new Set(pods.filter((p) => p.node !== '' && !nodes.includes(p.node)).map((p) => p.node))];
    if (orphaned.length > 0) add('ztunnels', 'fail', 'every node with pods runs a ztunnel', `no ztunnel pod on ${orphaned.join(', ')}`, `kubectl -n ${SYSTEM_NAMESPACE} describe daemonset ambit-ztunnel (taints, resources)`);
  }
  let workloads: Workload[] = [];
  for (const node of nodes) {
    const group = `ztunnel on ${node}`;
    let ready: boolean;
    try {
      ready = (await view.ztunnel(node, '/healthz/ready')).status === 200;
    } catch (error) {
      add(group, 'fail', `ztunnel on ${node} is running and ready`, `its admin ${cluster ? 'API' : 'socket'} does not answer (${(error as Error).message}); enrolled pods on ${node} cannot send or receive traffic (fail closed)`,
        `start it again with ${view.restart}; its log: ${view.ztunnelLog(node)}`);
      continue;
    }
    if (!ready) {
      add(group, 'fail', `ztunnel on ${node} is ready`, 'it runs but is not ready', `see \`ambit status\` and its log (${view.ztunnelLog(node)})`);
      continue;
    }
    const replica = up.find((r) => r.status.subscribers.some((s) => s.role === 'ztunnel' && s.node === node));
    const subscriber = replica?.status.subscribers.find((s) => s.role === 'ztunnel' && s.node === node);
    if (replica !== undefined && subscriber?.lastAckedVersion !== undefined && subscriber.lastAckedVersion === replica.status.version) {
      add(group, 'ok', `ztunnel on ${node} is ready and synced (version ${replica.status.version}${cluster ? ` from ${replica.name}` : ''})`);
    } else {
      add(group, 'fail', `ztunnel on ${node} is synced`, subscriber === undefined ? 'it is not subscribed to the control plane' : `it acknowledged ${subscriber.lastAckedVersion ?? 'nothing'}, the control plane pushes ${replica?.status.version ?? '?'}`, 'see `ambit proxy-status`');
    }
    workloads = await ztunnelJson<Workload[]>(view, node, '/workloads').catch(() => workloads);
    const enrolled = workloads.filter((w) => w.node === node && w.protocol === 'HBONE');
    if (local === undefined) {
      await checkReportedCapture(view, node, enrolled, add);
    } else if (local.cluster.network === 'loopback') {
      await checkLoopbackProxies(local, node, workloads, add);
    } else if (enrolled.length > 0) {
      const netns = local.cluster.nodes.find((n) => n.name === node)?.netns ?? '';
      checkCapture({ name: node, netns }, enrolled, add);
    }
    // Certificates: each enrolled pod's identity here, valid; nothing for pods elsewhere.
    const certificates = await ztunnelJson<Certificate[]>(view, node, '/certificates').catch(() => [] as Certificate[]);
    const held = new Map(certificates.filter((c) => c.kind === 'workload').map((c) => [c.identity, c]));
    const problems: string[] = [];
    const renewals: string[] = [];
    for (const w of enrolled) {
      const identity = w.identity ?? '';
      const certificate = held.get(identity);
      const expiresAt = certificate?.notAfter === undefined ? undefined : Date.parse(certificate.notAfter);
      if (certificate === undefined) problems.push(`${w.namespace}/${w.name} has no certificate (${identity})`);
      else if (expiresAt === undefined) problems.push(`${w.namespace}/${w.name}'s certificate is ${certificate.state === 'failed' ? 'not issued: the CA refused or is unreachable' : certificate.state}`);
      else if (certificate.state === 'expired' || expiresAt <= Date.now()) problems.push(`${w.namespace}/${w.name}'s certificate is expired (not after ${certificate.notAfter})`);
      else if (certificate.state === 'failed') renewals.push(`${w.namespace}/${w.name}'s certificate (expires in ${Math.round((expiresAt - Date.now()) / 1000)} s)`);
    }
    const validity = `every enrolled pod on ${node} has a valid certificate`;
    if (problems.length > 0) add(group, 'fail', validity, problems.join('; '), 'check the control plane (its CA) and this ztunnel\'s log');
    else if (enrolled.length > 0) add(group, 'ok', validity);
    if (renewals.length > 0) {
      add(group, 'warn', `certificates on ${node} renew`, `renewal failing for ${renewals.join(', ')}`, 'the CA is unreachable or refusing: check the control plane and this ztunnel\'s log before they expire');
    }
    const here = new Set(enrolled.map((w) => w.identity));
    const foreign = [...held.keys()].filter((identity) => !here.has(identity));
    if (foreign.length === 0) add(group, 'ok', `holds certificates only for pods on ${node}`);
    else add(group, 'warn', `holds certificates only for pods on ${node}`, `also holds ${foreign.join(', ')}`, 'these are dropped shortly after their last pod leaves; if they stay, restart the ztunnel');
  }

  // --- configuration: waypoints, bindings, policies, routes -------------------------------
  if (cp !== undefined) {
    await checkConfiguration({
      store: view.store, trustDomain: cp.trustDomain, gateways: await waypointGateways(view.store), namespaces: await view.namespaces(), pods: await view.pods(),
    }, add);
  }
  return results;
}

export type Add = (group: string, verdict: Verdict, title: string, detail?: string, hint?: string) => void;

interface RolloutStatus { status?: { desiredNumberScheduled?: number; numberReady?: number; replicas?: number; readyReplicas?: number } }

/** On a cluster: the DaemonSet and the Deployment report their pods ready (what `kubectl rollout status` reads). */
async function checkWorkloadsRollout(view: MeshView, add: Add): Promise<void> {
  const store = view.store as KubernetesStore;
  for (const [kind, name, path] of [
    ['DaemonSet', 'ambit-ztunnel', `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/daemonsets/ambit-ztunnel`],
    ['Deployment', 'ambit-control-plane', `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/deployments/ambit-control-plane`],
  ] as const) {
    const group = kind === 'DaemonSet' ? 'ztunnels' : 'control plane';
    const answer = await store.raw('GET', path, `read ${kind} ${name}`);
    if (answer.status === 404) {
      add(group, 'fail', `${kind} ${SYSTEM_NAMESPACE}/${name} exists`, 'it is not installed', 'install Ambit: `ambit install --wait`');
      continue;
    }
    const status = (answer.body as RolloutStatus).status ?? {};
    const [ready, wanted] = kind === 'DaemonSet' ? [status.numberReady ?? 0, status.desiredNumberScheduled ?? 0] : [status.readyReplicas ?? 0, status.replicas ?? 0];
    if (answer.status !== 200) add(group, 'fail', `${kind} ${name} is readable`, `GET answered ${answer.status}`, 'check your permissions: kubectl auth can-i get ' + kind.toLowerCase() + 's -n ' + SYSTEM_NAMESPACE);
    else if (wanted > 0 && ready === wanted) add(group, 'ok', `${kind} ${name}: ${ready}/${wanted} pod(s) ready`);
    else add(group, 'fail', `${kind} ${name} has every pod ready`, `${ready}/${wanted} ready`, `kubectl -n ${SYSTEM_NAMESPACE} describe ${kind.toLowerCase()} ${name}`);
  }
}

/**
 * On a cluster the CLI cannot read a node's kernel: capture is checked from
 * what the ztunnel reports (its rules programmed, every enrolled pod's
 * address in its enrolled set), and says so.
 */
async function checkReportedCapture(view: MeshView, node: string, enrolled: Workload[], add: Add): Promise<void> {
  const group = `ztunnel on ${node}`;
  let capture: { mode?: string; programmed?: boolean; enrolled?: string[] } | undefined;
  try {
    capture = (await ztunnelJson<{ capture?: typeof capture }>(view, node, '/config_dump')).capture;
  } catch (error) {
    add(group, 'fail', `capture on ${node} is programmed`, `its admin API does not answer /config_dump: ${(error as Error).message}`, `its log: ${view.ztunnelLog(node)}`);
    return;
  }
  if (capture?.mode !== 'nftables' || capture.programmed !== true) {
    add(group, 'fail', `capture rules are programmed on ${node} (as the ztunnel reports)`, capture?.mode === 'nftables' ? 'the nftables rules are not in place' : `capture mode is ${capture?.mode ?? 'unknown'}`, `its log: ${view.ztunnelLog(node)}`);
    return;
  }
  const set = new Set(capture.enrolled ?? []);
  const missing = enrolled.filter((w) => !w.addresses.every((a) => set.has(a)));
  if (missing.length === 0) add(group, 'ok', `capture rules cover its ${enrolled.length} enrolled pod(s) (as the ztunnel reports)`);
  else add(group, 'fail', `capture rules cover every enrolled pod on ${node} (as the ztunnel reports)`, `not captured: ${missing.map((w) => `${w.namespace}/${w.name}`).join(', ')}`, `its log: ${view.ztunnelLog(node)}`);
}

/** Capture: the kernel's set, in the node's namespace, holds every enrolled pod. */
function checkCapture(node: { name: string; netns: string }, enrolled: Workload[], add: Add): void {
  const group = `ztunnel on ${node.name}`;
  const set = spawnSync('ip', ['netns', 'exec', node.netns, 'nft', '-j', 'list', 'set', 'inet', 'ambit-ztunnel', 'enrolled4'], { encoding: 'utf8' });
  const inSet = set.status === 0 ? setElements(set.stdout) : undefined;
  const missing = enrolled.filter((w) => inSet === undefined || !w.addresses.every((a) => a.includes(':') || inSet.has(a)));
  if (missing.length === 0) add(group, 'ok', `capture rules cover its ${enrolled.length} enrolled pod(s)`);
  else {
    add(group, 'fail', `capture rules cover every enrolled pod on ${node.name}`,
      inSet === undefined ? `the nftables table inet ambit-ztunnel is missing in ${node.netns}` : `not captured: ${missing.map((w) => `${w.namespace}/${w.name}`).join(', ')}`,
      'restart that ztunnel (it reconciles its rules on start): `ambit up`');
  }
}

/**
 * The loopback mode has no capture: each pod reaches the mesh through the
 * SOCKS5 proxy its ztunnel serves at the pod's own address. Checked against
 * the listeners the ztunnel reports bound (and the binds it reports failing).
 */
async function checkLoopbackProxies(local: LocalContext, node: string, workloads: Workload[], add: Add): Promise<void> {
  const group = `ztunnel on ${node}`;
  const title = `loopback mode (no capture): every pod on ${node} has its SOCKS5 proxy`;
  const pods = local.cluster.pods.filter((p) => p.node === node && workloads.some((w) => w.addresses.includes(p.ip)));
  let listeners: { socks5Pods?: string[]; failures?: { address: string; listener?: string; error: string }[] };
  try {
    listeners = (await local.mesh.adminJson<{ listeners?: typeof listeners }>(node, '/config_dump')).listeners ?? {};
  } catch (error) {
    add(group, 'fail', title, `its admin socket does not answer /config_dump: ${(error as Error).message}`, `see its log (logs/_node/${node}/ztunnel.log)`);
    return;
  }
  const socks5 = (ip: string): string => `${ip}:${LOOPBACK_SOCKS5_PORT}`;
  const bound = new Set(listeners.socks5Pods ?? []);
  const missing = pods.filter((p) => !bound.has(socks5(p.ip)));
  if (missing.length === 0) {
    add(group, 'ok', `${title} (${pods.length} at <pod IP>:${LOOPBACK_SOCKS5_PORT})`);
    return;
  }
  // A failure is keyed by ip:port (its HBONE listener at the same address may have failed too, for another reason).
  const why = (ip: string): string => listeners.failures?.find((f) => f.address === socks5(ip))?.error ?? 'not bound';
  add(group, 'fail', title, `no SOCKS5 listener for ${missing.map((p) => `${p.namespace}/${p.name} at ${p.ip}:${LOOPBACK_SOCKS5_PORT} (${why(p.ip)})`).join(', ')}`,
    `another program may hold the port; see the ztunnel's log (logs/_node/${node}/ztunnel.log)`);
}

/** Before `ambit up`: this machine can run the local mesh. */
export function checkPre(): CheckResult[] {
  const results: CheckResult[] = [];
  const add = (verdict: Verdict, title: string, detail?: string, hint?: string): void => {
    results.push({ group: 'this machine', verdict, title, ...(detail === undefined ? {} : { detail }), ...(hint === undefined ? {} : { hint }) });
  };
  const root = process.getuid?.() === 0;
  if (root) add('ok', 'running as root');
  else add('fail', 'running as root', 'network namespaces, veth links and nftables need root', 'run as root (sudo)');
  for (const [tool, args, pkg] of [['ip', ['-V'], 'iproute2'], ['nft', ['--version'], 'nftables']] as const) {
    const found = spawnSync(tool, args, { encoding: 'utf8' });
    if (found.status === 0) add('ok', `${tool} is installed (${(found.stdout || found.stderr).trim().split('\n')[0] ?? ''})`);
    else add('fail', `${tool} is installed`, `the ${tool} command is missing`, `apt-get install -y ${pkg}`);
  }
  if (root) {
    // The kernel must accept a TPROXY rule (nft_tproxy); checked in a scratch namespace.
    const ns = `ambit-precheck-${process.pid}`;
    const created = spawnSync('ip', ['netns', 'add', ns]);
    if (created.status === 0) {
      const rule = 'table inet t { chain p { type filter hook prerouting priority mangle; meta l4proto tcp tproxy ip to 127.0.0.1:15001; }; }';
      const tproxy = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rule, encoding: 'utf8' });
      spawnSync('ip', ['netns', 'del', ns]);
      if (tproxy.status === 0) add('ok', 'the kernel supports nftables TPROXY');
      else add('fail', 'the kernel supports nftables TPROXY', tproxy.stderr.trim(), 'load the nft_tproxy module (modprobe nft_tproxy) or use a kernel with it');
    } else {
      add('fail', 'network namespaces can be created', created.stderr.toString().trim(), 'run on a Linux host (not in a restricted container)');
    }
  }
  return results;
}

export function formatChecks(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  let group = '';
  for (const result of results) {
    if (result.group !== group) {
      group = result.group;
      lines.push(`${lines.length === 0 ? '' : '\n'}${group}`, '-'.repeat(group.length));
    }
    const mark = result.verdict === 'ok' ? green('✔') : result.verdict === 'warn' ? yellow('‼') : red('×');
    lines.push(`${mark} ${result.title}`);
    if (result.detail !== undefined) lines.push(`    ${result.detail}`);
    if (result.hint !== undefined) lines.push(`    see: ${result.hint}`);
  }
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const warned = results.filter((r) => r.verdict === 'warn').length;
  lines.push('', failed > 0 ? `Status check results are ${red('×')} (${failed} failed${warned > 0 ? `, ${warned} warning(s)` : ''})` : `Status check results are ${green('✔')}${warned > 0 ? ` (${warned} warning(s))` : ''}`);
  return `${lines.join('\n')}\n`;
}

function setElements(json: string): Set<string> {
  const elements = new Set<string>();
  const parsed = JSON.parse(json) as { nftables?: { set?: { elem?: unknown[] } }[] };
  for (const entry of parsed.nftables ?? []) for (const element of entry.set?.elem ?? []) if (typeof element === 'string') elements.add(element);
  return elements;
}
