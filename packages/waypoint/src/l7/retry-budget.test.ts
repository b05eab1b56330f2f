import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget } from './retry-budget.js';
import { retryableError, retryableStatus } from './retry.js';
import { failure } from '../flags.js';

describe('retry budget', () => {
  const cases: [string, number, number][] = [
    // active requests → retries allowed concurrently
    ['few requests: the minimum', 1, 3],
    ['ten requests: still the minimum', 10, 3],
    ['twenty requests: 20%', 20, 4],
    ['a hundred requests: 20%', 100, 20],
  ];
  for (const [name, requests, allowed] of cases) {
    it(name, () => {
      const budget = new RetryBudget();
      for (let i = 0; i < requests; i++) budget.enter();
      const granted = [];
      for (let i = 0; i < allowed + 5; i++) {
        const done = budget.tryRetry();
        if (done !== undefined) granted.push(done);
      }
      assert.equal(granted.length, allowed);
      assert.equal(budget.overflows, 5);
      granted[0]?.();
      assert.notEqual(budget.tryRetry(), undefined, 'a finished retry frees its place');
    });
  }
  it('leaving is idempotent', () => {
    const budget = new RetryBudget();
    const leave = budget.enter();
    leave();
    leave();
    assert.equal(budget.active.requests, 0);
  });
});

describe('what is retried', () => {
  const statusCases: [('5xx' | 'gateway-error' | 'connect-failure' | 'reset')[], number, boolean][] = [
    [['5xx'], 500, true], [['5xx'], 404, false], [['gateway-error'], 500, false], [['gateway-error'], 503, true], [['connect-failure'], 503, false],
  ];
  for (const [on, status, expected] of statusCases) it(`${on.join(',')} / ${status}`, () => assert.equal(retryableStatus({ on }, status), expected));
  const connect = failure('no-upstream', 'UF', 'x', { details: { retryOn: 'connect-failure' } });
  const reset = failure('protocol', 'UC', 'x', { details: { retryOn: 'reset' } });
  const errorCases: [('5xx' | 'gateway-error' | 'connect-failure' | 'reset')[], Error, boolean][] = [
    [['connect-failure'], connect, true], [['reset'], connect, false], [['reset'], reset, true], [['gateway-error'], reset, false], [['5xx'], reset, true],
    [['5xx'], new Error('other'), false],
  ];
  for (const [on, error, expected] of errorCases) it(`${on.join(',')} / ${error.message}:${String((error as { details?: { retryOn?: string } }).details?.retryOn)}`, () => assert.equal(retryableError({ on }, error), expected));
});
