import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError, ManualClock } from '@ambit/core';
import {
  decideLease, leaseTimingProblem, LeaderElector, microTime, type LeaseClient, type LeaseRecord, type LeaseTimings, type StoredLease,
} from './elector.js';

const TIMINGS: LeaseTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** One Lease in memory with resourceVersion semantics; each replica reaches it through its own client. */
class MemoryLease {
  current: StoredLease | undefined;
  private version = 1;
  readonly writes: { by: string; record: LeaseRecord }[] = [];

  client(replica: string): LeaseClient & { down: boolean; hang: boolean } {
    const reach = async (): Promise<void> => {
      if (client.hang) await new Promise(() => undefined);
      if (client.down) throw new AmbitError('unavailable', 'the API server is unreachable');
    };
    const client = {
      name: 'ambit-system/ambit-control-plane', down: false, hang: false,
      get: async (): Promise<StoredLease | undefined> => {
        await reach();
        return this.current === undefined ? undefined : structuredClone(this.current);
      },
      create: async (record: LeaseRecord): Promise<StoredLease> => {
        await reach();
        if (this.current !== undefined) throw new AmbitError('already-exists', 'leases "ambit-control-plane" already exists');
        return this.write(replica, record);
      },
      update: async (previous: StoredLease, record: LeaseRecord): Promise<StoredLease> => {
        await reach();
        if (this.current?.resourceVersion !== previous.resourceVersion) throw new AmbitError('conflict', 'the object has been modified');
        return this.write(replica, record);
      },
    };
    return client;
  }

  private write(by: string, record: LeaseRecord): StoredLease {
    this.current = { record: structuredClone(record), resourceVersion: String(++this.version) };
    this.writes.push({ by, record: structuredClone(record) });
    return structuredClone(this.current);
  }
}

interface Replica {
  elector: LeaderElector;
  client: ReturnType<MemoryLease['client']>;
  events: { at: number; change: 'started' | 'stopped'; reason: string }[];
}

function replica(lease: MemoryLease, clock: ManualClock, identity: string, timings: LeaseTimings = TIMINGS): Replica {
  const client = lease.client(identity);
  const events: Replica['events'] = [];
  const elector = new LeaderElector({
    ...timings, lease: client, identity, clock, jitter: 0,
    onStartedLeading: (reason) => events.push({ at: clock.now(), change: 'started', reason }),
    onStoppedLeading: (reason) => events.push({ at: clock.now(), change: 'stopped', reason }),
  });
  return { elector, client, events };
}

const record = (holder: string, seconds = 15): LeaseRecord => ({
  holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: microTime(0), renewTime: microTime(0), leaseTransitions: 3,
});

describe('decideLease', () => {
  const T = 1_000_000;
  it('acquires its own, a released and an expired Lease; waits for a live one', () => {
    assert.deepEqual(decideLease(record('a'), T, 'a', T), { acquire: true, takeover: false, why: 'renewed its own Lease' });
    assert.deepEqual(decideLease(record(''), T, 'a', T), { acquire: true, takeover: true, why: 'the Lease was released' });
    assert.deepEqual(decideLease(record('b'), T, 'a', T + 14_999), { acquire: false, holder: 'b', expiresInMs: 1 });
    const expired = decideLease(record('b'), T, 'a', T + 15_000);
    assert.equal(expired.acquire && expired.takeover, true);
    assert.match(expired.acquire ? expired.why : '', /b did not renew the Lease within 15 s/);
  });

  it('measures expiry from when this replica saw the record change, not from the holder\'s timestamps', () => {
    // renewTime is from 1970 (a holder with a wrong clock): still live for the whole duration after it was observed.
    assert.equal(decideLease(record('b'), T, 'a', T + 1).acquire, false);
    // The record's own duration counts (a released Lease has 1 s).
    assert.equal(decideLease(record('b', 1), T, 'a', T + 1_000).acquire, true);
    assert.equal(decideLease(record('b', 0), T, 'a', T).acquire, true, 'no duration: expired at once, as client-go reads it');
  });
});

