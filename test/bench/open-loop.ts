// A constant-rate (open-loop) HTTP/1.1 load generator that measures every
// request from the moment it was *scheduled*, not from when a connection
// became free: a stalled server therefore shows up as latency instead of
// silently lowering the offered rate (coordinated omission, as wrk2 corrects
// for). wrk2 is not packaged for Debian; at the rates we need (≤ a few
// thousand req/s) one Node process keeps its schedule — and the report says
// how late the generator itself ran, so that is checked in every run.
//
// Two choices keep the generator's own share of each latency small:
// - the schedule is kept by a worker thread sleeping in Atomics.wait (sub-
//   millisecond wake-ups; Node's timers round to whole milliseconds, which
//   added ~0.6 ms to the median), posting each send time to the main thread;
// - requests go out on raw keep-alive sockets with a minimal HTTP/1.1 reader
//   (status line, Content-Length, body) instead of node:http, about half the
//   CPU per request. Each request takes the least recently used idle
//   connection, or waits in one FIFO queue for the next one to free up.
// Every connection is opened before the schedule starts, so connection set-up
// (a TLS handshake in a mesh) is not counted as request latency.
//
// `--settle SECONDS` runs the same schedule for that long first and reports
// it apart (`settle`): a path that sat idle while other paths were measured
// (its processes' caches cold, their heaps shrunk by V8's memory reducer)
// takes a few seconds to reach the steady state a proxy carrying this rate
// is in; the measured window is that steady state, the settle window shows
// the cost of the cold start.
//
//   node open-loop.js --url http://10.244.2.2:8080/1k --rate 1000 --connections 16 --duration 10 [--settle 2]
// Several --url options (one origin, different paths) are requested in turn.
// Prints `{"event":"start"}` when the measured window begins (a caller can
// sample CPU counters from there), then one JSON line, an OpenLoopResult.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

export interface OpenLoopResult {
  sent: number;
  completed: number;
  errors: number;
  achievedRate: number;
  /** From each request's scheduled send time to the end of its response. */
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /**
   * From when the generator actually wrote or queued each request: without the generator's own lag (still
   * including waits for a busy connection). For comparison only; latencyMs is the measure.
   */
  fromSendMs: { p50: number; p99: number };
  /** How late requests were handed to a connection, versus their schedule (the generator's own lag). */
  schedulerLagMs: { p99: number; max: number };
  /** Kept for readers of older results: schedulerLagMs.max. */
  maxSchedulerLagMs: number;
  /** The settle window before the measured one (absent when there was none): the same schedule, from scheduled send time. */
  settle?: { seconds: number; completed: number; errors: number; latencyMs: { p50: number; p99: number; max: number } };
}

export interface OpenLoopOptions {
  /** One URL, or several with the same origin whose paths are requested in turn. */
  url: string | readonly string[];
  rate: number;
  connections: number;
  durationSeconds: number;
  /** Seconds of the same schedule before the measured window, reported apart as `settle`; 0 (default) for none. */
  settleSeconds?: number;
  timeoutMs?: number;
  /** Called once, when the measured window begins (after the connections are open and the settle window is over). */
  onStart?: () => void;
}

export const START_EVENT = '{"event":"start"}';
const FIRST_SEND_DELAY_MS = 20;
const HEADER_END = Buffer.from('\r\n\r\n');

