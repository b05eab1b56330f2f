// PeerAuthentication (mTLS mode) → what ztunnel enforces. As istiod does for
// ambient, STRICT becomes a synthetic DENY authorization that matches any
// connection without a peer identity (`notPrincipals: ["*"]`: a plaintext
// connection has no principal, so the negative match holds), so ztunnel has
// a single policy engine. Precedence as in Istio: a namespace's own policy
// (no selector) overrides the mesh-wide one (root namespace, no selector);
// the oldest wins among several at the same level. Selector policies can add
// STRICT for the workloads they select; a selector PERMISSIVE inside a STRICT
// namespace cannot loosen it (one DENY cannot be carved out by labels) — that
// is reported as not accepted rather than silently ignored.
import type { Authorization } from '@ambit/api';
import type { Condition, Namespace, PeerAuthentication } from '../resources.js';
import { byNamespaceName, compare } from './labels.js';
import { CONDITION_ACCEPTED } from './status.js';
import { ROOT_NAMESPACE } from './types.js';
import type { ConditionStatusUpdate } from './types.js';

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

/** The name synthetic authorizations carry, so `ambit` and logs can say where a refusal came from. */
export const STRICT_POLICY_PREFIX = 'peer-authentication-strict';

export interface PeerAuthenticationResult {
  authorizations: Authorization[];
  status: ConditionStatusUpdate[];
}

export function translatePeerAuthentications(
  policies: readonly PeerAuthentication[], namespaces: readonly Namespace[], rootNamespace: string = ROOT_NAMESPACE,
): PeerAuthenticationResult {
  const oldestFirst = [...policies].sort(byAge);
  const namespaceWide = new Map<string, PeerAuthentication>();
  for (const policy of oldestFirst) {
    if (hasSelector(policy) || modeOf(policy) === undefined) continue;
    const ns = policy.metadata.namespace ?? 'default';
    if (!namespaceWide.has(ns)) namespaceWide.set(ns, policy);
  }
  const mesh = namespaceWide.get(rootNamespace);
  const meshMode = mesh === undefined ? 'PERMISSIVE' : modeOf(mesh) ?? 'PERMISSIVE';
  const effective = (ns: string): MtlsMode => {
    const own = ns === rootNamespace ? undefined : namespaceWide.get(ns);
    return own === undefined ? meshMode : modeOf(own) ?? meshMode;
  };

  const authorizations: Authorization[] = [];
  const status: ConditionStatusUpdate[] = [];
  for (const ns of namespaces.map((n) => n.metadata.name).sort(compare)) {
    if (effective(ns) !== 'STRICT') continue;
    const source = ns !== rootNamespace && namespaceWide.has(ns) ? namespaceWide.get(ns) as PeerAuthentication : mesh as PeerAuthentication;
    authorizations.push(strictDeny(source, ns, { kind: 'namespace', namespace: ns }));
  }
  for (const policy of oldestFirst) {
    const ns = policy.metadata.namespace ?? 'default';
    if (!hasSelector(policy)) {
      const winner = namespaceWide.get(ns);
      const shadowed = modeOf(policy) !== undefined && winner !== undefined && winner !== policy;
      status.push(accepted(policy, !shadowed, shadowed
        ? { reason: 'Conflicted', message: `${ns}/${winner.metadata.name} is older and decides the mode of namespace ${ns}` }
        : { reason: 'Accepted', message: 'the mTLS mode is in effect' }));
      continue;
    }
    const mode = modeOf(policy);
    if (mode === 'STRICT') {
      authorizations.push(strictDeny(policy, ns, { kind: 'workload', namespace: ns, selector: policy.spec?.selector?.matchLabels ?? {} }));
      status.push(accepted(policy, true, { reason: 'Accepted', message: 'STRICT for the selected workloads' }));
    } else if (mode === 'PERMISSIVE' && effective(ns) === 'STRICT') {
      status.push(accepted(policy, false, {
        reason: 'UnsupportedValue',
        message: `a selector cannot make workloads PERMISSIVE inside STRICT namespace ${ns}; set the namespace's mode instead`,
      }));
    } else {
      status.push(accepted(policy, true, { reason: 'Accepted', message: 'the mTLS mode is in effect' }));
    }
  }
  return { authorizations: authorizations.sort(byNamespaceName), status };
}

function strictDeny(policy: PeerAuthentication, namespace: string, scope: Authorization['scope']): Authorization {
  const name = `${STRICT_POLICY_PREFIX}-${policy.metadata.namespace ?? 'default'}-${policy.metadata.name}`;
  return {
    key: `${namespace}/${name}`, name, namespace, scope, action: 'DENY',
    rules: [{ from: [{ notPrincipals: ['*'] }], to: [] }],
  };
}

function modeOf(policy: PeerAuthentication): MtlsMode | undefined {
  const mode = policy.spec?.mtls?.mode;
  return mode === 'STRICT' || mode === 'PERMISSIVE' ? mode : undefined;
}

function hasSelector(policy: PeerAuthentication): boolean {
  return Object.keys(policy.spec?.selector?.matchLabels ?? {}).length > 0;
}

function byAge(a: PeerAuthentication, b: PeerAuthentication): number {
  return compare(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') || byNamespaceName(
    { namespace: a.metadata.namespace ?? '', name: a.metadata.name },
    { namespace: b.metadata.namespace ?? '', name: b.metadata.name },
  );
}

function accepted(policy: PeerAuthentication, ok: boolean, why: { reason: string; message: string }): ConditionStatusUpdate {
  const condition: Condition = { type: CONDITION_ACCEPTED, status: ok ? 'True' : 'False', reason: why.reason, message: why.message };
  if (policy.metadata.generation !== undefined) condition.observedGeneration = policy.metadata.generation;
  return { kind: 'PeerAuthentication', namespace: policy.metadata.namespace ?? 'default', name: policy.metadata.name, conditions: [condition] };
}
