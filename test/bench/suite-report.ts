// The suite's own section of docs/performance.md ("## Performance suite
// (issue 8)"): what ran with which tool, the headline figures of every part
// side by side, and issue 8's targets, read from the parts' recorded results.
import type { CpReport } from './cp-report.js';
import type { MeshReport } from './mesh-report.js';
import { machineLine } from './machine.js';
import { ratesOf, openLoopTestOf } from './rates-report.js';
import { fmt, type Summary } from './report.js';
import { pinningLine, ratio, SummaryCells, value, verdictLine, type Verdict } from './tables.js';
import type { WaypointPath } from './waypoint-cluster.js';
import type { WaypointReport } from './waypoint-report.js';

export const HEADING = '## Performance suite (issue 8)';

/** Issue 8's targets. */
export const TARGETS = {
  throughputOverStunnel: 1.2,
  ztunnelP99AddedMs: 0.5,
  waypointP99AddedMs: 1.5,
  ztunnelCpuSecondsPer1k: 0.15,
  ztunnelRssBytes: 80e6,
  waypointShareOfHaproxy: 0.6,
} as const;

/** The rate the latency and CPU targets are read at. */
const TARGET_RATE = 1000;

/** What each part recorded (its JSON, with the summary the part computed). */
export interface SuiteParts {
  mesh: MeshReport & { summary: Summary };
  waypoint: WaypointReport & { summary: Summary<WaypointPath> };
  controlPlane: CpReport;
}

export interface SuiteReport {
  date: string;
  command: string;
  wallSeconds: number;
  /** Wall time of each part, s. */
  partSeconds: Record<string, number>;
  options: { durationSeconds: number; repeat: number; rates: number[]; pinLoad: string | undefined; pinProxies: string | undefined };
  parts: SuiteParts;
}

const mb = (mib: number): number => (mib * 2 ** 20) / 1e6;

