import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ManualClock, systemClock } from './clock.js';

describe('ManualClock', () => {
  it('starts at 2026-01-01T00:00:00Z by default, or at the given number or Date', () => {
    assert.equal(new ManualClock().now(), Date.UTC(2026, 0, 1));
    assert.equal(new ManualClock(1234).now(), 1234);
    assert.equal(new ManualClock(new Date('2030-06-01T12:00:00Z')).now(), Date.parse('2030-06-01T12:00:00Z'));
  });

  it('does not move or fire anything until advanced', async () => {
    const clock = new ManualClock(0);
    let fired = false;
    clock.schedule(0, () => { fired = true; });
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(fired, false);
    assert.equal(clock.now(), 0);
    assert.equal(clock.pending, 1);
  });

  it('fires timers in time order, ties in scheduling order, with now() at each due time', async () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    const record = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    clock.schedule(30, record('c'));
    clock.schedule(10, record('a'));
    clock.schedule(20, record('b1'));
    clock.schedule(20, record('b2'));
    clock.schedule(-5, record('negative-is-now'));
    await clock.advance(30);
    assert.deepEqual(fired, ['negative-is-now@1000', 'a@1010', 'b1@1020', 'b2@1020', 'c@1030']);
    assert.equal(clock.now(), 1030);
    assert.equal(clock.pending, 0);
  });

  it('leaves timers beyond the target pending and lands exactly on the target', async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.schedule(10, () => fired.push(10));
    clock.schedule(11, () => fired.push(11));
    await clock.advance(10);
    assert.deepEqual(fired, [10]);
    assert.equal(clock.now(), 10);
    assert.equal(clock.pending, 1);
    await clock.advance(5);
    assert.deepEqual(fired, [10, 11]);
    assert.equal(clock.now(), 15);
  });

  it('never fires a cancelled timer, and cancel is harmless after firing', async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const a = clock.schedule(10, () => fired.push('a'));
    const b = clock.schedule(10, () => fired.push('b'));
    a.cancel();
    assert.equal(clock.pending, 1);
    await clock.advance(100);
    assert.deepEqual(fired, ['b']);
    b.cancel();
    assert.equal(clock.pending, 0);
  });

  it('lets a timer cancel a later one during the same advance', async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const late = clock.schedule(20, () => fired.push('late'));
    clock.schedule(10, () => { fired.push('early'); late.cancel(); });
    await clock.advance(50);
    assert.deepEqual(fired, ['early']);
  });

  it('fires timers scheduled by timers within the same advance, in order', async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.schedule(10, () => {
      fired.push(`outer@${clock.now()}`);
      clock.schedule(5, () => {
        fired.push(`nested-5@${clock.now()}`);
        clock.schedule(5, () => fired.push(`nested-nested@${clock.now()}`));
      });
      clock.schedule(0, () => fired.push(`nested-0@${clock.now()}`));
      clock.schedule(100, () => fired.push('too-late'));
    });
    clock.schedule(12, () => fired.push(`sibling@${clock.now()}`));
    await clock.advance(25);
    assert.deepEqual(fired, ['outer@10', 'nested-0@10', 'sibling@12', 'nested-5@15', 'nested-nested@20']);
    assert.equal(clock.pending, 1);
  });

  it('runs promise continuations between timers, so async refresh loops keep ticking', async () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.schedule(ms, resolve));
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        ticks.push(clock.now());
      }
    };
    const done = loop();
    await clock.advance(30);
    assert.deepEqual(ticks, [10, 20, 30]);
    await done;
  });
});

describe('systemClock', () => {
  it('reports wall-clock time', () => {
    const before = Date.now();
    const now = systemClock.now();
    assert.ok(now >= before && now <= Date.now());
  });

  it('fires a scheduled callback after roughly the delay', async () => {
    const started = performance.now();
    const firedAfter = await new Promise<number>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('systemClock timer did not fire within 5s')), 5000);
      systemClock.schedule(30, () => {
        clearTimeout(guard);
        resolve(performance.now() - started);
      });
    });
    // Node may fire a timer a fraction of a millisecond early; the upper bound is only a hang guard.
    assert.ok(firedAfter >= 25, `fired after ${firedAfter}ms`);
    assert.ok(firedAfter < 5000);
  });

  it('treats a negative delay as zero', async () => {
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('did not fire')), 5000);
      systemClock.schedule(-100, () => {
        clearTimeout(guard);
        resolve();
      });
    });
  });

  it('never fires a cancelled callback', async () => {
    let fired = false;
    systemClock.schedule(10, () => { fired = true; }).cancel();
    await new Promise<void>((resolve) => setTimeout(resolve, 60));
    assert.equal(fired, false);
  });

  it('chains delays beyond setTimeout\'s 2^31-1 ms limit instead of firing early', () => {
    // A bare setTimeout longer than 2^31-1 ms fires after 1 ms; the clock must not.
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let fired = 0;
      const handle = systemClock.schedule(2 ** 31 + 1000, () => fired++);
      mock.timers.tick(2 ** 31 - 1);
      assert.equal(fired, 0);
      mock.timers.tick(1000);
      assert.equal(fired, 0);
      mock.timers.tick(1);
      assert.equal(fired, 1);

      // Cancelling during the second leg of a chain still works.
      const second = systemClock.schedule(2 ** 31 + 1000, () => fired++);
      mock.timers.tick(2 ** 31);
      second.cancel();
      mock.timers.tick(10_000);
      assert.equal(fired, 1);
      handle.cancel();
    } finally {
      mock.timers.reset();
    }
  });

  it('does not keep the process alive while a timer is pending', () => {
    const clockUrl = new URL('./clock.js', import.meta.url).href;
    const script = `import { systemClock } from ${JSON.stringify(clockUrl)};
systemClock.schedule(60000, () => { process.exitCode = 3; });`;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    assert.equal(child.error, undefined, String(child.error));
    assert.equal(child.status, 0, child.stderr.toString());
    assert.ok(Date.now() - started < 20_000);
  });
});
