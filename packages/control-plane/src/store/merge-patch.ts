// JSON merge patch (RFC 7386): the patch format of `Store.patch` in both
// backends. Objects merge key by key, `null` deletes a key, anything else
// (arrays included) replaces. Inputs are never modified.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The result of applying `patch` to `target` (RFC 7386 MergePatch). */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      // defineProperty so a `__proto__` key stays an ordinary property.
      Object.defineProperty(result, key, { value: applyMergePatch(result[key], value), enumerable: true, writable: true, configurable: true });
    }
  }
  return result;
}

/** A merge patch that turns `from` into `to` (only objects are diffed; anything else is replaced whole). */
export function createMergePatch(from: unknown, to: unknown): unknown {
  if (!isPlainObject(from) || !isPlainObject(to)) return clone(to);
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) {
    if (!Object.hasOwn(to, key)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (!Object.hasOwn(from, key) || !deepEqual(before, value)) {
      Object.defineProperty(patch, key, {
        value: isPlainObject(before) && isPlainObject(value) ? createMergePatch(before, value) : clone(value),
        enumerable: true, writable: true, configurable: true,
      });
    }
  }
  return patch;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

function clone(value: unknown): unknown {
  return value === undefined ? undefined : structuredClone(value);
}
