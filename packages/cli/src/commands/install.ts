// `ambit install` / `ambit uninstall` against a Kubernetes cluster. The
// manifests are deploy/'s Kustomize base (the files its kustomization.yaml
// lists, in that order), applied object by object with server-side apply
// (field manager `ambit`), so a second install changes nothing and reports
// each object unchanged. Nothing is applied unless every object's kind is
// served: a missing Gateway API says what to install first. Uninstall
// deletes the same objects in reverse order; it refuses while users'
// waypoints or policies exist (they would be lost) unless --force, and leaves
// namespaces' enrollment labels alone unless --remove-labels.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, parseAllDocuments } from 'yaml';
import { AmbitError } from '@ambit/core';
import type { KubeObject } from '@ambit/control-plane';
import type { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { dim, green, yellow } from '../output.js';
import { GATEWAY_API_INSTALL, INSTALL_NAMESPACE } from './check-cluster.js';

/** deploy/ beside the packages (the workspace this CLI is built in). */
export const DEFAULT_MANIFESTS = new URL('../../../../deploy/', import.meta.url).pathname;
export const FIELD_MANAGER = 'ambit';
export const WAYPOINT_CLASS = 'ambit-waypoint';
const ENROLL_LABELS = ['ambit.dev/dataplane-mode', 'ambit.dev/use-waypoint'] as const;
const POLL_MS = 500;

export interface Manifest {
  file: string;
  object: KubeObject;
}

interface Resource { plural: string; namespaced: boolean }
interface ApiResourceList { resources?: { name: string; kind: string; namespaced: boolean }[] }

/** The objects of deploy/ in apply order: kustomization.yaml's resources, each file's documents in order. */
export async function loadManifests(dir: string): Promise<Manifest[]> {
  const kustomization = join(dir, 'kustomization.yaml');
  let text: string;
  try {
    text = await readFile(kustomization, 'utf8');
  } catch (error) {
    throw new AmbitError('not-found', `cannot read ${kustomization}: ${(error as Error).message}`, {
      hint: 'pass --manifests DIR, the directory with Ambit\'s kustomization.yaml (deploy/ in the source tree)',
    });
  }
  const resources = (parse(text) as { resources?: unknown } | null)?.resources;
  if (!Array.isArray(resources) || resources.some((r) => typeof r !== 'string')) {
    throw new AmbitError('invalid-resource', `${kustomization} has no resources list of file names`);
  }
  const manifests: Manifest[] = [];
  for (const name of resources as string[]) {
    const file = join(dir, name);
    const documents = parseAllDocuments(await readFile(file, 'utf8'));
    documents.forEach((document, index) => {
      if (document.errors.length > 0) throw new AmbitError('invalid-resource', `${file}, document ${index + 1}: ${document.errors[0]?.message ?? 'invalid YAML'}`);
      const object = document.toJSON() as KubeObject | null;
      if (object === null) return;
      if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string' || typeof object.metadata?.name !== 'string') {
        throw new AmbitError('invalid-resource', `${file}, document ${index + 1}: not a Kubernetes object (apiVersion, kind and metadata.name are required)`);
      }
      manifests.push({ file, object });
    });
  }
  return manifests;
}

/** Where each object lives on this server (discovery, once per API version), and the kinds it does not serve. */
async function locate(store: KubernetesStore, manifests: readonly Manifest[]): Promise<{ paths: Map<Manifest, string>; missing: string[] }> {
  const lists = new Map<string, Map<string, Resource> | undefined>();
  const paths = new Map<Manifest, string>();
  const missing: string[] = [];
  for (const manifest of manifests) {
    const { apiVersion, kind, metadata } = manifest.object;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (!lists.has(apiVersion)) {
      const answer = await store.raw('GET', base, `discover ${apiVersion}`);
      const list = answer.status === 200 ? (answer.body as ApiResourceList).resources ?? [] : undefined;
      lists.set(apiVersion, list === undefined ? undefined : new Map(list.filter((r) => !r.name.includes('/')).map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }])));
    }
    const resource = lists.get(apiVersion)?.get(kind);
    if (resource === undefined) {
      missing.push(`${kind} (${apiVersion})`);
      continue;
    }
    const namespace = resource.namespaced ? `/namespaces/${metadata.namespace ?? INSTALL_NAMESPACE}` : '';
    paths.set(manifest, `${base}${namespace}/${resource.plural}/${encodeURIComponent(metadata.name)}`);
  }
  return { paths, missing: [...new Set(missing)] };
}

function describe(object: KubeObject): string {
  return `${object.kind} ${object.metadata.namespace === undefined ? '' : `${object.metadata.namespace}/`}${object.metadata.name}`;
}

function messageOf(body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : JSON.stringify(body);
}

export interface InstallOptions {
  manifests: string;
  /** Wait this long for the control plane and ztunnel to be ready; undefined: do not wait. */
  waitMs?: number;
  out: (line: string) => void;
}

