// deploy/ as a cluster (kubectl apply -k) and `ambit install` read it: every
// file the kustomization lists and only those; every object valid against
// the Kubernetes schema of its kind, with no field its kind does not define;
// the CRD schemas accepting and refusing exactly what the control plane's own
// parser does; every flag a real setting of the binary it is passed to; and
// the least-privilege promises the files make, kept. The same for the
// objects the control plane renders for a waypoint Gateway with the values
// deploy/control-plane.yaml passes: valid, wired to the pod, runnable under
// Pod Security `restricted`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Ajv, type AnySchema } from 'ajv';
import * as k8s from '@kubernetes/client-node';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
// Gateway API v1.0.0 schemas; the 0.5.x line is the last for Node < 22.
import { GatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { daemonSettings, isAmbitError } from '@ambit/core';
import {
  CONFIG_KEYS, CONTROL_PLANE_SERVICE_ACCOUNT, OWNED_CONDITIONS, RESOURCE_TYPES, ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, ROOT_SECRET, ROUTE_CONTROLLER_NAME, WATCHED_KINDS,
  WAYPOINT_GATEWAY_CLASS, ZTUNNEL_SERVICE_ACCOUNT, parseConfig, validateResource, waypointObjects, type Gateway, type Kind,
} from '@ambit/control-plane';
import { DEFAULT_TOKEN_AUDIENCE } from '@ambit/control-plane/kubernetes';
import { CONFIG_KEYS as ZTUNNEL_CONFIG_KEYS, parseZtunnelConfig } from '@ambit/ztunnel';
import { CONFIG_KEYS as WAYPOINT_CONFIG_KEYS, ENV_PREFIX as WAYPOINT_ENV_PREFIX, parseWaypointConfig } from '@ambit/waypoint';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const NAMESPACE = 'ambit-system';
/** The leader-election Lease (LEASE_NAME in packages/control-plane/src/leader-election/elector.ts). */
const LEASE_NAME = 'ambit-control-plane';
/** Downward-API values for the containers' env, as the kubelet would fill them in. */
const POD_FIELDS = { 'metadata.name': 'ambit-control-plane-5d9c7-x2x7q', 'metadata.namespace': NAMESPACE, 'spec.nodeName': 'node-a.example' };

// --- the parts of objects this test reads (each is schema-checked first) ---------------

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: unknown;
}

interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
}

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface Volume {
  name: string;
  emptyDir?: unknown;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: unknown;
  hostPath?: unknown;
  projected?: { sources: { serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }[] };
}

interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  terminationGracePeriodSeconds?: number;
  tolerations?: { operator?: string; key?: string }[];
  securityContext?: SecurityContext;
  containers: Container[];
  volumes?: Volume[];
}

interface Workload extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: Meta; spec: PodSpec } };
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

interface Binding extends K8sObject {
  roleRef: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

interface Crd extends K8sObject {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: unknown };
      additionalPrinterColumns?: { name: string; jsonPath: string }[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

interface JsonSchema {
  [keyword: string]: unknown;
}

// --- loading --------------------------------------------------------------------------

interface Loaded {
  file: string;
  objects: K8sObject[];
}

const kustomization = parseYaml(readFileSync(`${DEPLOY}kustomization.yaml`, 'utf8')) as { kind: string; resources: string[] };
const files: Loaded[] = kustomization.resources.map((file) => ({ file, objects: readObjects(file) }));
const objects = files.flatMap((f) => f.objects);

function readObjects(file: string): K8sObject[] {
  const documents = parseAllDocuments(readFileSync(`${DEPLOY}${file}`, 'utf8'), { uniqueKeys: true });
  assert.ok(Array.isArray(documents), `${file}: no documents`);
  return documents.map((document, i) => {
    assert.deepEqual(document.errors.map((e) => e.message), [], `${file}: document ${i + 1} is not valid YAML`);
    const value = document.toJS({ maxAliasCount: 0 }) as K8sObject | null;
    assert.ok(value !== null && typeof value === 'object', `${file}: document ${i + 1} is empty`);
    return value;
  });
}

function only<T extends K8sObject = K8sObject>(kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name} in deploy/`);
  return found[0] as T;
}

function container(workload: Workload, name: string): Container {
  const found = workload.spec.template.spec.containers.find((c) => c.name === name);
  assert.ok(found, `${workload.kind} ${workload.metadata.name} has a container ${name}`);
  return found;
}

const controlPlane = only<Workload>('Deployment', 'ambit-control-plane');
const controlPlaneContainer = container(controlPlane, 'control-plane');
const ztunnel = only<Workload>('DaemonSet', 'ambit-ztunnel');
const ztunnelContainer = container(ztunnel, 'ztunnel');
const controlPlaneService = only<K8sObject & { spec: { ports: { port: number; targetPort: number }[] } }>('Service', 'ambit-control-plane');

/** The flags as the bins read them (core's runDaemon: node:util parseArgs, strict), `$(VAR)` expanded as the kubelet does. */
function flags(c: Container, keys: readonly string[], fieldValues: Record<string, string>): Record<string, string> {
  const env = new Map<string, string>();
  for (const variable of c.env ?? []) {
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    const value = variable.value ?? (fieldPath === undefined ? undefined : fieldValues[fieldPath]);
    assert.ok(value !== undefined, `env ${variable.name}: this test has no sample for its source; add one`);
    env.set(variable.name, value);
  }
  const args = (c.args ?? []).map((arg) => arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_whole, name: string) => {
    const value = env.get(name);
    assert.ok(value !== undefined, `${arg}: $(${name}) is not a variable of the container, so the kubelet would pass it literally`);
    return value;
  }));
  const { values } = parseArgs({ args, options: Object.fromEntries(keys.map((k) => [k, { type: 'string' as const }])), strict: true });
  return values as Record<string, string>;
}

function seconds(durationMs: number): number {
  return durationMs / 1000;
}

// --- files ------------------------------------------------------------------------------

describe('deploy/: files', () => {
  it('lists every YAML file of deploy/ in kustomization.yaml, once, and every listed file exists', () => {
    assert.equal(kustomization.kind, 'Kustomization');
    const yamlFiles = readdirSync(DEPLOY).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    assert.deepEqual([...kustomization.resources].sort(), yamlFiles);
    assert.equal(new Set(kustomization.resources).size, kustomization.resources.length, 'a file is listed twice');
  });

  it('holds only non-empty documents that parse, each a typed object', () => {
    assert.ok(objects.length > 0);
    for (const { file, objects: list } of files) {
      assert.ok(list.length > 0, `${file} holds no object`);
      for (const object of list) {
        assert.ok(typeof object.apiVersion === 'string' && typeof object.kind === 'string', `${file}: an object without apiVersion or kind`);
        assert.ok(typeof object.metadata?.name === 'string', `${file}: a ${object.kind} without a name`);
      }
    }
  });

  it('orders the files so that each needs only what an earlier one created (server-side apply in order)', () => {
    const firstIndex = (kind: string): number => files.findIndex((f) => f.objects.some((o) => o.kind === kind));
    const order = ['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'GatewayClass', 'Deployment', 'DaemonSet'].map(firstIndex);
    assert.ok(order.every((index) => index >= 0), `every kind is there: ${order.join(', ')}`);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), 'namespace, CRDs, RBAC, GatewayClass, control plane, ztunnel');
    assert.equal(files[0]?.objects[0]?.kind, 'Namespace');
    // Within a file: a pod's service account before the workload that runs as it.
    for (const { file, objects: list } of files) {
      list.forEach((object, i) => {
        const account = (object as Partial<Workload>).spec?.template?.spec.serviceAccountName;
        if (account === undefined) return;
        const at = list.findIndex((o) => o.kind === 'ServiceAccount' && o.metadata.name === account);
        assert.ok(at >= 0 && at < i, `${file}: ServiceAccount ${account} comes before ${object.kind} ${object.metadata.name}`);
      });
    }
  });

  it('puts every namespaced object in ambit-system explicitly, and names each object once', () => {
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'GatewayClass']);
    const seen = new Set<string>();
    for (const object of objects) {
      if (clusterScoped.has(object.kind)) assert.equal(object.metadata.namespace, undefined, `${object.kind} ${object.metadata.name} is cluster-scoped`);
      else assert.equal(object.metadata.namespace, NAMESPACE, `${object.kind} ${object.metadata.name}`);
      const key = `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
      assert.ok(!seen.has(key), `${key} is defined twice`);
      seen.add(key);
    }
  });
});

