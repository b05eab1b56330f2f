// Leader election among control-plane replicas through one
// coordination.k8s.io/v1 Lease, with the semantics of client-go's
// tools/leaderelection:
// - a candidate reads the Lease every retry period (jittered) and writes
//   itself in when the Lease is absent, released (no holder), already its own,
//   or expired — judged by when *this* replica saw the record last change plus
//   the record's leaseDurationSeconds, never by the holder's timestamps, so
//   clock skew between replicas does not matter;
// - every write carries the resourceVersion it read: of two candidates racing
//   for an expired Lease one wins and the other gets a conflict;
// - the leader renews every retry period and steps down when it has not
//   renewed for the renew deadline (shorter than the lease duration, so it
//   has stopped before anyone else may take over), or at once when it sees
//   another holder;
// - a graceful stop releases the Lease (no holder, leaseDurationSeconds 1) so
//   a standby takes over at its next retry instead of after the duration.
// Time comes from a Clock, so the whole state machine is tested without waiting.
import { AmbitError, isAmbitError, silentLogger, systemClock, type Clock, type Logger, type TimerHandle } from '@ambit/core';

/** The Lease the control plane's replicas compete for. */
export const LEASE_NAME = 'ambit-control-plane';
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
/** client-go's JitterFactor: a candidate waits retry × (1 + random × 1.2). */
export const DEFAULT_JITTER = 1.2;

/** The Lease's spec (client-go's LeaderElectionRecord). Times are MicroTime strings. */
export interface LeaseRecord {
  /** '' when nobody holds it (released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
  /** The object as read, so that an update keeps its other fields (labels, annotations). */
  object?: unknown;
}

/** The Lease API, narrowed to what election needs (Kubernetes: kube-lease.ts; tests: in memory). */
export interface LeaseClient {
  /** `namespace/name`, for messages. */
  readonly name: string;
  get(): Promise<StoredLease | undefined>;
  /** Rejects with 'already-exists' when another replica created it first. */
  create(record: LeaseRecord): Promise<StoredLease>;
  /** Rejects with 'conflict' when `previous` is no longer the current version. */
  update(previous: StoredLease, record: LeaseRecord): Promise<StoredLease>;
}

export interface LeaseTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderElectorOptions extends LeaseTimings {
  lease: LeaseClient;
  /** This replica's holderIdentity (the pod name on Kubernetes). */
  identity: string;
  /** Extra wait between a candidate's attempts, as a fraction of the retry period (0 for none). */
  jitter?: number;
  random?: () => number;
  clock?: Clock;
  logger?: Logger;
  /** This replica now holds the Lease: start the writers. */
  onStartedLeading?: (reason: string) => void;
  /** This replica no longer holds the Lease (or stops): stop the writers. */
  onStoppedLeading?: (reason: string) => void;
}

export interface LeadershipStatus {
  isLeader: boolean;
  identity: string;
  /** `namespace/name` of the Lease. */
  lease: string;
  /** The holder last seen in the Lease: '' when released, undefined before the first read. */
  holder: string | undefined;
  leaseTransitions: number | undefined;
  /** Why the last attempt did not acquire or renew. */
  lastError: string | undefined;
}

export type LeaseDecision =
  | { acquire: true; takeover: boolean; why: string }
  | { acquire: false; holder: string; expiresInMs: number };

/**
 * Whether `identity` may write itself into the Lease now. `observedAtMs` is
 * when this replica saw `record` change last, on its own clock: the holder
 * counts as alive for leaseDurationSeconds from then.
 */
export function decideLease(record: LeaseRecord, observedAtMs: number, identity: string, nowMs: number): LeaseDecision {
  const holder = record.holderIdentity;
  if (holder === identity) return { acquire: true, takeover: false, why: 'renewed its own Lease' };
  if (holder === '') return { acquire: true, takeover: true, why: 'the Lease was released' };
  const expiresAt = observedAtMs + record.leaseDurationSeconds * 1000;
  if (nowMs >= expiresAt) {
    return { acquire: true, takeover: true, why: `${holder} did not renew the Lease within ${record.leaseDurationSeconds} s` };
  }
  return { acquire: false, holder, expiresInMs: expiresAt - nowMs };
}