export async function install(store: KubernetesStore, options: InstallOptions): Promise<void> {
  const manifests = await loadManifests(options.manifests);
  // Nothing is applied unless every kind is served.
  const { paths, missing } = await locate(store, manifests);
  if (missing.length > 0) {
    const gatewayApi = missing.some((m) => m.includes('gateway.networking.k8s.io'));
    throw new AmbitError('unavailable', `the cluster at ${store.serverUrl} does not serve ${missing.join(', ')}; nothing was changed`, {
      hint: gatewayApi ? `install the Gateway API CRDs first: ${GATEWAY_API_INSTALL}` : 'check the cluster version (ambit check --pre --context kube)',
    });
  }
  const counts = { created: 0, configured: 0, unchanged: 0 };
  for (const manifest of manifests) {
    const path = paths.get(manifest) as string;
    const before = await store.raw('GET', path, `read ${describe(manifest.object)}`);
    const applied = await store.raw('PATCH', `${path}?fieldManager=${FIELD_MANAGER}&force=true`, `apply ${describe(manifest.object)}`,
      manifest.object, 'application/apply-patch+yaml');
    if (applied.status < 200 || applied.status >= 300) {
      throw new AmbitError('unavailable', `applying ${describe(manifest.object)} (${manifest.file}) failed with ${applied.status}: ${messageOf(applied.body)}`, {
        hint: `${counts.created + counts.configured + counts.unchanged} object(s) before it were applied; fix the cause and run ambit install again (it is idempotent)`,
      });
    }
    const version = (body: unknown): string | undefined => (body as KubeObject | null)?.metadata?.resourceVersion;
    const outcome = before.status === 404 ? 'created' : version(before.body) === version(applied.body) ? 'unchanged' : 'configured';
    counts[outcome]++;
    options.out(`${green('✔')} ${describe(manifest.object)} ${outcome === 'unchanged' ? dim(outcome) : outcome}`);
  }
  options.out(`${manifests.length} object(s): ${counts.created} created, ${counts.configured} configured, ${counts.unchanged} unchanged`);
  if (options.waitMs !== undefined) await waitReady(store, manifests, paths, options.waitMs, options.out);
  options.out('');
  options.out('Next: ambit --context kube namespace enroll NAMESPACE; ambit --context kube waypoint apply -n NAMESPACE --wait');
}

/** Until every Deployment and DaemonSet of the install is rolled out and ready. */
async function waitReady(store: KubernetesStore, manifests: readonly Manifest[], paths: Map<Manifest, string>, waitMs: number, out: (line: string) => void): Promise<void> {
  const workloads = manifests.filter((m) => m.object.kind === 'Deployment' || m.object.kind === 'DaemonSet');
  const deadline = Date.now() + waitMs;
  for (const manifest of workloads) {
    const started = Date.now();
    for (;;) {
      const answer = await store.raw('GET', paths.get(manifest) as string, `read ${describe(manifest.object)}`);
      const why = answer.status === 200 ? notReady(answer.body as KubeObject) ?? '' : `it answers ${answer.status}: ${messageOf(answer.body)}`;
      if (why === '') break;
      if (Date.now() > deadline) {
        throw new AmbitError('timeout', `${describe(manifest.object)} is not ready after ${Math.round(waitMs / 1000)} s: ${why}`, {
          hint: `kubectl -n ${manifest.object.metadata.namespace ?? INSTALL_NAMESPACE} describe ${manifest.object.kind.toLowerCase()} ${manifest.object.metadata.name} (and its pods' events)`,
        });
      }
      await sleep(POLL_MS);
    }
    out(`${green('✔')} ${describe(manifest.object)} ready ${dim(`(${((Date.now() - started) / 1000).toFixed(1)}s)`)}`);
  }
}

interface RolloutStatus {
  observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number;
  desiredNumberScheduled?: number; numberReady?: number; updatedNumberScheduled?: number;
}

/** Why a Deployment or DaemonSet is not rolled out yet, or undefined when it is. */
export function notReady(object: KubeObject): string | undefined {
  const status = (object.status ?? {}) as RolloutStatus;
  const generation = object.metadata.generation ?? 0;
  if ((status.observedGeneration ?? 0) < generation) return `its controller has not seen generation ${generation} yet`;
  if (object.kind === 'DaemonSet') {
    const desired = status.desiredNumberScheduled ?? 0;
    if (desired === 0) return 'no node runs it yet (desiredNumberScheduled 0)';
    if ((status.updatedNumberScheduled ?? desired) < desired) return `${status.updatedNumberScheduled ?? 0} of ${desired} node(s) updated`;
    if ((status.numberReady ?? 0) < desired) return `${status.numberReady ?? 0} of ${desired} node(s) ready`;
    return undefined;
  }
  const wanted = ((object as { spec?: { replicas?: number } }).spec?.replicas) ?? 1;
  if ((status.updatedReplicas ?? 0) < wanted) return `${status.updatedReplicas ?? 0} of ${wanted} replica(s) updated`;
  if ((status.readyReplicas ?? 0) < wanted) return `${status.readyReplicas ?? 0} of ${wanted} replica(s) ready`;
  return undefined;
}

