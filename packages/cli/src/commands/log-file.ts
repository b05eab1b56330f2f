// A log file of the local mesh read as the kubelet reads a container's log
// for `kubectl logs`: the last `tail` lines (found from the end, so a long
// log is not read whole), then those at or after `sinceMs` (by the `time`
// each of our JSON lines carries; a line without one cannot be placed, so
// `--since` leaves it out), and with `follow` whatever is appended until the
// signal aborts. A file that does not exist yet reads as empty (followed, it
// is waited for); one truncated while followed is read again from its start.
import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LogRequest {
  /** Only the last lines. */
  tail?: number;
  /** Only lines at or after this time (ms since the epoch). */
  sinceMs?: number;
  follow?: boolean;
}

const CHUNK = 64 * 1024;
export const FOLLOW_POLL_MS = 200;

/** The file's lines (without their newline), as `request` selects. */
export async function* logFileLines(path: string, request: LogRequest, signal?: AbortSignal): AsyncGenerator<string> {
  let handle: FileHandle | undefined;
  let position = 0;
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let tailed = request.tail === undefined;
  try {
    for (;;) {
      handle ??= await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (handle !== undefined) {
        const { size } = await handle.stat();
        if (size < position) { position = 0; partial = ''; }
        if (!tailed) {
          position = await tailOffset(handle, size, request.tail ?? 0);
          tailed = true;
        }
        while (position < size) {
          const buffer = Buffer.alloc(Math.min(CHUNK, size - position));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) break;
          position += bytesRead;
          const lines = (partial + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) if (since(line, request.sinceMs)) yield line;
        }
      }
      if (request.follow !== true || signal?.aborted === true) break;
      try {
        await sleep(FOLLOW_POLL_MS, undefined, { signal });
      } catch {
        break;
      }
    }
    // A last line without its newline, as `kubectl logs` shows it.
    if (partial !== '' && since(partial, request.sinceMs)) yield partial;
  } finally {
    await handle?.close();
  }
}

/** Where the last `lines` lines of the file start (a final newline ends the last line, it does not start one). */
async function tailOffset(handle: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  let end = size;
  let newlines = 0;
  let skipFinal = true;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const buffer = Buffer.alloc(end - start);
    await handle.read(buffer, 0, buffer.length, start);
    for (let i = buffer.length - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a) { skipFinal = false; continue; }
      if (skipFinal) { skipFinal = false; continue; }
      if (++newlines === lines) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

/** Whether a line's JSON `time` is at or after `sinceMs` (always, without a bound). */
function since(line: string, sinceMs: number | undefined): boolean {
  if (sinceMs === undefined) return true;
  const time = fieldOf(line, 'time');
  const ms = typeof time === 'string' ? Date.parse(time) : typeof time === 'number' ? time : Number.NaN;
  return !Number.isNaN(ms) && ms >= sinceMs;
}

/** A top-level field of a JSON line; undefined for a line that is not a JSON object. */
export function fieldOf(line: string, field: string): unknown {
  if (!line.startsWith('{')) return undefined;
  try {
    return (JSON.parse(line) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}