// --- Kubernetes schemas -----------------------------------------------------------------

type Model = (data: unknown) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1 Namespace': (d) => new Namespace(d as ConstructorParameters<typeof Namespace>[0]),
  'v1 ServiceAccount': (d) => new ServiceAccount(d as ConstructorParameters<typeof ServiceAccount>[0]),
  'v1 Service': (d) => new Service(d as ConstructorParameters<typeof Service>[0]),
  'apps/v1 Deployment': (d) => new Deployment(d as ConstructorParameters<typeof Deployment>[0]),
  'apps/v1 DaemonSet': (d) => new DaemonSet(d as ConstructorParameters<typeof DaemonSet>[0]),
  'policy/v1 PodDisruptionBudget': (d) => new PodDisruptionBudget(d as ConstructorParameters<typeof PodDisruptionBudget>[0]),
  'rbac.authorization.k8s.io/v1 ClusterRole': (d) => new ClusterRole(d as ConstructorParameters<typeof ClusterRole>[0]),
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': (d) => new ClusterRoleBinding(d as ConstructorParameters<typeof ClusterRoleBinding>[0]),
  'rbac.authorization.k8s.io/v1 Role': (d) => new Role(d as ConstructorParameters<typeof Role>[0]),
  'rbac.authorization.k8s.io/v1 RoleBinding': (d) => new RoleBinding(d as ConstructorParameters<typeof RoleBinding>[0]),
  'apiextensions.k8s.io/v1 CustomResourceDefinition': (d) => new CustomResourceDefinition(d as ConstructorParameters<typeof CustomResourceDefinition>[0]),
  'gateway.networking.k8s.io/v1 GatewayClass': (d) => new GatewayClass(d as ConstructorParameters<typeof GatewayClass>[0]),
};

/** Field names per client-node model (OpenAPI of Kubernetes 1.33); GatewayClass is not among them and is checked by hand. */
const MODEL_TYPES = k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] } | undefined>;
const GATEWAY_CLASS_FIELDS: Record<string, readonly string[]> = {
  '': ['apiVersion', 'kind', 'metadata', 'spec'],
  spec: ['controllerName', 'description', 'parametersRef'],
};

/** Paths of fields that the type does not define (the API server's strict field validation refuses them; kubectl uses it). */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    if (Array.isArray(value)) value.forEach((item, i) => unknownFields(item, array[1] as string, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) unknownFields(item, map[1] as string, `${path}.${key}`, out);
    return;
  }
  const model = MODEL_TYPES[type];
  if (model?.getAttributeTypeMap === undefined) return; // string, number, boolean, Date, any, IntOrString
  const attributes = model.getAttributeTypeMap();
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (attribute === undefined) out.push(`${path}.${key}`);
    // JSONSchemaProps.items is typed `any` (a schema or a list of them); here it is always one schema.
    else if (type === 'V1JSONSchemaProps' && key === 'items') unknownFields(item, 'V1JSONSchemaProps', `${path}.items`, out);
    else unknownFields(item, attribute.type, `${path}.${key}`, out);
  }
}

