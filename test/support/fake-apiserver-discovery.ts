// The fake API server's descriptive side: the kinds it can serve, its
// discovery documents, and TokenReview answers.
import { isPlainObject, type Json } from './kube-semantics.js';

export interface FakeKind {
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** Writes to `status` go through the `/status` subresource only. */
  hasStatus: boolean;
  /**
   * A CustomResourceDefinition: updates must carry metadata.resourceVersion
   * and strategic merge patch is refused. Defaults to `group !== ''`.
   */
  custom?: boolean;
  /** Status the server sets on create (Pod: Pending, Namespace: Active). */
  initialStatus?: Json;
}

/** Kinds tests can register later (leader election, the CA's Secret, workloads, the Gateway API's class). */
export const EXTRA_KINDS = {
  Secret: { kind: 'Secret', group: '', version: 'v1', plural: 'secrets', namespaced: true, hasStatus: false },
  ConfigMap: { kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps', namespaced: true, hasStatus: false },
  Lease: { kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, hasStatus: false, custom: false },
  Deployment: { kind: 'Deployment', group: 'apps', version: 'v1', plural: 'deployments', namespaced: true, hasStatus: true, custom: false },
  GatewayClass: {
    kind: 'GatewayClass', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false, hasStatus: true,
  },
  EndpointSlice: {
    kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, hasStatus: false, custom: false,
  },
} as const satisfies Record<string, FakeKind>;

/** The kinds `ambit install` creates beyond the control plane's own (built-in; the Gateway API's class is EXTRA_KINDS.GatewayClass). */
export const INSTALL_KINDS: readonly FakeKind[] = [
  { kind: 'CustomResourceDefinition', group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false, hasStatus: true },
  { kind: 'ClusterRole', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', namespaced: false, hasStatus: false },
  { kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', namespaced: false, hasStatus: false },
  { kind: 'Role', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true, hasStatus: false },
  { kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true, hasStatus: false },
  { kind: 'DaemonSet', group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, hasStatus: true },
  { kind: 'PodDisruptionBudget', group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true, hasStatus: true },
];

export interface TokenReviewAnswer {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  /** Audiences the token is valid for; a review naming none of them fails. */
  audiences?: string[];
}

/** A TokenReview answered from the table of known tokens. */
export function answerTokenReview(body: unknown, tokens: ReadonlyMap<string, TokenReviewAnswer>): { status: number; body: unknown } {
  const spec = isPlainObject(body) && isPlainObject(body.spec) ? body.spec : {};
  const token = typeof spec.token === 'string' ? spec.token : '';
  const wanted = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
  const answer = tokens.get(token);
  let status: Json;
  if (answer === undefined) {
    status = { authenticated: false, error: 'invalid bearer token' };
  } else if (wanted.length > 0 && answer.audiences !== undefined && !wanted.some((a) => answer.audiences!.includes(a))) {
    status = { authenticated: false, error: 'token audiences are invalid for the target audiences' };
  } else {
    const { audiences, ...user } = answer;
    status = { authenticated: true, user, audiences: wanted.length > 0 ? wanted.filter((a) => audiences?.includes(a) ?? true) : (audiences ?? []) };
  }
  return {
    status: 201,
    body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status },
  };
}

/** /version, /api, /apis and the per-group-version resource lists, enough for client-node and kubectl. */
export function discoveryDocument(path: string, kinds: readonly FakeKind[], host: string): unknown {
  const groups = new Map<string, Set<string>>();
  for (const k of kinds) if (k.group !== '') groups.set(k.group, (groups.get(k.group) ?? new Set()).add(k.version));
  groups.set('authentication.k8s.io', (groups.get('authentication.k8s.io') ?? new Set()).add('v1'));
  const group = (name: string, versions: Set<string>): Json => {
    const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
    return { name, versions: list, preferredVersion: list[0] };
  };
  if (path === '/version') {
    return { major: '1', minor: '31', gitVersion: 'v1.31.0-ambit-fake', gitCommit: 'fake', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.22', compiler: 'gc', platform: 'linux/amd64' };
  }
  if (path === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] };
  }
  if (path === '/apis') {
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([name, versions]) => group(name, versions)) };
  }
  const groupMatch = /^\/apis\/([^/]+)$/.exec(path);
  if (groupMatch !== null) {
    const versions = groups.get(groupMatch[1]!);
    return versions === undefined ? undefined : { kind: 'APIGroup', apiVersion: 'v1', ...group(groupMatch[1]!, versions) };
  }
  const gv = /^\/api\/(v1)$/.exec(path) ?? /^\/apis\/([^/]+\/[^/]+)$/.exec(path);
  if (gv === null) return undefined;
  const groupVersion = gv[1]!;
  const resources: Json[] = [];
  for (const k of kinds) {
    if (apiVersion(k) !== groupVersion) continue;
    resources.push({
      name: k.plural, singularName: k.kind.toLowerCase(), namespaced: k.namespaced, kind: k.kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    });
    if (k.hasStatus) resources.push({ name: `${k.plural}/status`, singularName: '', namespaced: k.namespaced, kind: k.kind, verbs: ['get', 'patch', 'update'] });
  }
  if (groupVersion === 'authentication.k8s.io/v1') {
    resources.push({ name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] });
  }
  if (resources.length === 0 && groupVersion !== 'v1') return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

export function apiVersion(kind: FakeKind): string {
  return kind.group === '' ? kind.version : `${kind.group}/${kind.version}`;
}
