// An exchange's cancellation: aborted once (the client went away, a deadline
// passed) with a reason, telling its listeners. It has the part of
// AbortSignal's interface the layers use (an AbortSignal can stand in for it,
// as tests do), but not Node's implementation: an AbortSignal is an
// EventTarget with two Maps whose prototype is set after construction, and
// one per request (with its listener) cost ~2.5 KB of allocation per request
// in a loopback model of the waypoint and tripled the bytes its scavenges
// promoted; in the local cluster at 1000 req/s, the waypoint's scavenges
// promoted ~290 KB each instead of ~404 KB without it (docs/performance.md,
// optimisation change 9). Promoted bytes are copied twice and then wait for a
// mark-compact, so they lengthen the pauses every request may hit.

/** What layers see of a cancellation: AbortSignal's `aborted`, `reason` and 'abort' listeners. */
export interface ExchangeSignal {
  readonly aborted: boolean;
  /** Why it aborted (undefined until it has, as an AbortSignal's). */
  readonly reason: Error;
  /** `listener` runs once, when the signal aborts (never if it already has). */
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancellation implements ExchangeSignal {
  aborted = false;
  reason!: Error;
  private listeners: (() => void)[] | undefined;

  /** Aborts with `reason` (only the first call counts) and runs the listeners. They must not throw. */
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.listeners?.splice(at, 1);
  }
}

/**
 * A cancellation that also aborts, with the same reason, when `parent` does
 * (AbortSignal.any for one parent and the caller's own abort). `detach()`
 * stops following the parent: call it when the work it guards is over.
 */
export function following(parent: ExchangeSignal): { signal: Cancellation; detach: () => void } {
  const signal = new Cancellation();
  if (parent.aborted) {
    signal.abort(parent.reason);
    return { signal, detach: () => undefined };
  }
  const onAbort = (): void => signal.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { signal, detach: () => parent.removeEventListener('abort', onAbort) };
}
