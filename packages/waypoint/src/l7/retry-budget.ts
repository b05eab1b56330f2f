// The retry budget (as Envoy's circuit-breaker retry budget): retries in
// flight may be at most `percent` of the requests in flight, but never fewer
// than `minConcurrent` are allowed. So when a backend fails for everyone,
// retries add at most a fifth to its load instead of multiplying it.

export interface RetryBudgetOptions {
  /** Share of active requests that may be retries, 0–100. */
  percent: number;
  /** Retries always allowed concurrently, however few requests are active. */
  minConcurrent: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { percent: 20, minConcurrent: 3 };

export class RetryBudget {
  private requests = 0;
  private retries = 0;
  /** Retries refused since start. */
  overflows = 0;

  constructor(private readonly options: RetryBudgetOptions = DEFAULT_RETRY_BUDGET) {}

  /** A request starts; call the returned function when it ends. */
  enter(): () => void {
    this.requests++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.requests--;
    };
  }

  /** Whether a retry may start now; if so, call the returned function when it ends. */
  tryRetry(): (() => void) | undefined {
    const allowed = Math.max(this.options.minConcurrent, Math.floor((this.requests * this.options.percent) / 100));
    if (this.retries >= allowed) {
      this.overflows++;
      return undefined;
    }
    this.retries++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.retries--;
    };
  }

  get active(): { requests: number; retries: number } {
    return { requests: this.requests, retries: this.retries };
  }
}
