// Results of the mesh benchmark: what the JSON holds, the per-repetition
// "p99 added over no mesh", the targets of issue 4, and the
// "## ztunnel in the local cluster (issue 4)" section of docs/performance.md.
import type { ClusterLoadOptions } from './args.js';
import { addDifferences, connectTable, rateTable, ratesOf } from './rates-report.js';
import { fmt, type PathName, type Sample, type Summary } from './report.js';
import {
  headerLines, nonNegative, pinningLine, range, ratio, SummaryCells, total, value, verdictLine, type RunHeader, type Verdict,
} from './tables.js';

export const HEADING = '## ztunnel in the local cluster (issue 4)';
export const MESH_PATHS: readonly PathName[] = ['direct', 'stunnel', 'hbone'];
export const MESH_LABELS: Record<PathName, string> = {
  direct: 'no mesh',
  stunnel: 'stunnel4 pair',
  hbone: 'ztunnel (HBONE)',
};
export const TEST = { iperf3: 'iperf3', iperf3SameNode: 'iperf3-same-node', openLoop: 'open-loop', wrk: 'wrk', connect: 'connect' } as const;

/** Issue 4's targets. */
export const TARGETS = { p99AddedMs: 1, ztunnelRssBytes: 100e6 } as const;

export interface ProxyMemory {
  name: string;
  node: string;
  rssMiB: number;
  /** VmHWM: the peak so far (at idle: since start-up). */
  hwmMiB: number;
  anonMiB: number;
  fileMiB: number;
}

/** A ztunnel's own view of its memory (process.memoryUsage), MiB. */
export interface MemoryDump {
  name: string;
  before: { rssMiB: number; heapTotalMiB: number; heapUsedMiB: number; externalMiB: number; arrayBuffersMiB: number };
  /** The same right after a forced full garbage collection: heapUsed is then the live heap. */
  afterGc: MemoryDump['before'];
  snapshot?: string;
}

export interface HoldResult<P extends string = PathName> {
  path: P;
  requested: number;
  held: number;
  openMs: number;
  droppedWhileHeld: number;
  /** Whether VmHWM was reset before opening (so peakMiB is the hold's own peak). */
  peakReset: boolean;
  /** Connections the proxies reported tracking while held (ztunnel admin /connections), per process. */
  trackedByProxy?: Record<string, number>;
  /** Taken while held, after the RSS samples. */
  memoryDumps?: MemoryDump[];
  proxies: {
    name: string;
    node: string;
    beforeMiB: number;
    /** Highest VmRSS sampled (every 100 ms) while all connections were held. */
    heldMiB: number;
    heldAnonMiB: number;
    /** VmHWM from just before opening to the end of the hold. */
    peakMiB: number;
    afterCloseMiB: number;
  }[];
}

export interface MeshOptions extends ClusterLoadOptions {
  holdConnections: number;
  /** Also iperf3 with client and server pods on the same node. */
  sameNode: boolean;
  /** wrk connections of the new-connections test (one connection per request); 0 skips it. */
  connectConnections?: number;
  /** Extra Node flags for the control plane and ztunnels (NODE_OPTIONS), e.g. `--max-semi-space-size=1`. */
  meshNodeFlags?: string;
}

export interface MeshReport extends RunHeader {
  options: MeshOptions;
  samples: Sample[];
  idle: ProxyMemory[];
  /** The ztunnels' memory dumps at idle. */
  idleDumps: MemoryDump[];
  holds: HoldResult[];
  /** VmHWM of each proxy at the end of the run (peak since the hold's reset: the load tests), MiB. */
  endPeakMiB: Record<string, number>;
}

/**
 * How the Method text describes the open-loop tests' settle window (open-loop.ts): `seconds` of the same schedule
 * before the measured window, reported apart; none in results recorded before it existed.
 */
export function settleText(seconds: number | undefined): string {
  if (seconds === undefined || seconds === 0) return '';
  return `; each test first runs the same schedule for ${seconds} s, not counted in its figures: the path's processes sat idle `
    + 'while the other paths were measured, and take a few seconds to reach the steady state a proxy carrying this rate is in '
    + '(caches cold, heaps shrunk by V8\'s memory reducer, the generator\'s own code not yet optimised); what those seconds '
    + 'cost is the "settling first" column of "Load generators"';
}

