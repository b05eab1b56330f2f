// The overlay benchmark (issue 2): iperf3 and wrk, in one run on loopback,
// through no tunnel, a stunnel4 mTLS pair and the HBONE pair; the table goes
// to docs/performance.md, the samples to test/bench/results/overlay.json.
//
//   pnpm build && pnpm bench                 # default: 10 s per test, 3 repetitions (about 5 minutes)
//   node test/dist/bench/run.js --quick      # smoke run: 3 s, 1 repetition, prints only
//
// Options: --help (OPTIONS below) and test/bench/README.md.
// Needs iperf3, wrk, stunnel4 and nginx on PATH (apt-get install -y iperf3 wrk stunnel4 nginx-light).
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BODY_BYTES, BODY_PATH, SERVER_ID, writeCertificates, writeNginxConfig, writeStunnelConfig, type PemFiles,
} from './fixtures.js';
import { iperf3, wrk } from './load.js';
import { describeMachine, stunnelBinary } from './machine.js';
import {
  cpuSeconds, freePort, machineBusySeconds, peakRssMiB, ProcessSet, run, setClockTicks, waitForPort, type Managed,
} from './processes.js';
import {
  benchFiles, markdownSection, PATH_LABELS, publish, summarize, type PathName, type Report, type Sample,
} from './report.js';
import { failureText, LOAD_OPTIONS, loadTiming, parseBenchArgs, positiveInt, shouldWrite, usage, wantsHelp } from './args.js';

const PAIR_SCRIPT = fileURLToPath(new URL('./hbone-pair.js', import.meta.url));
// The loopback overlay benchmark is not part of the suite (suite.ts): its section lives in a page of its own.
const { docFile: DOC_FILE, resultsFile: RESULTS_FILE } = benchFiles('overlay', 'performance-loopback.md');
const READY_TIMEOUT_MS = 15_000;
const SETTLE_MS = 500;

interface Options {
  durationSeconds: number;
  repeat: number;
  warmupSeconds: number;
  connections: number[];
  pinLoad: string | undefined;
  pinProxies: string | undefined;
  write: boolean;
}

/** Where the load generator connects for one path, and the tunnel processes on it. */
interface Route {
  path: PathName;
  iperfPort: number;
  httpPort: number;
  proxies: Managed[];
}

const OPTIONS = {
  ...LOAD_OPTIONS,
  connections: { type: 'string', default: '16,64', value: 'LIST', help: 'wrk connection counts (default 16,64)' },
} as const;
const BENCH = { command: 'pnpm bench', script: 'test/dist/bench/run.js', readme: 'HBONE overlay (issue 2)' };

