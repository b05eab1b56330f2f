// `ambit check --pre --context kube`: can Ambit be installed on this
// cluster? The API server answers, its version is supported, the Gateway API
// (v1) is served, and the caller may create what an install creates
// (SelfSubjectAccessReview per resource, as `kubectl auth can-i` does).
import type { KubernetesStore } from '@ambit/control-plane/kubernetes';
import type { CheckResult, Verdict } from './check.js';

// 1.30: pod-bound projected tokens carry the node-name claim a ztunnel proves its node with (deploy/README.md).
export const MIN_KUBERNETES_MINOR = 30;
export const GATEWAY_API_INSTALL = 'kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml';
export const INSTALL_NAMESPACE = 'ambit-system';

/** What an install creates: group, resource, and whether it lives in ambit-system. */
export const INSTALL_PERMISSIONS: readonly { group: string; resource: string; namespaced: boolean }[] = [
  { group: '', resource: 'namespaces', namespaced: false },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', namespaced: false },
  { group: 'gateway.networking.k8s.io', resource: 'gatewayclasses', namespaced: false },
  { group: 'apps', resource: 'deployments', namespaced: true },
  { group: 'apps', resource: 'daemonsets', namespaced: true },
  { group: '', resource: 'services', namespaced: true },
  { group: '', resource: 'serviceaccounts', namespaced: true },
  { group: 'policy', resource: 'poddisruptionbudgets', namespaced: true },
];

interface Version { major?: string; minor?: string; gitVersion?: string }
interface ApiResourceList { resources?: { name: string }[] }
interface AccessReview { status?: { allowed?: boolean; reason?: string } }

export async function checkPreCluster(store: KubernetesStore): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const group = 'Kubernetes cluster';
  const add = (verdict: Verdict, title: string, detail?: string, hint?: string): void => {
    results.push({ group, verdict, title, ...(detail === undefined ? {} : { detail }), ...(hint === undefined ? {} : { hint }) });
  };

  let version: Version;
  try {
    const answer = await store.raw('GET', '/version', 'read the server version');
    if (answer.status !== 200) {
      add('fail', 'the API server is reachable', `GET /version answered ${answer.status}: ${messageOf(answer.body)}`, 'check the kubeconfig\'s credentials (kubectl version)');
      return results;
    }
    version = answer.body as Version;
    add('ok', `the API server at ${store.serverUrl} answers (${version.gitVersion ?? `${version.major ?? '?'}.${version.minor ?? '?'}`})`);
  } catch (error) {
    add('fail', 'the API server is reachable', (error as Error).message, 'check --kubeconfig (or $KUBECONFIG) and that the cluster is running: kubectl cluster-info');
    return results;
  }

  const major = Number(version.major);
  const minor = Number.parseInt(version.minor ?? '', 10);
  if (major === 1 && minor >= MIN_KUBERNETES_MINOR) add('ok', `Kubernetes 1.${minor} is supported (1.${MIN_KUBERNETES_MINOR} or later)`);
  else if (!Number.isFinite(major) || !Number.isFinite(minor)) add('warn', 'the Kubernetes version is supported', `the server reports an unreadable version ${JSON.stringify(version)}`, `Ambit needs Kubernetes 1.${MIN_KUBERNETES_MINOR} or later`);
  else add('fail', 'the Kubernetes version is supported', `the server runs ${major}.${minor}`, `upgrade the cluster to 1.${MIN_KUBERNETES_MINOR} or later`);

  const gatewayApi = await store.raw('GET', '/apis/gateway.networking.k8s.io/v1', 'discover the Gateway API');
  const served = new Set(((gatewayApi.body ?? {}) as ApiResourceList).resources?.map((r) => r.name) ?? []);
  const missing = ['gatewayclasses', 'gateways', 'httproutes'].filter((r) => !served.has(r));
  if (gatewayApi.status === 200 && missing.length === 0) add('ok', 'the Gateway API (v1) CRDs are installed');
  else {
    add('fail', 'the Gateway API (v1) CRDs are installed', gatewayApi.status === 404 ? 'gateway.networking.k8s.io/v1 is not served' : `missing: ${missing.join(', ')}`,
      `install them: ${GATEWAY_API_INSTALL}`);
  }

  const denied: string[] = [];
  for (const permission of INSTALL_PERMISSIONS) {
    const review = await store.raw('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', `check permission to create ${permission.resource}`, {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'create', group: permission.group, resource: permission.resource, ...(permission.namespaced ? { namespace: INSTALL_NAMESPACE } : {}) } },
    });
    const allowed = review.status === 201 || review.status === 200 ? (review.body as AccessReview).status?.allowed === true : false;
    if (!allowed) denied.push(`${permission.resource}${permission.group === '' ? '' : `.${permission.group}`}${permission.namespaced ? ` in ${INSTALL_NAMESPACE}` : ''}`);
  }
  if (denied.length === 0) add('ok', 'you may create everything an install creates');
  else add('fail', 'you may create everything an install creates', `not allowed to create ${denied.join(', ')}`, 'install as a cluster admin (kubectl auth can-i create ... shows the same)');
  return results;
}

function messageOf(body: unknown): string {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : JSON.stringify(body);
}
