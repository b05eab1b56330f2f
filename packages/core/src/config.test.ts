import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigReader, parseDurationMs, parseHostPort } from './config.js';
import { isAmbitError } from './errors.js';

/** Asserts `fn` throws invalid-config whose message names the key, the value and the reason. */
function assertInvalid(fn: () => unknown, key: string, value: unknown, reason: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isAmbitError(error, 'invalid-config'), `expected invalid-config, got ${String(error)}`);
    assert.ok(error.message.includes(`${key}=${JSON.stringify(value)}`), `message ${JSON.stringify(error.message)} does not name ${key} and its value`);
    assert.match(error.message, reason);
    assert.deepEqual(error.details, { key, value });
    return true;
  });
}

describe('ConfigReader.string and required', () => {
  it('returns the value as a string, or the fallback when unset', () => {
    const config = new ConfigReader({ name: 'ztunnel', port: 15008, missing: undefined });
    assert.equal(config.string('name'), 'ztunnel');
    assert.equal(config.string('port'), '15008');
    assert.equal(config.string('missing'), undefined);
    assert.equal(config.string('missing', 'dflt'), 'dflt');
    assert.equal(config.string('absent', 'dflt'), 'dflt');
  });

  it('required() returns a present value, including a falsy number', () => {
    const config = new ConfigReader({ node: 'kind-worker', zero: 0, off: false });
    assert.equal(config.required('node'), 'kind-worker');
    assert.equal(config.required('zero'), '0');
    assert.equal(config.required('off'), 'false');
  });

  it('required() refuses a missing or empty value, naming the key', () => {
    assertInvalid(() => new ConfigReader({}).required('NODE_NAME'), 'NODE_NAME', undefined, /is required/);
    assertInvalid(() => new ConfigReader({ NODE_NAME: '' }).required('NODE_NAME'), 'NODE_NAME', '', /is required/);
  });

  it('prefixes messages with the source', () => {
    assert.throws(() => new ConfigReader({}, 'env').required('NODE_NAME'), /^AmbitError: env: NODE_NAME=undefined is required$/);
    assert.throws(() => new ConfigReader({}).required('NODE_NAME'), { message: 'config: NODE_NAME=undefined is required' });
  });
});

describe('ConfigReader.int', () => {
  it('parses whole numbers from strings (trimmed) and numbers', () => {
    const config = new ConfigReader({ a: '42', b: ' 7 ', c: 15008, d: '-3', e: '0' });
    assert.equal(config.int('a', 0), 42);
    assert.equal(config.int('b', 0), 7);
    assert.equal(config.int('c', 0), 15008);
    assert.equal(config.int('d', 0), -3);
    assert.equal(config.int('e', 99), 0);
  });

  it('returns the fallback when unset, without range-checking it', () => {
    assert.equal(new ConfigReader({}).int('port', 15008, { max: 10 }), 15008);
    assert.equal(new ConfigReader({ port: undefined }).int('port', 1), 1);
  });

  for (const value of ['abc', '1.5', '12ms', 'NaN', 'Infinity', '9007199254740993', 1.5, true]) {
    it(`refuses ${JSON.stringify(value)} as not a whole number`, () => {
      assertInvalid(() => new ConfigReader({ workers: value }).int('workers', 1), 'workers', value, /must be a whole number/);
    });
  }

  // An empty env var (`PORT=`) must not silently become 0: port 0 means "any port".
  for (const value of ['', '   ']) {
    it(`refuses the blank string ${JSON.stringify(value)} instead of reading it as 0`, () => {
      assertInvalid(() => new ConfigReader({ port: value }).int('port', 15008), 'port', value, /must be a whole number/);
    });
  }

  it('enforces min and max inclusively, naming the bound', () => {
    const range = { min: 1, max: 65535 };
    assert.equal(new ConfigReader({ port: '1' }).int('port', 0, range), 1);
    assert.equal(new ConfigReader({ port: '65535' }).int('port', 0, range), 65535);
    assertInvalid(() => new ConfigReader({ port: '0' }).int('port', 80, range), 'port', '0', /must be at least 1$/);
    assertInvalid(() => new ConfigReader({ port: 65536 }).int('port', 80, range), 'port', 65536, /must be at most 65535$/);
  });
});