describe('deploy/: Kubernetes schemas', () => {
  it('validates every object against the OpenAPI schema of its kind (kubernetes-models)', () => {
    for (const object of objects) {
      const model = MODELS[`${object.apiVersion} ${object.kind}`];
      assert.ok(model, `${object.apiVersion} ${object.kind}: no schema in this test; add its kubernetes-models class to MODELS`);
      assert.doesNotThrow(() => model(structuredClone(object)).validate(), `${object.kind} ${object.metadata.name}`);
    }
  });

  it('refuses a broken object (the validation is real)', () => {
    const broken = structuredClone(controlPlane);
    (broken.spec as { replicas: unknown }).replicas = 'two';
    assert.throws(() => MODELS['apps/v1 Deployment']?.(broken).validate(), /replicas/);
  });

  it('uses no field that its kind does not define (a typo would be refused by kubectl, or silently dropped)', () => {
    for (const object of objects) {
      const out: string[] = [];
      if (object.kind === 'GatewayClass') {
        for (const [where, allowed] of Object.entries(GATEWAY_CLASS_FIELDS)) {
          const value = (where === '' ? object : object[where]) as Record<string, unknown>;
          out.push(...Object.keys(value).filter((k) => !allowed.includes(k)).map((k) => `${where}.${k}`));
        }
      } else {
        const type = `V1${object.kind}`;
        assert.ok(MODEL_TYPES[type]?.getAttributeTypeMap, `no client-node model ${type}`);
        unknownFields(object, type, '', out);
      }
      assert.deepEqual(out, [], `${object.kind} ${object.metadata.name}: unknown fields`);
    }
    const typo: string[] = [];
    const broken = structuredClone(controlPlane) as unknown as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    (broken.spec.template.spec.containers[0] as Record<string, unknown>).readinesProbe = {};
    unknownFields(broken, 'V1Deployment', '', typo);
    assert.deepEqual(typo, ['.spec.template.spec.containers[0].readinesProbe']);
  });
});

// --- the CRDs and the control plane's parser ---------------------------------------------

/**
 * The CEL rules the CRDs use, as the API server would evaluate them on the
 * object at the rule's place. A rule missing here fails the test: add its
 * JavaScript equivalent with the rule.
 */
const CEL_RULES: Record<string, (self: Record<string, unknown>) => boolean> = {
  '!has(self.selector) || !has(self.targetRefs)': (self) => !('selector' in self) || !('targetRefs' in self),
};

function crdValidator(crd: Crd): (object: unknown) => string | undefined {
  const ajv = new Ajv({ allErrors: false, strict: true });
  // Kubernetes' OpenAPI extensions: annotations for the API server, no effect on a value's validity here...
  ajv.addVocabulary([
    'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys', 'x-kubernetes-map-type',
  ]);
  // ...except the CEL rules.
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    schemaType: 'array',
    compile: (rules: { rule: string; message?: string }[]) => {
      const checks = rules.map(({ rule }) => {
        const check = CEL_RULES[rule];
        assert.ok(check, `CEL rule ${JSON.stringify(rule)} has no JavaScript equivalent in CEL_RULES`);
        return check;
      });
      return (data: unknown) => typeof data !== 'object' || data === null || checks.every((check) => check(data as Record<string, unknown>));
    },
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
  const version = crd.spec.versions.find((v) => v.storage);
  assert.ok(version);
  const validate = ajv.compile(version.schema.openAPIV3Schema as AnySchema);
  return (object) => {
    if (validate(structuredClone(object))) return undefined;
    const error = validate.errors?.[0];
    return `${error?.instancePath ?? ''} ${error?.message ?? 'invalid'}`;
  };
}

function parserProblem(object: unknown): string | undefined {
  try {
    validateResource(structuredClone(object));
    return undefined;
  } catch (error) {
    assert.ok(isAmbitError(error, 'invalid-resource'), String(error));
    return error.message;
  }
}

const policy = (spec: unknown, extra: Record<string, unknown> = {}): K8sObject => ({
  apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'demo' }, spec, ...extra,
});
const peerAuthentication = (spec: unknown): K8sObject => ({
  apiVersion: 'security.ambit.dev/v1', kind: 'PeerAuthentication', metadata: { name: 'p', namespace: 'demo' }, spec,
});
const condition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'in effect', lastTransitionTime: '2026-01-02T03:04:05.000Z', observedGeneration: 3 };

const GOOD_POLICIES: Record<string, K8sObject> = {
  'L4 allow with from, to and when': policy({
    selector: { matchLabels: { app: 'echo', 'app.kubernetes.io/version': 'v1', empty: '' } },
    action: 'ALLOW',
    rules: [{
      from: [{ source: { principals: ['cluster.local/ns/demo/sa/frontend'], notNamespaces: ['other'], ipBlocks: ['10.0.0.0/8'] } }],
      to: [{ operation: { ports: ['80'], notPorts: ['8080'] } }],
      when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }, { key: 'destination.port', notValues: ['9090'] }],
    }],
  }),
  'waypoint policy with L7 fields': policy({
    targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }, { kind: 'Service', name: 'echo', namespace: 'demo' }],
    action: 'DENY',
    rules: [{ to: [{ operation: { methods: ['DELETE'], paths: ['/admin/*'], hosts: ['echo.demo'] } }], when: [{ key: 'request.headers[x-user]', values: ['guest'] }] }],
  }),
  'allow nothing (no rules)': policy({}),
  'no spec at all': policy(undefined),
  'an empty selector and empty rule lists': policy({ selector: {}, rules: [{}, { from: [], to: [], when: [] }] }),
  // Accepted by both; the control plane then reports Accepted=False, UnsupportedValue.
  'AUDIT action': policy({ action: 'AUDIT' }),
  'CUSTOM action with every source and operation field': policy({
    action: 'CUSTOM',
    rules: [{
      from: [{ source: {
        principals: [], notPrincipals: [], requestPrincipals: ['*'], notRequestPrincipals: [], namespaces: [], notNamespaces: [],
        ipBlocks: [], notIpBlocks: [], remoteIpBlocks: ['1.2.3.4'], notRemoteIpBlocks: [],
      } }],
      to: [{ operation: { hosts: [], notHosts: [], ports: ['not-a-port'], notPorts: [], methods: [], notMethods: [], paths: [], notPaths: [] } }],
    }],
  }),
  'status as the status writer writes it': policy({ action: 'DENY' }, { status: { conditions: [condition, { type: 'Other', status: 'Unknown' }] } }),
};

