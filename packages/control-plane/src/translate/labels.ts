// Label selection shared by services, policies and waypoint lookups.

/** Kubernetes equality-based selection: every key must be present with the same value. */
export function matchesLabels(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  for (const [key, value] of Object.entries(selector)) {
    if (labels?.[key] !== value) return false;
  }
  return true;
}

/** Stable ordering for output arrays: by namespace, then name. */
export function byNamespaceName<T extends { namespace: string; name: string }>(a: T, b: T): number {
  return compare(a.namespace, b.namespace) || compare(a.name, b.name);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
