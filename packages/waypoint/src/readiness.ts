// Readiness as named start-up gates (certificate, discovery sync, listeners):
// ready once all have opened, and never again once draining starts.

export class Readiness {
  private readonly gates = new Set<string>();
  private readonly waiting: (() => void)[] = [];
  private draining = false;

  /** A gate that holds readiness until the returned function is called. */
  gate(name: string): () => void {
    this.gates.add(name);
    return () => {
      if (this.gates.delete(name) && this.reason() === undefined) this.waiting.splice(0).forEach((wake) => wake());
    };
  }

  /** Why not ready, or undefined. */
  reason(): string | undefined {
    if (this.draining) return 'draining';
    return this.gates.size === 0 ? undefined : `waiting for ${[...this.gates].join(', ')}`;
  }

  whenReady(): Promise<void> {
    return this.reason() === undefined ? Promise.resolve() : new Promise((wake) => this.waiting.push(wake));
  }

  drain(): void {
    this.draining = true;
  }

  pending(): string[] {
    return [...this.gates];
  }
}
