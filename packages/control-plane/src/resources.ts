// Kubernetes-shaped objects: the one vocabulary of both store backends, so
// one translation serves the embedded cluster and a real one. Only the
// fields Ambit reads are typed; everything else is preserved as-is.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  /** Absent for cluster-scoped kinds. */
  namespace?: string;
  uid?: string;
  /** Opaque; equality is the only meaningful comparison. */
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface KubeObject<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
  [extra: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

// --- core/v1 -----------------------------------------------------------------

export type Namespace = KubeObject<Record<string, unknown>, { phase?: string }>;

export type Node = KubeObject<{ podCIDR?: string; podCIDRs?: string[] }, { addresses?: { type: string; address: string }[] }>;

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface PodSpec {
  nodeName?: string;
  serviceAccountName?: string;
  hostNetwork?: boolean;
  containers?: Container[];
}

export interface PodStatus {
  phase?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
}

export type Pod = KubeObject<PodSpec, PodStatus>;

export interface ServiceSpecPort {
  name?: string;
  port: number;
  /** A number, or the name of a container port. */
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface ServiceSpec {
  selector?: Record<string, string>;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: ServiceSpecPort[];
  type?: string;
}

export type Service = KubeObject<ServiceSpec, { conditions?: Condition[] }>;

export type ServiceAccount = KubeObject;

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
  periodSeconds?: number;
  failureThreshold?: number;
  [other: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  [other: string]: unknown;
}

// --- apps/v1 -------------------------------------------------------------------

export interface DeploymentSpec {
  replicas?: number;
  selector: { matchLabels?: Record<string, string> };
  template: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: Omit<PodSpec, 'containers'> & { containers: Container[]; [other: string]: unknown };
  };
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  conditions?: Condition[];
}

export type Deployment = KubeObject<DeploymentSpec, DeploymentStatus>;

/** Secrets hold base64 data at the top level (no spec); the control plane keeps its root CA in one. */
export type Secret = KubeObject & { type?: string; data?: Record<string, string> };

/** ConfigMaps hold text at the top level (no spec); the control plane publishes the root certificate in them. */
export type ConfigMap = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string>; immutable?: boolean };

// --- gateway.networking.k8s.io/v1 ------------------------------------------

export interface GatewayClassSpec {
  controllerName: string;
  description?: string;
  parametersRef?: { group: string; kind: string; name: string; namespace?: string };
}

export type GatewayClass = KubeObject<GatewayClassSpec, { conditions?: Condition[] }>;

export interface GatewaySpec {
  gatewayClassName: string;
  listeners: { name: string; port: number; protocol: string }[];
  addresses?: { type?: string; value: string }[];
}

export interface GatewayStatus {
  addresses?: { type?: string; value: string }[];
  conditions?: Condition[];
}

export type Gateway = KubeObject<GatewaySpec, GatewayStatus>;

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  port?: number;
  sectionName?: string;
}

export interface HTTPHeaderMatch {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string };
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}

