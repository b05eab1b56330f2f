import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { deliver } from './exchange.js';

/** A client that takes one chunk at a time and acknowledges it only when told to. */
function slowClient(): { sink: Writable; chunks: string[]; ack: () => void; finished: Promise<void> } {
  const chunks: string[] = [];
  let pending: (() => void) | undefined;
  const sink = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(String(chunk));
      pending = callback;
    },
  });
  const finished = new Promise<void>((resolve) => sink.once('finish', resolve));
  return { sink, chunks, ack: () => { const next = pending; pending = undefined; next?.(); }, finished };
}

describe('deliver', () => {
  it('sends a buffered body at once and ends the client', () => {
    const { sink, chunks } = slowClient();
    deliver({ status: 200, headers: {}, body: Buffer.from('whole') }, sink);
    assert.deepEqual(chunks, ['whole']);
    assert.equal(sink.writableEnded, true);
  });

  it('streams a body with backpressure, counts every chunk, and ends the client after the last', async () => {
    const body = new PassThrough();
    const counted: number[] = [];
    const { sink, chunks, ack, finished } = slowClient();
    deliver({ status: 200, headers: {}, body, counter: (bytes) => counted.push(bytes) }, sink);
    body.write('first');
    body.write('second');
    await nextTurn();
    assert.equal(body.isPaused(), true, 'a full client pauses the body');
    assert.deepEqual(chunks, ['first']);
    ack();
    await nextTurn();
    assert.deepEqual(chunks, ['first', 'second']);
    body.end('third');
    ack();
    await nextTurn();
    ack();
    await finished;
    assert.deepEqual(chunks, ['first', 'second', 'third']);
    assert.deepEqual(counted, [5, 6, 5]);
  });

  it('destroys the client when the body fails', async () => {
    const body = new PassThrough();
    const sink = new PassThrough();
    const closed = new Promise((resolve) => sink.once('close', resolve));
    deliver({ status: 200, headers: {}, body }, sink);
    body.destroy(new Error('upstream reset'));
    await closed;
    assert.equal(sink.destroyed, true);
  });
});
