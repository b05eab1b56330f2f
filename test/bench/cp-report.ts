// Results of the control-plane benchmark: per-scale numbers, the markdown
// section for docs/performance.md ("## Control plane at scale (issue 3)")
// and the shape of test/bench/results/control-plane.json.
import type { Scale } from './cp-cluster.js';

export const TARGET_PUSH_MS = 1_000;
export const TARGET_RSS_MB = 300;

export interface Percentiles {
  median: number;
  p90: number;
  max: number;
  n: number;
}

export interface ChangeSample {
  k: number;
  kind: 'pod-label' | 'namespace-enrollment';
  target: string;
  workloadsChanged: number;
  version: string;
  /** Milliseconds from issuing the change (the benchmark's IPC send) to: the store commit, */
  commitMs: number;
  /** the version carrying it being pushed to every subscriber, */
  pushedMs: number;
  /** the control plane receiving the last subscriber's ACK of it, */
  ackMs: number;
  /** the last (and median) subscriber's 'synced' event for it, on the client side. */
  lastClientMs: number;
  medianClientMs: number;
  /** The translation that produced the version (pipeline.last.durationMs). */
  translationMs?: number;
  /** The control plane's highest sampled VmRSS from issuing this change to issuing the next, MiB. */
  rssMaxMiB?: number;
}

export interface ScaleResult {
  scale: Scale;
  objects: number;
  namespaces: number;
  populateMs: number;
  startMs: number;
  bootstrapMs: number;
  /** One snapshot line (what each subscriber is sent on connecting). */
  snapshotMiB: number;
  subscriberProcs: number;
  sync: { lastClientMs: number; medianClientMs: number; serverAllAckedMs: number; cpuSeconds: number };
  changes: ChangeSample[];
  latency: { ack: Percentiles; lastClient: Percentiles; pushed: Percentiles; ackPodLabel: Percentiles; ackNamespace: Percentiles };
  rssMiB: {
    ready: number;
    readyPrometheus: number | undefined;
    syncPeak: number;
    syncSampledMax: number;
    idle: number;
    idlePrometheus: number | undefined;
    idleHeapUsed: number;
    /** VmHWM over the change phase alone (peak reset after idle); undefined if the reset was refused. */
    changesPeak: number | undefined;
    changesSampledMax: number;
    changesEnd: number;
    changesEndPrometheus: number | undefined;
    /** VmRSS after the changes and a forced full garbage collection. */
    afterForcedGc: number;
    overallPeak: number;
  };
  /** V8 heap of the control plane (process.memoryUsage), MiB. */
  heapMiB: { idle: HeapMiB; changesEnd: HeapMiB; afterForcedGc: HeapMiB };
  translation: { startupMeanMs: number | undefined; changesCount: number | undefined; changesMeanMs: number | undefined; changes: Percentiles };
  pushToAckMetric: { acks: number | undefined; meanMs: number | undefined };
  cpu: { controlPlaneStartupSeconds: number; controlPlaneSyncSeconds: number; controlPlaneChangesCores: number; subscriberTotalSeconds: number };
  subscriberPeakRssMiB: number[];
  subscriberHeapUsedMiB: number[];
}

export interface HeapMiB {
  used: number;
  total: number;
  external: number;
  arrayBuffers: number;
}

export interface CpReport {
  date: string;
  command: string;
  machine: { cpuModel: string; cores: number; memoryGiB: number; kernel: string; node: string };
  options: { changes: number; intervalMs: number; subscriberProcs: number; debounce: string; hostNodeFlags: string[] };
  results: ScaleResult[];
}

/** Median, nearest-rank p90 and max. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { median: Number.NaN, p90: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
  return { median, p90, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** The whole "## Control plane at scale (issue 3)" section, heading included. */
