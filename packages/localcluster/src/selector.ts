// Service selectors are plain equality maps; an empty selector selects no pod
// (as in Kubernetes, where such a Service has manually managed endpoints).
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}
