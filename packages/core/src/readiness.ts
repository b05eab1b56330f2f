// Readiness as a set of named blockers (as ztunnel's readiness.rs): each
// start-up task registers one and clears it when done; the process is ready
// when none is left. Draining blocks readiness again, for good.

export class Readiness {
  private readonly pending = new Set<string>();
  private readonly waiters: (() => void)[] = [];
  private draining = false;

  /** Registers a blocker; the returned function clears it (idempotent). */
  block(name: string): () => void {
    this.pending.add(name);
    return () => {
      if (!this.pending.delete(name)) return;
      if (this.notReady() === undefined) for (const resolve of this.waiters.splice(0)) resolve();
    };
  }

  /** Why the process is not ready, or undefined when it is. */
  notReady(): string | undefined {
    if (this.draining) return 'draining';
    if (this.pending.size === 0) return undefined;
    return `waiting for ${[...this.pending].join(', ')}`;
  }

  get ready(): boolean {
    return this.notReady() === undefined;
  }

  /** Resolves once ready (never, after draining started). */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  startDraining(): void {
    this.draining = true;
  }

  /** The names still blocking, for admin dumps. */
  blockers(): string[] {
    return [...this.pending];
  }
}