const BAD_POLICIES: Record<string, K8sObject> = {
  'lower-case action': policy({ action: 'allow' }),
  'empty action': policy({ action: '' }),
  'selector and targetRefs together': policy({ selector: { matchLabels: { app: 'echo' } }, targetRefs: [{ kind: 'Gateway', name: 'waypoint' }] }),
  'selector and an empty targetRefs together': policy({ selector: {}, targetRefs: [] }),
  'a targetRef without kind': policy({ targetRefs: [{ name: 'waypoint' }] }),
  'a targetRef with an empty kind': policy({ targetRefs: [{ kind: '', name: 'waypoint' }] }),
  'a targetRef with an empty name': policy({ targetRefs: [{ kind: 'Gateway', name: '' }] }),
  'a targetRef name that is a number': policy({ targetRefs: [{ kind: 'Gateway', name: 7 }] }),
  'targetRefs not a list': policy({ targetRefs: { kind: 'Gateway', name: 'waypoint' } }),
  'a from entry without source': policy({ rules: [{ from: [{}] }] }),
  'a to entry without operation': policy({ rules: [{ to: [{ operations: {} }] }] }),
  'a when entry without key': policy({ rules: [{ when: [{ values: ['x'] }] }] }),
  'a when entry with an empty key': policy({ rules: [{ when: [{ key: '', values: ['x'] }] }] }),
  'principals as a string': policy({ rules: [{ from: [{ source: { principals: 'cluster.local/ns/demo/sa/a' } }] }] }),
  'a port as a number': policy({ rules: [{ to: [{ operation: { ports: [80] } }] }] }),
  'rules not a list': policy({ rules: { from: [] } }),
  'spec not an object': policy('allow'),
  'a label value with a leading dash': policy({ selector: { matchLabels: { app: '-echo' } } }),
  'a label value of 64 characters': policy({ selector: { matchLabels: { app: 'a'.repeat(64) } } }),
  'a label value that is a number': policy({ selector: { matchLabels: { version: 2 } } }),
  'a condition status that is not True, False or Unknown': policy({}, { status: { conditions: [{ ...condition, status: 'Maybe' }] } }),
  'a condition without type': policy({}, { status: { conditions: [{ status: 'True' }] } }),
  'an observedGeneration that is not a whole number': policy({}, { status: { conditions: [{ ...condition, observedGeneration: 1.5 }] } }),
};

const GOOD_PEER_AUTHENTICATIONS: Record<string, K8sObject> = {
  'namespace STRICT': peerAuthentication({ mtls: { mode: 'STRICT' } }),
  'selector PERMISSIVE': peerAuthentication({ selector: { matchLabels: { app: 'legacy' } }, mtls: { mode: 'PERMISSIVE' } }),
  'UNSET': peerAuthentication({ mtls: { mode: 'UNSET' } }),
  'empty': peerAuthentication({}),
};

const BAD_PEER_AUTHENTICATIONS: Record<string, K8sObject> = {
  'lower-case mode': peerAuthentication({ mtls: { mode: 'strict' } }),
  'DISABLE (not supported)': peerAuthentication({ mtls: { mode: 'DISABLE' } }),
  'mtls not an object': peerAuthentication({ mtls: 'STRICT' }),
  'a bad label value': peerAuthentication({ selector: { matchLabels: { app: 'a b' } } }),
};

