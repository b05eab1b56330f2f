// Bootstrap credentials on Kubernetes: a projected service-account token,
// verified by the API server with a TokenReview. The ztunnel's service
// account stands for the node its pod runs on — taken from the token's
// node-name extra claim, which Kubernetes ≥ 1.30 sets on pod-bound projected
// tokens — and any other service account for its own identity (a waypoint).
//
// Answers are cached by the token's SHA-256 (positive and negative, bounded
// in size), so a restarting fleet of proxies costs the API server one review
// per token per TTL. A revoked token (its pod deleted) therefore keeps
// authenticating for up to one TTL; node-bound issuance still checks the
// pods scheduled on the node at every request. Failures to reach or use the
// API server are never cached and surface as 'unavailable', so the CA
// answers 503 and the proxy retries, instead of 401.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  AmbitError, DEFAULT_TRUST_DOMAIN, SpiffeId, findAmbitError, silentLogger, systemClock, type Clock, type Logger,
} from '@ambit/core';
import type { ResourceType } from '../resources.js';
import { isStatus, statusError } from '../store/kube-errors.js';
import {
  inClusterKubeConfig, kubeRequest, loadKubeConfig, serverKubeConfig, serverOf, type ServerKubeConfigOptions,
} from '../store/kube-http.js';
import type { BootstrapAuthenticator } from './bootstrap.js';
import type { Principal } from './entitlement.js';

export interface TokenReviewOptions {
  /** The audience proxies' projected tokens are issued for. Default 'ambit'. */
  audience?: string;
  /** The service account whose tokens stand for a node. Default ambit-system/ztunnel. */
  ztunnelServiceAccount?: { namespace: string; name: string };
  /** Trust domain of the workload identities granted. Default cluster.local. */
  trustDomain?: string;
  /** How long an answer (either way) is reused. Default 60 s; 0 disables the cache. */
  cacheTtlMs?: number;
  /** Most answers kept; the oldest goes first. Default 10 000. */
  cacheSize?: number;
  /** Bound on each TokenReview request. Default 10 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
}

/** The extra claim carrying the node of a pod-bound token (Kubernetes ≥ 1.30). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const DEFAULT_TOKEN_AUDIENCE = 'ambit';
export const DEFAULT_TOKEN_CACHE_TTL_MS = 60_000;
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const TOKEN_REVIEWS: ResourceType = {
  kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', group: 'authentication.k8s.io', version: 'v1',
  plural: 'tokenreviews', namespaced: false, hasStatus: false,
};
const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

/** What a review said, reduced to what the CA needs. */
interface ReviewStatus {
  authenticated: boolean;
  username: string | undefined;
  extra: Record<string, unknown>;
  audiences: string[];
  error: string | undefined;
}

interface CacheEntry {
  principal: Principal | undefined;
  expiresAt: number;
}

export class TokenReviewAuthenticator implements BootstrapAuthenticator {
  private readonly server: URL;
  private readonly audience: string;
  private readonly ztunnel: { namespace: string; name: string };
  private readonly trustDomain: string;
  private readonly cacheTtlMs: number;
  private readonly cacheSize: number;
  private readonly requestTimeoutMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Insertion-ordered, so the first key is the oldest. */
  private readonly cache = new Map<string, CacheEntry>();
  /** Reviews under way, so concurrent requests with one token share one. */
  private readonly pending = new Map<string, Promise<Principal | undefined>>();