describe('ConfigReader.durationMs and parseDurationMs', () => {
  const good: [string | number, number][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['2d', 172_800_000],
    ['1.5s', 1500],
    ['0.5ms', 1],
    ['500', 500],
    [' 10 s ', 10_000],
    ['0', 0],
    [1000, 1000],
    [0, 0],
  ];
  for (const [raw, ms] of good) {
    it(`reads ${JSON.stringify(raw)} as ${ms}ms`, () => {
      assert.equal(parseDurationMs(raw), ms);
      assert.equal(new ConfigReader({ timeout: raw }).durationMs('timeout', 1), ms);
    });
  }

  const bad: (string | number | boolean)[] = ['', 'soon', '-5s', '5S', '5 minutes', '1w', 's', '1.s', '.5s', -1, Number.NaN, Number.POSITIVE_INFINITY, true];
  for (const raw of bad) {
    it(`refuses ${String(typeof raw === 'string' ? JSON.stringify(raw) : raw)}`, () => {
      assert.equal(parseDurationMs(raw), undefined);
      assertInvalid(
        () => new ConfigReader({ drainTimeout: raw }).durationMs('drainTimeout', 1),
        'drainTimeout',
        raw,
        /must be a duration such as 500ms, 30s, 5m or 24h/,
      );
    });
  }

  it('returns the fallback when unset', () => {
    assert.equal(new ConfigReader({}).durationMs('timeout', 1234), 1234);
  });
});

describe('ConfigReader.bool', () => {
  const cases: [string | number | boolean, boolean][] = [
    ['1', true], ['true', true], ['TRUE', true], ['yes', true], ['On', true], [1, true], [true, true],
    ['0', false], ['false', false], ['No', false], ['off', false], [0, false], [false, false],
  ];
  for (const [raw, expected] of cases) {
    it(`reads ${JSON.stringify(raw)} as ${expected}`, () => {
      assert.equal(new ConfigReader({ flag: raw }).bool('flag', !expected), expected);
    });
  }

  it('returns the fallback when unset', () => {
    assert.equal(new ConfigReader({}).bool('flag', true), true);
    assert.equal(new ConfigReader({}).bool('flag', false), false);
  });

  for (const raw of ['maybe', '', 'y', 2]) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      assertInvalid(() => new ConfigReader({ flag: raw }).bool('flag', false), 'flag', raw, /must be true or false/);
    });
  }
});

describe('ConfigReader.oneOf', () => {
  const levels = ['error', 'warn', 'info', 'debug'] as const;

  it('returns an allowed value or the fallback', () => {
    assert.equal(new ConfigReader({ level: 'debug' }).oneOf('level', levels, 'info'), 'debug');
    assert.equal(new ConfigReader({}).oneOf('level', levels, 'info'), 'info');
  });

  it('refuses anything else, case-sensitively, listing what is allowed', () => {
    assertInvalid(() => new ConfigReader({ level: 'verbose' }).oneOf('level', levels, 'info'), 'level', 'verbose', /must be one of error, warn, info, debug$/);
    assertInvalid(() => new ConfigReader({ level: 'INFO' }).oneOf('level', levels, 'info'), 'level', 'INFO', /must be one of/);
  });
});

describe('ConfigReader.unused', () => {
  it('lists keys nothing asked for, ignoring undefined values', () => {
    const config = new ConfigReader({ port: '1', prot: '2', level: 'info', unset: undefined, failed: 'x' });
    config.int('port', 0);
    config.string('level');
    config.string('never-present');
    assert.throws(() => config.int('failed', 0));
    assert.deepEqual(config.unused(), ['prot']);
  });

  it('lists everything before anything is read', () => {
    assert.deepEqual(new ConfigReader({ a: '1', b: false }).unused(), ['a', 'b']);
  });
});

describe('ConfigReader.hostPort and parseHostPort', () => {
  it('parses host:port forms', () => {
    assert.deepEqual(parseHostPort('10.0.0.2:15012'), { host: '10.0.0.2', port: 15012 });
    assert.deepEqual(parseHostPort('[fd00::1]:15012'), { host: 'fd00::1', port: 15012 });
    assert.deepEqual(parseHostPort('control-plane.ambit-system.svc:15012'), { host: 'control-plane.ambit-system.svc', port: 15012 });
    for (const bad of ['[not-ip]:1', ':80', 'host:8o', '::1:15012', 'host', 'a b:80', '127.0.0.1:99999']) assert.equal(parseHostPort(bad), undefined, bad);
  });

  it('reads a default, requires a value without one, and names the key in errors', () => {
    const reader = new ConfigReader({ 'control-plane': '10.0.0.2:0', hbone: 'localhost:15008', metrics: '[::1]:0' }, 'test');
    assert.deepEqual(reader.hostPort('readiness', '127.0.0.1:15021'), { host: '127.0.0.1', port: 15021 });
    assert.deepEqual(reader.hostPort('metrics', undefined, { ip: true }), { host: '::1', port: 0 });
    assert.throws(() => reader.hostPort('control-plane', undefined, { nonZeroPort: true }), /control-plane="10.0.0.2:0" needs a port other than 0/);
    assert.throws(() => reader.hostPort('hbone', '0.0.0.0:15008', { ip: true }), /hbone="localhost:15008" must be ip:port/);
    assert.deepEqual(reader.hostPort('hbone', '0.0.0.0:15008'), { host: 'localhost', port: 15008 });
    assert.throws(() => reader.hostPort('socks5', undefined), (error: unknown) => isAmbitError(error) && /socks5=undefined is required/.test(error.message));
  });
});
