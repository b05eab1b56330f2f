// The scalar values an HTTPRoute carries as text: Gateway API durations and
// Ambit's annotation extensions for what the Gateway API lacks. Shared by the
// translation (which drops a bad value and says so in status) and manifest
// validation (which refuses it up front), so both agree on what is valid.
import type { RetryPolicy } from '@ambit/api';

export const ANNOTATION_RETRY_ON = 'ambit.dev/retry-on';
export const ANNOTATION_PER_TRY_TIMEOUT = 'ambit.dev/per-try-timeout';
export const ANNOTATION_FAULT_DELAY = 'ambit.dev/fault-delay';
export const ANNOTATION_FAULT_ABORT = 'ambit.dev/fault-abort';

export type RetryOn = RetryPolicy['on'][number];
export const RETRY_ON_VALUES: readonly RetryOn[] = ['5xx', 'gateway-error', 'connect-failure', 'reset'];

/** A parse result: the value, or why the text is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

// Gateway API `Duration`: 1 to 4 <number><unit> groups, units h, m, s, ms (GEP-2257).
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

export function parseDuration(text: string): Parsed<number> {
  if (!DURATION.test(text)) return { ok: false, problem: `${JSON.stringify(text)} is not a duration such as 500ms, 2s or 1m30s` };
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+)(h|ms|m|s)/g)) total += Number(amount) * (UNIT_MS[unit ?? 'ms'] ?? 1);
  return { ok: true, value: total };
}

/** `5xx,connect-failure,reset` (comma-separated, spaces allowed, no duplicates needed). */
export function parseRetryOn(text: string): Parsed<RetryOn[]> {
  const values = text.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (values.length === 0) return { ok: false, problem: `expected a list such as 5xx,connect-failure,reset (one of ${RETRY_ON_VALUES.join(', ')})` };
  const unknown = values.filter((v) => !(RETRY_ON_VALUES as readonly string[]).includes(v));
  if (unknown.length > 0) return { ok: false, problem: `unknown value ${unknown.map((v) => JSON.stringify(v)).join(', ')} (use ${RETRY_ON_VALUES.join(', ')})` };
  return { ok: true, value: [...new Set(values as RetryOn[])] };
}

/** `10% 2s`: delay this share of requests by a Gateway API duration. */
export function parseFaultDelay(text: string): Parsed<{ percent: number; delayMs: number }> {
  const [percentText, durationText, extra] = text.trim().split(/\s+/);
  const percent = parsePercent(percentText);
  if (!percent.ok) return { ok: false, problem: `${percent.problem} (expected e.g. "10% 2s")` };
  if (durationText === undefined || extra !== undefined) return { ok: false, problem: `expected "<percent>% <duration>", e.g. "10% 2s"; got ${JSON.stringify(text)}` };
  const delay = parseDuration(durationText);
  if (!delay.ok) return delay;
  return { ok: true, value: { percent: percent.value, delayMs: delay.value } };
}

/** `5% 503`: answer this share of requests with a status code from 200 to 599. */
export function parseFaultAbort(text: string): Parsed<{ percent: number; status: number }> {
  const [percentText, statusText, extra] = text.trim().split(/\s+/);
  const percent = parsePercent(percentText);
  if (!percent.ok) return { ok: false, problem: `${percent.problem} (expected e.g. "5% 503")` };
  const status = /^[0-9]{3}$/.test(statusText ?? '') ? Number(statusText) : NaN;
  if (extra !== undefined || !(status >= 200 && status <= 599)) {
    return { ok: false, problem: `expected "<percent>% <status>" with a status from 200 to 599, e.g. "5% 503"; got ${JSON.stringify(text)}` };
  }
  return { ok: true, value: { percent: percent.value, status } };
}

/** A regular expression as the waypoint will compile it (JavaScript syntax, matched against the whole value). */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(`^(?:${pattern})$`);
    return undefined;
  } catch (error) {
    return `${JSON.stringify(pattern)} is not a valid regular expression: ${(error as Error).message}`;
  }
}

function parsePercent(text: string | undefined): Parsed<number> {
  const match = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(text ?? '');
  const value = match === null ? NaN : Number(match[1]);
  if (!(value >= 0 && value <= 100)) return { ok: false, problem: `${JSON.stringify(text ?? '')} is not a percentage from 0% to 100%` };
  return { ok: true, value };
}