describe('deploy/: the CRDs and the control plane parser', () => {
  const crds = objects.filter((o): o is Crd => o.kind === 'CustomResourceDefinition');
  const crdOf = (kind: Kind): Crd => {
    const crd = crds.find((c) => c.spec.names.kind === kind);
    assert.ok(crd, `no CRD for ${kind}`);
    return crd;
  };

  it('defines every security.ambit.dev kind the control plane knows, as it names and serves it', () => {
    const ours = Object.values(RESOURCE_TYPES).filter((t) => t.group === 'security.ambit.dev');
    assert.deepEqual(crds.map((c) => c.spec.names.kind).sort(), ours.map((t) => t.kind).sort());
    for (const type of ours) {
      const crd = crdOf(type.kind);
      assert.equal(crd.metadata.name, `${type.plural}.${type.group}`);
      assert.equal(crd.spec.group, type.group);
      assert.equal(crd.spec.names.plural, type.plural);
      assert.equal(crd.spec.scope, type.namespaced ? 'Namespaced' : 'Cluster');
      assert.deepEqual(crd.spec.versions.map((v) => [v.name, v.served, v.storage]), [[type.version, true, true]]);
      assert.equal(crd.spec.versions[0]?.subresources?.status !== undefined, type.hasStatus, `${type.kind}: status subresource`);
    }
    // Everything the control plane watches is built in, Gateway API (the prerequisite), or defined here:
    // a missing CRD would keep its informer from listing, and the control plane from ever being ready.
    for (const kind of WATCHED_KINDS) {
      const { group } = RESOURCE_TYPES[kind];
      assert.ok(group === '' || group === 'gateway.networking.k8s.io' || crds.some((c) => c.spec.names.kind === kind), `${kind} (${group}) has no CRD in deploy/`);
    }
  });

  it('shows Action, Accepted and Age for AuthorizationPolicies, Mode for PeerAuthentications', () => {
    const columns = (kind: Kind): Record<string, string> =>
      Object.fromEntries((crdOf(kind).spec.versions[0]?.additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath]));
    assert.deepEqual(columns('AuthorizationPolicy'), {
      Action: '.spec.action', Accepted: '.status.conditions[?(@.type=="Accepted")].status',
      Reason: '.status.conditions[?(@.type=="Accepted")].reason', Age: '.metadata.creationTimestamp',
    });
    assert.equal(columns('PeerAuthentication').Mode, '.spec.mtls.mode');
  });

  for (const [kind, good, bad] of [
    ['AuthorizationPolicy', GOOD_POLICIES, BAD_POLICIES],
    ['PeerAuthentication', GOOD_PEER_AUTHENTICATIONS, BAD_PEER_AUTHENTICATIONS],
  ] as const) {
    it(`${kind}: the CRD schema and the parser accept the same good objects`, () => {
      const crd = crdValidator(crdOf(kind));
      for (const [name, object] of Object.entries(good)) {
        assert.equal(crd(object), undefined, `${name}: the CRD schema refuses it`);
        assert.equal(parserProblem(object), undefined, `${name}: the control plane refuses it`);
      }
    });

    it(`${kind}: the CRD schema and the parser refuse the same bad objects`, () => {
      const crd = crdValidator(crdOf(kind));
      for (const [name, object] of Object.entries(bad)) {
        assert.notEqual(crd(object), undefined, `${name}: the CRD schema accepts it`);
        assert.notEqual(parserProblem(object), undefined, `${name}: the control plane accepts it`);
      }
    });
  }

  it('differs from the parser only where the API server cannot check: label-key syntax in matchLabels', () => {
    // A CEL rule over an unbounded map's keys exceeds the API server's cost
    // budget (the CRD would be refused), and map keys take no pattern.
    const object = policy({ selector: { matchLabels: { 'Bad/x': 'y' } } });
    assert.equal(crdValidator(crdOf('AuthorizationPolicy'))(object), undefined);
    assert.match(parserProblem(object) ?? '', /invalid label: prefix "Bad"/);
  });
});

// --- flags --------------------------------------------------------------------------------

