// Assertions shared by the test suites (exported as @ambit/core/testing, never imported by runtime code).
import assert from 'node:assert/strict';
import { AmbitError, type ErrorCode } from './errors.js';

/** Awaits `promise`, requires it to reject with an AmbitError of `code` (and `message`), and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<AmbitError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof AmbitError, `expected an AmbitError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}