  constructor(private readonly kubeConfig: KubeConfig, options: TokenReviewOptions = {}) {
    this.server = serverOf(kubeConfig);
    this.audience = options.audience ?? DEFAULT_TOKEN_AUDIENCE;
    if (this.audience === '') throw new AmbitError('invalid-config', 'audience must not be empty', { hint: `use "${DEFAULT_TOKEN_AUDIENCE}"` });
    this.ztunnel = options.ztunnelServiceAccount ?? { namespace: 'ambit-system', name: 'ztunnel' };
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    // Validates the trust domain and the ztunnel's names now rather than at the first token.
    SpiffeId.of(this.trustDomain, this.ztunnel.namespace, this.ztunnel.name);
    this.cacheTtlMs = atLeast('cacheTtlMs', options.cacheTtlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS, 0);
    this.cacheSize = atLeast('cacheSize', options.cacheSize ?? DEFAULT_TOKEN_CACHE_SIZE, 1);
    this.requestTimeoutMs = atLeast('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 1);
    this.log = (options.logger ?? silentLogger).child({ component: 'ca-token-review' });
    this.clock = options.clock ?? systemClock;
  }

  /** From a kubeconfig file, or the default chain ($KUBECONFIG, ~/.kube/config, in-cluster) without one. */
  static fromKubeconfig(path?: string, options?: TokenReviewOptions): TokenReviewAuthenticator {
    return new TokenReviewAuthenticator(loadKubeConfig(path), options);
  }

  /** The control plane's own service account (it needs `create` on tokenreviews: system:auth-delegator). */
  static inCluster(options?: TokenReviewOptions): TokenReviewAuthenticator {
    return new TokenReviewAuthenticator(inClusterKubeConfig(), options);
  }

  /** A server URL with an optional bearer token; plain http is allowed (tests, `kubectl proxy`). */
  static fromServer(url: string, options: TokenReviewOptions & ServerKubeConfigOptions = {}): TokenReviewAuthenticator {
    return new TokenReviewAuthenticator(serverKubeConfig(url, options), options);
  }

  authenticate(token: string): Promise<Principal | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > this.clock.now()) return Promise.resolve(cached.principal);
      this.cache.delete(key);
    }
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending;
    const review = this.review(token, key).then((principal) => {
      this.remember(key, principal);
      return principal;
    }).finally(() => this.pending.delete(key));
    this.pending.set(key, review);
    return review;
  }

  private async review(token: string, key: string): Promise<Principal | undefined> {
    const what = 'create TokenReview';
    const log = this.log.child({ token: key.slice(0, 12) });
    let answer: { status: number; body: unknown };
    try {
      answer = await kubeRequest(this.kubeConfig, this.server, {
        method: 'POST', path: TOKEN_REVIEW_PATH, what, timeoutMs: this.requestTimeoutMs,
        body: { apiVersion: TOKEN_REVIEWS.apiVersion, kind: TOKEN_REVIEWS.kind, spec: { token, audiences: [this.audience] } },
      });
    } catch (error) {
      throw unavailable(findAmbitError(error) ?? new AmbitError('internal', (error as Error).message, { cause: error }));
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw unavailable(statusError(isStatus(answer.body) ? answer.body : {}, answer.status, { what, type: TOKEN_REVIEWS }));
    }
    const status = reviewStatus(answer.body);
    if (!status.authenticated) {
      log.info({ error: status.error }, `bootstrap token refused by the API server: ${status.error ?? 'not authenticated'}`);
      return undefined;
    }
    // An audience-unaware answer (none returned) means the token is good for
    // the API server itself, not for us: a client must see its audience here.
    if (!status.audiences.includes(this.audience)) {
      log.warn({ audiences: status.audiences, audience: this.audience },
        `bootstrap token refused: the review did not confirm audience "${this.audience}" (got ${JSON.stringify(status.audiences)}); `
        + `project the proxy's token with audience "${this.audience}"`);
      return undefined;
    }
    const account = serviceAccountOf(status.username);
    if (account === undefined) {
      log.info({ username: status.username }, `bootstrap token refused: ${String(status.username)} is not a service account`);
      return undefined;
    }
    if (account.namespace === this.ztunnel.namespace && account.name === this.ztunnel.name) {
      const node = firstString(status.extra[NODE_NAME_EXTRA]);
      if (node === undefined) {
        log.warn({ username: status.username },
          `bootstrap token of ${status.username} refused: it carries no ${NODE_NAME_EXTRA} claim, so the node it stands for is unknown; `
          + 'the cluster must issue node-bound tokens (Kubernetes ≥ 1.30, a projected service-account token in the ztunnel pod)');
        return undefined;
      }
      return { kind: 'node', node, via: 'bootstrap' };
    }
    let identity: SpiffeId;
    try {
      identity = SpiffeId.of(this.trustDomain, account.namespace, account.name);
    } catch (error) {
      log.warn({ username: status.username }, `bootstrap token refused: ${(error as Error).message}`);
      return undefined;
    }
    return { kind: 'workload', identity, via: 'bootstrap' };
  }

  private remember(key: string, principal: Principal | undefined): void {
    if (this.cacheTtlMs === 0) return;
    this.cache.delete(key);
    while (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { principal, expiresAt: this.clock.now() + this.cacheTtlMs });
  }
}

// --- helpers -----------------------------------------------------------------------------

/** The wire TokenReview's status, checked field by field. */
function reviewStatus(body: unknown): ReviewStatus {
  const status = isRecord(body) && isRecord(body.status) ? body.status : {};
  const user = isRecord(status.user) ? status.user : {};
  return {
    authenticated: status.authenticated === true,
    username: typeof user.username === 'string' ? user.username : undefined,
    extra: isRecord(user.extra) ? user.extra : {},
    audiences: Array.isArray(status.audiences) ? status.audiences.filter((a): a is string => typeof a === 'string') : [],
    error: typeof status.error === 'string' && status.error !== '' ? status.error : undefined,
  };
}

function serviceAccountOf(username: string | undefined): { namespace: string; name: string } | undefined {
  if (username?.startsWith(SERVICE_ACCOUNT_PREFIX) !== true) return undefined;
  const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (namespace === undefined || namespace === '' || name === undefined || name === '' || rest.length > 0) return undefined;
  return { namespace, name };
}

function firstString(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : undefined;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Any failure to get a review is the CA's problem, not the caller's: 503, retry later. */
function unavailable(error: AmbitError): AmbitError {
  if (error.code === 'unavailable') return error;
  const hint = error.code === 'denied'
    ? 'the control plane\'s service account needs create on tokenreviews.authentication.k8s.io (bind ClusterRole system:auth-delegator)'
    : error.hint;
  return new AmbitError('unavailable', `cannot verify bootstrap tokens: ${error.message}`, {
    cause: error, details: { ...error.details, apiCode: error.code }, ...(hint === undefined ? {} : { hint }),
  });
}

function atLeast(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) throw new AmbitError('invalid-config', `${name} must be a number ≥ ${min}, got ${value}`);
  return value;
}