export interface HTTPHeaderFilter {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export interface HTTPPathModifier {
  type: string;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRequestRedirectFilter {
  scheme?: string;
  hostname?: string;
  path?: HTTPPathModifier;
  port?: number;
  statusCode?: number;
}

export interface HTTPURLRewriteFilter {
  hostname?: string;
  path?: HTTPPathModifier;
}

export interface HTTPRouteFilter {
  type: string;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestRedirect?: HTTPRequestRedirectFilter;
  urlRewrite?: HTTPURLRewriteFilter;
  [other: string]: unknown;
}

export interface HTTPBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteRule {
  /** Gateway API v1.2 (experimental): the rule's section name. */
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  /** Gateway API durations such as `500ms`, `1m30s`. */
  timeouts?: { request?: string; backendRequest?: string };
  /** Gateway API v1.2 (experimental). */
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
}

export interface HTTPRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: HTTPRouteRule[];
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export type HTTPRoute = KubeObject<HTTPRouteSpec, { parents?: RouteParentStatus[] }>;

// --- security.ambit.dev/v1 (Istio's AuthorizationPolicy shape) ----------------

export interface PolicyTargetRef {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface PolicySource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface PolicyOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface PolicyCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface PolicyRule {
  from?: { source: PolicySource }[];
  to?: { operation: PolicyOperation }[];
  when?: PolicyCondition[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRefs?: PolicyTargetRef[];
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  rules?: PolicyRule[];
}

export type AuthorizationPolicy = KubeObject<AuthorizationPolicySpec, { conditions?: Condition[] }>;

/**
 * Istio's PeerAuthentication, mTLS mode only: STRICT refuses plaintext to the
 * workloads it covers (root namespace: mesh-wide; a namespace; or a selector).
 */
export interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: 'STRICT' | 'PERMISSIVE' | 'UNSET' };
}

export type PeerAuthentication = KubeObject<PeerAuthenticationSpec, { conditions?: Condition[] }>;

// --- the kinds the store knows ---------------------------------------------------

export interface ResourceType {
  kind: string;
  apiVersion: string;
  /** The API group ('' for core). */
  group: string;
  version: string;
  /** Lowercase plural used in API paths. */
  plural: string;
  namespaced: boolean;
  /** Whether writes to `status` go through the status subresource. */
  hasStatus: boolean;
}

export const RESOURCE_TYPES = {
  Namespace: { kind: 'Namespace', apiVersion: 'v1', group: '', version: 'v1', plural: 'namespaces', namespaced: false, hasStatus: true },
  Node: { kind: 'Node', apiVersion: 'v1', group: '', version: 'v1', plural: 'nodes', namespaced: false, hasStatus: true },
  Pod: { kind: 'Pod', apiVersion: 'v1', group: '', version: 'v1', plural: 'pods', namespaced: true, hasStatus: true },
  Service: { kind: 'Service', apiVersion: 'v1', group: '', version: 'v1', plural: 'services', namespaced: true, hasStatus: true },
  ServiceAccount: { kind: 'ServiceAccount', apiVersion: 'v1', group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true, hasStatus: false },
  Secret: { kind: 'Secret', apiVersion: 'v1', group: '', version: 'v1', plural: 'secrets', namespaced: true, hasStatus: false },
  ConfigMap: { kind: 'ConfigMap', apiVersion: 'v1', group: '', version: 'v1', plural: 'configmaps', namespaced: true, hasStatus: false },
  Deployment: { kind: 'Deployment', apiVersion: 'apps/v1', group: 'apps', version: 'v1', plural: 'deployments', namespaced: true, hasStatus: true },
  GatewayClass: {
    kind: 'GatewayClass', apiVersion: 'gateway.networking.k8s.io/v1', group: 'gateway.networking.k8s.io', version: 'v1',
    plural: 'gatewayclasses', namespaced: false, hasStatus: true,
  },
  Gateway: {
    kind: 'Gateway', apiVersion: 'gateway.networking.k8s.io/v1', group: 'gateway.networking.k8s.io', version: 'v1',
    plural: 'gateways', namespaced: true, hasStatus: true,
  },
  HTTPRoute: {
    kind: 'HTTPRoute', apiVersion: 'gateway.networking.k8s.io/v1', group: 'gateway.networking.k8s.io', version: 'v1',
    plural: 'httproutes', namespaced: true, hasStatus: true,
  },
  AuthorizationPolicy: {
    kind: 'AuthorizationPolicy', apiVersion: 'security.ambit.dev/v1', group: 'security.ambit.dev', version: 'v1',
    plural: 'authorizationpolicies', namespaced: true, hasStatus: true,
  },
  PeerAuthentication: {
    kind: 'PeerAuthentication', apiVersion: 'security.ambit.dev/v1', group: 'security.ambit.dev', version: 'v1',
    plural: 'peerauthentications', namespaced: true, hasStatus: true,
  },
} as const satisfies Record<string, ResourceType>;

export type Kind = keyof typeof RESOURCE_TYPES;

export const KINDS = Object.keys(RESOURCE_TYPES) as Kind[];

export function isKind(value: string): value is Kind {
  return value in RESOURCE_TYPES;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(object: Pick<KubeObject, 'metadata'>): string {
  const { namespace, name } = object.metadata;
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`;
}

// Labels and annotations Ambit reads.
export const LABEL_DATAPLANE_MODE = 'ambit.dev/dataplane-mode';
export const LABEL_USE_WAYPOINT = 'ambit.dev/use-waypoint';
export const LABEL_WAYPOINT_FOR = 'ambit.dev/waypoint-for';
/** On every object a writer of the control plane creates (value: which writer); each touches only its own. */
export const LABEL_MANAGED_BY = 'ambit.dev/managed-by';
export const WAYPOINT_GATEWAY_CLASS = 'ambit-waypoint';
export const WAYPOINT_PORT = 15008;
