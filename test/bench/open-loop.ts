// A constant-rate (open-loop) HTTP/1.1 load generator that measures every
// request from the moment it was *scheduled*, not from when a connection
// became free: a stalled server therefore shows up as latency instead of
// silently lowering the offered rate (coordinated omission, as wrk2 corrects
// for). wrk2 is not packaged for Debian, and at the rates we need (≤ a few
// thousand req/s) one Node process keeps its schedule with room to spare —
// the report includes how late the generator itself ran, so that claim is
// checked in every run.
//
// Before the schedule starts, every connection is opened (one unrecorded
// request each), so connection set-up — a TLS handshake in a mesh — is not
// counted as request latency; requests then go to the least recently used
// free connection (FIFO), spreading the load over all of them.
//
//   node open-loop.js --url http://10.244.2.2:8080/1k --rate 1000 --connections 16 --duration 10
// Prints `{"event":"start"}` when the schedule begins (a caller can sample
// CPU counters from there), then one JSON line, an OpenLoopResult.
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface OpenLoopResult {
  sent: number;
  completed: number;
  errors: number;
  achievedRate: number;
  /** From each request's scheduled send time to the end of its response. */
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** How late requests were handed to a connection queue, versus their schedule (the generator's own lag). */
  schedulerLagMs: { p99: number; max: number };
  /** Kept for readers of older results: schedulerLagMs.max. */
  maxSchedulerLagMs: number;
}

export interface OpenLoopOptions {
  url: string;
  rate: number;
  connections: number;
  durationSeconds: number;
  timeoutMs?: number;
  /** Called once, when the schedule begins (after the connections are open). */
  onStart?: () => void;
}

export const START_EVENT = '{"event":"start"}';
const FIRST_SEND_DELAY_MS = 20;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new http.Agent({
    keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'fifo',
  });
  const url = new URL(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const get = (onDone: (ok: boolean) => void): void => {
    let settled = false;
    const done = (ok: boolean): void => {
      if (!settled) {
        settled = true;
        onDone(ok);
      }
    };
    const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, agent, timeout: timeoutMs }, (response) => {
      response.resume();
      response.once('end', () => done(response.statusCode === 200));
      response.once('error', () => done(false));
    });
    request.once('timeout', () => request.destroy(new Error('timeout')));
    request.once('error', () => done(false));
    request.end();
  };

  // Open every connection first: `connections` requests at once, none recorded.
  const opened = await Promise.all(Array.from({ length: options.connections }, () => new Promise<boolean>((resolve) => get(resolve))));
  if (!opened.every(Boolean)) {
    agent.destroy();
    throw new Error(`could not open ${options.connections} connections to ${options.url} (${opened.filter((ok) => !ok).length} failed)`);
  }

  const total = Math.round(options.rate * options.durationSeconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  let errors = 0;
  let sent = 0;
  options.onStart?.();
  const start = performance.now() + FIRST_SEND_DELAY_MS;

  await new Promise<void>((resolve) => {
    let outstanding = 0;
    let finished = false;
    const finish = (): void => {
      if (!finished && sent === total && outstanding === 0) {
        finished = true;
        resolve();
      }
    };
    const fire = (scheduled: number): void => {
      outstanding++;
      get((ok) => {
        if (ok) latencies.push(performance.now() - scheduled);
        else errors++;
        outstanding--;
        finish();
      });
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < total) {
        const scheduled = start + sent * intervalMs;
        if (scheduled > now) break;
        lags.push(now - scheduled);
        sent++;
        fire(scheduled);
      }
      // Timers fire at 1 ms granularity at best: wake at the next send time or within 1 ms.
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * intervalMs - performance.now())));
      else finish();
    };
    setTimeout(tick, FIRST_SEND_DELAY_MS);
  });
  agent.destroy();
  const elapsedS = (performance.now() - start) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const sortedLags = lags.sort((a, b) => a - b);
  const maxLag = sortedLags.at(-1) ?? Number.NaN;
  return {
    sent, completed: latencies.length, errors,
    achievedRate: latencies.length / elapsedS,
    latencyMs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9),
      max: sorted.at(-1) ?? Number.NaN, mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    },
    schedulerLagMs: { p99: percentile(sortedLags, 99), max: maxLag },
    maxSchedulerLagMs: maxLag,
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, rate: { type: 'string' }, connections: { type: 'string' }, duration: { type: 'string' } },
  });
  if (values.url === undefined) {
    process.stderr.write('usage: open-loop --url URL --rate N --connections N --duration SECONDS\n');
    process.exit(2);
  }
  const result = await openLoop({
    url: values.url, rate: Number(values.rate ?? 1000), connections: Number(values.connections ?? 16), durationSeconds: Number(values.duration ?? 10),
    onStart: () => process.stdout.write(`${START_EVENT}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