/** What is wrong with these timings, or undefined. The key is the setting to blame. */
export function leaseTimingProblem(t: LeaseTimings): { key: 'lease-duration' | 'lease-renew-deadline' | 'lease-retry-period'; reason: string } | undefined {
  if (!(t.leaseDurationMs >= 1000) || t.leaseDurationMs % 1000 !== 0) {
    return { key: 'lease-duration', reason: 'must be a whole number of seconds, at least 1s (the Lease stores leaseDurationSeconds)' };
  }
  if (!(t.renewDeadlineMs > 0) || t.renewDeadlineMs >= t.leaseDurationMs) {
    return { key: 'lease-renew-deadline', reason: `must be above 0 and below lease-duration (${t.leaseDurationMs} ms), so a leader that cannot renew stops before another may take over` };
  }
  if (!(t.retryPeriodMs > 0) || t.retryPeriodMs >= t.renewDeadlineMs) {
    return { key: 'lease-retry-period', reason: `must be above 0 and below lease-renew-deadline (${t.renewDeadlineMs} ms), so a leader retries before it gives up` };
  }
  return undefined;
}

/** A Kubernetes MicroTime: RFC 3339 with microseconds, e.g. 2026-01-01T00:00:00.123000Z. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

type Attempt = { ok: true; why: string; startedMs: number } | { ok: false; why: string; heldBy?: string };

export class LeaderElector {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly durationSeconds: number;
  private readonly jitter: number;
  private readonly random: () => number;
  /** The record last seen, and when (our clock) it last changed. */
  private observed: { lease: StoredLease; key: string; atMs: number } | undefined;
  private leading = false;
  private lastRenewMs = 0;
  private lastError: string | undefined;
  private timer: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;
  private inflight: Promise<void> | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    const problem = leaseTimingProblem(options);
    if (problem !== undefined) throw new AmbitError('invalid-config', `leader election: ${problem.key} ${problem.reason}`);
    if (options.identity === '') throw new AmbitError('invalid-config', 'leader election: the identity must not be empty');
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ component: 'leader-election', lease: options.lease.name, identity: options.identity });
    this.durationSeconds = options.leaseDurationMs / 1000;
    this.jitter = options.jitter ?? DEFAULT_JITTER;
    this.random = options.random ?? Math.random;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  status(): LeadershipStatus {
    const record = this.observed?.lease.record;
    return {
      isLeader: this.leading, identity: this.options.identity, lease: this.options.lease.name,
      holder: record?.holderIdentity, leaseTransitions: record?.leaseTransitions, lastError: this.lastError,
    };
  }

  /** Starts competing: the first attempt runs now. */
  start(): void {
    if (this.started || this.stopping !== undefined) return;
    this.started = true;
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.options;
    this.log.info({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }, 'leader election: a candidate for the Lease');
    this.run();
  }

  /**
   * Stops competing. A leader stops leading first (its writers stop), then,
   * unless `release` is false, releases the Lease so a standby takes over at
   * its next retry. Never rejects.
   */
  stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.timer?.cancel();
      this.deadline?.cancel();
      await this.inflight;
      if (this.leading) this.stepDown('shutting down');
      // Holder in the last record seen, not `leading`: an attempt that was in flight may have acquired it.
      if (options.release !== false && this.observed?.lease.record.holderIdentity === this.options.identity) await this.release();
    })();
    return this.stopping;
  }

  private run(): void {
    if (this.stopping !== undefined) return;
    this.inflight = this.tick()
      .catch((error: unknown) => { this.log.error({ err: error }, 'leader election round failed'); })
      .finally(() => {
        this.inflight = undefined;
        if (this.stopping === undefined) this.timer = this.clock.schedule(this.nextDelayMs(), () => this.run());
      });
  }

  private nextDelayMs(): number {
    const retry = this.options.retryPeriodMs;
    return this.leading ? retry : retry * (1 + this.random() * this.jitter);
  }

  private async tick(): Promise<void> {
    const result = await this.tryAcquireOrRenew();
    if (this.stopping !== undefined) return;
    if (result.ok) {
      this.lastError = undefined;
      this.lastRenewMs = result.startedMs;
      if (!this.leading) this.startLeading(result.why);
      this.armDeadline();
      return;
    }
    this.lastError = result.why;
    if (!this.leading) {
      this.log.debug({ reason: result.why }, 'not the leader');
      return;
    }
    if (result.heldBy !== undefined) {
      this.stepDown(`${result.heldBy} holds the Lease now`);
      return;
    }
    const sinceMs = this.clock.now() - this.lastRenewMs;
    if (sinceMs >= this.options.renewDeadlineMs) this.stepDown(`could not renew the Lease for ${sinceMs} ms: ${result.why}`);
    else this.log.warn({ reason: result.why, sinceRenewalMs: sinceMs, renewDeadlineMs: this.options.renewDeadlineMs }, 'could not renew the Lease; retrying');
  }

  /** client-go's tryAcquireOrRenew: one read, at most one write. */
  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { lease, identity } = this.options;
    const startedMs = this.clock.now();
    const now = microTime(startedMs);
    let current: StoredLease | undefined;
    try {
      current = await lease.get();
    } catch (error) {
      return { ok: false, why: `cannot read the Lease: ${messageOf(error)}` };
    }
    if (current === undefined) {
      const record: LeaseRecord = { holderIdentity: identity, leaseDurationSeconds: this.durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
      try {
        this.observe(await lease.create(record), startedMs);
        return { ok: true, why: 'created the Lease', startedMs };
      } catch (error) {
        return { ok: false, why: isAmbitError(error, 'already-exists') ? 'another replica created the Lease first' : `cannot create the Lease: ${messageOf(error)}` };
      }
    }
    const seenAt = this.observe(current, this.clock.now());
    const decision = decideLease(current.record, seenAt, identity, this.clock.now());
    if (!decision.acquire) {
      return { ok: false, why: `${decision.holder} holds the Lease (for at least ${Math.ceil(decision.expiresInMs)} ms more unless it stops renewing)`, heldBy: decision.holder };
    }
    const record: LeaseRecord = decision.takeover
      ? { holderIdentity: identity, leaseDurationSeconds: this.durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions + 1 }
      : { ...current.record, leaseDurationSeconds: this.durationSeconds, acquireTime: current.record.acquireTime || now, renewTime: now };
    try {
      this.observe(await lease.update(current, record), startedMs);
      return { ok: true, why: decision.why, startedMs };
    } catch (error) {
      return { ok: false, why: isAmbitError(error, 'conflict') ? 'another replica wrote the Lease first' : `cannot update the Lease: ${messageOf(error)}` };
    }
  }

  /** Remembers `lease`; returns when its record last changed (our clock). */
  private observe(lease: StoredLease, atMs: number): number {
    const key = JSON.stringify(lease.record);
    const previous = this.observed;
    if (previous !== undefined && previous.key === key) {
      previous.lease = lease;
      return previous.atMs;
    }
    this.observed = { lease, key, atMs };
    const holder = lease.record.holderIdentity;
    if (holder !== previous?.lease.record.holderIdentity && holder !== this.options.identity) {
      this.log.info({ holder: holder === '' ? undefined : holder }, holder === '' ? 'the Lease has no holder' : `the leader is ${holder}`);
    }
    return atMs;
  }

  private armDeadline(): void {
    this.deadline?.cancel();
    const { renewDeadlineMs } = this.options;
    this.deadline = this.clock.schedule(this.lastRenewMs + renewDeadlineMs - this.clock.now(), () => {
      // An attempt may be hanging on the API server: leadership ends on time regardless.
      if (this.leading && this.stopping === undefined && this.clock.now() - this.lastRenewMs >= renewDeadlineMs) {
        this.stepDown(`could not renew the Lease within the ${renewDeadlineMs} ms renew deadline${this.lastError === undefined ? '' : `: ${this.lastError}`}`);
      }
    });
  }

  private startLeading(reason: string): void {
    this.leading = true;
    this.log.info({ reason, leaseTransitions: this.observed?.lease.record.leaseTransitions }, `started leading: ${reason}`);
    this.notify(this.options.onStartedLeading, reason);
  }

  private stepDown(reason: string): void {
    this.leading = false;
    this.deadline?.cancel();
    this.log.warn({ reason }, `stopped leading: ${reason}`);
    this.notify(this.options.onStoppedLeading, reason);
  }

  private notify(callback: ((reason: string) => void) | undefined, reason: string): void {
    try {
      callback?.(reason);
    } catch (error) {
      this.log.error({ err: error }, 'a leadership callback threw');
    }
  }

  /** client-go's release: no holder, a 1 s duration, the transitions kept. */
  private async release(): Promise<void> {
    const current = this.observed?.lease;
    if (current === undefined) return;
    const now = microTime(this.clock.now());
    try {
      this.observe(await this.options.lease.update(current, {
        holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions,
      }), this.clock.now());
      this.log.info('released the Lease');
    } catch (error) {
      this.log.warn({ err: messageOf(error) }, isAmbitError(error, 'conflict')
        ? 'did not release the Lease: it changed meanwhile'
        : 'could not release the Lease; a standby takes over once it expires');
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
