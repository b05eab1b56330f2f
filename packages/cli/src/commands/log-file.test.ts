import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fieldOf, FOLLOW_POLL_MS, logFileLines, type LogRequest } from './log-file.js';

const json = (time: string, msg: string): string => JSON.stringify({ level: 'info', time, msg });

async function collect(path: string, request: LogRequest): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of logFileLines(path, request)) lines.push(line);
  return lines;
}

describe('logFileLines: a local log file as `kubectl logs` reads a container log', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'ambit-logfile-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('reads every line, or the last N (a final newline ends a line, a missing one still shows it)', async () => {
    const path = join(dir, 'tail.log');
    await writeFile(path, 'one\ntwo\nthree\n');
    assert.deepEqual(await collect(path, {}), ['one', 'two', 'three']);
    assert.deepEqual(await collect(path, { tail: 2 }), ['two', 'three']);
    assert.deepEqual(await collect(path, { tail: 1 }), ['three']);
    assert.deepEqual(await collect(path, { tail: 9 }), ['one', 'two', 'three']);
    assert.deepEqual(await collect(path, { tail: 0 }), []);
    await appendFile(path, 'four, unfinished');
    assert.deepEqual(await collect(path, { tail: 2 }), ['three', 'four, unfinished']);
  });

  it('finds the tail of a log larger than its read chunk without splitting characters', async () => {
    const path = join(dir, 'large.log');
    const lines = Array.from({ length: 5000 }, (_, i) => `ligne ${i} é ✓ ${'x'.repeat(i % 37)}`);
    await writeFile(path, `${lines.join('\n')}\n`);
    assert.deepEqual(await collect(path, { tail: 3 }), lines.slice(-3));
    assert.deepEqual(await collect(path, { tail: 4000 }), lines.slice(-4000));
    assert.deepEqual(await collect(path, {}), lines);
  });

  it('--since keeps lines whose JSON time is at or after it, after the tail; a line without a time cannot be placed', async () => {
    const path = join(dir, 'since.log');
    await writeFile(path, [json('2026-01-01T10:00:00Z', 'old'), 'plain text', json('2026-01-01T10:05:00Z', 'new'), json('2026-01-01T10:06:00Z', 'newer')].join('\n') + '\n');
    const since = Date.parse('2026-01-01T10:05:00Z');
    assert.deepEqual((await collect(path, { sinceMs: since })).map((l) => fieldOf(l, 'msg')), ['new', 'newer']);
    assert.deepEqual((await collect(path, { sinceMs: since, tail: 1 })).map((l) => fieldOf(l, 'msg')), ['newer']);
    assert.deepEqual(await collect(path, { sinceMs: Date.parse('2027-01-01T00:00:00Z') }), []);
  });

  it('a file that does not exist reads as empty', async () => {
    assert.deepEqual(await collect(join(dir, 'absent.log'), { tail: 5 }), []);
  });

  it('--follow: what is appended, a file that appears later, a truncated file from its start; ends when aborted', async () => {
    const path = join(dir, 'follow.log');
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const line of logFileLines(path, { tail: 1, follow: true }, abort.signal)) seen.push(line);
    })();
    const until = async (count: number): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (seen.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS / 2));
      assert.ok(seen.length >= count, `saw ${JSON.stringify(seen)}, waiting for ${count} lines`);
    };
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS * 2));
    await writeFile(path, 'before\nlast\n');
    await until(1);
    await appendFile(path, 'appended\nhalf');
    await until(2);
    await appendFile(path, ' done\n');
    await until(3);
    await truncate(path, 0);
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS * 2));
    await writeFile(path, 'after truncation\n');
    await until(4);
    abort.abort();
    await done;
    assert.deepEqual(seen, ['last', 'appended', 'half done', 'after truncation']);
  });
});
