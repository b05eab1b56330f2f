import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError, causeChain, findAmbitError, isAmbitError, systemCode } from './errors.js';

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('AmbitError', () => {
  it('carries code, message, hint, details and cause', () => {
    const cause = new Error('socket hang up');
    const error = new AmbitError('no-upstream', 'no workload with address 10.244.1.7', {
      cause,
      hint: 'is the pod enrolled?',
      details: { address: '10.244.1.7' },
    });
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'AmbitError');
    assert.equal(error.code, 'no-upstream');
    assert.equal(error.message, 'no workload with address 10.244.1.7');
    assert.equal(error.hint, 'is the pod enrolled?');
    assert.deepEqual(error.details, { address: '10.244.1.7' });
    assert.equal(error.cause, cause);
  });

  it('has no cause property and empty details when none are given', () => {
    const error = new AmbitError('timeout', 'connect timed out after 100ms');
    assert.equal('cause' in error, false);
    assert.equal(error.hint, undefined);
    assert.deepEqual(error.details, {});
  });

  it('explain() appends the hint in parentheses, or is just the message without one', () => {
    assert.equal(
      new AmbitError('denied', 'policy deny-all denied the connection', { hint: 'check AuthorizationPolicy' }).explain(),
      'policy deny-all denied the connection (check AuthorizationPolicy)',
    );
    assert.equal(new AmbitError('denied', 'denied').explain(), 'denied');
  });
});

describe('isAmbitError', () => {
  const error = new AmbitError('invalid-config', 'bad');

  it('recognises an AmbitError with or without a code filter', () => {
    assert.equal(isAmbitError(error), true);
    assert.equal(isAmbitError(error, 'invalid-config'), true);
    assert.equal(isAmbitError(error, 'timeout'), false);
  });

  it('refuses look-alikes and non-errors', () => {
    assert.equal(isAmbitError(systemError('invalid-config', 'bad')), false);
    assert.equal(isAmbitError({ code: 'invalid-config', message: 'bad' }, 'invalid-config'), false);
    assert.equal(isAmbitError(undefined), false);
    assert.equal(isAmbitError(null), false);
    assert.equal(isAmbitError('invalid-config'), false);
  });
});

describe('causeChain', () => {
  it('lists messages outermost first, tagging string codes', () => {
    const root = systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:80');
    const middle = new AmbitError('no-upstream', 'upstream 10.0.0.1:80 refused', { cause: root });
    const outer = new Error('request failed', { cause: middle });
    assert.deepEqual(causeChain(outer), [
      'request failed',
      'upstream 10.0.0.1:80 refused [no-upstream]',
      'connect ECONNREFUSED 10.0.0.1:80 [ECONNREFUSED]',
    ]);
  });

  it('ignores non-string codes', () => {
    assert.deepEqual(causeChain(Object.assign(new Error('x'), { code: 42 })), ['x']);
  });

  it('ends with a non-Error cause rendered as a string', () => {
    assert.deepEqual(causeChain(new Error('outer', { cause: 'disk full' })), ['outer', 'disk full']);
    assert.deepEqual(causeChain('just a string'), ['just a string']);
  });

  it('is empty for undefined and null', () => {
    assert.deepEqual(causeChain(undefined), []);
    assert.deepEqual(causeChain(null), []);
  });

  it('stops on a cycle instead of looping forever', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.deepEqual(causeChain(a), ['a', 'b']);
  });
});

describe('findAmbitError', () => {
  it('returns the error itself when it is one', () => {
    const error = new AmbitError('closed', 'closed');
    assert.equal(findAmbitError(error), error);
  });

  it('finds the outermost AmbitError under plain wrappers', () => {
    const inner = new AmbitError('timeout', 'inner');
    const outer = new AmbitError('protocol', 'outer', { cause: inner });
    const wrapped = new Error('wrap 1', { cause: new Error('wrap 2', { cause: outer }) });
    assert.equal(findAmbitError(wrapped), outer);
  });

  it('returns undefined when there is none, including through non-Error causes and cycles', () => {
    assert.equal(findAmbitError(new Error('a', { cause: new Error('b') })), undefined);
    assert.equal(findAmbitError(new Error('a', { cause: { code: 'timeout' } })), undefined);
    assert.equal(findAmbitError('timeout'), undefined);
    assert.equal(findAmbitError(undefined), undefined);
    const a = new Error('a');
    (a as { cause?: unknown }).cause = new Error('b', { cause: a });
    assert.equal(findAmbitError(a), undefined);
  });
});

describe('systemCode', () => {
  it('returns a string code and nothing else', () => {
    assert.equal(systemCode(systemError('ETIMEDOUT', 'x')), 'ETIMEDOUT');
    assert.equal(systemCode(new AmbitError('limit', 'x')), 'limit');
    assert.equal(systemCode(Object.assign(new Error('x'), { code: 7 })), undefined);
    assert.equal(systemCode(new Error('x')), undefined);
    assert.equal(systemCode(null), undefined);
    assert.equal(systemCode(undefined), undefined);
  });
});
