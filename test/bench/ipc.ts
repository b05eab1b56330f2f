// Request/response over a Node IPC channel, for the control-plane benchmark's
// child processes (cp-host.ts, cp-subscribers.ts). Messages are plain JSON:
// a request { id, op, args }, its answer { id, ok, value | error }, and
// unsolicited notices { notice, value } (e.g. "ready").
import type { ChildProcess } from 'node:child_process';

export interface Request {
  id: number;
  op: string;
  args?: unknown;
}

export type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export interface Notice {
  notice: string;
  value?: unknown;
}

/** A wall-clock timestamp in milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The parent's side: sends requests to a child and waits for their answers. */
export class IpcClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly noticeWaiters: { notice: string; resolve: (value: unknown) => void }[] = [];
  private readonly notices: Notice[] = [];

  constructor(private readonly child: ChildProcess, private readonly name: string) {
    child.on('message', (message: Answer | Notice) => {
      if ('notice' in message) {
        const waiter = this.noticeWaiters.findIndex((w) => w.notice === message.notice);
        if (waiter === -1) this.notices.push(message);
        else this.noticeWaiters.splice(waiter, 1)[0]!.resolve(message.value);
        return;
      }
      const pending = this.waiting.get(message.id);
      if (pending === undefined) return;
      this.waiting.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(new Error(`${name}: ${message.error}`));
    });
    child.once('exit', (code, signal) => {
      const error = new Error(`${name} exited (${code === null ? `signal ${signal ?? '?'}` : `code ${code}`}) with requests outstanding`);
      for (const pending of this.waiting.values()) pending.reject(error);
      this.waiting.clear();
    });
  }

  request<T>(op: string, args?: unknown, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value as T); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
      this.child.send({ id, op, args } satisfies Request, (error) => {
        if (error === null) return;
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error(`${this.name}: could not send ${op}: ${error.message}`));
      });
    });
  }

  /** Resolves with the value of the first notice named `notice` (also one that already arrived). */
  notice<T>(notice: string, timeoutMs: number): Promise<T> {
    const seen = this.notices.findIndex((n) => n.notice === notice);
    if (seen !== -1) return Promise.resolve(this.notices.splice(seen, 1)[0]!.value as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no "${notice}" within ${timeoutMs} ms`)), timeoutMs);
      this.noticeWaiters.push({ notice, resolve: (value) => { clearTimeout(timer); resolve(value as T); } });
      this.child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before "${notice}"`));
      });
    });
  }
}

/** The child's side: answers requests with `handlers`; the process exits when the parent goes away. */
export function serveIpc(handlers: Record<string, (args: unknown) => unknown>): void {
  if (process.send === undefined) throw new Error('this program runs as a child of the benchmark (it needs an IPC channel)');
  process.on('message', (message: Request) => {
    const handler = handlers[message.op];
    const answer = (value: Answer): void => {
      if (process.connected) process.send?.(value);
    };
    if (handler === undefined) {
      answer({ id: message.id, ok: false, error: `unknown op ${message.op}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => answer({ id: message.id, ok: true, value: value ?? null }),
        (error: unknown) => answer({ id: message.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
      );
  });
  // An orphaned child must not outlive the benchmark.
  process.once('disconnect', () => process.exit(3));
}

export function notify(notice: string, value?: unknown): void {
  if (process.connected) process.send?.({ notice, value } satisfies Notice);
}