// The schedule keeper, as a worker source: sleeps until each send time (absolute, on the
// shared performance.timeOrigin clock) and posts the request's index.
const TICKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { startEpochMs, intervalMs, total } = workerData;
const cell = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < total; i++) {
  const wait = startEpochMs + i * intervalMs - (performance.timeOrigin + performance.now());
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  parentPort.postMessage(i);
}
`;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/** A request's callback: ok, and when the response ended. */
type Done = (ok: boolean) => void;

/** One keep-alive connection carrying one request at a time. */
class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private current: Done | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly socket: net.Socket, private readonly timeoutMs: number, private readonly onIdle: (c: Connection) => void) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.finish(false));
  }

  static open(url: URL, timeoutMs: number, onIdle: (c: Connection) => void): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
      socket.once('connect', () => { socket.removeListener('error', reject); resolve(new Connection(socket, timeoutMs, onIdle)); });
      socket.once('error', reject);
    });
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }

  send(request: Buffer, done: Done): void {
    this.current = done;
    this.timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
    this.socket.write(request);
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffer.subarray(0, headerEnd).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    // Only what nginx sends for a static file: a Content-Length body. Anything else ends the connection.
    if (length?.[1] === undefined) {
      this.socket.destroy();
      return;
    }
    const end = headerEnd + HEADER_END.length + Number(length[1]);
    if (this.buffer.length < end) return;
    this.buffer = this.buffer.subarray(end);
    const ok = head.startsWith('HTTP/1.1 200 ');
    if (/\r\nconnection:\s*close/i.test(head)) this.socket.end();
    this.finish(ok);
    if (this.open) this.onIdle(this);
  }

  private finish(ok: boolean): void {
    clearTimeout(this.timer);
    const done = this.current;
    this.current = undefined;
    done?.(ok);
  }
}

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const urls = (typeof options.url === 'string' ? [options.url] : options.url).map((u) => new URL(u));
  const url = urls[0];
  if (url === undefined) throw new Error('open-loop needs a URL');
  if (url.protocol !== 'http:') throw new Error(`open-loop speaks plain HTTP/1.1 only, not ${url.protocol} (${url.href})`);
  const stranger = urls.find((u) => u.origin !== url.origin);
  if (stranger !== undefined) throw new Error(`open-loop's URLs must share one origin: ${stranger.href} is not on ${url.origin}`);
  const settleSeconds = options.settleSeconds ?? 0;
  if (!(settleSeconds >= 0)) throw new Error(`open-loop's settle window must be 0 or more seconds, not ${settleSeconds}`);
  const requests = urls.map((u) => Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: ambit-open-loop\r\n\r\n`));
  let nextRequest = 0;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const idle: Connection[] = [];
  const queue: Done[] = [];
  const all = new Set<Connection>();
  let stopping = false;
  // Requests take the URLs in turn, in the order they are handed to a connection.
  const send = (connection: Connection, done: Done): void => {
    const request = requests[nextRequest]!;
    nextRequest = (nextRequest + 1) % requests.length;
    connection.send(request, done);
  };
  const onIdle = (connection: Connection): void => {
    const next = queue.shift();
    if (next === undefined) idle.push(connection);
    else send(connection, next);
  };
  const connect = async (): Promise<void> => {
    const connection = await Connection.open(url, timeoutMs, onIdle);
    all.add(connection);
    connection.socket.once('close', () => {
      all.delete(connection);
      const at = idle.indexOf(connection);
      if (at >= 0) idle.splice(at, 1);
      // Keep the connection count: a closed connection is replaced (not counted as latency of anything in particular).
      if (!stopping) connect().catch(() => undefined);
    });
    onIdle(connection);
  };
  const get = (done: Done): void => {
    const connection = idle.shift();
    if (connection !== undefined) send(connection, done);
    else queue.push(done);
  };

  // Open every connection first, and prove each with one unrecorded request.
  await Promise.all(Array.from({ length: options.connections }, () => connect()));
  const warm = await Promise.all(Array.from({ length: options.connections }, () => new Promise<boolean>((resolve) => get(resolve))));
  if (!warm.every(Boolean)) {
    stopping = true;
    for (const c of all) c.socket.destroy();
    throw new Error(`${warm.filter((ok) => !ok).length} of ${options.connections} first requests to ${urls.map((u) => u.href).join(', ')} failed`);
  }

  const settleTotal = Math.round(options.rate * settleSeconds);
  const total = settleTotal + Math.round(options.rate * options.durationSeconds);
  const intervalMs = 1000 / options.rate;
  const measured = newWindow();
  const settle = newWindow();
  let finished = 0;
  const start = performance.now() + FIRST_SEND_DELAY_MS;
  const measuredStart = start + settleTotal * intervalMs;
  const ticker = new Worker(TICKER, { eval: true, workerData: { startEpochMs: performance.timeOrigin + start, intervalMs, total } });
  let deadline: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    ticker.once('error', reject);
    ticker.on('message', (index: number) => {
      if (index === settleTotal) options.onStart?.();
      const window = index < settleTotal ? settle : measured;
      const scheduled = start + index * intervalMs;
      const sentAt = performance.now();
      window.lags.push(sentAt - scheduled);
      get((ok) => {
        const now = performance.now();
        if (ok) {
          window.latencies.push(now - scheduled);
          window.fromSend.push(now - sentAt);
        } else {
          window.errors++;
        }
        if (++finished === total) resolve();
      });
      // After the last send, what has not answered within the timeout counts as failed.
      if (index === total - 1) deadline = setTimeout(resolve, timeoutMs);
    });
  });
  clearTimeout(deadline);
  // Unanswered requests are the last ones sent: the measured window's.
  const unanswered = total - finished;
  stopping = true;
  await ticker.terminate();
  for (const c of all) c.socket.destroy();
  const elapsedS = (performance.now() - measuredStart) / 1000;
  const sorted = measured.latencies.sort((a, b) => a - b);
  const sortedLags = measured.lags.sort((a, b) => a - b);
  const sortedFromSend = measured.fromSend.sort((a, b) => a - b);
  const maxLag = sortedLags.at(-1) ?? Number.NaN;
  const settleSorted = settle.latencies.sort((a, b) => a - b);
  return {
    sent: measured.lags.length, completed: measured.latencies.length, errors: measured.errors + unanswered,
    achievedRate: measured.latencies.length / elapsedS,
    latencyMs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9),
      max: sorted.at(-1) ?? Number.NaN, mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    },
    fromSendMs: { p50: percentile(sortedFromSend, 50), p99: percentile(sortedFromSend, 99) },
    schedulerLagMs: { p99: percentile(sortedLags, 99), max: maxLag },
    maxSchedulerLagMs: maxLag,
    ...(settleTotal === 0 ? {} : {
      settle: {
        seconds: settleSeconds, completed: settle.latencies.length, errors: settle.errors,
        latencyMs: { p50: percentile(settleSorted, 50), p99: percentile(settleSorted, 99), max: settleSorted.at(-1) ?? Number.NaN },
      },
    }),
  };
}

/** What one window of the schedule collects per request. */
function newWindow(): { latencies: number[]; fromSend: number[]; lags: number[]; errors: number } {
  return { latencies: [], fromSend: [], lags: [], errors: 0 };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', multiple: true }, rate: { type: 'string' }, connections: { type: 'string' }, duration: { type: 'string' }, settle: { type: 'string' },
    },
  });
  if (values.url === undefined || values.url.length === 0) {
    process.stderr.write('usage: open-loop --url URL [--url URL…] --rate N --connections N --duration SECONDS [--settle SECONDS]\n');
    process.exit(2);
  }
  const result = await openLoop({
    url: values.url, rate: Number(values.rate ?? 1000), connections: Number(values.connections ?? 16), durationSeconds: Number(values.duration ?? 10),
    settleSeconds: Number(values.settle ?? 0),
    onStart: () => process.stdout.write(`${START_EVENT}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
