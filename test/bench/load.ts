// The load generators: iperf3 (one TCP stream, bits/s) and wrk (HTTP/1.1
// keep-alive, requests/s and latency percentiles), and the parsing of what
// they print.
import { run, type ProcessSet } from './processes.js';

export interface ThroughputResult {
  /** Receiver-side goodput, bits per second. */
  receivedBps: number;
  sentBps: number;
  retransmits: number | undefined;
}

export interface HttpResult {
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
}

const BUSY_RETRIES = 10;

/** Where a load generator runs and what it dials: default the current namespace and 127.0.0.1. */
export interface LoadPlace {
  /** iperf3's server address (wrk takes it in the URL). */
  host?: string;
  netns?: string;
}

/** One iperf3 client run with a single stream through `port`. The first second is omitted (slow start). */
export async function iperf3(set: ProcessSet, port: number, seconds: number, cpus?: string, place: LoadPlace = {}): Promise<ThroughputResult> {
  const host = place.host ?? '127.0.0.1';
  for (let attempt = 0; ; attempt++) {
    const result = await run(set, {
      name: `iperf3-client:${host}:${port}`,
      command: 'iperf3',
      args: ['-c', host, '-p', String(port), '-t', String(seconds), '-O', '1', '-P', '1', '-J'],
      cpus,
      netns: place.netns,
    }, (seconds + 30) * 1000);
    const parsed = parseIperf3(result.stdout);
    // The server runs one test at a time and says so for a moment after each.
    if ('error' in parsed && /busy/i.test(parsed.error) && attempt < BUSY_RETRIES) {
      await sleep(500);
      continue;
    }
    if ('error' in parsed) throw new Error(`iperf3 through ${host}:${port} failed: ${parsed.error}\n${result.stderr}`);
    return parsed;
  }
}

export function parseIperf3(stdout: string): ThroughputResult | { error: string } {
  let report: {
    error?: string;
    end?: { sum_sent?: { bits_per_second?: number; retransmits?: number }; sum_received?: { bits_per_second?: number } };
  };
  try {
    report = JSON.parse(stdout) as typeof report;
  } catch {
    return { error: `unparsable output: ${stdout.slice(0, 300)}` };
  }
  if (report.error !== undefined) return { error: report.error };
  const received = report.end?.sum_received?.bits_per_second;
  const sent = report.end?.sum_sent?.bits_per_second;
  if (received === undefined || sent === undefined) return { error: 'no end.sum_received in the report' };
  return { receivedBps: received, sentBps: sent, retransmits: report.end?.sum_sent?.retransmits };
}

/** A wrk script and its arguments (given after `--`), e.g. fixtures.ts's paths script. */
export interface WrkScript {
  file: string;
  args: readonly string[];
}

/**
 * One wrk run: `connections` keep-alive connections over 2 threads for
 * `seconds`. With the header `Connection: close` the server closes each
 * connection after its response and wrk opens a new one for the next
 * request: one connection per request.
 */
export async function wrk(
  set: ProcessSet, url: string, connections: number, seconds: number, cpus?: string,
  place: Pick<LoadPlace, 'netns'> & { script?: WrkScript; headers?: readonly string[] } = {},
): Promise<HttpResult> {
  const script = [...(place.headers ?? []).flatMap((h) => ['-H', h]), ...(place.script === undefined ? [] : ['-s', place.script.file])];
  const scriptArgs = place.script === undefined ? [] : ['--', ...place.script.args];
  const result = await run(set, {
    name: `wrk:${url}:c${connections}`,
    command: 'wrk',
    args: ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', ...script, url, ...scriptArgs],
    cpus,
    netns: place.netns,
  }, (seconds + 30) * 1000);
  if (result.code !== 0) throw new Error(`wrk ${url} -c${connections} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return parseWrk(result.stdout);
}

export function parseWrk(stdout: string): HttpResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout);
  const requests = /^\s*(\d+) requests in/m.exec(stdout);
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(stdout);
    if (match?.[1] === undefined || match[2] === undefined) throw new Error(`no ${p}% latency line in wrk output:\n${stdout}`);
    return toMs(Number(match[1]), match[2]);
  };
  if (rps?.[1] === undefined || requests?.[1] === undefined) throw new Error(`no Requests/sec in wrk output:\n${stdout}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const errors = (socketErrors?.slice(1).reduce((sum, n) => sum + Number(n), 0) ?? 0) + Number(non2xx?.[1] ?? 0);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: percentile(50),
    p90Ms: percentile(90),
    p99Ms: percentile(99),
    requests: Number(requests[1]),
    errors,
  };
}

function toMs(value: number, unit: string): number {
  if (unit === 'us') return value / 1000;
  if (unit === 's') return value * 1000;
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
