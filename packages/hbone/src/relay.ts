// One direction of a join: every chunk read from `source` is written to
// `destination`, the destination is ended when the source ends, and the
// source is paused while the destination holds more than a budget. Used
// instead of Readable.pipe() because pipe's backpressure costs more than the
// copy itself on the data path (measured: docs/performance.md, issue 8):
//
// - pipe pauses the source whenever write() returns false, and write() on a
//   stream with the default 16 KiB high-water mark returns false for every
//   64 KiB socket read, even when the kernel took it all synchronously: each
//   read then stops and restarts the socket (epoll_ctl churn, ~4 per read).
//   Here the source is paused only when the bytes still queued after the
//   write exceed `RELAY_BUDGET_BYTES`.
// - a TLS read decrypts several 16 KiB records, and HTTP/2 delivers each as
//   its own 'data' event, each in its own callback scope: piped to a socket,
//   that is one write(2), and one wake-up of the reader, per record. Here
//   the first large chunk of a loop turn is written at once, and a socket
//   destination that gets a second one in the same turn is corked until the
//   I/O callbacks of the turn are done (one setImmediate per turn for the
//   whole process; a nextTick or microtask would run between records), so
//   the rest go out in one writev(2). Small chunks (a request, a response)
//   are written at once and schedule nothing.
import type { Duplex, Readable, Writable } from 'node:stream';

/** Bytes a destination may hold queued before its source is paused. */
export const RELAY_BUDGET_BYTES = 256 * 1024;
/**
 * Chunks at least this large take part in per-turn coalescing; smaller ones
 * (requests, responses) are written at once without scheduling anything: a
 * burst of records is made of full 16 KiB records.
 */
export const RELAY_COALESCE_MIN_BYTES = 8 * 1024;

export interface Relay {
  /** Bytes read from the source so far (written or queued). */
  readonly bytes: number;
  /** Stops forwarding (the destination is not ended); idempotent. */
  stop(): void;
}

export interface RelayOptions {
  /** Coalesce the chunks of one loop turn into one write (for sockets; see above). */
  cork?: boolean;
}

// The loop turn: advanced by one shared setImmediate, which also uncorks
// every destination corked during the turn.
let turn = 0;
let turnScheduled = false;
const corkedThisTurn: (Writable | Duplex)[] = [];

function endTurn(): void {
  turn++;
  turnScheduled = false;
  for (const destination of corkedThisTurn) if (!destination.destroyed) destination.uncork();
  corkedThisTurn.length = 0;
}

export function relay(source: Readable | Duplex, destination: Writable | Duplex, options: RelayOptions = {}): Relay {
  const cork = options.cork === true;
  let lastTurn = -1;
  let corkedTurn = -1;
  let stopped = false;
  let waiting = false;
  const state = { bytes: 0, stop };

  const onDrain = (): void => {
    waiting = false;
    if (!stopped) source.resume();
  };
  const onData = (chunk: Buffer): void => {
    state.bytes += chunk.length;
    if (stopped || destination.destroyed || destination.writableEnded) return;
    if (cork && chunk.length >= RELAY_COALESCE_MIN_BYTES) {
      if (lastTurn === turn && corkedTurn !== turn) {
        corkedTurn = turn;
        destination.cork();
        corkedThisTurn.push(destination);
      }
      lastTurn = turn;
      if (!turnScheduled) {
        turnScheduled = true;
        setImmediate(endTurn);
      }
    }
    if (!destination.write(chunk) && !waiting && destination.writableLength > RELAY_BUDGET_BYTES) {
      waiting = true;
      source.pause();
      destination.once('drain', onDrain);
    }
  };
  const onEnd = (): void => {
    if (stopped || destination.destroyed || destination.writableEnded) return;
    // end() flushes a corked destination (and the turn's uncork then finds it ended: a no-op).
    destination.end();
  };

  function stop(): void {
    if (stopped) return;
    stopped = true;
    source.off('data', onData);
    source.off('end', onEnd);
    destination.off('drain', onDrain);
  }

  source.on('data', onData);
  source.once('end', onEnd);
  // Like pipe(): a source paused by an earlier reader (a SOCKS5 handshake) flows again.
  if (!source.readableFlowing) source.resume();
  return state;
}
