import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { refusalFor, errorForStatus } from './status.js';

describe('error → status (server)', () => {
  const cases: [AmbitError | Error, number, string][] = [
    [new AmbitError('denied', 'x'), 401, 'denied'],
    [new AmbitError('invalid-address', 'x'), 400, 'bad-authority'],
    [new AmbitError('bad-request', 'x'), 400, 'bad-authority'],
    [new AmbitError('no-upstream', 'x'), 503, 'no-upstream'],
    [new AmbitError('timeout', 'x'), 503, 'upstream-timeout'],
    [new AmbitError('closed', 'x'), 503, 'draining'],
    [new Error('surprise'), 503, 'internal'],
    [new Error('wrapped', { cause: new AmbitError('denied', 'inner') }), 401, 'denied'],
  ];
  for (const [error, status, reason] of cases) {
    it(`${error.message} → ${status} ${reason}`, () => assert.deepEqual(refusalFor(error), { status, reason }));
  }
});

describe('status → error (client)', () => {
  const cases: [number, string][] = [[400, 'bad-request'], [401, 'denied'], [431, 'bad-request'], [503, 'no-upstream'], [504, 'timeout'], [502, 'protocol']];
  for (const [status, code] of cases) {
    it(`${status} → ${code}`, () => {
      const error = errorForStatus(status, '10.0.0.1:80', 'because');
      assert.equal(error.code, code);
      assert.match(error.message, new RegExp(`${status}: because`));
      assert.equal(error.details.status, status);
    });
  }
});
