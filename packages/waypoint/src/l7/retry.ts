// Layer: retries. A retryable outcome (a 5xx, a gateway error, a connect
// failure, a reset, a per-try timeout, as the rule's policy lists) is tried
// again on another endpoint after an exponential backoff with full jitter,
// each try under its own deadline; but only while the retry budget of the
// backend allows it (retry-budget.ts), so retries cannot amplify an outage.
// When the tries run out the last outcome stands, flagged URX; when the
// budget refuses, flagged UO.
import type { RetryPolicy } from '@ambit/api';
import { findAmbitError } from '@ambit/core';
import { failure } from '../flags.js';
import { following } from './cancellation.js';
import { discard, type Backend, type Exchange, type Layer, type ProxyResponse } from './exchange.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { sleep } from './sleep.js';

/** Envoy's default base interval; the cap is ten times the base. */
export const DEFAULT_RETRY_BACKOFF_MS = 25;

export interface RetryOptions {
  budget?: RetryBudgetOptions;
  random?: () => number;
  /** Told when the budget refuses a retry (for the overflow counter). */
  onOverflow?: (backend: string) => void;
}

export function retry(options: RetryOptions = {}): Layer {
  const budgets = new Map<string, RetryBudget>();
  const random = options.random ?? Math.random;
  const budgetFor = (key: string): RetryBudget => {
    let budget = budgets.get(key);
    if (budget === undefined) budgets.set(key, (budget = new RetryBudget(options.budget)));
    return budget;
  };
  return (next) => async (exchange) => {
    const backend = backendKey(exchange.trace.backend);
    const budget = budgetFor(backend);
    const leave = budget.enter();
    try {
      const policy = exchange.trace.route?.rule.retry;
      if (policy === undefined || policy.attempts <= 0) return await next(exchange);
      return await attempts(exchange, policy, next, () => {
        const done = budget.tryRetry();
        if (done === undefined) options.onOverflow?.(backend);
        return done;
      }, random);
    } finally {
      leave();
    }
  };
}

async function attempts(
  exchange: Exchange, policy: RetryPolicy, next: (exchange: Exchange) => Promise<ProxyResponse>,
  acquire: () => (() => void) | undefined, random: () => number,
): Promise<ProxyResponse> {
  const base = policy.backoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
  // The retry's place in the budget, held through its backoff and its try.
  let release: (() => void) | undefined;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      exchange.trace.retries = attempt;
      const interval = Math.min(base * 2 ** (attempt - 1), base * 10);
      try {
        await sleep(Math.floor(random() * interval), exchange.signal);
      } catch (error) {
        release?.();
        throw error;
      }
    }
    const outcome = await tryOnce(exchange, policy, next);
    release?.();
    const retryable = 'response' in outcome ? retryableStatus(policy, outcome.response.status) : retryableError(policy, outcome.error);
    if (!retryable || exchange.signal.aborted) return settle(outcome);
    if (attempt >= policy.attempts) {
      exchange.trace.flags.push('URX');
      return settle(outcome);
    }
    // Ask the budget before discarding: when it refuses, this outcome is the one that stands.
    release = acquire();
    if (release === undefined) {
      exchange.trace.flags.push('UO');
      return settle(outcome);
    }
    if ('response' in outcome) discard(outcome.response);
  }
}

async function tryOnce(
  exchange: Exchange, policy: RetryPolicy, next: (exchange: Exchange) => Promise<ProxyResponse>,
): Promise<{ response: ProxyResponse } | { error: unknown }> {
  const perTry = policy.perTryTimeoutMs;
  if (perTry === undefined || perTry <= 0) {
    try {
      return { response: await next(exchange) };
    } catch (error) {
      return { error };
    }
  }
  const { signal, detach } = following(exchange.signal);
  const timer = setTimeout(() => signal.abort(failure('timeout', 'UT', `upstream per-try timeout after ${perTry} ms`, {
    status: 504, details: { retryOn: 'per-try-timeout' },
  })), perTry);
  try {
    return { response: await next({ ...exchange, signal }) };
  } catch (error) {
    return { error };
  } finally {
    clearTimeout(timer);
    detach();
  }
}

function settle(outcome: { response: ProxyResponse } | { error: unknown }): ProxyResponse {
  if ('response' in outcome) return outcome.response;
  throw outcome.error;
}

export function retryableStatus(policy: Pick<RetryPolicy, 'on'>, status: number): boolean {
  if (policy.on.includes('5xx') && status >= 500) return true;
  return policy.on.includes('gateway-error') && (status === 502 || status === 503 || status === 504);
}

export function retryableError(policy: Pick<RetryPolicy, 'on'>, error: unknown): boolean {
  const on = findAmbitError(error)?.details.retryOn;
  switch (on) {
    case 'connect-failure':
      return policy.on.includes('connect-failure') || policy.on.includes('5xx') || policy.on.includes('gateway-error');
    case 'reset':
      return policy.on.includes('reset') || policy.on.includes('5xx');
    case 'per-try-timeout':
      return policy.on.includes('5xx') || policy.on.includes('gateway-error');
    default:
      return false;
  }
}

function backendKey(backend: Backend | undefined): string {
  if (backend === undefined) return '-';
  return backend.kind === 'service' ? `${backend.service.namespace}/${backend.service.name}:${backend.port}` : `workload/${backend.workload.uid}`;
}
