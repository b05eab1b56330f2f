import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WaypointLanes } from './lanes.js';

describe('WaypointLanes', () => {
  it('fills one connection up to the limit, then the next, then the least busy', () => {
    const lanes = new WaypointLanes(2, 3);
    const taken = Array.from({ length: 7 }, () => lanes.take('a'));
    assert.deepEqual(taken.map((t) => t.lane), [0, 0, 0, 1, 1, 1, 0]);
    assert.deepEqual(lanes.counts('a'), [4, 3]);
    taken[3]!.release();
    taken[4]!.release();
    assert.equal(lanes.take('a').lane, 1, 'lane 0 is full, lane 1 has room');
  });

  it('keeps each key apart, counts a release once, and forgets a key with no open tunnel', () => {
    const lanes = new WaypointLanes(2, 1);
    const a = lanes.take('a');
    assert.equal(lanes.take('b').lane, 0, 'another source starts on its own lane 0');
    const second = lanes.take('a');
    assert.equal(second.lane, 1);
    second.release();
    second.release();
    assert.deepEqual(lanes.counts('a'), [1, 0]);
    a.release();
    assert.deepEqual(lanes.counts('a'), [0, 0]);
    assert.equal(lanes.take('a').lane, 0);
  });

  it('with one connection, every tunnel takes lane 0', () => {
    const lanes = new WaypointLanes(1, 2);
    assert.deepEqual(Array.from({ length: 5 }, () => lanes.take('a').lane), [0, 0, 0, 0, 0]);
  });
});
