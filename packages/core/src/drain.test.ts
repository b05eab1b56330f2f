import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Drain, Tracker } from './drain.js';
import type { DrainParticipant } from './drain.js';

/** A participant whose idle() resolves when `finish()` is called (or never). */
class FakeListener implements DrainParticipant {
  stopped = 0;
  forced = 0;
  idleCalls = 0;
  private readonly done: Promise<void>;
  finish!: () => void;

  constructor(private readonly events: string[] = [], private readonly name = 'listener') {
    this.done = new Promise<void>((resolve) => { this.finish = resolve; });
  }

  stopAccepting(): void {
    this.stopped++;
    this.events.push(`${this.name}:stop`);
  }

  idle(): Promise<void> {
    this.idleCalls++;
    this.events.push(`${this.name}:idle?`);
    return this.done;
  }

  forceClose(): void {
    this.forced++;
    this.events.push(`${this.name}:force`);
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  for (let i = 0; i < 5; i++) await tick();
  return settled;
}

describe('Drain', () => {
  it('is graceful when every participant goes idle before the deadline', async () => {
    const drain = new Drain();
    const a = new FakeListener();
    const b = new FakeListener();
    drain.register(a);
    drain.register(b);
    assert.equal(drain.started, false);

    const result = drain.drain(5000);
    assert.equal(drain.started, true);
    await tick();
    a.finish();
    assert.equal(await isSettled(result), false, 'must wait for every participant');
    b.finish();

    const { graceful, elapsedMs } = await result;
    assert.equal(graceful, true);
    assert.ok(elapsedMs >= 0 && elapsedMs < 5000, `elapsedMs=${elapsedMs}`);
    assert.equal(a.forced + b.forced, 0, 'nothing is force-closed after a graceful drain');
  });

  it('force-closes every participant when one is still busy at the deadline', async () => {
    const drain = new Drain();
    const idle = new FakeListener();
    const busy = new FakeListener();
    idle.finish();
    drain.register(idle);
    drain.register(busy);

    const started = performance.now();
    const { graceful, elapsedMs } = await drain.drain(40);
    const waited = performance.now() - started;
    assert.equal(graceful, false);
    assert.ok(waited >= 35, `returned after ${waited}ms, before the 40ms deadline`);
    assert.ok(elapsedMs >= 35 && elapsedMs < 5000, `elapsedMs=${elapsedMs}`);
    assert.equal(busy.forced, 1);
    assert.equal(idle.forced, 1);
  });

  it('stops accepting on every participant before waiting for any of them', async () => {
    const events: string[] = [];
    const drain = new Drain();
    const a = new FakeListener(events, 'a');
    const b = new FakeListener(events, 'b');
    const c = new FakeListener(events, 'c');
    for (const p of [a, b, c]) {
      p.finish();
      drain.register(p);
    }
    await drain.drain(1000);
    assert.deepEqual(events.slice(0, 3).sort(), ['a:stop', 'b:stop', 'c:stop']);
    assert.deepEqual(events.slice(3).sort(), ['a:idle?', 'b:idle?', 'c:idle?']);
    assert.deepEqual([a.stopped, b.stopped, c.stopped], [1, 1, 1]);
  });

  it('waits for an async stopAccepting before asking for idle', async () => {
    const events: string[] = [];
    let release!: () => void;
    const closing = new Promise<void>((resolve) => { release = resolve; });
    const drain = new Drain();
    drain.register({
      stopAccepting: async () => {
        events.push('stop:start');
        await closing;
        events.push('stop:done');
      },
      idle: () => {
        events.push('idle?');
        return Promise.resolve();
      },
      forceClose: () => events.push('force'),
    });
    const result = drain.drain(1000);
    await tick();
    assert.deepEqual(events, ['stop:start']);
    release();
    assert.equal((await result).graceful, true);
    assert.deepEqual(events, ['stop:start', 'stop:done', 'idle?']);
  });

  it('is idempotent: a second drain() returns the same result without stopping anything twice', async () => {
    const drain = new Drain();
    const p = new FakeListener();
    drain.register(p);
    const first = drain.drain(30);
    const second = drain.drain(10_000);
    assert.equal(second, first);
    const result = await first;
    assert.equal(result.graceful, false);
    assert.deepEqual(await drain.drain(1), result);
    assert.equal(p.stopped, 1);
    assert.equal(p.idleCalls, 1);
    assert.equal(p.forced, 1);
  });

  it('is graceful at once with no participants', async () => {
    const result = await new Drain().drain(10_000);
    assert.equal(result.graceful, true);
    assert.ok(result.elapsedMs < 1000);
  });

  it('leaves out a participant that unregistered before the drain', async () => {
    const drain = new Drain();
    const stays = new FakeListener();
    const leaves = new FakeListener();
    stays.finish();
    drain.register(stays);
    const unregister = drain.register(leaves);
    unregister();
    assert.equal((await drain.drain(1000)).graceful, true);
    assert.equal(leaves.stopped, 0);
    assert.equal(leaves.idleCalls, 0);
    assert.equal(stays.stopped, 1);
  });
});

class FakeSocket {
  destroyedWith: (Error | undefined)[] = [];
  constructor(private readonly onDestroy?: (socket: FakeSocket) => void) {}
  destroy(error?: Error): void {
    this.destroyedWith.push(error);
    this.onDestroy?.(this);
  }
}

describe('Tracker', () => {
  it('is idle at once when empty', async () => {
    const tracker = new Tracker<FakeSocket>();
    assert.equal(tracker.size, 0);
    assert.equal(await isSettled(tracker.idle()), true);
  });

  it('resolves every idle() waiter only when the last item is deleted', async () => {
    const tracker = new Tracker<FakeSocket>();
    const a = new FakeSocket();
    const b = new FakeSocket();
    tracker.add(a);
    tracker.add(b);
    tracker.add(a);
    assert.equal(tracker.size, 2);
    assert.deepEqual([...tracker.values()], [a, b]);

    const first = tracker.idle();
    const second = tracker.idle();
    tracker.delete(a);
    assert.equal(await isSettled(first), false);
    tracker.delete(new FakeSocket());
    assert.equal(await isSettled(first), false, 'deleting an untracked item is not progress');
    tracker.delete(b);
    assert.equal(await isSettled(first), true);
    assert.equal(await isSettled(second), true);
    assert.equal(tracker.size, 0);
  });

  it('waits again after becoming busy once more', async () => {
    const tracker = new Tracker<FakeSocket>();
    const a = new FakeSocket();
    tracker.add(a);
    tracker.delete(a);
    tracker.add(a);
    const waiting = tracker.idle();
    assert.equal(await isSettled(waiting), false);
    tracker.delete(a);
    assert.equal(await isSettled(waiting), true);
  });

  it('destroyAll() destroys each item with the error, even when destroy removes it from the tracker', async () => {
    const tracker = new Tracker<FakeSocket>();
    const remove = (socket: FakeSocket) => tracker.delete(socket);
    const sockets = [new FakeSocket(remove), new FakeSocket(remove), new FakeSocket(remove)];
    for (const s of sockets) tracker.add(s);
    const idle = tracker.idle();
    const reason = new Error('drain deadline passed');
    tracker.destroyAll(reason);
    for (const s of sockets) assert.deepEqual(s.destroyedWith, [reason]);
    assert.equal(tracker.size, 0);
    assert.equal(await isSettled(idle), true);
  });

  it('works as a drain participant: force-close destroys what is left', async () => {
    const tracker = new Tracker<FakeSocket>();
    const stuck = new FakeSocket((s) => tracker.delete(s));
    tracker.add(stuck);
    const drain = new Drain();
    drain.register({ stopAccepting: () => undefined, idle: () => tracker.idle(), forceClose: () => tracker.destroyAll() });
    const result = await drain.drain(20);
    assert.equal(result.graceful, false);
    assert.deepEqual(stuck.destroyedWith, [undefined]);
    assert.equal(tracker.size, 0);
  });
});
