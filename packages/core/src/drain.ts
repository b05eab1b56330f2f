// The one drain primitive. Every listener registers with a Drain; on
// shutdown it stops accepting, in-flight work gets until the deadline to
// finish, then whatever is left is closed.

export interface DrainParticipant {
  /** Stop accepting new work. */
  stopAccepting(): void | Promise<void>;
  /** Resolves when in-flight work is finished. */
  idle(): Promise<void>;
  /** Close whatever is still open. */
  forceClose(): void;
}

export interface DrainResult {
  /** True when every participant went idle before the deadline. */
  graceful: boolean;
  elapsedMs: number;
}

export class Drain {
  private readonly participants = new Set<DrainParticipant>();
  private draining: Promise<DrainResult> | undefined;

  register(participant: DrainParticipant): () => void {
    this.participants.add(participant);
    return () => this.participants.delete(participant);
  }

  get started(): boolean {
    return this.draining !== undefined;
  }

  /** Idempotent: a second call returns the first call's result. */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.draining ??= this.run(deadlineMs);
    return this.draining;
  }

  private async run(deadlineMs: number): Promise<DrainResult> {
    const started = Date.now();
    const all = [...this.participants];
    await Promise.all(all.map(async (p) => { await p.stopAccepting(); }));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.min(Math.max(0, deadlineMs), 2 ** 31 - 1));
    });
    // A participant whose idle() fails is treated as not idle: it gets force-closed at the deadline.
    const idle = Promise.all(all.map((p) => p.idle())).then(() => true as const, () => deadline);
    const graceful = await Promise.race([idle, deadline]);
    clearTimeout(timer);
    if (!graceful) for (const p of all) p.forceClose();
    return { graceful, elapsedMs: Date.now() - started };
  }
}

/** Tracks a set of closeable things (sockets, sessions) and tells when it is empty. */
export class Tracker<T extends { destroy(error?: Error): void }> {
  private readonly items = new Set<T>();
  private waiters: (() => void)[] = [];

  add(item: T): void {
    this.items.add(item);
  }

  delete(item: T): void {
    if (this.items.delete(item) && this.items.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  get size(): number {
    return this.items.size;
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  idle(): Promise<void> {
    if (this.items.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  destroyAll(error?: Error): void {
    for (const item of [...this.items]) item.destroy(error);
  }
}