export function verdicts(report: SuiteReport): Verdict[] {
  const mesh = new SummaryCells(report.parts.mesh.summary);
  const wp = new SummaryCells(report.parts.waypoint.summary);
  const test = openLoopTestOf(TARGET_RATE, report.parts.mesh.options.rate);
  const wpTest = openLoopTestOf(TARGET_RATE, report.parts.waypoint.options.rate);
  const out: Verdict[] = [];
  const check = (label: string, x: number | undefined, limit: number, atLeast: boolean, detail: (x: number) => string): void => {
    out.push(x === undefined || Number.isNaN(x) ? { label, met: undefined, detail: 'not measured' } : { label, met: atLeast ? x >= limit : x <= limit, detail: detail(x) });
  };

  const z = mesh.median('iperf3', 'hbone', 'gbps');
  const s = mesh.median('iperf3', 'stunnel', 'gbps');
  check(`ztunnel pair single-connection throughput ≥ ${TARGETS.throughputOverStunnel}× the stunnel4 pair (iperf3, cross node)`,
    z === undefined || s === undefined ? undefined : z / s, TARGETS.throughputOverStunnel, true,
    (r) => `${fmt(z!, 2)} vs ${fmt(s!, 2)} Gbit/s = ${fmt(r, 2)}×${r < TARGETS.throughputOverStunnel ? ` (${fmt((1 - r / TARGETS.throughputOverStunnel) * 100, 0)} % short)` : ''}`);

  const zAdded = mesh.get(test, 'hbone', 'p99AddedMs');
  check(`p99 added over no mesh at ${TARGET_RATE} req/s ≤ ${TARGETS.ztunnelP99AddedMs} ms, ztunnel only`, zAdded?.median, TARGETS.ztunnelP99AddedMs, false,
    (x) => `${value(x, 3, true)} ms (median of ${zAdded!.n} paired differences, ${fmt(zAdded!.min, 3)} to ${fmt(zAdded!.max, 3)})`
      + `${x > TARGETS.ztunnelP99AddedMs ? `: ${fmt(x - TARGETS.ztunnelP99AddedMs, 3)} ms over` : ''}`);

  const wAdded = wp.get(wpTest, 'waypoint', 'p99AddedMs');
  check(`p99 added over no mesh at ${TARGET_RATE} req/s ≤ ${TARGETS.waypointP99AddedMs} ms, ztunnel + waypoint`, wAdded?.median, TARGETS.waypointP99AddedMs, false,
    (x) => `${value(x, 3, true)} ms (median of ${wAdded!.n} paired differences, ${fmt(wAdded!.min, 3)} to ${fmt(wAdded!.max, 3)})`
      + `${x > TARGETS.waypointP99AddedMs ? `: ${fmt(x - TARGETS.waypointP99AddedMs, 3)} ms over` : ''}`);

  const client = mesh.median(test, 'hbone', 'clientCpuSecondsPer1kRequests');
  const server = mesh.median(test, 'hbone', 'serverCpuSecondsPer1kRequests');
  check(`ztunnel CPU ≤ ${TARGETS.ztunnelCpuSecondsPer1k} core-seconds per 1000 requests at ${TARGET_RATE} req/s (each ztunnel)`,
    client === undefined || server === undefined ? undefined : Math.max(client, server), TARGETS.ztunnelCpuSecondsPer1k, false,
    (x) => `node-1 (client side) ${fmt(client!, 3)}, node-2 (server side) ${fmt(server!, 3)} s; the pair ${fmt(client! + server!, 3)} s`
      + `${x > TARGETS.ztunnelCpuSecondsPer1k ? `: the busier one ${fmt(x - TARGETS.ztunnelCpuSecondsPer1k, 3)} s over` : ''}`);

  const hold = report.parts.mesh.holds.find((h) => h.path === 'hbone');
  const worst = hold === undefined ? undefined : Math.max(...hold.proxies.map((p) => mb(p.heldMiB)));
  check(`ztunnel RSS ≤ ${TARGETS.ztunnelRssBytes / 1e6} MB at ${hold?.held ?? 1000} open connections`, worst, TARGETS.ztunnelRssBytes / 1e6, false,
    (x) => `${hold!.proxies.map((p) => `${p.node} ${fmt(mb(p.heldMiB), 1)} MB`).join(', ')} (VmRSS, MB = 10⁶ bytes)`
      + `${x > TARGETS.ztunnelRssBytes / 1e6 ? `: ${fmt(x - TARGETS.ztunnelRssBytes / 1e6, 1)} MB over` : ''}`);

  const w = wp.median('wrk', 'waypoint', 'rps');
  const h = wp.median('wrk', 'haproxy', 'rps');
  check(`waypoint max req/s ≥ ${TARGETS.waypointShareOfHaproxy * 100} % of HAProxy's (wrk c${report.parts.waypoint.options.wrkConnections})`,
    w === undefined || h === undefined ? undefined : w / h, TARGETS.waypointShareOfHaproxy, true,
    (r) => `${fmt(w!, 0)} vs ${fmt(h!, 0)} req/s (HAProxy with HAProxy legs) = ${fmt(r * 100, 1)} %`);
  return out;
}

