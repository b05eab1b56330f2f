import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { LOG_LEVELS, connectionId, createLogger, isLogLevel, silentLogger } from './log.js';
import type { LogLevel } from './log.js';

/** A destination that keeps every line written to it. */
class MemoryDestination {
  readonly chunks: string[] = [];
  write(chunk: string): void {
    this.chunks.push(chunk);
  }
  /** Each chunk must be exactly one newline-terminated JSON object. */
  lines(): Record<string, unknown>[] {
    return this.chunks.map((chunk) => {
      assert.ok(chunk.endsWith('\n'), `line ${JSON.stringify(chunk)} is not newline-terminated`);
      assert.equal(chunk.indexOf('\n'), chunk.length - 1, 'one record per line');
      return JSON.parse(chunk) as Record<string, unknown>;
    });
  }
}

function capture(level?: LogLevel, name?: string) {
  const destination = new MemoryDestination();
  const logger = createLogger({ level, name, destination });
  return { logger, destination };
}

describe('createLogger', () => {
  it('writes one JSON line per record with a level label, ISO time, message, app and fields', () => {
    const { logger, destination } = capture('info', 'ztunnel');
    const before = Date.now();
    logger.info({ port: 15008 }, 'listening');
    const [line, ...rest] = destination.lines();
    assert.equal(rest.length, 0);
    assert.ok(line !== undefined);
    assert.equal(line.level, 'info');
    assert.equal(line.msg, 'listening');
    assert.equal(line.app, 'ztunnel');
    assert.equal(line.port, 15008);
    assert.equal(typeof line.time, 'string');
    const time = Date.parse(line.time as string);
    assert.match(line.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(time >= before - 1000 && time <= Date.now() + 1000);
    assert.equal('pid' in line, false, 'no pid: base is exactly { app }');
    assert.equal('hostname' in line, false);
  });

  it('labels every level by name', () => {
    const { logger, destination } = capture('trace');
    logger.fatal('f');
    logger.error('e');
    logger.warn('w');
    logger.info('i');
    logger.debug('d');
    logger.trace('t');
    assert.deepEqual(destination.lines().map((l) => [l.level, l.msg]), [
      ['fatal', 'f'], ['error', 'e'], ['warn', 'w'], ['info', 'i'], ['debug', 'd'], ['trace', 't'],
    ]);
  });

  it('has no app field without a name', () => {
    const { logger, destination } = capture();
    logger.info('hello');
    const [line] = destination.lines();
    assert.ok(line !== undefined);
    assert.equal('app' in line, false);
  });

  it('gives children a component field and grandchildren a conn id, keeping app', () => {
    const { logger, destination } = capture('info', 'ztunnel');
    const inbound = logger.child({ component: 'inbound' });
    const conn = inbound.child({ conn: 'k3' });
    inbound.info('accepting');
    conn.warn({ peer: '10.244.1.7:41234' }, 'denied');
    logger.info('parent');
    const [first, second, third] = destination.lines();
    assert.deepEqual(
      { app: first?.app, component: first?.component, msg: first?.msg },
      { app: 'ztunnel', component: 'inbound', msg: 'accepting' },
    );
    assert.deepEqual(
      { app: second?.app, component: second?.component, conn: second?.conn, level: second?.level, peer: second?.peer },
      { app: 'ztunnel', component: 'inbound', conn: 'k3', level: 'warn', peer: '10.244.1.7:41234' },
    );
    assert.equal(third !== undefined && 'component' in third, false, 'the parent does not pick up child bindings');
  });

  it('defaults to info: debug and trace are dropped', () => {
    const { logger, destination } = capture();
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    assert.deepEqual(destination.lines().map((l) => l.msg), ['i']);
  });

  it('drops records below the configured level, in children too', () => {
    const { logger, destination } = capture('warn');
    const child = logger.child({ component: 'pool' });
    logger.info('no');
    child.debug('no');
    logger.warn('yes-1');
    child.error('yes-2');
    logger.fatal('yes-3');
    assert.deepEqual(destination.lines().map((l) => l.msg), ['yes-1', 'yes-2', 'yes-3']);
  });

  it('writes nothing at silent', () => {
    const { logger, destination } = capture('silent');
    logger.fatal('nothing');
    logger.child({ component: 'x' }).error('nothing');
    assert.deepEqual(destination.chunks, []);
  });

  it('serializes an error with its message and stack', () => {
    const { logger, destination } = capture();
    logger.error({ err: new Error('connect ECONNREFUSED') }, 'upstream failed');
    const [line] = destination.lines();
    const err = line?.err as { message?: unknown; stack?: unknown } | undefined;
    assert.equal(err?.message, 'connect ECONNREFUSED');
    assert.equal(typeof err?.stack, 'string');
  });

  it('writes to a node Writable', async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    });
    const logger = createLogger({ name: 'waypoint', destination: stream });
    logger.info('via stream');
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(chunks.length, 1);
    const line = JSON.parse(chunks[0]!) as Record<string, unknown>;
    assert.equal(line.msg, 'via stream');
    assert.equal(line.app, 'waypoint');
  });
});

describe('silentLogger, isLogLevel and LOG_LEVELS', () => {
  it('silentLogger has every level disabled', () => {
    assert.equal(silentLogger.level, 'silent');
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace']) {
      assert.equal(silentLogger.isLevelEnabled(level), false, level);
    }
  });

  it('isLogLevel accepts exactly the listed levels', () => {
    for (const level of LOG_LEVELS) assert.equal(isLogLevel(level), true, level);
    for (const value of ['INFO', 'warning', 'verbose', '', 'off']) assert.equal(isLogLevel(value), false, value);
    assert.deepEqual([...LOG_LEVELS], ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  });
});

describe('connectionId', () => {
  it('returns short, distinct base-36 ids', () => {
    const ids = Array.from({ length: 10_000 }, () => connectionId());
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^[0-9a-z]{1,11}$/);
  });
});

describe('createLogger({ buffered: true })', () => {
  const run = (script: string): Promise<{ stdout: string; lines: { at: number; text: string }[] }> => new Promise((resolve, reject) => {
    const module = new URL('./log.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(module)};\n${script}`]);
    const started = Date.now();
    let stdout = '';
    const lines: { at: number; text: string }[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      lines.push({ at: Date.now() - started, text: chunk.toString() });
    });
    child.once('error', reject);
    child.once('exit', () => resolve({ stdout, lines }));
  });

  it('writes a quiet logger\'s lines within about a second, and the rest at exit', async () => {
    const { stdout, lines } = await run(`
      const log = createLogger({ buffered: true });
      log.info('first');
      setTimeout(() => { log.info('second'); process.exit(0); }, 2500);
    `);
    assert.match(stdout, /"msg":"first"[\s\S]*"msg":"second"/);
    const first = lines.find((l) => l.text.includes('"first"'));
    assert.ok(first !== undefined && first.at < 2400, `the first line came at ${first?.at} ms, before the process ended`);
  });
});