/** "p50 / p99 / max" of an open-loop test's settle window, or – when it had none. */
export function settleCell(median: (metric: string) => number | undefined): string {
  const p99 = median('settleP99Ms');
  if (p99 === undefined) return '–';
  return `${value(median('settleP50Ms'), 3)} / ${value(p99, 3)} / ${value(median('settleMaxMs'), 2)}`;
}

/** For each repetition and rate, open-loop p99 (and p50) of each proxied path minus no mesh's. */
export function addPairedDifferences(samples: Sample[]): void {
  addDifferences(samples, () => true, 'direct', 'AddedMs');
}

export function verdicts(report: MeshReport, summary: Summary): Verdict[] {
  const median = (test: string, path: PathName, metric: string): number | undefined => summary[test]?.[path]?.[metric]?.median;
  const out: Verdict[] = [];

  const z = median(TEST.iperf3, 'hbone', 'gbps');
  const s = median(TEST.iperf3, 'stunnel', 'gbps');
  out.push(z === undefined || s === undefined
    ? { label: 'throughput ≥ stunnel4 pair (iperf3 across nodes)', met: undefined, detail: 'not measured' }
    : {
      label: 'throughput ≥ stunnel4 pair (iperf3 across nodes)', met: z >= s,
      detail: `${fmt(z, 2)} vs ${fmt(s, 2)} Gbit/s (${fmt(z / s, 2)}×): ${z >= s ? `${fmt((z / s - 1) * 100, 0)} % above` : `${fmt((1 - z / s) * 100, 0)} % short`}`,
    });

  const added = summary[TEST.openLoop]?.hbone?.p99AddedMs;
  out.push(added === undefined
    ? { label: `p99 added over no mesh ≤ ${TARGETS.p99AddedMs} ms at ${report.options.rate} req/s`, met: undefined, detail: 'not measured' }
    : {
      label: `p99 added over no mesh ≤ ${TARGETS.p99AddedMs} ms at ${report.options.rate} req/s`, met: added.median <= TARGETS.p99AddedMs,
      detail: `+${fmt(added.median, 3)} ms${range(added, 3)}: ${added.median <= TARGETS.p99AddedMs
        ? `${fmt(TARGETS.p99AddedMs - added.median, 3)} ms to spare` : `${fmt(added.median - TARGETS.p99AddedMs, 3)} ms over`}`,
    });

  const hold = report.holds.find((h) => h.path === 'hbone');
  if (hold === undefined) {
    out.push({ label: 'ztunnel RSS ≤ 100 MB at 1000 connections', met: undefined, detail: 'not measured' });
  } else {
    const worst = Math.max(...hold.proxies.map((p) => p.heldMiB));
    const mb = (m: number): number => (m * 2 ** 20) / 1e6;
    const limit = TARGETS.ztunnelRssBytes / 1e6;
    out.push({
      label: `ztunnel RSS ≤ 100 MB at ${hold.held} connections`, met: mb(worst) <= limit,
      detail: `${hold.proxies.map((p) => `${p.node} ${fmt(mb(p.heldMiB), 1)} MB`).join(', ')} (VmRSS, MB = 10⁶ bytes): `
        + `${mb(worst) <= limit ? `${fmt(limit - mb(worst), 1)} MB to spare` : `${fmt(mb(worst) - limit, 1)} MB over`}`,
    });
  }
  return out;
}

