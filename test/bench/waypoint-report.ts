// Results of the waypoint benchmark: what the JSON holds, the per-repetition
// "p99 added by the waypoint", issue 5's targets, and the
// "## Waypoint (issue 5)" section of docs/performance.md.
import type { ClusterLoadOptions } from './args.js';
import { addDifferences, rateTable, ratesOf } from './rates-report.js';
import { fmt, type Sample, type Summary } from './report.js';
import {
  headerLines, nonNegative, pinningLine, ratio, subsection, SummaryCells, total, value, verdictLine, type RunHeader, type Verdict,
} from './tables.js';
import { settleCell, settleText, type HoldResult, type ProxyMemory } from './mesh-report.js';
import type { WaypointPath } from './waypoint-cluster.js';

export const HEADING = '## Waypoint (issue 5)';
export const WAYPOINT_PATHS: readonly WaypointPath[] = ['direct', 'ztunnel', 'waypoint', 'haproxy', 'haproxy-stunnel'];
export const WAYPOINT_LABELS: Record<WaypointPath, string> = {
  direct: 'no mesh',
  ztunnel: 'ztunnel only',
  waypoint: 'ztunnel + waypoint',
  haproxy: 'HAProxy, HAProxy legs',
  'haproxy-stunnel': 'HAProxy, stunnel legs',
};
/** The paths with an L7 hop, and that hop's process. */
const L7_HOPS: readonly [WaypointPath, string][] = [['waypoint', 'waypoint'], ['haproxy', 'haproxy'], ['haproxy-stunnel', 'haproxy']];
export const TEST = { openLoop: 'open-loop', wrk: 'wrk' } as const;
/** The request that proves each held connection. */
export const REQUEST_PATH_FOR_HOLD = '/a/who';

/** Issue 5's targets. */
export const TARGETS = { waypointP99AddedMs: 2, waypointRpsShareOfHaproxy: 0.5 } as const;

export interface WaypointOptions extends ClusterLoadOptions {
  /** Keep-alive connections held idle through each L7 path for the memory measurement; 0 skips it. */
  holdConnections?: number;
  /** Extra Node/V8 flags on the waypoint's command line, after its own (LocalMesh's waypointNodeFlags). */
  waypointNodeFlags?: string;
}

export interface WaypointReport extends RunHeader {
  options: WaypointOptions;
  /** Where the kubelet put the waypoint (and so HAProxy). */
  l7Node: string;
  requestPaths: readonly string[];
  samples: Sample<WaypointPath>[];
  /** The L7 hops (waypoint, HAProxy) after set-up and the routing checks. */
  idle: ProxyMemory[];
  /** Idle keep-alive connections held through the L7 paths (absent in runs before issue 8). */
  holds?: HoldResult<WaypointPath>[];
  /** VmHWM of each L7 hop at the end of the run (peak since just before the load tests), MiB. */
  endPeakMiB: Record<string, number>;
}

/**
 * For each repetition, open-loop p50/p99 minus no mesh's (every proxied path)
 * and the waypoint's minus ztunnel only's: what the waypoint itself adds.
 */
export function addPairedDifferences(samples: Sample<WaypointPath>[]): void {
  addDifferences(samples, () => true, 'direct', 'AddedMs');
  addDifferences(samples, (p) => p === 'waypoint', 'ztunnel', 'AddedOverZtunnelMs');
}

