import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAmbitError } from '@ambit/core';
import { LOCK_FILE, lockState } from './state.js';

describe('lockState', () => {
  it('lets one holder at a time change the cluster, in turn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-lc-lock-'));
    try {
      const events: string[] = [];
      const holder = async (name: string): Promise<void> => {
        const release = await lockState(dir);
        events.push(`${name} in`);
        await sleep(30);
        events.push(`${name} out`);
        await release();
      };
      await Promise.all([holder('a'), holder('b'), holder('c')]);
      for (let i = 0; i < events.length; i += 2) assert.equal(events[i]?.replace(' in', ''), events[i + 1]?.replace(' out', ''), events.join(', '));
      assert.equal(events.length, 6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes over the lock of a process that is gone, and times out on a live holder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-lc-lock-'));
    try {
      await writeFile(join(dir, LOCK_FILE), '999999999\n');
      const release = await lockState(dir, 1_000);
      assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
      await assert.rejects(lockState(dir, 100), (error: unknown) => isAmbitError(error, 'timeout') && /being changed by process/.test((error as Error).message));
      await release();
      await (await lockState(dir, 100))();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
