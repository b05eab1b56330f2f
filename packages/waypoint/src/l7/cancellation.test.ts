import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cancellation, following } from './cancellation.js';

describe('Cancellation', () => {
  it('aborts once, with the first reason, running each listener once', () => {
    const cancel = new Cancellation();
    const heard: unknown[] = [];
    cancel.addEventListener('abort', () => heard.push(cancel.reason));
    cancel.addEventListener('abort', () => heard.push('second'));
    assert.equal(cancel.aborted, false);
    const reason = new Error('gone');
    cancel.abort(reason);
    cancel.abort(new Error('later'));
    assert.equal(cancel.aborted, true);
    assert.equal(cancel.reason, reason);
    assert.deepEqual(heard, [reason, 'second']);
  });

  it('never runs a listener removed before, or added after, the abort', () => {
    const cancel = new Cancellation();
    let calls = 0;
    const listener = (): void => { calls++; };
    cancel.addEventListener('abort', listener);
    cancel.removeEventListener('abort', listener);
    cancel.removeEventListener('abort', listener);
    cancel.abort(new Error('x'));
    cancel.addEventListener('abort', listener);
    assert.equal(calls, 0);
  });
});

describe('following', () => {
  it('aborts with the parent\'s reason while attached, and not after detach()', () => {
    const parent = new Cancellation();
    const child = following(parent);
    parent.abort(new Error('client gone'));
    assert.equal(child.signal.aborted, true);
    assert.equal(child.signal.reason.message, 'client gone');

    const other = new Cancellation();
    const detached = following(other);
    detached.detach();
    other.abort(new Error('late'));
    assert.equal(detached.signal.aborted, false, 'a detached child no longer follows');
  });

  it('leaves the parent alone when the child aborts, and follows an AbortSignal too', () => {
    const controller = new AbortController();
    const child = following(controller.signal);
    child.signal.abort(new Error('deadline'));
    assert.equal(controller.signal.aborted, false);
    assert.equal(child.signal.reason.message, 'deadline');
    const second = following(controller.signal);
    controller.abort(new Error('bye'));
    assert.equal(second.signal.reason.message, 'bye');
  });

  it('starts aborted when the parent already is', () => {
    const parent = new Cancellation();
    parent.abort(new Error('already'));
    const child = following(parent);
    assert.equal(child.signal.aborted, true);
    assert.equal(child.signal.reason.message, 'already');
    child.detach();
  });
});
