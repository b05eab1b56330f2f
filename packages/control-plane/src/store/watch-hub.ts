// The watch side of the local store: a ring buffer of recent changes (so a
// watch can resume from a version) and one queue per watcher. Writers only
// append; delivery happens later on the event loop, so a watcher never
// blocks a write. A watcher whose queue passes the limit is dropped with
// `gone` (it relists), which bounds memory per watcher.
import { AmbitError, type Logger } from '@ambit/core';
import type { Kind, KubeObject } from '../resources.js';
import type { LabelSelector } from './selector.js';
import type { Watch, WatchEvent, WatchEventType, WatchHandlers } from './store.js';

export interface StoredEvent {
  version: number;
  kind: Kind;
  type: WatchEventType;
  /** The object after the change; for DELETED, its last state. Never mutated. */
  object: KubeObject;
  /** The object before a MODIFIED change. */
  previous?: KubeObject;
}

export interface WatchHubOptions {
  /** Changes kept for resuming watches. */
  historySize: number;
  /** Undelivered events one watcher may accumulate before it is dropped with `gone`. */
  queueLimit: number;
  logger: Logger;
  /** What the store is called in messages (its state directory). */
  name: string;
}

export interface WatchRequest {
  kind: Kind;
  namespace: string | undefined;
  selector: LabelSelector;
  /** Deliver changes after this version. */
  fromVersion: number;
  /** Start with ADDED for these objects (a watch from version 0: "now, with the current state"). */
  initial?: KubeObject[];
}

export class WatchHub {
  private readonly ring: (StoredEvent | undefined)[];
  private start = 0;
  private count = 0;
  /** Changes after this version are all in the ring. */
  private floor: number;
  private latest: number;
  private readonly watchers = new Set<Watcher>();

  constructor(startVersion: number, private readonly options: WatchHubOptions) {
    this.ring = new Array<StoredEvent | undefined>(Math.max(1, options.historySize));
    this.floor = startVersion;
    this.latest = startVersion;
  }

