// `ambit apply -f`, `ambit get`, `ambit delete`: mesh objects in the local
// control plane's store (routes, policies, gateways, ...), as kubectl does.
import { readFile } from 'node:fs/promises';
import { AmbitError, isAmbitError } from '@ambit/core';
import { applyMergePatch, createMergePatch, deepEqual, isKind, KINDS, parseManifests, RESOURCE_TYPES, type ConfigMap, type Deployment, type Kind, type KubeObject, type Pod, type Service, type Store } from '@ambit/control-plane';
import { usage } from '../errors.js';
import { age, render, table, type OutputFormat } from '../output.js';

/** The short names kubectl (and Istio's and the Gateway API's CRDs) accept. */
const SHORT_NAMES: Readonly<Record<string, Kind>> = {
  ns: 'Namespace', no: 'Node', po: 'Pod', svc: 'Service', sa: 'ServiceAccount', cm: 'ConfigMap', deploy: 'Deployment',
  gc: 'GatewayClass', gtw: 'Gateway', ap: 'AuthorizationPolicy', pa: 'PeerAuthentication',
};

/** Kind from what a user types: `HTTPRoute`, `httproute`, `httproutes`, `svc`. */
export function kindOf(text: string): Kind {
  const lower = text.toLowerCase();
  const kind = SHORT_NAMES[lower] ?? KINDS.find((k) => k.toLowerCase() === lower || RESOURCE_TYPES[k].plural === lower);
  if (kind === undefined || !isKind(kind)) usage(`unknown kind ${JSON.stringify(text)}`, `known: ${KINDS.join(', ')} (short: ${Object.keys(SHORT_NAMES).join(', ')})`);
  return kind;
}

/**
 * The objects a file (- for stdin) describes. As kubectl: a namespaced object naming no namespace is in
 * `namespace` (-n), else in default; one naming another namespace than -n is refused, and nothing applied.
 */
export async function readManifests(file: string, namespace?: string): Promise<KubeObject[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((error: Error) => {
    throw new AmbitError('not-found', `cannot read ${file}: ${error.message}`, { hint: 'pass a YAML or JSON file, or - for standard input' });
  });
  const objects = parseManifests(text, { source: file === '-' ? 'stdin' : file, defaultNamespace: namespace ?? 'default' });
  const elsewhere = objects.find((o) => o.metadata.namespace !== undefined && namespace !== undefined && o.metadata.namespace !== namespace);
  if (elsewhere !== undefined) {
    usage(`${elsewhere.kind.toLowerCase()}/${elsewhere.metadata.name} is in namespace ${elsewhere.metadata.namespace ?? ''}, not ${namespace ?? ''} (-n)`,
      `drop -n, or pass -n ${elsewhere.metadata.namespace ?? ''}`);
  }
  return objects;
}

/**
 * Where `apply` records what it applied last (kubectl keeps the same in its last-applied-configuration
 * annotation), so the next apply removes what the file no longer has and nothing anyone else set.
 */
export const LAST_APPLIED = 'ambit.dev/last-applied';

/** What `apply` owns of an object: its labels, its annotations and every top-level field but identity and status. */
function appliedPart(object: KubeObject): Record<string, unknown> {
  const { apiVersion: _apiVersion, kind: _kind, metadata, status: _status, ...fields } = object;
  const annotations = { ...metadata.annotations ?? {} };
  delete annotations[LAST_APPLIED];
  return { metadata: { labels: metadata.labels ?? {}, annotations }, ...fields };
}

function lastApplied(object: KubeObject): unknown {
  try {
    return JSON.parse(object.metadata.annotations?.[LAST_APPLIED] ?? '{}');
  } catch {
    return {};
  }
}

/**
 * Creates each object, or patches it from what this file asks and what the last apply asked (a three-way
 * merge, as kubectl's): fields and labels the file dropped are removed, those others set (a namespace's
 * enrollment label, a Service's cluster IP) are kept. One line per object.
 */
export async function apply(store: Store, objects: readonly KubeObject[]): Promise<string[]> {
  const lines: string[] = [];
  for (const object of objects) {
    const kind = object.kind as Kind;
    const name = `${kind.toLowerCase()}/${object.metadata.name}`;
    const wanted = appliedPart(object);
    const record = JSON.stringify(wanted);
    const existing = await store.get(kind, object.metadata.name, object.metadata.namespace);
    if (existing === undefined) {
      await store.create({ ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations ?? {}, [LAST_APPLIED]: record } } });
      lines.push(`${name} created`);
      continue;
    }
    // Without a record (made by someone else, or before apply kept one) nothing is removed, as kubectl does.
    const patch = createMergePatch(lastApplied(existing), wanted) as { metadata?: { annotations?: Record<string, unknown> } };
    patch.metadata = { ...patch.metadata, annotations: { ...patch.metadata?.annotations, [LAST_APPLIED]: record } };
    const { status: _status, ...current } = existing;
    const changed = !deepEqual(appliedPart(applyMergePatch(current, patch) as KubeObject), appliedPart(existing));
    if (changed || existing.metadata.annotations?.[LAST_APPLIED] !== record) {
      await store.patch(kind, object.metadata.name, object.metadata.namespace, patch);
    }
    lines.push(`${name} ${changed ? 'configured' : 'unchanged'}`);
  }
  return lines;
}

