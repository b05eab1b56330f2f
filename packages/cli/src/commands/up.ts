// `ambit up`: the local mesh from one command — cluster, control plane, a
// ztunnel per node, the kubelet, and (unless --no-demo) the demo workloads —
// each step printed with its duration. Idempotent: what runs is reported,
// not started again.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ora from 'ora';
import { AmbitError } from '@ambit/core';
import { BINS, LocalCluster, LocalMesh, STATE_FILE, type NetworkMode } from '@ambit/localcluster';
import { dim, green, yellow } from '../output.js';

export interface UpOptions {
  stateDir: string;
  nodes: number;
  demo: boolean;
  /** Build a loopback cluster (no root; see LocalClusterOptions.network) when none exists yet. */
  loopback?: boolean;
  out?: (line: string) => void;
  /** A spinner with the running time of the current step (for a terminal); plain lines otherwise. */
  spinner?: boolean;
}

export const DEMO_NAMESPACE = 'demo';

export async function up(options: UpOptions): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exists = await access(join(options.stateDir, STATE_FILE)).then(() => true, () => false);
  const found = exists ? await LocalCluster.load(options.stateDir) : undefined;
  if ((found?.network ?? (options.loopback === true ? 'loopback' : 'netns')) === 'netns' && process.getuid?.() !== 0) {
    throw new AmbitError('denied', found === undefined
      ? 'ambit up builds network namespaces, links and nftables rules, which needs root'
      : `the mesh in ${options.stateDir} runs in network namespaces, which needs root`, {
      hint: found === undefined
        ? 'run it as root (sudo ambit up), or without root: `ambit up --loopback` (every pod on 127.x addresses, no capture: pods use their ztunnel as a SOCKS5 proxy)'
        : 'run it as root (sudo ambit up)',
    });
  }
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const took = (): string => `(${((performance.now() - started) / 1000).toFixed(1)}s)`;
    // A terminal without a width (some pseudo-terminals) gets plain lines: the spinner could not redraw in place.
    const animate = options.spinner === true && (process.stdout.columns ?? 0) > 0;
    const spinner = animate ? ora({ text: what, stream: process.stdout, discardStdin: false }).start() : undefined;
    const ticker = spinner === undefined ? undefined : setInterval(() => { spinner.text = `${what} ${dim(took())}`; }, 100);
    try {
      const result = await run();
      spinner?.stop();
      out(`${green('✔')} ${what} ${dim(took())}`);
      return result;
    } catch (error) {
      spinner?.fail(`${what} ${dim(took())}`);
      throw error;
    } finally {
      clearInterval(ticker);
    }
  };
  const mode = (network: NetworkMode): string => (network === 'loopback' ? 'loopback ' : '');
  if (found !== undefined && options.loopback === true && found.network !== 'loopback') {
    out(`${yellow('‼')} ${options.stateDir} already holds a mesh in network namespaces; --loopback applies to a new one (ambit down first)`);
  }
  const network: NetworkMode = options.loopback === true ? 'loopback' : 'netns';
  const cluster = found !== undefined
    ? await step(`local ${mode(found.network)}cluster found in ${options.stateDir}`, () => Promise.resolve(found))
    : await step(`local ${mode(network)}cluster with ${options.nodes} node(s) created in ${options.stateDir}`,
      () => LocalCluster.create({ stateDir: options.stateDir, nodes: options.nodes, network }));
  const mesh = new LocalMesh(cluster, { kubelet: 'process' });
  try {
    await step('control plane ready', () => mesh.startControlPlane());
    await step('cluster objects written to the control plane', () => cluster.attachStore(mesh.store));
    for (const node of cluster.nodes) await step(`ztunnel on ${node.name} ready`, () => mesh.startZtunnel(node.name));
    await step('kubelet running', () => mesh.startKubelet());
    if (options.demo) await step(`demo workloads in namespace ${DEMO_NAMESPACE} answering`, () => deployDemo(cluster));
  } finally {
    await mesh.store.close();
  }
  out('');
  if (cluster.network === 'loopback') {
    out(`The mesh is up in the loopback mode (cluster ${cluster.id}): pods are addresses in ${cluster.clusterAddress.replace(/\.0\.1$/, '.0.0/16')} and nothing is`);
    out('captured; what a pod sends through its ztunnel\'s SOCKS5 proxy (ALL_PROXY, which `ambit exec` sets) is in the mesh. Try:');
  } else {
    out(`The mesh is up (cluster ${cluster.id}). Try:`);
  }
  const next = [
    [`ambit exec ${DEMO_NAMESPACE}/client -- ambit-client http http://echo.${DEMO_NAMESPACE}/`, 'plaintext today'],
    [`ambit namespace enroll ${DEMO_NAMESPACE} --wait`, 'now mTLS, per-pod identities'],
    [`ambit waypoint apply -n ${DEMO_NAMESPACE} --enroll-namespace --wait`, 'L7: routes, retries, policies'],
    ['ambit status', 'one screen of what runs'],
    ['ambit down', 'remove everything'],
  ];
  const width = Math.max(...next.map(([command]) => command!.length));
  for (const [command, what] of next) out(`  ${command!.padEnd(width)}   ${dim(`# ${what!}`)}`);
}

/** A client, echo v1 (node-1) and v2 (last node), Services echo, echo-v1, echo-v2; skips what exists. */
async function deployDemo(cluster: LocalCluster): Promise<void> {
  await cluster.refresh();
  const nodes = cluster.nodes.map((n) => n.name);
  const has = (name: string): boolean => cluster.pods.some((p) => p.namespace === DEMO_NAMESPACE && p.name === name);
  const hasService = (name: string): boolean => cluster.services.some((s) => s.namespace === DEMO_NAMESPACE && s.name === name);
  const bins = BINS;
  if (!has('client')) {
    await cluster.addPod({ namespace: DEMO_NAMESPACE, name: 'client', node: nodes[0] as string, serviceAccount: 'client', labels: { app: 'client' } });
  }
  for (const [version, node] of [['v1', nodes[0]], ['v2', nodes[nodes.length - 1]]] as const) {
    const name = `echo-${version}`;
    if (!has(name)) {
      await cluster.addPod({ namespace: DEMO_NAMESPACE, name, node: node as string, serviceAccount: 'echo', labels: { app: 'echo', version }, ports: [8080, 9000] });
      await cluster.spawn(`${DEMO_NAMESPACE}/${name}`, [process.execPath, bins.echo]);
    }
    if (!hasService(name)) await cluster.addService({ namespace: DEMO_NAMESPACE, name, selector: { app: 'echo', version }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
  }
  if (!hasService('echo')) {
    await cluster.addService({
      namespace: DEMO_NAMESPACE, name: 'echo', selector: { app: 'echo' },
      ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'tcp', port: 9000, targetPort: 9000 }],
    });
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const result = await cluster.exec(`${DEMO_NAMESPACE}/client`, [process.execPath, bins.client, 'http', `http://echo.${DEMO_NAMESPACE}/`, '--timeout', '2000']);
    if (result.code === 0) return;
    if (Date.now() > deadline) throw new AmbitError('timeout', `the demo echo service did not answer within 30 s: ${result.stdout}${result.stderr}`.trim());
    await sleep(200);
  }
}