export function verdicts(report: WaypointReport, summary: Summary<WaypointPath>): Verdict[] {
  const cells = new SummaryCells(summary);
  const rate = report.options.rate;
  const out: Verdict[] = [];
  const added = cells.get(TEST.openLoop, 'waypoint', 'p99AddedOverZtunnelMs');
  const p99Label = `p99 added by the waypoint (ztunnel + waypoint − ztunnel only) at ${rate} req/s ≤ ${TARGETS.waypointP99AddedMs} ms`;
  out.push(added === undefined
    ? { label: p99Label, met: undefined, detail: 'not measured' }
    : {
      label: p99Label, met: added.median <= TARGETS.waypointP99AddedMs,
      detail: `${value(added.median, 3, true)} ms (median of ${added.n} paired differences, ${fmt(added.min, 3)} to ${fmt(added.max, 3)}; `
        + `p99 ${fmt(cells.median(TEST.openLoop, 'waypoint', 'p99Ms') ?? Number.NaN, 3)} ms against ${fmt(cells.median(TEST.openLoop, 'ztunnel', 'p99Ms') ?? Number.NaN, 3)} ms)`,
    });
  const w = cells.median(TEST.wrk, 'waypoint', 'rps');
  const h = cells.median(TEST.wrk, 'haproxy', 'rps');
  const hs = cells.median(TEST.wrk, 'haproxy-stunnel', 'rps');
  const rpsLabel = `waypoint max req/s ≥ ${fmt(TARGETS.waypointRpsShareOfHaproxy * 100, 0)}% of HAProxy's (wrk c${report.options.wrkConnections})`;
  out.push(w === undefined || h === undefined || h === 0
    ? { label: rpsLabel, met: undefined, detail: 'not measured' }
    : {
      label: rpsLabel, met: w / h >= TARGETS.waypointRpsShareOfHaproxy,
      detail: `${fmt(w, 0)} against ${fmt(h, 0)} req/s (HAProxy with HAProxy TLS legs): ${fmt((w / h) * 100, 1)}%`
        + `${hs === undefined || hs === 0 ? '' : `; against HAProxy with stunnel legs (${fmt(hs, 0)} req/s): ${fmt((w / hs) * 100, 1)}%`}`,
    });
  return out;
}