export function markdownSection(report: SuiteReport): string {
  const { mesh, waypoint, controlPlane } = report.parts;
  const m = new SummaryCells(mesh.summary);
  const w = new SummaryCells(waypoint.summary);
  const rates = ratesOf(mesh.options);
  const machine = mesh.machine;
  const hold = mesh.holds.find((x) => x.path === 'hbone');
  const stunnelHold = mesh.holds.find((x) => x.path === 'stunnel');
  const perThousandIdle = (h: typeof hold): string => (h === undefined ? '–'
    : h.proxies.map((p) => fmt(((p.heldMiB - p.beforeMiB) * 1000) / h.held, 1)).join(' + '));

  // Rows: figure, tool, no mesh, peer, Ambit, Ambit / peer, Ambit / no mesh.
  type Row = [string, string, number | undefined, number | undefined, number | undefined, number];
  const rows: Row[] = [
    ['L4 throughput, one connection, cross node (Gbit/s)', 'iperf3', m.median('iperf3', 'direct', 'gbps'), m.median('iperf3', 'stunnel', 'gbps'), m.median('iperf3', 'hbone', 'gbps'), 2],
    ['L4 throughput, one connection, same node (Gbit/s)', 'iperf3', m.median('iperf3-same-node', 'direct', 'gbps'), m.median('iperf3-same-node', 'stunnel', 'gbps'), m.median('iperf3-same-node', 'hbone', 'gbps'), 2],
    ...rates.flatMap((rate): Row[] => {
      const t = openLoopTestOf(rate, mesh.options.rate);
      return (['p50Ms', 'p90Ms', 'p99Ms', 'maxMs'] as const).map((metric): Row => [
        `HTTP 1 KiB at ${rate} req/s, ${metric.replace('Ms', '')} (ms)`, 'open-loop.ts', m.median(t, 'direct', metric), m.median(t, 'stunnel', metric), m.median(t, 'hbone', metric), 3,
      ]);
    }),
    [`HTTP 1 KiB, max req/s, ${mesh.options.wrkConnections} connections`, 'wrk', m.median('wrk', 'direct', 'rps'), m.median('wrk', 'stunnel', 'rps'), m.median('wrk', 'hbone', 'rps'), 0],
    [`New connections/s (one per request, ${mesh.options.connectConnections ?? '?'} at a time)`, 'wrk', m.median('connect', 'direct', 'rps'), m.median('connect', 'stunnel', 'rps'), m.median('connect', 'hbone', 'rps'), 0],
    ...rates.map((rate): Row => [`Proxies' CPU s per 1000 req at ${rate} req/s (both ends)`, '/proc', undefined,
      m.median(openLoopTestOf(rate, mesh.options.rate), 'stunnel', 'cpuSecondsPer1kRequests'), m.median(openLoopTestOf(rate, mesh.options.rate), 'hbone', 'cpuSecondsPer1kRequests'), 3]),
    [`Proxy RSS with ${hold?.held ?? '?'} open connections, larger end (MiB)`, '/proc', undefined,
      stunnelHold === undefined ? undefined : Math.max(...stunnelHold.proxies.map((p) => p.heldMiB)), hold === undefined ? undefined : Math.max(...hold.proxies.map((p) => p.heldMiB)), 1],
  ];
  const wpTest = (rate: number): string => openLoopTestOf(rate, waypoint.options.rate);
  const wpRows: Row[] = [
    [`HTTP 1 KiB, max req/s, ${waypoint.options.wrkConnections} connections`, 'wrk', w.median('wrk', 'direct', 'rps'), w.median('wrk', 'haproxy', 'rps'), w.median('wrk', 'waypoint', 'rps'), 0],
    ...ratesOf(waypoint.options).flatMap((rate): Row[] => (['p50Ms', 'p99Ms'] as const).map((metric): Row => [
      `HTTP 1 KiB at ${rate} req/s, ${metric.replace('Ms', '')} (ms)`, 'open-loop.ts', w.median(wpTest(rate), 'direct', metric), w.median(wpTest(rate), 'haproxy', metric), w.median(wpTest(rate), 'waypoint', metric), 3,
    ])),
    ...ratesOf(waypoint.options).map((rate): Row => [`L7 hop CPU s per 1000 req at ${rate} req/s`, '/proc', undefined,
      w.median(wpTest(rate), 'haproxy', 'l7CpuSecondsPer1kRequests'), w.median(wpTest(rate), 'waypoint', 'l7CpuSecondsPer1kRequests'), 3]),
    ...ratesOf(waypoint.options).map((rate): Row => [`L7 hop highest RSS at ${rate} req/s (MiB)`, '/proc', undefined,
      w.get(wpTest(rate), 'haproxy', 'l7RssMiB')?.max, w.get(wpTest(rate), 'waypoint', 'l7RssMiB')?.max, 1]),
  ];
  const l7PerThousand = (path: WaypointPath): number | undefined => {
    const h = waypoint.holds?.find((x) => x.path === path);
    // An L7 path's proxies are the node-1 side, the L7 hop, the node-2 side.
    const hop = h?.proxies[1];
    return h === undefined || hop === undefined ? undefined : ((hop.heldMiB - hop.beforeMiB) * 1000) / h.held;
  };
  wpRows.push(['L7 hop RSS per 1000 idle keep-alive connections (MiB)', '/proc', undefined, l7PerThousand('haproxy'), l7PerThousand('waypoint'), 1]);
  const line = ([label, tool, base, peer, ours, digits]: Row): string => `| ${label} | ${tool} | ${value(base, digits)} | ${value(peer, digits)} | ${value(ours, digits)} `
    + `| ${ratio(ours, peer)} | ${ratio(ours, base)} |`;

  const cp = controlPlane.results.map((r) => `| ${fmt(r.scale.pods, 0)} workloads, ${fmt(r.scale.services, 0)} services, ${r.scale.nodes} subscribers `
    + `| ${fmt(r.latency.ack.median, 0)} / ${fmt(r.latency.ack.p90, 0)} / ${fmt(r.latency.ack.max, 0)} | ${r.latency.ack.n} `
    + `| ${fmt(Math.max(r.sync.lastClientMs, r.sync.serverAllAckedMs) / 1000, 1)} | ${fmt(r.rssMiB.overallPeak, 0)} |`);

  return [
    HEADING,
    '',
    `Measured ${report.date} with \`pnpm bench:suite\` (\`${report.command}\`), ${fmt(report.wallSeconds / 60, 1)} min in all `
      + `(${Object.entries(report.partSeconds).map(([k, v]) => `${k} ${fmt(v / 60, 1)} min`).join(', ')}).`,
    '',
    machineLine(machine, { ...machine.tools, ...waypoint.machine.tools }, `**${machine.cores} cores**`),
    '',
    'One command runs every scenario of issue 8; each part runs its paths side by side, interleaved, in one local cluster '
      + `(pods in network namespaces on two nodes), ${report.options.repeat} repetition(s), medians (min–max in the part's section). `
      + 'The parts write their sections below; this one is the summary. Scenarios and tools:',
    '',
    '| # | Scenario | Paths | Tool | Section |',
    '|---|---|---|---|---|',
    '| 1 | L4 throughput, one connection, cross node and same node | no mesh, stunnel4 pair, ztunnel pair | iperf3 `-P 1` | ztunnel in the local cluster |',
    `| 2 | HTTP 1 KiB open loop at ${rates.join(', ')} req/s, ${mesh.options.rateConnections} connections: p50/p90/p99/max | no mesh, stunnel4, ztunnel; waypoint paths | \`test/bench/open-loop.ts\` | both |`,
    `| 3 | HTTP 1 KiB closed loop, ${mesh.options.wrkConnections} connections | all | wrk | both |`,
    '| 4 | New connections per second (one per request) and the HBONE pool behind it | no mesh, stunnel4, ztunnel | wrk `-H \'Connection: close\'`, ztunnel admin | ztunnel in the local cluster |',
    '| 5 | Waypoint vs HAProxy doing the same job (mTLS both sides, path routing) | no mesh, ztunnel, ztunnel + waypoint, HAProxy ×2 | open-loop.ts, wrk | Waypoint |',
    '| 6 | CPU s per 1000 requests and peak RSS per proxy at each rate; RSS per 1000 idle connections | every proxy | `/proc/PID/stat`, `/proc/PID/status` | both |',
    '| 7 | Control plane change-to-ACK push latency at 1k and 10k workloads | control plane + ztunnel subscribers | `test/bench/control-plane.ts` | Control plane at scale |',
    '',
    'Why our own open-loop generator: it sends on a fixed schedule kept by a worker thread and measures each latency from the '
      + 'request\'s *intended* send time, so a stall in the proxy counts against every request it delayed (coordinated-omission '
      + 'correction); it reports its own lag behind the schedule, which shows whether it kept up. wrk2 does the same but is not '
      + 'packaged in Debian; `h2load --rate` paces connections, not requests; `wrk` (closed loop) is used only for maximum throughput.',
    '',
    pinningLine(report.options, machine.cores),
    '',
    '### ztunnel: no mesh, stunnel4 pair, ztunnel pair',
    '',
    '| Figure (median) | tool | no mesh | stunnel4 pair | ztunnel pair | ztunnel / stunnel | ztunnel / no mesh |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map(line),
    '',
    `RSS per 1000 idle open connections (VmRSS with ${hold?.held ?? '?'} held minus before, node-1 + node-2, MiB): ztunnel `
      + `${perThousandIdle(hold)}; stunnel4 ${perThousandIdle(stunnelHold)}.`,
    '',
    '### Waypoint: no mesh, HAProxy, ztunnel + waypoint',
    '',
    '| Figure (median) | tool | no mesh | HAProxy (HAProxy legs) | ztunnel + waypoint | waypoint / HAProxy | waypoint / no mesh |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...wpRows.map(line),
    '',
    '### Control plane',
    '',
    '| Scale | change → last ACK median / p90 / max (ms) | changes | first full sync (s) | peak RSS (MiB) |',
    '|---|---:|---:|---:|---:|',
    ...cp,
    '',
    '### Targets (issue 8)',
    '',
    ...verdicts(report).map(verdictLine),
    '',
    'Where a target is missed, "Optimisation pass (issue 8)" below says what the profiles show is in the way.',
    '',
    'Raw results: `test/bench/results/suite.json` (this summary\'s run) and the parts\' `mesh.json`, `waypoint.json`, `control-plane.json`.',
    '',
  ].join('\n');
}
