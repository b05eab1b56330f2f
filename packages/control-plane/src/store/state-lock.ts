// One process per state directory: two control planes writing the same
// files would lose updates. The lock is a file holding the owner's pid,
// created atomically (written aside, then hard-linked into place, so nobody
// ever reads a half-written lock). A lock whose pid is no longer running is
// stale and taken over.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AmbitError, systemCode, type Logger } from '@ambit/core';

export const LOCK_FILE = 'lock';

export class StateLock {
  private released = false;

  private constructor(readonly path: string, private readonly content: string) {}

  static async acquire(stateDir: string, logger: Logger): Promise<StateLock> {
    const path = join(stateDir, LOCK_FILE);
    const content = `${process.pid}\n`;
    const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await fs.writeFile(aside, content, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await fs.link(aside, path);
          return new StateLock(path, content);
        } catch (error) {
          if (systemCode(error) !== 'EEXIST') throw error;
        }
        const holder = await readLock(path);
        if (holder === undefined) continue;
        if (holder.pid !== undefined && isRunning(holder.pid)) {
          throw new AmbitError('unavailable', `state directory ${stateDir} is locked by process ${holder.pid}`, {
            hint: `another control plane is using it; stop that one or pick another state directory (if process ${holder.pid} is not a control plane, remove ${path})`,
            details: { stateDir, pid: holder.pid },
          });
        }
        logger.warn({ stateDir, stalePid: holder.pid ?? holder.text }, 'taking over a stale state lock');
        await takeOver(path, holder.text);
      }
      throw new AmbitError('unavailable', `could not lock state directory ${stateDir}: it keeps changing hands`, { details: { stateDir } });
    } finally {
      await fs.rm(aside, { force: true });
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // Only remove the lock if it is still ours.
    const holder = await readLock(this.path);
    if (holder?.text === this.content) await fs.rm(this.path, { force: true });
  }
}

async function readLock(path: string): Promise<{ text: string; pid: number | undefined } | undefined> {
  try {
    const text = await fs.readFile(path, 'utf8');
    const pid = Number.parseInt(text.trim(), 10);
    return { text, pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined };
  } catch (error) {
    if (systemCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return systemCode(error) === 'EPERM';
  }
}

// Moves the stale lock aside; if what was moved is not the stale lock we
// read (someone else took over first), put it back and let the caller retry.
async function takeOver(path: string, staleText: string): Promise<void> {
  const moved = `${path}.stale.${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(path, moved);
  } catch (error) {
    if (systemCode(error) === 'ENOENT') return;
    throw error;
  }
  const text = await fs.readFile(moved, 'utf8').catch(() => undefined);
  if (text !== staleText) await fs.link(moved, path).catch(() => undefined);
  await fs.rm(moved, { force: true });
}