export interface UninstallOptions {
  manifests: string;
  /** Also delete users' ambit-waypoint Gateways and AuthorizationPolicies (they go with the CRD and class). */
  force: boolean;
  /** Remove the enrollment labels from namespaces. */
  removeLabels: boolean;
  waitMs?: number;
  out: (line: string) => void;
}

export async function uninstall(store: KubernetesStore, options: UninstallOptions): Promise<void> {
  const manifests = await loadManifests(options.manifests);
  // What users made that the uninstall would take with it.
  const owned = await usersObjects(store);
  if (owned.length > 0 && !options.force) {
    throw new AmbitError('conflict', `${owned.length} waypoint(s) and policy(ies) would be lost: ${owned.map(describe).join(', ')}; nothing was changed`, {
      hint: 'delete them first (ambit waypoint delete, ambit delete), or pass --force to delete them with Ambit',
    });
  }
  for (const object of owned) {
    const plural = object.kind === 'Gateway' ? 'gateways' : 'authorizationpolicies';
    const group = object.kind === 'Gateway' ? 'gateway.networking.k8s.io/v1' : 'security.ambit.dev/v1';
    const answer = await store.raw('DELETE', `/apis/${group}/namespaces/${object.metadata.namespace ?? 'default'}/${plural}/${encodeURIComponent(object.metadata.name)}`, `delete ${describe(object)}`);
    if (answer.status !== 404 && (answer.status < 200 || answer.status >= 300)) throw new AmbitError('unavailable', `deleting ${describe(object)} failed with ${answer.status}: ${messageOf(answer.body)}`);
    options.out(`${green('✔')} ${describe(object)} deleted ${dim('(--force)')}`);
  }

  // Reverse order: workloads before their RBAC, the namespace last.
  const reversed = [...manifests].reverse();
  const { paths } = await locate(store, reversed);
  const deleted: string[] = [];
  for (const manifest of reversed) {
    const path = paths.get(manifest);
    if (path === undefined) {
      options.out(`${dim('-')} ${describe(manifest.object)} ${dim('(its kind is not served: nothing to delete)')}`);
      continue;
    }
    const answer = await store.raw('DELETE', path, `delete ${describe(manifest.object)}`);
    if (answer.status === 404) {
      options.out(`${dim('-')} ${describe(manifest.object)} ${dim('already gone')}`);
      continue;
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw new AmbitError('unavailable', `deleting ${describe(manifest.object)} failed with ${answer.status}: ${messageOf(answer.body)}`, {
        hint: 'fix the cause and run ambit uninstall again (what is gone stays gone)',
      });
    }
    deleted.push(path);
    options.out(`${green('✔')} ${describe(manifest.object)} deleted`);
  }

  const labelled = (await store.list('Namespace')).items.filter((n) => ENROLL_LABELS.some((l) => n.metadata.labels?.[l] !== undefined));
  if (labelled.length > 0 && options.removeLabels) {
    for (const namespace of labelled) {
      await store.patch<KubeObject>('Namespace', namespace.metadata.name, undefined, { metadata: { labels: Object.fromEntries(ENROLL_LABELS.map((l) => [l, null])) } });
      options.out(`${green('✔')} namespace ${namespace.metadata.name}: enrollment labels removed`);
    }
  } else if (labelled.length > 0) {
    options.out(`${yellow('‼')} ${labelled.length} namespace(s) keep their ambit.dev labels (${labelled.map((n) => n.metadata.name).join(', ')}); --remove-labels removes them`);
  }

  if (options.waitMs !== undefined) {
    const deadline = Date.now() + options.waitMs;
    for (const path of deleted) {
      while ((await store.raw('GET', path, 'wait for a deletion')).status !== 404) {
        if (Date.now() > deadline) throw new AmbitError('timeout', `${path} still exists after ${Math.round(options.waitMs / 1000)} s`, { hint: 'a finalizer holds it: kubectl get it -o yaml' });
        await sleep(POLL_MS);
      }
    }
    options.out(`${green('✔')} everything deleted is gone`);
  }
  options.out(`Ambit is uninstalled from ${store.serverUrl}`);
}

/** Users' waypoints (Gateways of class ambit-waypoint) and AuthorizationPolicies, where their kinds are served. */
async function usersObjects(store: KubernetesStore): Promise<KubeObject[]> {
  const list = async (path: string): Promise<KubeObject[]> => {
    const answer = await store.raw('GET', path, 'list what users made');
    if (answer.status === 404) return [];
    if (answer.status !== 200) throw new AmbitError('unavailable', `GET ${path} answered ${answer.status}: ${messageOf(answer.body)}`);
    return ((answer.body as { items?: KubeObject[] }).items ?? []);
  };
  const gateways = (await list('/apis/gateway.networking.k8s.io/v1/gateways'))
    .filter((g) => (g as { spec?: { gatewayClassName?: string } }).spec?.gatewayClassName === WAYPOINT_CLASS)
    .map((g) => ({ ...g, kind: 'Gateway' }));
  const policies = (await list('/apis/security.ambit.dev/v1/authorizationpolicies')).map((p) => ({ ...p, kind: 'AuthorizationPolicy' }));
  return [...gateways, ...policies];
}
