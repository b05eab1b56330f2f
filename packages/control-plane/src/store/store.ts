// The one store interface both backends implement (local: embedded and
// persisted; kubernetes: the cluster's API server). Semantics follow the
// Kubernetes API: opaque resourceVersions, optimistic concurrency (a stale
// update is a `conflict`, never silently lost), list + watch from a version,
// `gone` when that version is too old (the caller relists), status written
// separately from spec.
import type { Kind, KubeObject } from '../resources.js';

export interface ListOptions {
  /** Only objects in this namespace (namespaced kinds). */
  namespace?: string;
  /** Kubernetes label selector syntax: `a=b,c!=d,e in (f,g),!h,i`. */
  labelSelector?: string;
}

export interface ListResult<T extends KubeObject = KubeObject> {
  items: T[];
  /** Watch from here to see every later change exactly once. */
  resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

export interface WatchOptions extends ListOptions {
  /** Deliver changes after this version. Too old → onError(AmbitError 'gone'). */
  resourceVersion: string;
}

export interface Watch {
  close(): void;
}

export interface WatchHandlers<T extends KubeObject = KubeObject> {
  onEvent(event: WatchEvent<T>): void;
  /** The watch ended abnormally; `gone` means relist. No more events follow. */
  onError(error: Error): void;
}

export interface DeleteOptions {
  /** Precondition: delete only this version. */
  resourceVersion?: string;
}

/**
 * Errors are AmbitErrors with codes: `not-found`, `already-exists`,
 * `conflict` (stale resourceVersion), `gone` (watch version too old),
 * `invalid-resource` (names the bad field), `unavailable` (backend unreachable).
 */
export interface Store {
  readonly backend: 'local' | 'kubernetes';
  get<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace?: string): Promise<T | undefined>;
  list<T extends KubeObject = KubeObject>(kind: Kind, options?: ListOptions): Promise<ListResult<T>>;
  watch<T extends KubeObject = KubeObject>(kind: Kind, options: WatchOptions, handlers: WatchHandlers<T>): Watch;
  /** Fails with `already-exists`. Assigns uid, resourceVersion, creationTimestamp, generation 1. */
  create<T extends KubeObject>(object: T): Promise<T>;
  /** Replaces spec/metadata (not status). `metadata.resourceVersion` must be current, else `conflict`. */
  update<T extends KubeObject>(object: T): Promise<T>;
  /** JSON merge patch (RFC 7386) of metadata/spec; a `metadata.resourceVersion` in the patch is a precondition. */
  patch<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, patch: Record<string, unknown>): Promise<T>;
  /** Replaces `status` only. With `resourceVersion`, it must be current. */
  updateStatus<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, status: unknown, resourceVersion?: string): Promise<T>;
  delete(kind: Kind, name: string, namespace?: string, options?: DeleteOptions): Promise<void>;
  close(): Promise<void>;
}
