// The open-loop generator's settle window: the first seconds of the schedule
// (a path waking from idle) are reported apart and never mixed into the
// measured figures, and the measured window's start is what `onStart` (the
// benchmark's CPU meter) sees. A loopback server that answers the first
// requests slowly makes the two windows tell apart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openLoop } from '../bench/open-loop.js';

const BODY = Buffer.alloc(1024, 'x');
const SLOW_MS = 60;

/** Answers 1 KiB; the first `slow` requests after the connections' first ones wait SLOW_MS. */
async function server(connections: number, slow: number): Promise<{ url: string; served: () => number; close: () => Promise<void> }> {
  let served = 0;
  const srv = http.createServer((request, response) => {
    const n = served++;
    const answer = (): void => {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
      response.end(BODY);
    };
    if (n >= connections && n < connections + slow) setTimeout(answer, SLOW_MS);
    else answer();
    request.resume();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/1k`,
    served: () => served,
    close: () => new Promise((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    }),
  };
}

describe('open-loop generator', () => {
  it('reports the settle window apart from the measured one', async () => {
    // The settle window's 50 requests are the slow ones; 16 connections answer them without a backlog
    // (16 / 60 ms is well above 100 req/s), so none of them delays the measured window's.
    const connections = 16;
    const rate = 100;
    const target = await server(connections, rate / 2);
    try {
      const started = performance.now();
      let startedMeasuring: number | undefined;
      const result = await openLoop({
        url: target.url, rate, connections, durationSeconds: 0.5, settleSeconds: 0.5,
        onStart: () => {
          assert.equal(startedMeasuring, undefined, 'onStart is called once');
          startedMeasuring = performance.now();
        },
      });
      assert.ok(result.settle !== undefined, 'a settle window was reported');
      assert.equal(result.settle.completed, 50);
      assert.equal(result.settle.errors, 0);
      assert.equal(result.completed, 50);
      assert.equal(result.errors, 0);
      assert.equal(target.served(), connections + 100, 'the connections\' first requests, then both windows');
      // The slow answers are all in the settle window: its median waited for them, the measured window's did not.
      assert.ok(result.settle.latencyMs.p50 >= SLOW_MS, `settle p50 ${result.settle.latencyMs.p50} ms`);
      assert.ok(result.latencyMs.p50 < SLOW_MS, `measured p50 ${result.latencyMs.p50} ms`);
      // The meter starts when the measured window does, about 0.5 s into the schedule.
      assert.ok(startedMeasuring !== undefined && startedMeasuring - started >= 450, `measuring began ${startedMeasuring === undefined ? 'never' : `${startedMeasuring - started} ms`} after the start`);
    } finally {
      await target.close();
    }
  });

  it('has no settle window unless asked, and starts measuring at once', async () => {
    const target = await server(4, 0);
    try {
      let starts = 0;
      const result = await openLoop({ url: target.url, rate: 200, connections: 4, durationSeconds: 0.25, onStart: () => { starts++; } });
      assert.equal(result.settle, undefined);
      assert.equal(result.completed, 50);
      assert.equal(starts, 1);
    } finally {
      await target.close();
    }
  });

  it('refuses a negative settle window', async () => {
    const target = await server(1, 0);
    try {
      await assert.rejects(openLoop({ url: target.url, rate: 100, connections: 1, durationSeconds: 0.1, settleSeconds: -1 }), /settle window must be 0 or more seconds/);
    } finally {
      await target.close();
    }
  });
});