describe('leaseTimingProblem', () => {
  it('accepts the defaults and short test timings', () => {
    assert.equal(leaseTimingProblem(TIMINGS), undefined);
    assert.equal(leaseTimingProblem({ leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 }), undefined);
  });

  it('refuses a renew deadline not below the duration, a retry period not below the deadline, and part seconds', () => {
    assert.equal(leaseTimingProblem({ ...TIMINGS, renewDeadlineMs: 15_000 })?.key, 'lease-renew-deadline');
    assert.equal(leaseTimingProblem({ ...TIMINGS, retryPeriodMs: 10_000 })?.key, 'lease-retry-period');
    assert.equal(leaseTimingProblem({ ...TIMINGS, retryPeriodMs: 0 })?.key, 'lease-retry-period');
    assert.equal(leaseTimingProblem({ ...TIMINGS, leaseDurationMs: 1_500 })?.key, 'lease-duration');
    assert.equal(leaseTimingProblem({ ...TIMINGS, leaseDurationMs: 0 })?.key, 'lease-duration');
    assert.throws(() => new LeaderElector({ ...TIMINGS, renewDeadlineMs: 20_000, identity: 'a', lease: new MemoryLease().client('a') }), /lease-renew-deadline/);
  });
});

describe('microTime', () => {
  it('is RFC 3339 with microseconds', () => {
    assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000Z');
  });
});

