// The loop every reconciler here runs (the translation pipeline, the waypoint
// controller, the root-certificate publisher): one round at a time; a change
// schedules a round after a debounce window; a round asked for while one runs
// runs once more afterwards, however many asks came in; nothing after stop.
export class Rounds {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private halted = false;

  constructor(private readonly round: () => Promise<void>, private readonly debounceMs: number) {}

  get stopped(): boolean {
    return this.halted;
  }

  /** A round after the debounce window (coalesced with any already scheduled). */
  schedule(): void {
    if (this.halted || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, this.debounceMs);
  }

  /** A round now; while one runs, resolves with it and schedules one more after it. */
  run(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.round().finally(() => {
      this.running = undefined;
      if (this.again && !this.halted) {
        this.again = false;
        this.schedule();
      }
    });
    return this.running;
  }

  stop(): void {
    this.halted = true;
    clearTimeout(this.timer);
  }
}