  /** The version of the last published change. */
  get version(): number {
    return this.latest;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  publish(event: StoredEvent): void {
    if (this.count === this.ring.length) {
      const evicted = this.ring[this.start];
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.ring.length;
      this.count--;
      if (evicted !== undefined) this.floor = evicted.version;
    }
    this.ring[(this.start + this.count) % this.ring.length] = event;
    this.count++;
    this.latest = event.version;
    for (const watcher of this.watchers) watcher.offer(event);
  }

  watch<T extends KubeObject>(request: WatchRequest, handlers: WatchHandlers<T>): Watch {
    const watcher = new Watcher(this, request, handlers, this.options);
    const { fromVersion } = request;
    if (fromVersion < this.floor) {
      watcher.fail(new AmbitError('gone', `watch of ${request.kind} from version ${fromVersion} in ${this.options.name}: too old, history starts after ${this.floor}`, {
        hint: 'list again and watch from the list\'s resourceVersion',
        details: { resourceVersion: String(fromVersion), oldest: String(this.floor) },
      }));
      return watcher;
    }
    if (fromVersion > this.latest) {
      watcher.fail(new AmbitError('gone', `watch of ${request.kind} from version ${fromVersion} in ${this.options.name}: newer than the store's ${this.latest}`, {
        hint: 'the version comes from another store or a restored state directory; list again',
        details: { resourceVersion: String(fromVersion), latest: String(this.latest) },
      }));
      return watcher;
    }
    this.watchers.add(watcher);
    for (const object of request.initial ?? []) watcher.offer({ version: fromVersion, kind: request.kind, type: 'ADDED', object });
    for (let i = this.firstAfter(fromVersion); i < this.count; i++) {
      const event = this.ring[(this.start + i) % this.ring.length];
      if (event !== undefined) watcher.offer(event);
    }
    return watcher;
  }

  /** Ends every watch with `error` once it has delivered what is already queued (the store is closing). */
  closeAll(error: Error): void {
    for (const watcher of [...this.watchers]) watcher.end(error);
  }

  remove(watcher: Watcher): void {
    this.watchers.delete(watcher);
  }

  // Ring index of the first event with a version above `version` (binary search; versions ascend).
  private firstAfter(version: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const event = this.ring[(this.start + mid) % this.ring.length];
      if (event !== undefined && event.version <= version) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

class Watcher implements Watch {
  private queue: (WatchEvent | undefined)[] = [];
  private head = 0;
  private scheduled = false;
  private busy = false;
  private closed = false;
  private ending: Error | undefined;

  constructor(
    private readonly hub: WatchHub,
    private readonly request: WatchRequest,
    private readonly handlers: WatchHandlers,
    private readonly options: WatchHubOptions,
  ) {}

  /** Queues `event` if this watch sees it, translated for the selector. */
  offer(event: StoredEvent): void {
    if (this.closed || this.ending !== undefined) return;
    const translated = this.translate(event);
    if (translated === undefined) return;
    if (this.queue.length - this.head >= this.options.queueLimit) {
      this.fail(new AmbitError('gone', `watch of ${this.request.kind} in ${this.options.name} fell ${this.options.queueLimit} events behind and was dropped`, {
        hint: 'list again and watch from the list\'s resourceVersion; handle events faster',
        details: { queueLimit: this.options.queueLimit },
      }));
      return;
    }
    this.queue.push(translated);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.hub.remove(this);
  }

  /** Ends the watch now, dropping what is queued. */
  fail(error: Error): void {
    if (this.closed) return;
    this.close();
    setImmediate(() => this.report(error));
  }

  /** Ends the watch after the events already queued. */
  end(error: Error): void {
    if (this.closed || this.ending !== undefined) return;
    this.ending = error;
    this.hub.remove(this);
    this.schedule();
  }

  private report(error: Error): void {
    try {
      this.handlers.onError(error);
    } catch (thrown) {
      this.options.logger.warn({ err: thrown, kind: this.request.kind }, 'watch error handler threw');
    }
  }

  private translate(event: StoredEvent): WatchEvent | undefined {
    const { kind, namespace, selector } = this.request;
    if (event.kind !== kind) return undefined;
    if (namespace !== undefined && event.object.metadata.namespace !== namespace) return undefined;
    const matches = selector.matches(event.object.metadata.labels);
    if (event.type !== 'MODIFIED' || selector.empty) return matches ? { type: event.type, object: event.object } : undefined;
    const matched = selector.matches(event.previous?.metadata.labels);
    if (matched && matches) return { type: 'MODIFIED', object: event.object };
    if (matches) return { type: 'ADDED', object: event.object };
    if (matched) return { type: 'DELETED', object: event.object };
    return undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.busy || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  // Delivers queued events in order. A handler that returns a promise holds
  // back this watcher's next event (never anyone else's) until it settles.
  private drain(): void {
    this.scheduled = false;
    while (!this.closed && this.head < this.queue.length) {
      const event = this.queue[this.head];
      this.queue[this.head] = undefined;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (event === undefined) continue;
      let result: unknown;
      try {
        result = this.handlers.onEvent({ type: event.type, object: structuredClone(event.object) });
      } catch (error) {
        this.options.logger.warn({ err: error, kind: this.request.kind, type: event.type }, 'watch event handler threw');
      }
      if (isThenable(result)) {
        this.busy = true;
        const resume = (): void => {
          this.busy = false;
          this.schedule();
        };
        result.then(resume, (error: unknown) => {
          this.options.logger.warn({ err: error, kind: this.request.kind, type: event.type }, 'watch event handler failed');
          resume();
        });
        return;
      }
    }
    if (!this.closed && this.ending !== undefined) {
      const error = this.ending;
      this.close();
      this.report(error);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