function parseOptions(argv: string[]): Options {
  const values = parseBenchArgs(argv, OPTIONS);
  const quick = values.quick;
  const connections = values.connections.split(',').map((c) => positiveInt('connections', c.trim(), 0));
  return {
    ...loadTiming(values, quick),
    connections,
    pinLoad: values['pin-load'],
    pinProxies: values['pin-proxies'],
    // A smoke run must not replace the recorded numbers unless asked to.
    write: shouldWrite(values, quick),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(usage(BENCH, OPTIONS));
    return;
  }
  const options = parseOptions(argv);
  const set = new ProcessSet();
  const dir = await mkdtemp(join(os.tmpdir(), 'ambit-bench-'));
  // Last resort if the run is interrupted: nothing it started survives it.
  const onExit = (): void => {
    set.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  try {
    await benchmark(options, set, dir);
  } finally {
    await set.stopAll();
    await rm(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}

async function benchmark(options: Options, set: ProcessSet, dir: string): Promise<void> {
  const machine = await describeMachine(set);
  const tck = await run(set, { name: 'getconf', command: 'getconf', args: ['CLK_TCK'] }, 5_000);
  setClockTicks(Number(tck.stdout.trim()));
  log(`${machine.cores} cores (${machine.cpuModel}); ${options.repeat} repetition(s) of ${options.durationSeconds} s; temp dir ${dir}`);

  const pem = await writeCertificates(dir);
  const routes = await startEverything(options, set, dir, pem);
  for (const route of routes) await checkRoute(route);
  log('every path serves the 1 KiB file');

  const all = routes.flatMap((r) => r.proxies);
  if (options.warmupSeconds > 0) {
    log(`warm-up: ${options.warmupSeconds} s of each tool per path`);
    for (const route of routes) {
      await iperf3(set, route.iperfPort, options.warmupSeconds, options.pinLoad);
      await wrk(set, url(route), Math.max(...options.connections), options.warmupSeconds, options.pinLoad);
    }
  }

  const samples: Sample[] = [];
  const measure = async (test: string, route: Route, repetition: number, body: () => Promise<Record<string, number>>): Promise<void> => {
    set.checkAlive(all);
    await sleep(SETTLE_MS);
    const before = route.proxies.map((p) => cpuSeconds(p.pid));
    const machineBefore = machineBusySeconds();
    const started = process.hrtime.bigint();
    const metrics = await body();
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.machineBusyCores = (machineBusySeconds() - machineBefore) / wallSeconds;
    if (route.proxies.length > 0) {
      const used = route.proxies.map((p, i) => cpuSeconds(p.pid) - before[i]!);
      const cpu = used.reduce((a, b) => a + b, 0);
      metrics.proxyCpuSeconds = cpu;
      metrics.proxyCores = cpu / wallSeconds;
      metrics.clientCores = used[0]! / wallSeconds;
      metrics.serverCores = used[1]! / wallSeconds;
      if (metrics.requests !== undefined && metrics.requests > 0) metrics.cpuMsPer1kRequests = (cpu * 1000) / (metrics.requests / 1000);
    }
    samples.push({ test, path: route.path, repetition, metrics });
    log(`${test.padEnd(8)} ${PATH_LABELS[route.path].padEnd(20)} #${repetition} ${describe(metrics)}`);
  };

  for (let repetition = 1; repetition <= options.repeat; repetition++) {
    // Rotate the order so no path always runs first (or right after another's load).
    const order = rotate(routes, repetition - 1);
    for (const route of order) {
      await measure('iperf3', route, repetition, async () => {
        const r = await iperf3(set, route.iperfPort, options.durationSeconds, options.pinLoad);
        return { gbps: r.receivedBps / 1e9, sentGbps: r.sentBps / 1e9, ...(r.retransmits === undefined ? {} : { retransmits: r.retransmits }) };
      });
    }
    for (const connections of options.connections) {
      for (const route of order) {
        await measure(`wrk-c${connections}`, route, repetition, async () => {
          const r = await wrk(set, url(route), connections, options.durationSeconds, options.pinLoad);
          return { rps: r.requestsPerSec, p50Ms: r.p50Ms, p90Ms: r.p90Ms, p99Ms: r.p99Ms, requests: r.requests, errors: r.errors };
        });
      }
    }
  }
  set.checkAlive(all);

  const peakRss: Record<string, number | undefined> = {};
  for (const proxy of all) peakRss[proxy.name] = peakRssMiB(proxy.pid);
  const report: Report = {
    date: new Date().toISOString(),
    command: `node test/dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    options: {
      durationSeconds: options.durationSeconds, repeat: options.repeat, warmupSeconds: options.warmupSeconds,
      connections: options.connections,
      ...(options.pinLoad === undefined ? {} : { pinLoad: options.pinLoad }),
      ...(options.pinProxies === undefined ? {} : { pinProxies: options.pinProxies }),
    },
    samples,
    peakRssMiB: peakRss,
  };
  const summary = summarize(samples);
  const section = markdownSection(report, summary);
  log(await publish(section, { ...report, summary }, { write: options.write, docFile: DOC_FILE, resultsFile: RESULTS_FILE }));
}

/** Starts the servers and both tunnel pairs; returns the three routes, no tunnel first. */
async function startEverything(options: Options, set: ProcessSet, dir: string, pem: PemFiles): Promise<Route[]> {
  const ports = await distinctPorts(9);
  const port = (i: number): number => ports[i]!;
  const [iperfPort, nginxPort, stunnelIperf, stunnelHttp, stunnelIperfBack, stunnelHttpBack, hbonePort, hboneIperf, hboneHttp] =
    [port(0), port(1), port(2), port(3), port(4), port(5), port(6), port(7), port(8)];

  const iperfServer = set.start({
    name: 'iperf3-server', command: 'iperf3', args: ['-s', '-B', '127.0.0.1', '-p', String(iperfPort)], cpus: options.pinLoad,
  });
  const nginxConfig = await writeNginxConfig(dir, nginxPort);
  const nginx = set.start({
    name: 'nginx', command: 'nginx', args: ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConfig], cpus: options.pinLoad,
  });

  const stunnelServerConfig = await writeStunnelConfig(dir, 'server', pem, [
    { name: 'iperf3', accept: stunnelIperfBack, connect: iperfPort },
    { name: 'http', accept: stunnelHttpBack, connect: nginxPort },
  ]);
  const stunnelClientConfig = await writeStunnelConfig(dir, 'client', pem, [
    { name: 'iperf3', accept: stunnelIperf, connect: stunnelIperfBack },
    { name: 'http', accept: stunnelHttp, connect: stunnelHttpBack },
  ]);
  const stunnelServer = set.start({ name: 'stunnel-server', command: stunnelBinary(), args: [stunnelServerConfig], cpus: options.pinProxies });
  const stunnelClient = set.start({ name: 'stunnel-client', command: stunnelBinary(), args: [stunnelClientConfig], cpus: options.pinProxies });

  const pair = (role: 'client' | 'server', args: string[]): Managed => set.start({
    name: `hbone-${role}`,
    command: process.execPath,
    args: [PAIR_SCRIPT, '--role', role, ...args, '--ca', pem.ca,
      '--cert', role === 'client' ? pem.clientCert : pem.serverCert, '--key', role === 'client' ? pem.clientKey : pem.serverKey],
    cpus: options.pinProxies,
  });
  const hboneServer = pair('server', ['--listen', `127.0.0.1:${hbonePort}`]);
  const hboneClient = pair('client', [
    '--server', `127.0.0.1:${hbonePort}`, '--server-identity', SERVER_ID.uri,
    '--forward', `127.0.0.1:${hboneIperf}=127.0.0.1:${iperfPort}`,
    '--forward', `127.0.0.1:${hboneHttp}=127.0.0.1:${nginxPort}`,
  ]);

  await Promise.all([
    waitForPort(iperfPort, iperfServer),
    waitForPort(nginxPort, nginx),
    waitForPort(stunnelIperfBack, stunnelServer),
    waitForPort(stunnelHttpBack, stunnelServer),
    waitForPort(stunnelIperf, stunnelClient),
    waitForPort(stunnelHttp, stunnelClient),
    hboneServer.waitForLine(/"ready":true/, READY_TIMEOUT_MS),
    hboneClient.waitForLine(/"ready":true/, READY_TIMEOUT_MS),
  ]);
  return [
    { path: 'direct', iperfPort, httpPort: nginxPort, proxies: [] },
    { path: 'stunnel', iperfPort: stunnelIperf, httpPort: stunnelHttp, proxies: [stunnelClient, stunnelServer] },
    { path: 'hbone', iperfPort: hboneIperf, httpPort: hboneHttp, proxies: [hboneClient, hboneServer] },
  ];
}

/** One GET of the file through the route: proves the path (and its mTLS) works before anything is timed. */
async function checkRoute(route: Route): Promise<void> {
  const body = await new Promise<Buffer>((resolve, reject) => {
    const request = http.get(url(route), { agent: false, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => (response.statusCode === 200
        ? resolve(Buffer.concat(chunks))
        : reject(new Error(`GET ${url(route)} answered ${response.statusCode}`))));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error(`GET ${url(route)} timed out`)));
    request.once('error', reject);
  });
  if (body.length !== BODY_BYTES) throw new Error(`${PATH_LABELS[route.path]}: got ${body.length} bytes instead of ${BODY_BYTES}`);
}

async function distinctPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function url(route: Route): string {
  return `http://127.0.0.1:${route.httpPort}${BODY_PATH}`;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function describe(metrics: Record<string, number>): string {
  const parts: string[] = [];
  if (metrics.gbps !== undefined) parts.push(`${metrics.gbps.toFixed(2)} Gbit/s`);
  if (metrics.rps !== undefined) parts.push(`${metrics.rps.toFixed(0)} req/s p50 ${metrics.p50Ms ?? NaN} ms p99 ${metrics.p99Ms ?? NaN} ms`);
  if (metrics.errors !== undefined && metrics.errors > 0) parts.push(`${metrics.errors} errors`);
  if (metrics.proxyCores !== undefined) {
    parts.push(`tunnel ${metrics.proxyCores.toFixed(2)} cores (client ${metrics.clientCores?.toFixed(2) ?? '?'} + server ${metrics.serverCores?.toFixed(2) ?? '?'})`);
  }
  if (metrics.machineBusyCores !== undefined) parts.push(`machine busy ${metrics.machineBusyCores.toFixed(2)} cores`);
  return parts.join(', ');
}

function log(message: string): void {
  console.log(`[bench] ${message}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((error: unknown) => {
  console.error(`[bench] failed: ${failureText(error)}`);
  process.exitCode = 1;
});