describe('LeaderElector', () => {
  it('creates an absent Lease and leads at once; renews every retry period', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    a.elector.start();
    await clock.advance(0);
    assert.equal(a.elector.isLeader, true);
    assert.deepEqual(a.events.map((e) => e.change), ['started']);
    const created = lease.current!.record;
    assert.deepEqual(created, { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: microTime(clock.now()), renewTime: microTime(clock.now()), leaseTransitions: 0 });
    await clock.advance(2_000);
    assert.equal(lease.current!.record.renewTime, microTime(clock.now()));
    assert.equal(lease.current!.record.acquireTime, created.acquireTime, 'a renewal keeps acquireTime');
    assert.equal(lease.writes.length, 2);
    await a.elector.stop();
  });

  it('two replicas: one leads, the other waits and never writes while the leader renews', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    const b = replica(lease, clock, 'b');
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(60_000);
    assert.equal(a.elector.isLeader, true);
    assert.equal(b.elector.isLeader, false);
    assert.deepEqual(lease.writes.filter((w) => w.by === 'b'), []);
    assert.equal(b.elector.status().holder, 'a');
    assert.match(b.elector.status().lastError ?? '', /a holds the Lease/);
    await b.elector.stop();
    assert.deepEqual(lease.writes.filter((w) => w.by === 'b'), [], 'a follower has nothing to release');
    await a.elector.stop();
  });

  it('of two candidates racing for the Lease, one wins and the other gets a conflict', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    lease.current = { record: record(''), resourceVersion: '1' };
    const a = replica(lease, clock, 'a');
    const b = replica(lease, clock, 'b');
    a.elector.start();
    b.elector.start();
    await clock.advance(0);
    assert.equal([a, b].filter((r) => r.elector.isLeader).length, 1);
    assert.equal(lease.writes.length, 1);
    assert.equal(lease.current.record.leaseTransitions, 4);
    assert.match(b.elector.status().lastError ?? '', /another replica wrote the Lease first/);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('the leader cut off from the API server steps down at the renew deadline, before the standby may take over', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    const b = replica(lease, clock, 'b');
    a.elector.start();
    b.elector.start();
    await clock.advance(0);
    await clock.advance(10_000);
    const cut = clock.now();
    a.client.down = true;
    await clock.advance(30_000);
    const [stopped] = a.events.filter((e) => e.change === 'stopped');
    const [started] = b.events.filter((e) => e.change === 'started');
    assert.ok(stopped !== undefined && started !== undefined);
    // a renewed last at cut - 2 s at the latest, so it stops within the deadline of that.
    assert.ok(stopped.at - cut <= 10_000, `stopped ${stopped.at - cut} ms after the cut`);
    assert.match(stopped.reason, /could not renew the Lease .*unreachable/);
    assert.ok(started.at - cut >= 15_000 - 2_000, `took over ${started.at - cut} ms after the cut`);
    assert.ok(stopped.at < started.at, 'never two leaders');
    assert.match(started.reason, /a did not renew the Lease within 15 s/);
    assert.equal(lease.current!.record.holderIdentity, 'b');
    assert.equal(lease.current!.record.leaseTransitions, 1);
    // Back on the network, a finds b in the Lease and stays a follower.
    a.client.down = false;
    await clock.advance(10_000);
    assert.equal(a.elector.isLeader, false);
    assert.equal(a.elector.status().holder, 'b');
    await a.elector.stop();
    await b.elector.stop();
  });

  it('steps down at the renew deadline even while a renewal hangs', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    a.elector.start();
    await clock.advance(0);
    a.client.hang = true;
    await clock.advance(2_000); // this renewal never answers
    const hungAt = clock.now();
    await clock.advance(9_000);
    const stopped = a.events.find((e) => e.change === 'stopped');
    assert.ok(stopped !== undefined);
    assert.equal(stopped.at, hungAt - 2_000 + 10_000, 'at the last successful renewal plus the deadline');
    assert.match(stopped.reason, /renew deadline/);
  });

  it('a leader that sees another holder in the Lease stops at once', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    a.elector.start();
    await clock.advance(0);
    lease.current = { record: { ...record('intruder'), leaseTransitions: 1 }, resourceVersion: '99' };
    await clock.advance(2_000);
    assert.equal(a.elector.isLeader, false);
    assert.match(a.events.at(-1)?.reason ?? '', /intruder holds the Lease now/);
    await a.elector.stop();
    assert.equal(lease.current.record.holderIdentity, 'intruder', 'not released: not ours');
  });

  it('a graceful stop stops leading, then releases the Lease; the standby takes over at its next retry', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const order: string[] = [];
    const a = replica(lease, clock, 'a');
    const b = replica(lease, clock, 'b');
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(5_000);
    const writes = lease.writes.length;
    const stopping = a.elector.stop().then(() => order.push('stop resolved'));
    a.events.length = 0;
    await clock.advance(0);
    await stopping;
    assert.deepEqual(a.events.map((e) => e.change), ['stopped']);
    assert.equal(lease.writes.length, writes + 1);
    assert.deepEqual(lease.current!.record, { ...lease.current!.record, holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    const released = clock.now();
    await clock.advance(2_000);
    const started = b.events.find((e) => e.change === 'started');
    assert.ok(started !== undefined && started.at - released <= 2_000);
    assert.equal(started.reason, 'the Lease was released');
    assert.equal(lease.current!.record.leaseTransitions, 1);
    await b.elector.stop();
  });

  it('stop({ release: false }) leaves the Lease held (a crash): the standby waits for the duration', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    const a = replica(lease, clock, 'a');
    const b = replica(lease, clock, 'b');
    a.elector.start();
    b.elector.start();
    await clock.advance(0);
    await a.elector.stop({ release: false });
    const crashed = clock.now();
    assert.equal(lease.current!.record.holderIdentity, 'a');
    await clock.advance(20_000);
    const started = b.events.find((e) => e.change === 'started');
    assert.ok(started !== undefined && started.at - crashed >= 15_000 && started.at - crashed <= 15_000 + 2 * 2_000, `after ${(started?.at ?? 0) - crashed} ms`);
    await b.elector.stop();
  });

  it('a restarted replica with the same identity takes its Lease back at once, without a transition', async () => {
    const clock = new ManualClock();
    const lease = new MemoryLease();
    lease.current = { record: record('a'), resourceVersion: '1' };
    const a = replica(lease, clock, 'a');
    a.elector.start();
    await clock.advance(0);
    assert.equal(a.elector.isLeader, true);
    assert.equal(lease.current.record.leaseTransitions, 3);
    assert.equal(lease.current.record.acquireTime, microTime(0));
    await a.elector.stop();
  });
});
