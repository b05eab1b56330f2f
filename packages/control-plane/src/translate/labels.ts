// Label selection shared by services, policies and waypoint lookups.

export { matchesLabels } from '@ambit/api';

/** Stable ordering for output arrays: by namespace, then name. */
export function byNamespaceName<T extends { namespace: string; name: string }>(a: T, b: T): number {
  return compare(a.namespace, b.namespace) || compare(a.name, b.name);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