export function markdownSection(report: CpReport): string {
  const { machine, options } = report;
  const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : fmt(v, 0));
  const mb = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : fmt(v, 0));
  const heap = (h: HeapMiB): string => `${mb(h.used)} / ${mb(h.total)} / ${mb(h.external)}`;
  const trio = (p: Percentiles): string => `${ms(p.median)} / ${ms(p.p90)} / ${ms(p.max)}`;
  const label = (r: ScaleResult): string =>
    `${fmt(r.scale.pods, 0)} workloads, ${fmt(r.scale.services, 0)} services, ${r.scale.nodes} subscribers`;

  const main = [
    '| Scale | first full sync, all subscribers (s) | push latency median / p90 / max (ms) | RSS idle after sync (MiB) | RSS peak during changes (MiB) | RSS peak overall (MiB) | translation per change median / max (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...report.results.map((r) => `| ${label(r)} | ${fmt(Math.max(r.sync.lastClientMs, r.sync.serverAllAckedMs) / 1000, 1)} | ${trio(r.latency.ack)} | `
      + `${mb(r.rssMiB.idle)} | ${mb(r.rssMiB.changesPeak ?? r.rssMiB.changesSampledMax)} | ${mb(r.rssMiB.overallPeak)} | `
      + `${ms(r.translation.changes.median)} / ${ms(r.translation.changes.max)} |`),
  ];
  const breakdown = [
    '| Scale | change kind | n | store commit | version pushed | last ACK at the control plane | last client `synced` | median client `synced` |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...report.results.flatMap((r) => (['pod-label', 'namespace-enrollment'] as const).map((kind) => {
      const samples = r.changes.filter((s) => s.kind === kind);
      const col = (pick: (s: ChangeSample) => number): string => ms(percentiles(samples.map(pick)).median);
      return `| ${r.scale.name} | ${kind === 'pod-label' ? 'label/unlabel a pod (1 workload)' : 'enrol/withdraw a namespace (200 workloads)'} | ${samples.length} | `
        + `${col((s) => s.commitMs)} | ${col((s) => s.pushedMs)} | ${col((s) => s.ackMs)} | ${col((s) => s.lastClientMs)} | ${col((s) => s.medianClientMs)} |`;
    })),
  ];
  const memory = [
    '| Scale | after start, no subscribers | peak during first sync (VmHWM) | idle after sync: VmRSS / `process_resident_memory_bytes` / V8 heap used | peak during changes: VmHWM / sampled VmRSS | end of changes: VmRSS / `process_resident_memory_bytes` |',
    '|---|---:|---:|---:|---:|---:|',
    ...report.results.map((r) => `| ${r.scale.name} | ${mb(r.rssMiB.ready)} | ${mb(r.rssMiB.syncPeak)} | `
      + `${mb(r.rssMiB.idle)} / ${mb(r.rssMiB.idlePrometheus)} / ${mb(r.rssMiB.idleHeapUsed)} | `
      + `${mb(r.rssMiB.changesPeak)} / ${mb(r.rssMiB.changesSampledMax)} | ${mb(r.rssMiB.changesEnd)} / ${mb(r.rssMiB.changesEndPrometheus)} |`),
    '',
    'V8 heap of the control plane (`process.memoryUsage()`, MiB): used / total / external:',
    '',
    '| Scale | idle after sync | end of changes | end of changes, after a forced full GC | VmRSS after that GC |',
    '|---|---:|---:|---:|---:|',
    ...report.results.map((r) => `| ${r.scale.name} | ${heap(r.heapMiB.idle)} | ${heap(r.heapMiB.changesEnd)} | ${heap(r.heapMiB.afterForcedGc)} | ${mb(r.rssMiB.afterForcedGc)} |`),
  ];
  const other = [
    '| Scale | store objects | snapshot per subscriber (MiB) | populate store (s) | control plane start to ready (s) | node certificates (s) | translation at start, mean (ms) | translations during changes: count, mean (ms) | `push_to_ack` mean during changes (ms) | control-plane CPU: sync (s), changes (cores) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.results.map((r) => `| ${r.scale.name} | ${fmt(r.objects, 0)} | ${fmt(r.snapshotMiB, 1)} | ${fmt(r.populateMs / 1000, 1)} | ${fmt(r.startMs / 1000, 1)} | `
      + `${fmt(r.bootstrapMs / 1000, 1)} | ${ms(r.translation.startupMeanMs)} | ${r.translation.changesCount ?? '–'}, ${ms(r.translation.changesMeanMs)} | `
      + `${ms(r.pushToAckMetric.meanMs)} | ${fmt(r.cpu.controlPlaneSyncSeconds, 1)}, ${fmt(r.cpu.controlPlaneChangesCores, 2)} |`),
  ];

  const large = report.results.find((r) => r.scale.pods >= 10_000 && r.scale.services >= 1_000 && r.scale.nodes >= 100);
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**not met**');
  const targets = large === undefined
    ? ['- Not measured at the target scale (10 000 workloads, 1 000 services, 100 subscribers) in this run.']
    : [
      `- Push latency under 1 s (change → last subscriber acked), at the target scale: ${verdict(large.latency.ack.max < TARGET_PUSH_MS)} `
        + `(median ${ms(large.latency.ack.median)} ms, p90 ${ms(large.latency.ack.p90)} ms, max ${ms(large.latency.ack.max)} ms over ${large.latency.ack.n} changes`
        + `${large.latency.ack.max >= 0.8 * TARGET_PUSH_MS ? '; the slowest change came within 20% of the target' : ''}).`,
      `- Control-plane RSS under 300 MB, at the target scale: ${verdict(large.rssMiB.overallPeak * 1.048576 < TARGET_RSS_MB)} `
        + `(peak ${mb(large.rssMiB.overallPeak * 1.048576)} MB = ${mb(large.rssMiB.overallPeak)} MiB, during the first sync of all subscribers; `
        + `idle after sync ${mb(large.rssMiB.idle * 1.048576)} MB; peak during changes ${mb((large.rssMiB.changesPeak ?? large.rssMiB.changesSampledMax) * 1.048576)} MB).`,
    ];

  return [
    '## Control plane at scale (issue 3)',
    '',
    `Measured ${report.date} with \`${report.command}\`.`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${fmt(machine.memoryGiB, 0)} GiB, Linux ${machine.kernel}, Node ${machine.node}.`,
    '',
    '### Method',
    '',
    'One run, two scales, all on 127.0.0.1 (`test/bench/control-plane.ts`). For each scale the benchmark writes a synthetic cluster into '
      + 'a fresh local store with `LocalStore.open` (namespaces of 200 pods and 20 services, each service selecting 10 pods by `app`; pods '
      + 'Running and Ready, spread round-robin over the nodes with IPs from a /24 per node; every other namespace enrolled with '
      + '`ambit.dev/dataplane-mode=ambient`), closes it, and starts the control plane on that state directory in its own process '
      + '(`cp-host.ts`: `startControlPlane`, local backend, default settings, debounce '
      + `${options.debounce}, ports chosen by the kernel${options.hostNodeFlags.length === 0 ? ', no extra Node flags' : `, Node flags \`${options.hostNodeFlags.join(' ')}\``}). One ztunnel subscriber per node (\`node-0\`…) bootstraps its node certificate with `
      + 'its bootstrap token through `CaClient` and `CertificateManager`, then subscribes with `DiscoveryClient`, exactly as a ztunnel does; '
      + `the subscribers run in ${options.subscriberProcs === 1 ? 'one separate process' : `${options.subscriberProcs} separate processes`} (\`cp-subscribers.ts\`), `
      + 'so every ACK crosses a real mutual-TLS HTTP/2 connection.',
    '',
    '- **First full sync**: all subscribers subscribe at once (as after a control-plane restart); the time until the last one applied its '
      + 'snapshot (`synced` event) and the control plane holds every ACK. Every subscriber must then hold all workloads.',
    `- **Push latency**: ${options.changes} changes, one every ${options.intervalMs} ms (the next one waits until the previous one is acknowledged), `
      + 'made through the control plane\'s own store (`store.patch`, what `ambit apply` or a kubelet does), alternating between labelling/unlabelling one pod '
      + '(its workload changes) and enrolling/withdrawing one namespace (its 200 workloads change protocol). Every ztunnel receives every workload, '
      + 'so each change reaches every subscriber. Push latency is from issuing the change to the control plane receiving the last subscriber\'s ACK '
      + 'of the version carrying it (its subscriber status `lastAckedVersion`); the client-side time of the last `synced` event for that version is '
      + 'recorded too, and each change is checked to be visible in every subscriber\'s index. The debounce window is part of the latency.',
    '- **RSS** of the control-plane process: `VmRSS`/`VmHWM` from `/proc/PID/status` and `process_resident_memory_bytes` from its `/metrics`; '
      + 'sampled every 100 ms. The peak is reset (`clear_refs` 5) after the idle measurement, so "peak during changes" is that phase alone. '
      + '"Idle" is 3 s after the first sync completed, without forcing a garbage collection.',
    '- **Translation**: `pipeline.last.durationMs` of the translation that produced each change\'s version, and `ambit_translation_duration_seconds`. '
      + 'It covers translating, diffing against the published state and writing the update to every subscriber stream, and status write-back.',
    machine.cores <= 4
      ? `With ${machine.cores} cores the control plane and all subscriber clients share the same CPUs, so client-side processing adds to the latency.`
      : '',
    '',
    '### Results',
    '',
    ...main,
    '',
    'Push latency is change → last subscriber ACK at the control plane. Peak during changes is `VmHWM` after a reset (or the sampled maximum).',
    '',
    ...report.results.map((r) => `- ${r.scale.name}: one snapshot is ${fmt(r.snapshotMiB, 1)} MiB of NDJSON; ${r.scale.nodes} subscribers syncing at once are `
      + `${fmt(r.snapshotMiB * r.scale.nodes, 0)} MiB of encoded updates in flight, against a peak RSS during the sync of ${mb(r.rssMiB.syncPeak)} MiB.`),
    '',
    '### Where the latency goes (medians, ms from issuing the change)',
    '',
    ...breakdown,
    '',
    '### Memory (MiB)',
    '',
    ...memory,
    '',
    '### Other',
    '',
    ...other,
    '',
    '### Target',
    '',
    ...targets,
    '',
    'Raw samples: `test/bench/results/control-plane.json`.',
    '',
  ].join('\n');
}

function fmt(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