export async function get(store: Store, kind: Kind, options: { name?: string; namespace?: string; all: boolean; format: OutputFormat; wide?: boolean }): Promise<string> {
  const namespaced = RESOURCE_TYPES[kind].namespaced;
  const namespace = namespaced && !options.all ? options.namespace ?? 'default' : undefined;
  let items: KubeObject[];
  if (options.name !== undefined) {
    const one = await store.get(kind, options.name, namespace);
    if (one === undefined) throw new AmbitError('not-found', `${kind} ${namespace === undefined ? '' : `${namespace}/`}${options.name} not found`);
    items = [one];
  } else {
    items = (await store.list(kind, namespace === undefined ? {} : { namespace })).items;
  }
  const data = options.name !== undefined ? items[0] : { apiVersion: 'v1', kind: 'List', items };
  return render(options.format, data, () => {
    if (items.length === 0) return `No ${RESOURCE_TYPES[kind].plural} found${namespace === undefined ? '' : ` in namespace ${namespace}`}.\n`;
    const columns = { ...KIND_COLUMNS[kind] ?? STATUS_COLUMN, ...options.wide === true ? WIDE_COLUMNS[kind] : {} };
    const headers = [...(namespaced && namespace === undefined ? ['NAMESPACE'] : []), 'NAME', ...Object.keys(columns), 'AGE'];
    return table(headers, items.map((item) => [
      ...(namespaced && namespace === undefined ? [item.metadata.namespace ?? ''] : []),
      item.metadata.name, ...Object.values(columns).map((cell) => cell(item)), age(item.metadata.creationTimestamp),
    ]));
  });
}

export async function remove(store: Store, targets: readonly { kind: Kind; name: string; namespace?: string }[], ignoreMissing: boolean): Promise<string[]> {
  const lines: string[] = [];
  for (const target of targets) {
    try {
      await store.delete(target.kind, target.name, RESOURCE_TYPES[target.kind].namespaced ? target.namespace ?? 'default' : undefined);
      lines.push(`${target.kind.toLowerCase()}/${target.name} deleted`);
    } catch (error) {
      if (!(ignoreMissing && isAmbitError(error, 'not-found'))) throw error;
    }
  }
  return lines;
}

type Columns = Record<string, (object: KubeObject) => string>;

const STATUS_COLUMN: Columns = { STATUS: statusOf };

/** What kubectl shows of the kinds that have no conditions to summarise (the others get STATUS). */
const KIND_COLUMNS: Partial<Record<Kind, Columns>> = {
  Service: {
    TYPE: (object) => (object as Service).spec?.type ?? 'ClusterIP',
    'CLUSTER-IP': (object) => (object as Service).spec?.clusterIP ?? '',
    'PORT(S)': (object) => ((object as Service).spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>',
  },
  ConfigMap: { DATA: (object) => String(Object.keys((object as ConfigMap).data ?? {}).length + Object.keys((object as ConfigMap).binaryData ?? {}).length) },
  Deployment: {
    READY: (object) => `${(object as Deployment).status?.readyReplicas ?? 0}/${(object as Deployment).spec?.replicas ?? 1}`,
    'UP-TO-DATE': (object) => String(((object as Deployment).status as { updatedReplicas?: number } | undefined)?.updatedReplicas ?? 0),
    AVAILABLE: (object) => String((object as Deployment).status?.availableReplicas ?? 0),
  },
};

/** What `-o wide` adds, as kubectl's. */
const WIDE_COLUMNS: Partial<Record<Kind, Columns>> = {
  Pod: { IP: (object) => (object as Pod).status?.podIP ?? '<none>', NODE: (object) => (object as Pod).spec?.nodeName ?? '<none>' },
  Service: {
    SELECTOR: (object) => Object.entries((object as Service).spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>',
  },
};

interface Conditions { phase?: string; conditions?: { type: string; status: string; reason?: string }[]; parents?: { conditions?: Conditions['conditions'] }[] }

/**
 * A pod's phase (`Running`, `Running (not ready)`, `Pending (NoLocalRuntime)`); a namespace's (`Active`);
 * for other kinds the first condition that says something (`Programmed`, `Accepted=False (Reason)`).
 */
function statusOf(object: KubeObject): string {
  const status = (object.status ?? {}) as Conditions;
  const all = [...status.conditions ?? [], ...(status.parents ?? []).flatMap((p) => p.conditions ?? [])];
  const failing = all.find((c) => c.status !== 'True');
  if (object.kind === 'Pod' && status.phase !== undefined) {
    if (failing === undefined) return status.phase;
    return `${status.phase} (${failing.type === 'Ready' || failing.type === 'ContainersReady' ? 'not ready' : failing.reason ?? `${failing.type}=${failing.status}`})`;
  }
  if (object.kind === 'Namespace') return status.phase ?? '';
  const shown = failing ?? all.find((c) => c.type === 'Programmed') ?? all[0];
  if (shown === undefined) return '';
  if (shown.status === 'True') return shown.type;
  return `${shown.type}=${shown.status}${shown.reason === undefined ? '' : ` (${shown.reason})`}`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