/** The whole section, heading included. */
export function markdownSection(report: WaypointReport, summary: Summary<WaypointPath>): string {
  const { options, machine } = report;
  const cells = new SummaryCells(summary);
  const rate = options.rate;
  const c = options.wrkConnections;
  const l7 = (path: WaypointPath): boolean => L7_HOPS.some(([p]) => p === path);
  const l7Cell = (path: WaypointPath, test: string, metric: string, digits: number): string => (l7(path) ? cells.cell(test, path, metric, digits) : '–');
  const idleOf = (name: string): ProxyMemory | undefined => report.idle.find((m) => m.name === name);

  const results = [
    `| Path | ${rate} req/s: p50 ms | p90 ms | p99 ms | max ms | p99 added over no mesh, ms | wrk c${c} req/s | proxies' CPU s / 1000 req at ${rate} req/s `
      + `| L7 hop CPU s / 1000 req at ${rate} req/s | L7 hop CPU s / 1000 req, wrk c${c} |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...WAYPOINT_PATHS.map((path) => `| ${WAYPOINT_LABELS[path]} | ${cells.cell(TEST.openLoop, path, 'p50Ms', 3)} | ${cells.cell(TEST.openLoop, path, 'p90Ms', 3)} `
      + `| ${cells.cell(TEST.openLoop, path, 'p99Ms', 3)} | ${cells.cell(TEST.openLoop, path, 'maxMs', 2)} `
      + `| ${path === 'direct' ? '–' : cells.cell(TEST.openLoop, path, 'p99AddedMs', 3)} | ${cells.cell(TEST.wrk, path, 'rps', 0)} `
      + `| ${path === 'direct' ? '–' : cells.cell(TEST.openLoop, path, 'cpuSecondsPer1kRequests', 3)} `
      + `| ${l7Cell(path, TEST.openLoop, 'l7CpuSecondsPer1kRequests', 3)} | ${l7Cell(path, TEST.wrk, 'l7CpuSecondsPer1kRequests', 3)} |`),
  ];

  const m = (test: string, path: WaypointPath, metric: string): number | undefined => cells.median(test, path, metric);
  const ratios = [
    '| Metric (median) | ztunnel + waypoint | HAProxy, HAProxy legs | HAProxy, stunnel legs | ztunnel only | no mesh '
      + '| waypoint / HAProxy (HAProxy legs) | waypoint / HAProxy (stunnel legs) | waypoint / ztunnel only | waypoint / no mesh |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...([
      [`wrk c${c} requests/s`, TEST.wrk, 'rps', 0],
      [`p50 at ${rate} req/s (ms)`, TEST.openLoop, 'p50Ms', 3],
      [`p99 at ${rate} req/s (ms)`, TEST.openLoop, 'p99Ms', 3],
      [`proxies' CPU s / 1000 req at ${rate} req/s`, TEST.openLoop, 'cpuSecondsPer1kRequests', 3],
      [`L7 hop CPU s / 1000 req at ${rate} req/s`, TEST.openLoop, 'l7CpuSecondsPer1kRequests', 3],
      [`L7 hop CPU s / 1000 req, wrk c${c}`, TEST.wrk, 'l7CpuSecondsPer1kRequests', 3],
    ] as const).map(([label, test, metric, digits]) => {
      const [w, h, hs, z, d] = (['waypoint', 'haproxy', 'haproxy-stunnel', 'ztunnel', 'direct'] as const).map((p) => m(test, p, metric));
      return `| ${label} | ${[w, h, hs, z, d].map((x) => value(x, digits)).join(' | ')} | ${[h, hs, z, d].map((x) => ratio(w, x)).join(' | ')} |`;
    }),
    `| p99 added over ztunnel only at ${rate} req/s (ms) | ${cells.cell(TEST.openLoop, 'waypoint', 'p99AddedOverZtunnelMs', 3)} | – | – | – | – | – | – | – | – |`,
  ];

  const l7Rows = L7_HOPS.map(([path, name]) => {
    const idle = idleOf(name);
    return `| ${WAYPOINT_LABELS[path]}: ${name} | ${idle === undefined ? '–' : `${fmt(idle.rssMiB, 1)} (anon ${fmt(idle.anonMiB, 1)})`} `
      + `| ${cells.cell(TEST.openLoop, path, 'l7RssMiB', 1)} | ${cells.cell(TEST.wrk, path, 'l7RssMiB', 1)} | ${value(report.endPeakMiB[name], 1)} `
      + `| ${cells.cell(TEST.openLoop, path, 'l7Cores', 2)} | ${cells.cell(TEST.wrk, path, 'l7Cores', 2)} |`;
  });
  const l7Table = [
    `| L7 hop | RSS idle (MiB) | highest RSS at ${rate} req/s | highest RSS, wrk c${c} | VmHWM, load tests | cores at ${rate} req/s | cores, wrk c${c} |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...l7Rows,
  ];

  const tests = [TEST.openLoop, TEST.wrk];
  const cpu = [
    `| Path | proxies' cores at ${rate} req/s | proxies' cores, wrk c${c} | proxies' CPU s / 1000 req, wrk c${c} | machine busy cores: ${rate} req/s / wrk `
      + '| other processes, most cores: rate / wrk |',
    '|---|---:|---:|---:|---:|---:|',
    ...WAYPOINT_PATHS.map((path) => `| ${WAYPOINT_LABELS[path]} | ${cells.cell(TEST.openLoop, path, 'proxyCores', 2)} | ${cells.cell(TEST.wrk, path, 'proxyCores', 2)} `
      + `| ${path === 'direct' ? '–' : cells.cell(TEST.wrk, path, 'cpuSecondsPer1kRequests', 3)} `
      + `| ${tests.map((t) => value(m(t, path, 'machineBusyCores'), 2)).join(' / ')} `
      + `| ${tests.map((t) => nonNegative(cells.get(t, path, 'otherProcessesCores')?.max)).join(' / ')} |`),
  ];

  const generator = [
    `| Path | achieved req/s | errors (all runs) | p99.9 ms | generator lag p99 / max ms | settling first: p50 / p99 / max ms `
      + `| wrk c${c} p50 / p99 ms | wrk errors (all runs) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...WAYPOINT_PATHS.map((path) => `| ${WAYPOINT_LABELS[path]} | ${cells.cell(TEST.openLoop, path, 'achievedRate', 0)} `
      + `| ${value(total(report.samples, TEST.openLoop, path, 'errors'), 0)} | ${cells.cell(TEST.openLoop, path, 'p999Ms', 3)} `
      + `| ${value(m(TEST.openLoop, path, 'lagP99Ms'), 2)} / ${value(cells.get(TEST.openLoop, path, 'lagMaxMs')?.max, 2)} `
      + `| ${settleCell((metric) => m(TEST.openLoop, path, metric))} `
      + `| ${value(m(TEST.wrk, path, 'p50Ms'), 3)} / ${value(m(TEST.wrk, path, 'p99Ms'), 3)} | ${value(total(report.samples, TEST.wrk, path, 'errors'), 0)} |`),
  ];

  const paths = report.requestPaths.map((p) => `\`${p}\``).join(' and ');
  return [
    ...headerLines(HEADING, report),
    '',
    '### Method',
    '',
    'The issue-4 cluster (`LocalCluster` with 2 nodes; `LocalMesh`: the control plane, a ztunnel per node with nftables capture) and '
      + 'the in-process kubelet; log level '
      + `\`${options.logLevel}\`${options.waypointNodeFlags === undefined ? '' : `, waypoint Node flags \`${options.waypointNodeFlags}\``}${options.ztunnelNodeFlags === undefined ? '' : `, ztunnel Node flags \`${options.ztunnelNodeFlags}\``}. `
      + 'In each namespace below, a client pod on node-1 and two nginx pods on node-2, `server-a` and `server-b` (1 worker, the same '
      + `1 KiB file at ${paths}, keep-alive for the whole run), behind Services \`server-a\`, \`server-b\` and \`web\` (both pods). `
      + `Every request alternates ${paths}. Five paths, measured in the same run:`,
    '',
    '- **no mesh**: `plain/client` → the `web.plain` VIP (namespace not enrolled; kube-proxy picks a pod per connection).',
    '- **ztunnel only**: `mesh/client` → the `web.mesh` VIP in an enrolled namespace: node-1\'s ztunnel picks a pod per connection '
      + 'and carries it over HBONE (HTTP/2 CONNECT over pooled mutual TLS) to node-2\'s ztunnel. Checked before measuring: node-2 counted a '
      + '`mutual_tls` connection from `mesh/client`.',
    '- **ztunnel + waypoint**: `wp/client` → the `web.wp` VIP in an enrolled namespace bound to a waypoint (a Gateway of class '
      + '`ambit-waypoint`, run by the control plane\'s controller and the kubelet as one pod, a primary and two worker processes (`--workers 2`), on '
      + `${report.l7Node}; label \`ambit.dev/use-waypoint\`). An HTTPRoute on Service \`web\` sends \`PathPrefix /a\` to \`server-a\` and `
      + '`/b` to `server-b`. node-1\'s ztunnel → HBONE → the waypoint (terminates mTLS and HTTP/2 CONNECT, parses each HTTP/1.1 request, '
      + 'routes it, adds its headers and telemetry'
      + `${options.logLevel === 'info' || options.logLevel === 'debug' ? `, and at log level \`${options.logLevel}\` writes an access-log line per request` : ''}`
      + ') → HBONE → node-2\'s ztunnel → the pod. L7 hop: the waypoint. (The HAProxys log nothing.)',
    '- **HAProxy, HAProxy legs**: the waypoint\'s job done by HAProxy, with HAProxy also in the ztunnels\' places. `plain/client` → '
      + 'HAProxy in node-1\'s namespace on its pod gateway (TCP mode: plain in, mutual TLS out) → HAProxy, the L7 hop, in a pod of a '
      + `non-enrolled namespace on ${report.l7Node} (beside the waypoint), which requires a client certificate chaining to a test root, `
      + 'routes `path_beg /a` to backend a and `/b` to backend b (anything else 404) and sends each request on over mutual TLS (its own '
      + 'certificate, the backend\'s chain verified, idle backend connections reused) → HAProxy in node-2\'s namespace (TCP mode: mutual '
      + 'TLS in, plain out) → `plain/server-a` or `plain/server-b`. L7 hop: the middle HAProxy.',
    '- **HAProxy, stunnel legs**: the same L7 HAProxy (one process; a second listener with its own two backends), with the issue-4 stunnel '
      + 'pair as the legs (stunnel client on node-1\'s gateway, stunnel server on node-2).',
    '',
    'Every TLS leg: TLS 1.3, `TLS_AES_128_GCM_SHA256`, certificates from a test root (`fixtures.ts`; like stunnel, HAProxy checks chains, '
      + 'not SPIFFE identities), one TLS connection per client connection on the legs. Each HAProxy runs its default threads (one per CPU). '
      + 'So every L7 path is: a TLS proxy on node-1, one L7 hop with TLS in and TLS out, a TLS proxy on node-2.',
    '',
    'Before measuring, `/a/who` and `/b/who` (which each nginx answers with its name) must reach `server-a` and `server-b` respectively '
      + 'through both L7 paths, 10 times each on new connections, and the waypoint\'s own metrics must count those requests.',
    '',
    `Per path: the ${rate} req/s test — ${options.rateConnections} keep-alive connections for ${options.durationSeconds} s with `
      + '`test/bench/open-loop.ts` (latency from each request\'s scheduled send time, so stalls are not hidden by coordinated omission'
      + `${settleText(options.settleSeconds)}) — `
      + `then \`wrk -t2 -c${c} -d${options.durationSeconds}s\` for the most requests/s (closed loop, a Lua script alternating the paths). `
      + `${options.warmupSeconds > 0 ? `A ${options.warmupSeconds} s wrk warm-up per path first (not recorded); then ` : ''}`
      + `${options.repeat} repetition(s), paths interleaved and their order rotated each repetition. Cells show the median and, with more `
      + 'than one repetition, the min–max range. "p99 added" is the difference from the other path\'s p99 in the same repetition, then the '
      + 'median of those differences.',
    '',
    'CPU is utime + stime from `/proc/PID/stat` (all threads, of each proxy process and its children: the waypoint\'s primary and workers) '
      + 'over the measured window, divided by the requests completed: "proxies" are all '
      + 'the proxy processes of a path (both ztunnels, and the waypoint; or both legs and the L7 HAProxy), "L7 hop" '
      + 'the waypoint or the L7 HAProxy alone. RSS is VmRSS from `/proc/PID/status`, likewise summed over a process and its children (pages they '
      + 'share counted in each), sampled every 100 ms during each test (highest kept); VmHWM is '
      + 'reset just before the load tests. "Machine busy" and "other processes" as in the issue-4 section (cpuacct groups).',
    '',
    pinningLine(options, machine.cores),
    '',
    ...subsection('Results', results),
    ...subsection('Ratios', [...ratios, '', 'For requests/s above 1 is better; for latency and CPU below 1 is better.']),
    ...subsection('Targets (issue 5)', verdicts(report, summary).map(verdictLine)),
    ...(ratesOf(report.options).length > 1 ? subsection('Latency and cost by rate', [
      `The open-loop test at each rate (${report.options.rateConnections} keep-alive connections, ${report.options.durationSeconds} s); `
        + '"per proxy" gives node-1\'s ztunnel (or HAProxy leg), the L7 hop and node-2\'s ztunnel (or leg) separately where they are '
        + 'measured on their own (the HAProxy legs are not), each with its highest VmRSS during the test.',
      '',
      ...rateTable(report.samples, summary, report.options, WAYPOINT_PATHS, WAYPOINT_LABELS, 'direct'),
    ]) : []),
    ...subsection('The L7 hops: memory and CPU', l7Table),
    ...(report.holds === undefined || report.holds.length === 0 ? [] : subsection('Idle connections', [
      `${report.holds[0]!.requested} keep-alive connections from the client pod through each L7 path, each proven by one \`GET ${REQUEST_PATH_FOR_HOLD}\` `
        + '(answered 200 through the L7 hop), then held idle while every proxy\'s VmRSS is sampled every 100 ms for 3 s (the highest kept). '
        + 'Measured after the idle figures and before the load tests.',
      '',
      '| Path | held | opened in (s) | proxy: VmRSS before → held (MiB), per 1000 connections | dropped while held |',
      '|---|---:|---:|---|---:|',
      ...report.holds.map((h) => `| ${WAYPOINT_LABELS[h.path]} | ${h.held} | ${fmt(h.openMs / 1000, 1)} `
        + `| ${h.proxies.map((p) => `${p.name} ${fmt(p.beforeMiB, 1)} → ${fmt(p.heldMiB, 1)} (${value(((p.heldMiB - p.beforeMiB) * 1000) / h.held, 1, true)})`).join('; ')} `
        + `| ${Number.isNaN(h.droppedWhileHeld) ? '?' : h.droppedWhileHeld} |`),
    ])),
    ...subsection('CPU', cpu),
    ...subsection('Load generators', generator),
    'Raw samples: `test/bench/results/waypoint.json`.',
    '',
  ].join('\n');
}