/** The whole section, heading included. */
export function markdownSection(report: MeshReport, summary: Summary): string {
  const { options, machine } = report;
  const cells = new SummaryCells(summary);
  const get = cells.get.bind(cells);
  const cell = cells.cell.bind(cells);
  const medianOf = cells.median.bind(cells);
  const holdOf = (path: PathName): HoldResult | undefined => report.holds.find((h) => h.path === path);
  const perProxy = (values: readonly number[]): string => (values.length === 0 ? '–' : values.map((v) => fmt(v, 0)).join(' + '));
  const idleOf = (path: PathName): number[] => {
    const names = path === 'hbone' ? ['ztunnel-node-1', 'ztunnel-node-2'] : path === 'stunnel' ? ['stunnel-client', 'stunnel-server'] : [];
    return names.flatMap((n) => report.idle.filter((m) => m.name === n).map((m) => m.rssMiB));
  };
  const heldOf = (path: PathName): number[] => holdOf(path)?.proxies.map((p) => p.heldMiB) ?? [];
  const sum = (values: readonly number[]): number | undefined => (values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0));
  const rate = options.rate;

  const sameNode = options.sameNode;
  const results = [
    `| Path | iperf3, 1 stream (Gbit/s) | ${sameNode ? 'iperf3, same node (Gbit/s) | ' : ''}${rate} req/s: p50 ms | p90 ms | p99 ms | max ms | wrk c${options.wrkConnections} req/s `
      + `| proxy CPU s / 1000 req at ${rate} req/s | proxy RSS idle (MiB) | proxy RSS, ${options.holdConnections} conns held (MiB) |`,
    `|---|---:|${sameNode ? '---:|' : ''}---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...MESH_PATHS.map((path) => `| ${MESH_LABELS[path]} | ${cell(TEST.iperf3, path, 'gbps', 2)} `
      + `| ${sameNode ? `${cell(TEST.iperf3SameNode, path, 'gbps', 2)} | ` : ''}${cell(TEST.openLoop, path, 'p50Ms', 3)} `
      + `| ${cell(TEST.openLoop, path, 'p90Ms', 3)} | ${cell(TEST.openLoop, path, 'p99Ms', 3)} | ${cell(TEST.openLoop, path, 'maxMs', 2)} `
      + `| ${cell(TEST.wrk, path, 'rps', 0)} | ${path === 'direct' ? '–' : cell(TEST.openLoop, path, 'cpuSecondsPer1kRequests', 3)} `
      + `| ${perProxy(idleOf(path))} | ${perProxy(heldOf(path))} |`),
  ];

  const row = (label: string, x: (p: PathName) => number | undefined, digits: number, opts: { sign?: boolean; baseline?: boolean } = {}): string => {
    const [z, s, d] = [x('hbone'), x('stunnel'), x('direct')];
    return `| ${label} | ${value(z, digits, opts.sign)} | ${value(s, digits, opts.sign)} | ${value(d, digits)} | ${ratio(z, s)} `
      + `| ${opts.baseline === false ? '–' : ratio(z, d)} |`;
  };
  const ratios = [
    '| Metric (median) | ztunnel | stunnel4 pair | no mesh | ztunnel / stunnel | ztunnel / no mesh |',
    '|---|---:|---:|---:|---:|---:|',
    row('iperf3 throughput (Gbit/s)', (p) => medianOf(TEST.iperf3, p, 'gbps'), 2),
    ...(sameNode ? [row('iperf3 throughput, same node (Gbit/s)', (p) => medianOf(TEST.iperf3SameNode, p, 'gbps'), 2)] : []),
    row(`wrk c${options.wrkConnections} requests/s`, (p) => medianOf(TEST.wrk, p, 'rps'), 0),
    row(`p99 at ${rate} req/s (ms)`, (p) => medianOf(TEST.openLoop, p, 'p99Ms'), 3),
    row(`p99 added over no mesh at ${rate} req/s (ms)`, (p) => medianOf(TEST.openLoop, p, 'p99AddedMs'), 3, { sign: true, baseline: false }),
    row(`proxy CPU s / 1000 req at ${rate} req/s`, (p) => medianOf(TEST.openLoop, p, 'cpuSecondsPer1kRequests'), 3, { baseline: false }),
    row(`proxy RSS, ${options.holdConnections} conns held, both processes (MiB)`, (p) => sum(heldOf(p)), 0, { baseline: false }),
  ];

  const cores = (test: string, path: PathName): string => {
    const total = get(test, path, 'proxyCores');
    if (total === undefined) return '–';
    const c = medianOf(test, path, 'clientProxyCores');
    const s = medianOf(test, path, 'serverProxyCores');
    return `${fmt(total.median, 2)}${c === undefined || s === undefined ? '' : ` = ${fmt(c, 2)} + ${fmt(s, 2)}`}`;
  };
  const cpu = [
    `| Path | proxy cores, iperf3 | ${sameNode ? 'proxy cores, iperf3 same node | ' : ''}proxy cores, ${rate} req/s | proxy cores, wrk c${options.wrkConnections} `
      + `| CPU s / 1000 req, wrk c${options.wrkConnections} | machine busy cores: iperf3 / ${rate} req/s / wrk `
      + '| other processes, most cores: iperf3 / rate / wrk |',
    `|---|---:|${sameNode ? '---:|' : ''}---:|---:|---:|---:|---:|`,
    ...MESH_PATHS.map((path) => `| ${MESH_LABELS[path]} | ${cores(TEST.iperf3, path)} | ${sameNode ? `${cores(TEST.iperf3SameNode, path)} | ` : ''}${cores(TEST.openLoop, path)} | ${cores(TEST.wrk, path)} `
      + `| ${path === 'direct' ? '–' : cell(TEST.wrk, path, 'cpuSecondsPer1kRequests', 3)} `
      + `| ${[TEST.iperf3, TEST.openLoop, TEST.wrk].map((t) => value(medianOf(t, path, 'machineBusyCores'), 2)).join(' / ')} `
      + `| ${[TEST.iperf3, TEST.openLoop, TEST.wrk].map((t) => nonNegative(get(t, path, 'otherProcessesCores')?.max)).join(' / ')} |`),
  ];

  const generator = [
    `| Path | achieved req/s | errors (all runs) | p99.9 ms | mean ms | generator lag p99 / max ms | p50 / p99 from actual send, ms `
      + `| settling first: p50 / p99 / max ms | wrk c${options.wrkConnections} p50 / p99 ms | wrk errors |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...MESH_PATHS.map((path) => `| ${MESH_LABELS[path]} | ${cell(TEST.openLoop, path, 'achievedRate', 0)} `
      + `| ${value(total(report.samples, TEST.openLoop, path, 'errors'), 0)} | ${cell(TEST.openLoop, path, 'p999Ms', 3)} `
      + `| ${cell(TEST.openLoop, path, 'meanMs', 3)} | ${value(medianOf(TEST.openLoop, path, 'lagP99Ms'), 2)} / ${value(get(TEST.openLoop, path, 'lagMaxMs')?.max, 2)} `
      + `| ${value(medianOf(TEST.openLoop, path, 'fromSendP50Ms'), 3)} / ${value(medianOf(TEST.openLoop, path, 'fromSendP99Ms'), 3)} `
      + `| ${settleCell((metric) => medianOf(TEST.openLoop, path, metric))} `
      + `| ${value(medianOf(TEST.wrk, path, 'p50Ms'), 3)} / ${value(medianOf(TEST.wrk, path, 'p99Ms'), 3)} `
      + `| ${value(total(report.samples, TEST.wrk, path, 'errors'), 0)} |`),
  ];

  const memoryRows = report.holds.flatMap((hold) => hold.proxies.map((p) => {
    const idle = report.idle.find((m) => m.name === p.name);
    return `| ${p.name} | ${idle === undefined ? '–' : `${fmt(idle.rssMiB, 1)} (anon ${fmt(idle.anonMiB, 1)}, file ${fmt(idle.fileMiB, 1)})`} `
      + `| ${idle === undefined ? '–' : fmt(idle.hwmMiB, 1)} | ${fmt(p.beforeMiB, 1)} | ${fmt(p.heldMiB, 1)} (anon ${fmt(p.heldAnonMiB, 1)}) `
      + `| ${hold.peakReset ? fmt(p.peakMiB, 1) : '–'} | ${fmt(p.afterCloseMiB, 1)} | ${value(report.endPeakMiB[p.name], 1)} |`;
  }));
  const memory = [
    `| Process | idle VmRSS | idle VmHWM | before opening | ${options.holdConnections} held: VmRSS | VmHWM, open + hold | after closing | VmHWM, load tests |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...memoryRows,
  ];
  const heldDumps = report.holds.find((h) => h.path === 'hbone')?.memoryDumps ?? [];
  const dumpRow = (d: MemoryDump, when: string): string => `| ${d.name} | ${when} | ${fmt(d.before.rssMiB, 1)} | ${fmt(d.before.heapTotalMiB, 1)} `
    + `| ${fmt(d.before.heapUsedMiB, 1)} | ${fmt(d.afterGc.heapUsedMiB, 1)} | ${fmt(d.before.externalMiB, 1)} (${fmt(d.before.arrayBuffersMiB, 1)}) `
    + `| ${fmt(d.before.rssMiB - d.before.heapTotalMiB - d.before.externalMiB, 1)} |`;
  const dumps = [
    '| ztunnel | when | RSS | V8 heap total | heap used | heap used after full GC | external (ArrayBuffers) | rest of RSS |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...report.idleDumps.map((d) => dumpRow(d, 'idle')),
    ...heldDumps.map((d) => dumpRow(d, `${options.holdConnections} held`)),
  ];
  const holdNotes = report.holds.map((h) => `${MESH_LABELS[h.path]}: ${h.held} of ${h.requested} connections open in ${fmt(h.openMs / 1000, 1)} s, `
    + `${Number.isNaN(h.droppedWhileHeld) ? 'drops not reported' : `${h.droppedWhileHeld} dropped while held`}`
    + `${h.trackedByProxy === undefined ? '' : `; ztunnel admin /connections: ${Object.entries(h.trackedByProxy).map(([k, v]) => `${k} ${v}`).join(', ')}`}`);

  const verdictLines = verdicts(report, summary).map(verdictLine);

  return [
    ...headerLines(HEADING, report),
    '',
    '### Method',
    '',
    'One local cluster (`LocalCluster`, 2 nodes as network namespaces joined by a bridge), the control plane and a ztunnel '
      + 'per node with nftables capture (`LocalMesh`, ztunnel log level '
      + `\`${options.logLevel}\`${options.meshNodeFlags === undefined ? '' : `, Node flags \`${options.meshNodeFlags}\``}${options.ztunnelNodeFlags === undefined ? '' : `, ztunnel Node flags \`${options.ztunnelNodeFlags}\``}). Client pods on node-1, server pods on node-2, so every path crosses nodes. Three paths, measured in the same run:`,
    '',
    '- **no mesh**: `plain/client` → `plain/server` (namespace not enrolled): routed through both node namespaces, no proxy.',
    '- **stunnel4 pair**, placed like the two ztunnels: a stunnel client in node-1\'s namespace listening on node-1\'s pod gateway '
      + '(10.244.1.1, which the client pod reaches), a stunnel server in node-2\'s namespace on node-2\'s bridge address, forwarding to '
      + '`plain/server`. TLS 1.3 only, `TLS_AES_128_GCM_SHA256`, each side presents a certificate from a test mesh root and verifies '
      + 'the peer\'s chain against it (`verifyChain`). One TLS connection per TCP connection; the client must dial the gateway (not transparent).',
    '- **ztunnel (HBONE)**: `mesh/client` → `mesh/server` (namespace labelled `ambit.dev/dataplane-mode=ambient`). The client '
      + 'dials the server pod\'s own address; node-1\'s nftables TPROXY hands the connection to ztunnel, which carries it in an HTTP/2 '
      + 'CONNECT tunnel over pooled mutual TLS (SPIFFE identities issued by the control plane) to node-2\'s ztunnel, which connects '
      + 'to the pod. Before measuring, node-2\'s metrics must show a `mutual_tls` connection from `mesh/client`.',
    '',
    ...(options.sameNode ? [
      'Same node (iperf3 only): the same three paths from a second client pod, `client-local`, on node-2: directly; through a '
        + 'second stunnel client on node-2\'s pod gateway into the same stunnel server (still TLS); and through node-2\'s ztunnel '
        + 'alone, which takes its same-node path: the destination\'s policy is checked in process and the pod dialled directly, '
        + 'with no TLS and no HTTP/2 (so this column compares a plain TCP relay with an encrypting pair).',
      '',
    ] : []),
    'Each server pod runs `iperf3 -s`, nginx (1 worker, 1 KiB file, keep-alive for the whole run) and an echo server for held '
      + 'connections; `plain/server` serves both the no-mesh and the stunnel path. All load generators run in the client pods.',
    '',
    `Per path: \`iperf3 -P 1 -t ${options.durationSeconds} -O 1\` (receiver goodput); the 1 KiB file at a fixed ${rate} req/s over `
      + `${options.rateConnections} keep-alive connections for ${options.durationSeconds} s with \`test/bench/open-loop.ts\` (open loop: each `
      + 'latency is measured from the request\'s scheduled send time, so stalls are not hidden by coordinated omission; the schedule '
      + 'is kept by a worker thread sleeping in `Atomics.wait`, requests go out on raw keep-alive sockets, each to the least recently '
      + 'used idle connection, and all connections are opened before the schedule starts; the generator\'s own lag behind its '
      + `schedule is reported below${settleText(options.settleSeconds)}); then `
      + `\`wrk -t2 -c${options.wrkConnections} -d${options.durationSeconds}s\` for the most requests/s (closed loop). `
      + `${options.warmupSeconds > 0 ? `A ${options.warmupSeconds} s warm-up of each tool per path first (not recorded); then ` : ''}`
      + `${options.repeat} repetition(s), paths interleaved and their order rotated each repetition. Cells show the median and, with more `
      + 'than one repetition, the min–max range. "p99 added over no mesh" is the difference from the no-mesh p99 of the same '
      + 'repetition, then the median of those differences.',
    '',
    'Proxy CPU is the utime + stime of both proxy processes of a path (all threads, `/proc/PID/stat`), from the first scheduled '
      + `request to the generator's exit, divided by the requests completed; "= a + b" splits it into node-1 + node-2 (client side + `
      + 'server side). "Machine busy" is the CPU time of every task on the machine (the cpuacct root group: exact run time, '
      + 'where `/proc/stat`\'s tick sampling misses much of a load of many short wake-ups) over the test\'s wall time; "other '
      + 'processes" subtracts what everything the benchmark started used (a cpuacct cgroup holding the benchmark, which its '
      + `children, the cluster's processes included, inherit): other workloads on the machine. Memory: VmRSS of `
      + 'each proxy (`/proc/PID/status`) idle (after start-up, sync and one request per path), then with '
      + `${options.holdConnections} connections held open from the client pod through the path (each proven end to end by an echoed byte; `
      + 'VmRSS sampled every 100 ms for 3 s, the highest kept; VmHWM reset just before opening), and after closing them. The '
      + 'hold runs before the load tests. RSS cells show node-1 + node-2.',
    '',
    pinningLine(options, machine.cores),
    '',
    '### Results',
    '',
    ...results,
    '',
    '### Ratios',
    '',
    ...ratios,
    '',
    'For throughput and requests/s above 1 is better; for latency, CPU and memory below 1 is better.',
    '',
    '### Targets (issue 4)',
    '',
    ...verdictLines,
    '',
    ...(ratesOf(options).length > 1 ? [
      '### Latency and cost by rate',
      '',
      `The open-loop test at each rate (${options.rateConnections} keep-alive connections, ${options.durationSeconds} s, \`open-loop.ts\`); `
        + '"per proxy" splits the proxies\' CPU per 1000 requests into node-1\'s and node-2\'s process, with each one\'s highest VmRSS '
        + 'sampled during the test (the most of any repetition).',
      '',
      ...rateTable(report.samples, summary, options, MESH_PATHS, MESH_LABELS, 'direct'),
      '',
    ] : []),
    ...(summary[TEST.connect] === undefined ? [] : [
      '### New connections per second',
      '',
      `\`wrk -t2 -c${options.connectConnections ?? '?'} -d${options.durationSeconds}s -H 'Connection: close'\` for the 1 KiB file: nginx closes `
        + 'each connection after its response and wrk opens a new one, so every request is a new TCP connection through the path '
        + '(a new TLS handshake for the stunnel pair; a new HTTP/2 CONNECT stream for ztunnel). TLS handshakes for ztunnel are what '
        + 'node-1\'s HBONE pool opened during the test (its admin `config_dump`, `hbone.pool.opened`), per 1000 connections carried.',
      '',
      ...connectTable(report.samples, summary, TEST.connect, MESH_PATHS, MESH_LABELS, (path) => handshakes(report.samples, path)),
      '',
    ]),
    '### CPU',
    '',
    ...cpu,
    '',
    '### Load generators',
    '',
    ...generator,
    '',
    '### Memory (MiB)',
    '',
    ...memory,
    '',
    ...holdNotes.map((n) => `- ${n}.`),
    '',
    ...(report.idleDumps.length + heldDumps.length === 0 ? [] : [
      'Where the ztunnels\' memory is, by their own account (`process.memoryUsage()` on SIGUSR2 through a preloaded handler, '
        + '`test/bench/mesh-memdump.ts`; MiB; "rest of RSS" = RSS − V8 heap total − external: the Node binary\'s mapped pages, '
        + 'native allocations and stacks; each report forces a full GC, so the "before opening" column follows one):',
      '',
      ...dumps,
      '',
    ]),
    'Raw samples: `test/bench/results/mesh.json`.',
    '',
  ].join('\n');
}

/** TLS handshakes per 1000 new connections on a path of the connect test. */
function handshakes(samples: readonly Sample[], path: PathName): string {
  if (path === 'direct') return '– (no TLS)';
  if (path === 'stunnel') return '1000 (one TLS connection per TCP connection, by design)';
  const connect = samples.filter((s) => s.test === TEST.connect && s.path === path);
  const opened = connect.reduce((a, s) => a + (s.metrics.poolOpened ?? 0), 0);
  const resumed = connect.reduce((a, s) => a + (s.metrics.poolResumed ?? 0), 0);
  const carried = connect.reduce((a, s) => a + (s.metrics.requests ?? 0), 0);
  if (carried === 0) return '–';
  return `${fmt((opened / carried) * 1000, 3)} (${opened} pooled TLS connection(s) opened, ${resumed} resumed, for ${carried} connections in all runs)`;
}
