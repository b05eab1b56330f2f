// The control plane under test, as its own process (so its RSS and CPU are
// its own): startControlPlane on a local store the benchmark populated, plus
// an IPC channel through which the benchmark makes changes with the same
// store calls a user would (cp.store.patch) and learns when every subscriber
// acknowledged the version that carries them.
//
//   node test/dist/bench/cp-host.js --state-dir DIR [--debounce 100ms] [--log-level warn]
// Only as a child of control-plane.ts (it needs the IPC channel).
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import type { SocketAddress } from '@ambit/api';
import { parseConfig, startControlPlane, type Kind } from '@ambit/control-plane';
import { nowMs, notify, serveIpc } from './ipc.js';

export interface HostReady {
  address: SocketAddress;
  metricsPort: number;
  roots: string[];
  trustDomain: string;
  version: string;
  startMs: number;
  workloads: number;
  services: number;
  /** Bytes of one snapshot line, as every new subscriber is sent it. */
  snapshotBytes: number;
}

export interface ChangeArgs {
  kind: Kind;
  name: string;
  namespace?: string;
  patch: Record<string, unknown>;
  timeoutMs: number;
}

/** Timestamps (nowMs) of one change, as the control plane saw it. */
export interface ChangeResult {
  receivedAt: number;
  committedAt: number;
  /** The first version published after the commit, and when it was pushed. */
  version: string;
  pushedAt: number;
  /** When the last subscriber's ACK of that version (or a later one) arrived. */
  allAckedAt: number;
  subscribers: number;
  /** The translation that produced it (includes diffing and writing to every subscriber). */
  translationMs: number | undefined;
}

export interface WaitAckedArgs {
  subscribers: number;
  timeoutMs: number;
}

const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    debounce: { type: 'string', default: '100ms' },
    'log-level': { type: 'string', default: 'warn' },
  },
  strict: true,
});
if (values['state-dir'] === undefined) throw new Error('--state-dir is required');

const started = nowMs();
const config = parseConfig({
  backend: 'local', 'state-dir': values['state-dir'], listen: '127.0.0.1:0', metrics: '127.0.0.1:0', readiness: '127.0.0.1:0',
  debounce: values.debounce, 'log-level': values['log-level'],
}, 'cp-host');
const cp = await startControlPlane(config);

const numeric = (version: string | undefined): number => {
  const n = Number(version?.split('.')[1]);
  return Number.isFinite(n) ? n : -1;
};

// Acknowledgements: every subscriber's highest acked version; waiters resolve once all reached theirs.
const acked = new Map<string, number>();
const ackWaiters = new Set<{ check: () => boolean }>();
const checkWaiters = (): void => {
  for (const waiter of ackWaiters) if (waiter.check()) ackWaiters.delete(waiter);
};
cp.discovery.on('ack', (status) => {
  acked.set(status.id, Math.max(acked.get(status.id) ?? -1, numeric(status.lastAckedVersion)));
  checkWaiters();
});
const allAcked = (version: number, minimum: number): boolean => {
  const subscribers = cp.discovery.subscribers();
  return subscribers.length >= minimum && subscribers.every((s) => (acked.get(s.id) ?? -1) >= version);
};
const waitAllAcked = (version: number, minimum: number, timeoutMs: number): Promise<number> => new Promise((resolve, reject) => {
  const timer = setTimeout(() => {
    ackWaiters.delete(waiter);
    const subscribers = cp.discovery.subscribers();
    const behind = subscribers.filter((s) => (acked.get(s.id) ?? -1) < version).length;
    reject(new Error(`version ${version}: ${behind} of ${subscribers.length} subscribers had not acked after ${timeoutMs} ms`));
  }, timeoutMs);
  const waiter = {
    check: (): boolean => {
      if (!allAcked(version, minimum)) return false;
      clearTimeout(timer);
      resolve(nowMs());
      return true;
    },
  };
  if (!waiter.check()) ackWaiters.add(waiter);
});

// Pushes: the next one after a commit carries the change.
const pushWaiters: ((push: { version: string; at: number }) => void)[] = [];
cp.discovery.on('pushed', ({ version }) => {
  const at = nowMs();
  for (const waiter of pushWaiters.splice(0)) waiter({ version, at });
});
const nextPush = (timeoutMs: number): Promise<{ version: string; at: number }> => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no version pushed within ${timeoutMs} ms`)), timeoutMs);
  pushWaiters.push((push) => { clearTimeout(timer); resolve(push); });
});

serveIpc({
  async change(raw) {
    const args = raw as ChangeArgs;
    const receivedAt = nowMs();
    const pushed = nextPush(args.timeoutMs);
    pushed.catch(() => undefined);
    await cp.store.patch(args.kind, args.name, args.namespace, args.patch);
    const committedAt = nowMs();
    const push = await pushed;
    const allAckedAt = await waitAllAcked(numeric(push.version), 1, args.timeoutMs);
    return {
      receivedAt, committedAt, version: push.version, pushedAt: push.at, allAckedAt,
      subscribers: cp.discovery.subscribers().length, translationMs: cp.pipeline.last?.durationMs,
    } satisfies ChangeResult;
  },
  /** Resolves when at least `subscribers` are connected and all acked the current version. */
  async waitAcked(raw) {
    const args = raw as WaitAckedArgs;
    const version = cp.discovery.version;
    const at = await waitAllAcked(numeric(version), args.subscribers, args.timeoutMs);
    return { version, at };
  },
  subscribers() {
    return cp.discovery.subscribers();
  },
  /** A full garbage collection (the host runs with --expose-gc), then stats: tells retained memory from uncollected garbage. */
  gc() {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (collect === undefined) throw new Error('start cp-host with --expose-gc');
    collect();
    return { memory: process.memoryUsage(), heap: v8.getHeapStatistics() };
  },
  stats() {
    return { memory: process.memoryUsage(), heap: v8.getHeapStatistics(), last: cp.pipeline.last, version: cp.discovery.version, subscribers: cp.discovery.subscribers().length };
  },
  async stop() {
    await cp.close();
    // Exit from here, after answering, so --cpu-prof gets written.
    setTimeout(() => process.exit(0), 50);
  },
});

notify('ready', {
  address: cp.address,
  metricsPort: cp.metricsPort,
  roots: [...cp.ca.roots],
  trustDomain: config.trustDomain,
  version: cp.discovery.version,
  startMs: nowMs() - started,
  workloads: cp.pipeline.last?.workloads ?? 0,
  services: cp.pipeline.last?.services ?? 0,
  snapshotBytes: Buffer.byteLength(JSON.stringify({ type: 'update', ...cp.discovery.state.changesSince(undefined), version: cp.discovery.version })) + 1,
} satisfies HostReady);
