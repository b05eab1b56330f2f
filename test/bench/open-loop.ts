// A constant-rate (open-loop) HTTP/1.1 load generator that measures every
// request from the moment it was *scheduled*, not from when a connection
// became free: a stalled server therefore shows up as latency instead of
// silently lowering the offered rate (coordinated omission, as wrk2 corrects
// for). wrk2 is not packaged for Debian, and at the rates we need (≤ a few
// thousand req/s) one Node process keeps its schedule with room to spare —
// the report includes how late the generator itself ran, so that claim is
// checked in every run.
//
//   node open-loop.js --url http://10.244.2.2:8080/1k --rate 1000 --connections 16 --duration 10
// Prints one JSON line: {sent, completed, errors, achievedRate, latencyMs:{p50,p90,p99,max}, maxSchedulerLagMs}.
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface OpenLoopResult {
  sent: number;
  completed: number;
  errors: number;
  achievedRate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** The worst delay between a request's scheduled time and when it was handed to a connection queue. */
  maxSchedulerLagMs: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export async function openLoop(options: { url: string; rate: number; connections: number; durationSeconds: number; timeoutMs?: number }): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections });
  const url = new URL(options.url);
  const total = Math.round(options.rate * options.durationSeconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  let maxLag = 0;
  const start = performance.now() + 20;
  const timeoutMs = options.timeoutMs ?? 10_000;

  await new Promise<void>((resolve) => {
    let outstanding = 0;
    let done = false;
    const finish = (): void => {
      if (!done && sent === total && outstanding === 0) {
        done = true;
        resolve();
      }
    };
    const fire = (scheduled: number): void => {
      outstanding++;
      const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, agent, timeout: timeoutMs }, (response) => {
        response.resume();
        response.once('end', () => {
          if (response.statusCode === 200) latencies.push(performance.now() - scheduled);
          else errors++;
          outstanding--;
          finish();
        });
      });
      request.once('timeout', () => request.destroy(new Error('timeout')));
      request.once('error', () => {
        errors++;
        outstanding--;
        finish();
      });
      request.end();
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < total) {
        const scheduled = start + sent * intervalMs;
        if (scheduled > now) break;
        maxLag = Math.max(maxLag, now - scheduled);
        sent++;
        fire(scheduled);
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * intervalMs - performance.now())));
      else finish();
    };
    setTimeout(tick, 20);
  });
  agent.destroy();
  const elapsedS = (performance.now() - start) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    sent, completed: latencies.length, errors,
    achievedRate: latencies.length / elapsedS,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN },
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
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