describe('deploy/: every flag is a real setting', () => {
  it('runs the control plane with settings its config parser accepts, on the kubernetes backend, listening where the Service and probes look', () => {
    assert.deepEqual(controlPlaneContainer.command, ['ambit-control-plane']);
    const values = flags(controlPlaneContainer, CONFIG_KEYS, POD_FIELDS);
    const config = parseConfig(values, 'deploy/control-plane.yaml');
    assert.equal(config.backend, 'kubernetes');
    assert.equal(config.kubeconfig, undefined, 'in-cluster credentials');
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 15012 });
    assert.deepEqual(config.metrics, { host: '0.0.0.0', port: 15020 });
    assert.deepEqual(config.readiness, { host: '0.0.0.0', port: 15021 });
    assert.ok(!(controlPlaneContainer.args ?? []).some((arg) => /leader/i.test(arg)), 'leader election is the control plane\'s own default');
    assert.equal(controlPlane.spec.replicas, 2);
    assert.deepEqual(controlPlaneService.spec.ports.map((p) => [p.port, p.targetPort]), [[config.listen.port, config.listen.port], [config.metrics.port, config.metrics.port]]);
    assert.equal(controlPlaneContainer.readinessProbe?.httpGet?.path, '/healthz/ready');
    assert.equal(controlPlaneContainer.readinessProbe?.httpGet?.port, config.readiness.port);
    assert.equal(controlPlaneContainer.livenessProbe?.tcpSocket?.port ?? controlPlaneContainer.livenessProbe?.httpGet?.port, config.readiness.port);
    assert.equal(controlPlane.spec.template.metadata.annotations?.['prometheus.io/port'], String(config.metrics.port));
    assert.equal(controlPlane.spec.template.metadata.annotations?.['prometheus.io/scrape'], 'true');
    const declared = (controlPlaneContainer.ports ?? []).map((p) => p.containerPort);
    assert.deepEqual(declared, [config.listen.port, config.metrics.port, config.readiness.port]);
    assert.ok((controlPlane.spec.template.spec.terminationGracePeriodSeconds ?? 30) > seconds(config.drainDeadlineMs), 'the grace period outlasts the drain');
  });

  it('runs the ztunnel with settings parseZtunnelConfig accepts: its node, nftables capture, the projected token, the CA root', () => {
    assert.deepEqual(ztunnelContainer.command, ['ambit-ztunnel']);
    const values = flags(ztunnelContainer, ZTUNNEL_CONFIG_KEYS, POD_FIELDS);
    const config = parseZtunnelConfig(values, 'deploy/ztunnel.yaml');
    assert.equal(config.node, 'node-a.example', 'the node comes from the downward API');
    assert.equal(config.capture, 'nftables');
    assert.equal(config.socks5, undefined);
    assert.deepEqual(config.controlPlane, {
      host: `${controlPlaneService.metadata.name}.${NAMESPACE}.svc`, port: controlPlaneService.spec.ports[0]?.port,
    });
    assert.equal(config.trustDomain, parseConfig(flags(controlPlaneContainer, CONFIG_KEYS, POD_FIELDS)).trustDomain);

    const spec = ztunnel.spec.template.spec;
    const mountOf = (file: string): { volume: Volume; subPath: string } => {
      const mount = (ztunnelContainer.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${file} is on no volume`);
      const volume = spec.volumes?.find((v) => v.name === mount.name);
      assert.ok(volume, `volume ${mount.name}`);
      return { volume, subPath: file.slice(mount.mountPath.length + 1) };
    };
    const token = mountOf(config.bootstrapTokenFile);
    const projected = token.volume.projected?.sources.map((s) => s.serviceAccountToken).find((t) => t?.path === token.subPath);
    assert.ok(projected, 'the bootstrap token is a projected service-account token');
    assert.equal(projected.audience, DEFAULT_TOKEN_AUDIENCE);
    assert.ok((projected.expirationSeconds ?? 3600) <= 3600, 'short-lived');
    const root = mountOf(config.caRootFile);
    assert.equal(root.volume.configMap?.name, ROOT_CERT_CONFIGMAP, 'the root certificate, from the ConfigMap the control plane publishes (never the Secret with the key)');
    assert.ok(root.volume.configMap?.items?.some((item) => item.path === root.subPath && item.key === ROOT_CERT_KEY));
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 15000 }, 'the admin API on the node\'s loopback only (the CLI reaches it by port-forward)');

    assert.equal(ztunnelContainer.readinessProbe?.httpGet?.path, '/healthz/ready');
    assert.equal(ztunnelContainer.readinessProbe?.httpGet?.port, config.readiness.port);
    assert.equal(config.readiness.host, '0.0.0.0', 'the kubelet probes the node address');
    assert.equal(ztunnel.spec.template.metadata.annotations?.['prometheus.io/port'], String(config.metrics.port));
    assert.equal(ztunnel.spec.template.metadata.annotations?.['prometheus.io/scrape'], 'true');
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace > seconds(config.drainDeadlineMs), `the grace period (${grace}s) outlasts the drain deadline (${seconds(config.drainDeadlineMs)}s)`);
    assert.ok(grace - seconds(config.drainDeadlineMs) <= 10, 'by a few seconds, not minutes');
  });

  it('runs the control plane, the ztunnels and the waypoints from one image', () => {
    const config = parseConfig(flags(controlPlaneContainer, CONFIG_KEYS, POD_FIELDS));
    assert.match(controlPlaneContainer.image, /^ghcr\.io\/ambit-mesh\/ambit:\d+\.\d+\.\d+$/);
    assert.equal(ztunnelContainer.image, controlPlaneContainer.image);
    assert.equal(config.waypointImage, controlPlaneContainer.image);
    assert.equal(config.waypointControlPlane, `${controlPlaneService.metadata.name}.${NAMESPACE}.svc:${controlPlaneService.spec.ports[0]?.port}`);
  });

  it('names the GatewayClass and controller the control plane acts for', () => {
    const gatewayClass = only<K8sObject & { spec: { controllerName: string } }>('GatewayClass', WAYPOINT_GATEWAY_CLASS);
    assert.equal(gatewayClass.spec.controllerName, ROUTE_CONTROLLER_NAME);
  });
});

// --- the waypoint objects the control plane renders ---------------------------------------

/** Where Pod Security `restricted` (Kubernetes 1.30) would refuse the pod; empty when it admits it. */
function restrictedProblems(spec: PodSpec & { hostPID?: boolean; hostIPC?: boolean }): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork === true || spec.hostPID === true || spec.hostIPC === true) problems.push('host namespaces');
  const allowed = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const volume of spec.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    if (!types.every((t) => allowed.includes(t))) problems.push(`volume ${volume.name}: ${types.join(', ')}`);
  }
  for (const c of spec.containers) {
    const context = c.securityContext ?? {};
    if (context.privileged === true) problems.push(`${c.name}: privileged`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if ((context.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${c.name}: runAsNonRoot is not true`);
    if ((context.runAsUser ?? pod.runAsUser) === 0) problems.push(`${c.name}: runAsUser 0`);
    const seccomp = (context.seccompProfile ?? pod.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${c.name}: seccompProfile ${String(seccomp)}`);
    if (!(context.capabilities?.drop ?? []).includes('ALL')) problems.push(`${c.name}: capabilities not dropped`);
    const added = (context.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${c.name}: adds ${added.join(', ')}`);
  }
  return problems;
}

/** The settings as ambit-waypoint reads them (core's runDaemon): flags, else AMBIT_WAYPOINT_* variables. */
function waypointSettings(c: Container): Record<string, string | undefined> {
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  return daemonSettings(WAYPOINT_CONFIG_KEYS, flags(c, WAYPOINT_CONFIG_KEYS, POD_FIELDS), env, WAYPOINT_ENV_PREFIX);
}

describe('the waypoint objects the control plane renders, with deploy/\'s settings', () => {
  const settings = parseConfig(flags(controlPlaneContainer, CONFIG_KEYS, POD_FIELDS), 'deploy/control-plane.yaml');
  const gateway: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'shop', uid: '5f0c1e64-2a57-4c4e-9d43-2f7f4b0f6a11', generation: 1 },
    spec: { gatewayClassName: WAYPOINT_GATEWAY_CLASS, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
  assert.ok(settings.waypointImage !== undefined && settings.waypointControlPlane !== undefined, 'deploy/ runs the waypoint controller');
  const rendered = waypointObjects(gateway, { image: settings.waypointImage, trustDomain: settings.trustDomain, controlPlane: settings.waypointControlPlane });
  const list = [rendered.serviceAccount, rendered.deployment, rendered.service] as unknown as K8sObject[];
  const deployment = rendered.deployment as unknown as Workload;
  const spec = deployment.spec.template.spec;
  const waypointContainer = container(deployment, 'waypoint');

  it('validates each object against the Kubernetes schema of its kind, with no field its kind does not define', () => {
    for (const object of list) {
      const model = MODELS[`${object.apiVersion} ${object.kind}`];
      assert.ok(model, `${object.kind}: no schema`);
      assert.doesNotThrow(() => model(structuredClone(object)).validate(), object.kind);
      const out: string[] = [];
      unknownFields(object, `V1${object.kind}`, '', out);
      assert.deepEqual(out, [], `${object.kind}: unknown fields`);
    }
  });

  it('runs ambit-waypoint from the control plane\'s image with settings the waypoint\'s parser accepts', () => {
    assert.equal(waypointContainer.image, controlPlaneContainer.image);
    assert.deepEqual(waypointContainer.command, ['ambit-waypoint']);
    assert.match(readFileSync(`${DEPLOY}../Dockerfile`, 'utf8'), /\/usr\/local\/bin\/ambit-waypoint/, 'the image has that command');
    const config = parseWaypointConfig(waypointSettings(waypointContainer), 'the rendered waypoint Deployment');
    assert.deepEqual(config.gateway, { namespace: 'shop', name: 'waypoint' });
    assert.equal(config.trustDomain, settings.trustDomain);
    assert.deepEqual(config.controlPlane, { host: `${controlPlaneService.metadata.name}.${NAMESPACE}.svc`, port: controlPlaneService.spec.ports[0]?.port });
    assert.deepEqual(config.hbone, { host: '0.0.0.0', port: 15008 });
    assert.deepEqual(config.metrics, { host: '0.0.0.0', port: 15020 }, 'Prometheus scrapes the pod IP');
    assert.deepEqual(config.readiness, { host: '0.0.0.0', port: 15021 }, 'the kubelet probes the pod IP');
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 15000 }, 'the admin API on the pod\'s loopback only (reached by port-forward)');
    // The service account is the identity the waypoint asks for: spiffe://<td>/ns/shop/sa/waypoint.
    assert.equal(spec.serviceAccountName, config.gateway.name);
    assert.equal(deployment.metadata.namespace, config.gateway.namespace);
    assert.deepEqual((rendered.service.spec?.ports ?? []).map((p) => p.targetPort), [config.hbone.port]);
    assert.deepEqual((waypointContainer.ports ?? []).map((p) => p.containerPort), [config.hbone.port, config.metrics.port, config.readiness.port]);
    assert.equal(waypointContainer.readinessProbe?.httpGet?.path, '/healthz/ready');
    assert.equal(waypointContainer.readinessProbe?.httpGet?.port, config.readiness.port);
    assert.equal(deployment.spec.template.metadata.annotations?.['prometheus.io/scrape'], 'true');
    assert.equal(deployment.spec.template.metadata.annotations?.['prometheus.io/port'], String(config.metrics.port));
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace > seconds(config.drainDeadlineMs), `the grace period (${grace}s) outlasts the drain deadline (${seconds(config.drainDeadlineMs)}s)`);
    assert.ok(grace - seconds(config.drainDeadlineMs) <= 10, 'by a few seconds, not minutes');
  });

  it('gives it the root certificate from the published ConfigMap and a projected token for the audience ambit, and no API token', () => {
    const config = parseWaypointConfig(waypointSettings(waypointContainer));
    const mountOf = (file: string): { volume: Volume; subPath: string } => {
      const mount = (waypointContainer.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${file} is on no volume`);
      assert.equal(mount.readOnly, true);
      const volume = spec.volumes?.find((v) => v.name === mount.name);
      assert.ok(volume, `volume ${mount.name}`);
      return { volume, subPath: file.slice(mount.mountPath.length + 1) };
    };
    const root = mountOf(config.caRootFile);
    assert.equal(root.volume.configMap?.name, ROOT_CERT_CONFIGMAP);
    assert.ok(root.volume.configMap?.items?.some((item) => item.key === ROOT_CERT_KEY && item.path === root.subPath));
    const token = mountOf(config.bootstrapTokenFile);
    const projected = token.volume.projected?.sources.map((s) => s.serviceAccountToken).find((t) => t?.path === token.subPath);
    assert.equal(projected?.audience, DEFAULT_TOKEN_AUDIENCE);
    assert.ok((projected?.expirationSeconds ?? 3600) <= 3600, 'short-lived');
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal((rendered.serviceAccount as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false);
    for (const volume of spec.volumes ?? []) assert.equal(volume.secret, undefined, `volume ${volume.name}: a Secret`);
  });

  it('is admitted by Pod Security `restricted`: non-root, read-only root filesystem, no capabilities, resource requests', () => {
    assert.deepEqual(restrictedProblems(spec), []);
    assert.notDeepEqual(restrictedProblems(ztunnel.spec.template.spec), [], 'the check is real: the ztunnel (host network, uid 0, NET_ADMIN) fails it');
    assert.equal(waypointContainer.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(waypointContainer.securityContext?.capabilities, { drop: ['ALL'] });
    assert.notEqual(waypointContainer.securityContext?.runAsUser ?? spec.securityContext?.runAsUser, 0);
    assert.ok(waypointContainer.resources?.requests?.cpu !== undefined && waypointContainer.resources.requests.memory !== undefined);
  });

  it('is owned by its Gateway (controller: true), so deleting the Gateway deletes it', () => {
    for (const object of list) {
      assert.deepEqual((object.metadata as { ownerReferences?: unknown }).ownerReferences, [{
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid: gateway.metadata.uid, controller: true, blockOwnerDeletion: true,
      }], object.kind);
    }
  });
});

// --- least privilege ----------------------------------------------------------------------

function grants(rules: readonly PolicyRule[]): string[] {
  return rules.flatMap((rule) => (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).flatMap((resource) =>
    rule.verbs.map((verb) => `${group}/${resource}:${verb}${rule.resourceNames === undefined ? '' : `[${rule.resourceNames.join(',')}]`}`)))).sort();
}

describe('deploy/: least privilege', () => {
  const bindings = objects.filter((o): o is Binding => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
  const roles = objects.filter((o): o is K8sObject & { rules: PolicyRule[] } => o.kind === 'Role' || o.kind === 'ClusterRole');

  it('binds roles to the control plane\'s service account only: the ztunnel and the waypoints have no API permissions', () => {
    assert.ok(bindings.length > 0);
    for (const binding of bindings) {
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', ...CONTROL_PLANE_SERVICE_ACCOUNT }], `${binding.kind} ${binding.metadata.name}`);
      assert.ok(roles.some((r) => r.kind === binding.roleRef.kind && r.metadata.name === binding.roleRef.name), `${binding.metadata.name}: its role is here`);
    }
    assert.equal(only('ServiceAccount', CONTROL_PLANE_SERVICE_ACCOUNT.name).metadata.namespace, CONTROL_PLANE_SERVICE_ACCOUNT.namespace);
    assert.equal(controlPlane.spec.template.spec.serviceAccountName, CONTROL_PLANE_SERVICE_ACCOUNT.name);
    assert.equal(only('ServiceAccount', ZTUNNEL_SERVICE_ACCOUNT.name).metadata.namespace, ZTUNNEL_SERVICE_ACCOUNT.namespace);
    assert.equal(ztunnel.spec.template.spec.serviceAccountName, ZTUNNEL_SERVICE_ACCOUNT.name);
  });

  it('grants the control plane cluster-wide exactly what its code uses', () => {
    const type = (kind: Kind): { group: string; plural: string } => RESOURCE_TYPES[kind];
    const expected = new Set<string>();
    const allow = (kind: Kind, verbs: string[], sub = ''): void => {
      for (const verb of verbs) expected.add(`${type(kind).group}/${type(kind).plural}${sub}:${verb}`);
    };
    for (const kind of WATCHED_KINDS) allow(kind, ['list', 'watch']);
    // The waypoint controller's kinds (MANAGED_KINDS in waypoint-controller/objects.ts).
    for (const kind of ['ServiceAccount', 'Deployment', 'Service'] as const) allow(kind, ['list', 'watch', 'create', 'patch', 'delete']);
    for (const kind of [...Object.keys(OWNED_CONDITIONS) as Kind[], 'HTTPRoute' as const]) allow(kind, ['update', 'patch'], '/status');
    allow('Gateway', ['update'], '/finalizers');
    // GatewayClass Accepted (waypoint-controller/gateway-class.ts).
    allow('GatewayClass', ['list', 'watch']);
    allow('GatewayClass', ['update', 'patch'], '/status');
    // The root certificate's ConfigMaps (root-cert/publisher.ts): what can be named is named.
    allow('ConfigMap', ['list', 'watch', 'create']);
    for (const verb of ['get', 'patch', 'delete']) expected.add(`/configmaps:${verb}[${ROOT_CERT_CONFIGMAP}]`);
    expected.add('authentication.k8s.io/tokenreviews:create');
    const clusterRole = only<K8sObject & { rules: PolicyRule[] }>('ClusterRole', 'ambit-control-plane');
    assert.deepEqual(grants(clusterRole.rules), [...expected].sort());
  });

  it('grants in ambit-system only the root CA Secret by name (create cannot be named) and the leader-election Lease', () => {
    const role = only<K8sObject & { rules: PolicyRule[] }>('Role', 'ambit-control-plane');
    assert.equal(role.metadata.namespace, ROOT_SECRET.namespace);
    assert.deepEqual(grants(role.rules), [
      '/secrets:create', `/secrets:get[${ROOT_SECRET.name}]`,
      'coordination.k8s.io/leases:create', `coordination.k8s.io/leases:get[${LEASE_NAME}]`, `coordination.k8s.io/leases:update[${LEASE_NAME}]`,
    ].sort());
  });

  it('uses no wildcard, and reads secrets nowhere else', () => {
    for (const role of roles) {
      for (const grant of grants(role.rules)) {
        assert.doesNotMatch(grant, /\*/, `${role.kind} ${role.metadata.name}: ${grant}`);
        if (role.kind === 'ClusterRole') assert.doesNotMatch(grant, /^\/secrets/, `${role.metadata.name}: ${grant}`);
      }
    }
  });

  it('runs the ztunnel as root with NET_ADMIN only, no API token, no Secret or host path, on every node', () => {
    const spec = ztunnel.spec.template.spec;
    const context = ztunnelContainer.securityContext;
    assert.deepEqual(context?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
    assert.equal(context?.runAsUser, 0);
    assert.equal(context?.privileged, false);
    assert.equal(context?.allowPrivilegeEscalation, false);
    assert.equal(context?.readOnlyRootFilesystem, true);
    assert.equal((context?.seccompProfile ?? spec.securityContext?.seccompProfile)?.type, 'RuntimeDefault');
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal(only<K8sObject & { automountServiceAccountToken?: boolean }>('ServiceAccount', ZTUNNEL_SERVICE_ACCOUNT.name).automountServiceAccountToken, false);
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
    for (const volume of spec.volumes ?? []) {
      assert.equal(volume.secret, undefined, `volume ${volume.name}: a Secret`);
      assert.equal(volume.hostPath, undefined, `volume ${volume.name}: a host path`);
    }
    assert.ok(ztunnelContainer.resources?.requests && ztunnelContainer.resources.limits);
  });

  it('runs the control plane as non-root with a read-only root filesystem, no capabilities and no escalation', () => {
    const spec = controlPlane.spec.template.spec;
    const context = controlPlaneContainer.securityContext;
    assert.equal(context?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, true);
    assert.notEqual(context?.runAsUser ?? spec.securityContext?.runAsUser, 0);
    assert.equal(context?.readOnlyRootFilesystem, true);
    assert.equal(context?.allowPrivilegeEscalation, false);
    assert.deepEqual(context?.capabilities, { drop: ['ALL'] });
    assert.equal((context?.seccompProfile ?? spec.securityContext?.seccompProfile)?.type, 'RuntimeDefault');
    assert.deepEqual(spec.volumes ?? [], [], 'the kubernetes backend writes nothing to disk');
    assert.ok(controlPlaneContainer.resources?.requests && controlPlaneContainer.resources.limits);
    const pdb = only<K8sObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', 'ambit-control-plane');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, controlPlane.spec.selector.matchLabels);
  });
});
