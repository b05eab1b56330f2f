// Where the mesh root certificate is published, and what to change to get
// there, as data. Proxies verify the control plane with the root before they
// hold a certificate of their own; on Kubernetes they read it from the
// ConfigMap ambit-root-cert (key root-cert.pem), which pods can only mount
// from their own namespace. So it goes to the control plane's namespace (the
// ztunnels') and to every namespace that runs a waypoint. Only the
// certificate: the key stays in the Secret. Pure: the publisher applies it.
import { ROOT_CERT_FILE } from '@ambit/identity';
import { LABEL_MANAGED_BY, WAYPOINT_GATEWAY_CLASS, type ConfigMap, type Gateway } from '../resources.js';

export const ROOT_CERT_CONFIGMAP = 'ambit-root-cert';
/** The key the proxies' volume reads (deploy/ztunnel.yaml, the waypoint Deployments). */
export const ROOT_CERT_KEY = ROOT_CERT_FILE;
/** The value of ambit.dev/managed-by on the ConfigMaps the publisher owns; it touches no other. */
export const ROOT_CERT_MANAGER = 'root-cert-publisher';
export const ROOT_CERT_SELECTOR = `${LABEL_MANAGED_BY}=${ROOT_CERT_MANAGER}`;

export type RootCertAction =
  | { op: 'create'; namespace: string; object: ConfigMap }
  | { op: 'update'; namespace: string; patch: Record<string, unknown>; reason: string }
  | { op: 'delete'; namespace: string; resourceVersion: string | undefined; reason: string };

/** The control plane's own namespace, and each namespace with a waypoint Gateway that is not being deleted. */
export function rootCertNamespaces(own: string, gateways: readonly Gateway[]): Set<string> {
  const namespaces = new Set([own]);
  for (const gateway of gateways) {
    if (gateway.spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS && gateway.metadata.deletionTimestamp === undefined) namespaces.add(gateway.metadata.namespace ?? 'default');
  }
  return namespaces;
}

export function rootCertConfigMap(namespace: string, rootPem: string): ConfigMap {
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { [LABEL_MANAGED_BY]: ROOT_CERT_MANAGER, 'app.kubernetes.io/part-of': 'ambit' } },
    data: { [ROOT_CERT_KEY]: rootPem },
  };
}

/**
 * `managed`: the ConfigMaps labelled as the publisher's (others of the name
 * are never here, so never touched). Creates where one is missing, brings
 * an edited or outdated one back to exactly the root certificate, deletes
 * those in namespaces that no longer need one.
 */
export function planRootCerts(wanted: ReadonlySet<string>, managed: readonly ConfigMap[], rootPem: string): RootCertAction[] {
  const actions: RootCertAction[] = [];
  const present = new Map<string, ConfigMap>();
  for (const configMap of managed) {
    if (configMap.metadata.name !== ROOT_CERT_CONFIGMAP || configMap.metadata.labels?.[LABEL_MANAGED_BY] !== ROOT_CERT_MANAGER) continue;
    present.set(configMap.metadata.namespace ?? 'default', configMap);
  }
  for (const namespace of [...wanted].sort()) {
    const existing = present.get(namespace);
    if (existing === undefined) {
      actions.push({ op: 'create', namespace, object: rootCertConfigMap(namespace, rootPem) });
      continue;
    }
    const problem = drift(existing, rootPem);
    if (problem === undefined) continue;
    // An immutable ConfigMap cannot be patched: replace it (deleted now, created by the next round).
    if (existing.immutable === true) {
      actions.push({ op: 'delete', namespace, resourceVersion: existing.metadata.resourceVersion, reason: `${problem}, and it is immutable` });
    } else {
      actions.push({ op: 'update', namespace, patch: repairPatch(existing, rootPem), reason: problem });
    }
  }
  for (const [namespace, existing] of [...present].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (wanted.has(namespace)) continue;
    actions.push({
      op: 'delete', namespace, resourceVersion: existing.metadata.resourceVersion,
      reason: `namespace ${namespace} no longer holds a waypoint Gateway`,
    });
  }
  return actions;
}

/** What differs from exactly the root certificate, or undefined. */
function drift(configMap: ConfigMap, rootPem: string): string | undefined {
  const data = configMap.data ?? {};
  if (data[ROOT_CERT_KEY] === undefined) return `${ROOT_CERT_KEY} is missing`;
  if (data[ROOT_CERT_KEY] !== rootPem) return `${ROOT_CERT_KEY} is not the current root certificate`;
  const extra = [...Object.keys(data).filter((k) => k !== ROOT_CERT_KEY), ...Object.keys(configMap.binaryData ?? {})];
  if (extra.length > 0) return `it holds keys other than ${ROOT_CERT_KEY} (${extra.sort().join(', ')})`;
  return undefined;
}

/** A merge patch to exactly the root certificate, conditional on the version the plan saw. */
function repairPatch(configMap: ConfigMap, rootPem: string): Record<string, unknown> {
  const data: Record<string, string | null> = { [ROOT_CERT_KEY]: rootPem };
  for (const key of Object.keys(configMap.data ?? {})) if (key !== ROOT_CERT_KEY) data[key] = null;
  const version = configMap.metadata.resourceVersion;
  return {
    ...(version === undefined ? {} : { metadata: { resourceVersion: version } }),
    data,
    ...(configMap.binaryData === undefined ? {} : { binaryData: null }),
  };
}
