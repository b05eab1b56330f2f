// HTTPRoute header modifiers (pure): `set` replaces, `add` appends another
// value, `remove` deletes. Applied to request headers before forwarding and
// to response headers on the way back.
import type { HeaderModifier } from '@ambit/api';
import type { HeaderMap } from './exchange.js';

export function applyModifier(headers: HeaderMap, modifier: HeaderModifier | undefined): HeaderMap {
  if (modifier === undefined) return headers;
  const result: HeaderMap = { ...headers };
  for (const { name, value } of modifier.set ?? []) result[name.toLowerCase()] = value;
  for (const { name, value } of modifier.add ?? []) {
    const key = name.toLowerCase();
    const existing = result[key];
    result[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  for (const name of modifier.remove ?? []) delete result[name.toLowerCase()];
  return result;
}
