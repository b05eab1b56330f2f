import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { relay, RELAY_BUDGET_BYTES } from './relay.js';

/** A destination that records each write call (a writev counts once) and completes writes when told. */
function recorder(options: { hold?: boolean } = {}): Writable & { calls: number[][]; release(): void } {
  const pending: (() => void)[] = [];
  const calls: number[][] = [];
  const finish = (callback: () => void): void => {
    if (options.hold === true) pending.push(callback);
    else callback();
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.length]);
      finish(callback);
    },
    writev(chunks, callback) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).length));
      finish(callback);
    },
  });
  return Object.assign(sink, {
    calls,
    release: () => {
      options.hold = false;
      for (const callback of pending.splice(0)) callback();
    },
  });
}

describe('relay', () => {
  it('writes the first large chunk of a turn at once and coalesces the rest of the turn into one write', async () => {
    const source = new PassThrough();
    const sink = recorder();
    const r = relay(source, sink, { cork: true });
    await nextTurn();
    const record = 16 * 1024;
    source.write(Buffer.alloc(record));
    source.write(Buffer.alloc(record + 1));
    source.write(Buffer.alloc(record + 2));
    await nextTurn();
    await nextTurn();
    assert.deepEqual(sink.calls, [[record], [record + 1, record + 2]]);
    assert.equal(r.bytes, 3 * record + 3);
  });

  it('writes small chunks at once even when corking is asked for', async () => {
    const source = new PassThrough();
    const sink = recorder();
    relay(source, sink, { cork: true });
    await nextTurn();
    source.write(Buffer.alloc(10));
    source.write(Buffer.alloc(20));
    await nextTurn();
    assert.deepEqual(sink.calls, [[10], [20]]);
  });

  it('without cork, writes every chunk as it comes', async () => {
    const source = new PassThrough();
    const sink = recorder();
    relay(source, sink);
    source.write(Buffer.alloc(1));
    source.write(Buffer.alloc(2));
    await nextTurn();
    assert.deepEqual(sink.calls, [[1], [2]]);
  });

  it('pauses the source only past the budget, and resumes it on drain', async () => {
    const source = new PassThrough();
    const sink = recorder({ hold: true });
    relay(source, sink);
    source.write(Buffer.alloc(64 * 1024));
    await nextTurn();
    assert.equal(source.isPaused(), false, 'one 64 KiB chunk over the 16 KiB high-water mark does not pause');
    source.write(Buffer.alloc(RELAY_BUDGET_BYTES));
    await nextTurn();
    assert.equal(source.isPaused(), true);
    sink.release();
    await nextTurn();
    assert.equal(source.isPaused(), false);
  });

  it('ends the destination when the source ends, and resumes a source an earlier reader paused', async () => {
    const source = new PassThrough();
    source.pause();
    const sink = recorder();
    const r = relay(source, sink, { cork: true });
    source.end(Buffer.alloc(5));
    await once(sink, 'finish');
    assert.equal(r.bytes, 5);
  });

  it('stops forwarding after stop(), leaving the destination open', async () => {
    const source = new PassThrough();
    const sink = recorder();
    const r = relay(source, sink);
    source.write(Buffer.alloc(3));
    await nextTurn();
    r.stop();
    r.stop();
    source.on('data', () => undefined);
    source.write(Buffer.alloc(4));
    await nextTurn();
    assert.deepEqual(sink.calls, [[3]]);
    assert.equal(sink.writableEnded, false);
  });
});
