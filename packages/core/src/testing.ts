// Assertions shared by the test suites (exported as @ambit/core/testing, never imported by runtime code).
import assert from 'node:assert/strict';
import http from 'node:http';
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

/** One HTTP request (to a TCP port or a unix socket) with the whole body as text. */
export function httpRequest(options: http.RequestOptions): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.request(options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    }).on('error', reject).end();
  });
}
