// `ambit logs TARGET`: what the mesh's processes and a pod write, found by
// role: `ztunnel [NODE]`, `waypoint [NAME]` (-n NS; every waypoint without
// either), `control-plane`, `kubelet` (the local mesh's), or a pod
// (`NS/POD`, or `POD -n NS`). On the local mesh the logs are the files under
// the state directory; on a cluster, the pods' logs through the API server
// (pods/log, as `kubectl logs`; RBAC on pods/log decides who may). --tail,
// --since and --follow mean what they mean to kubectl (tail first, then
// since); several sources get 10 lines each by default and a `[source]`
// prefix. --level keeps lines at or above a level: the proxies and the
// control plane write JSON lines with `level`; a line without one counts as
// info.
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { AmbitError, isLogLevel, LOG_LEVELS, type LogLevel } from '@ambit/core';
import { LABEL_GATEWAY_NAME, type Pod } from '@ambit/control-plane';
import { logPath } from '@ambit/localcluster';
import type { KubeContext, LocalContext } from '../context.js';
import { usage } from '../errors.js';
import { CONTROL_PLANE_SELECTOR, nodesOf, SYSTEM_NAMESPACE, ZTUNNEL_SELECTOR, type MeshView } from '../mesh-view.js';
import { fieldOf, logFileLines, type LogRequest } from './log-file.js';

export const LOG_ROLES = ['ztunnel', 'waypoint', 'control-plane', 'kubelet'] as const;
/** Lines per source when several are shown and --tail is not given (as kubectl with a selector). */
const SEVERAL_TAIL = 10;
const USAGE_HINT = 'targets: ztunnel [NODE], waypoint [NAME] (-n NS), control-plane, kubelet, NS/POD (or POD -n NS)';

export interface LogsOptions {
  target: string;
  /** The node (ztunnel) or the waypoint's name (waypoint). */
  name?: string;
  namespace?: string;
  container?: string;
  tail?: number;
  /** Only lines of the last this many milliseconds. */
  sinceDurationMs?: number;
  follow?: boolean;
  level?: LogLevel;
}

/** One log: a file of the local mesh, or a container's log on a cluster. */
interface LogSource {
  label: string;
  lines(request: LogRequest, signal: AbortSignal): AsyncIterable<string>;
}

/** The options as given on the command line, checked. */
export function logsOptions(target: string, name: string | undefined, flags: { namespace?: string; container?: string; tail?: string; since?: string; follow?: boolean; level?: string }, parseDuration: (value: string, flag: string) => number): LogsOptions {
  const options: LogsOptions = { target, follow: flags.follow === true };
  if (name !== undefined) {
    if (target !== 'ztunnel' && target !== 'waypoint') usage(`\`ambit logs ${target}\` takes no second argument (got ${name})`, USAGE_HINT);
    options.name = name;
  }
  if (flags.namespace !== undefined) options.namespace = flags.namespace;
  if (flags.container !== undefined) {
    if (target === 'ztunnel' || target === 'control-plane' || target === 'kubelet') usage(`-c picks a container of a pod or a waypoint; \`ambit logs ${target}\` has one log per ${target === 'ztunnel' ? 'node' : 'replica'}`, USAGE_HINT);
    options.container = flags.container;
  }
  if (flags.tail !== undefined) {
    if (!/^\d+$/.test(flags.tail)) usage(`--tail ${flags.tail} is not a number of lines`, 'e.g. --tail 20');
    options.tail = Number(flags.tail);
  }
  if (flags.since !== undefined) options.sinceDurationMs = parseDuration(flags.since, '--since');
  if (flags.level !== undefined) {
    if (!isLogLevel(flags.level) || flags.level === 'silent') usage(`--level ${flags.level} is not a log level`, `one of ${LOG_LEVELS.filter((l) => l !== 'silent').join(', ')}`);
    options.level = flags.level;
  }
  return options;
}

/** Writes the target's log lines to `out`; with --follow, until `signal` aborts or every source ends. */
export async function logs(view: MeshView, context: LocalContext | KubeContext, options: LogsOptions, io: { out: (text: string) => void }, signal: AbortSignal = new AbortController().signal): Promise<void> {
  const sources = context.context === 'local' ? await localSources(view, context, options) : await kubeSources(view, context, options);
  const request: LogRequest = {
    ...(options.tail !== undefined ? { tail: options.tail } : sources.length > 1 ? { tail: SEVERAL_TAIL } : {}),
    ...(options.sinceDurationMs === undefined ? {} : { sinceMs: Date.now() - options.sinceDurationMs }),
    follow: options.follow === true,
  };
  const minimum = options.level === undefined ? undefined : LOG_LEVELS.indexOf(options.level);
  // One source failing (a followed pod deleted) stops the others too, so the command ends with its error.
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort(), { once: true });
  const show = async (source: LogSource): Promise<void> => {
    const prefix = sources.length > 1 ? `[${source.label}] ` : '';
    try {
      for await (const line of source.lines(request, stop.signal)) {
        if (minimum === undefined || levelIndex(line) <= minimum) io.out(`${prefix}${line}\n`);
      }
    } catch (error) {
      if (stop.signal.aborted) return;
      stop.abort();
      throw error;
    }
  };
  if (request.follow === true) await Promise.all(sources.map(show));
  else for (const source of sources) await show(source);
}

/** A line's level as an index into LOG_LEVELS (lower is more severe); info for a line without one. */
function levelIndex(line: string): number {
  const level = fieldOf(line, 'level');
  const index = typeof level === 'string' ? LOG_LEVELS.indexOf(level as LogLevel) : -1;
  return index < 0 ? LOG_LEVELS.indexOf('info') : index;
}

// --- the local mesh: files under the state directory -----------------------------------

async function localSources(view: MeshView, local: LocalContext, options: LogsOptions): Promise<LogSource[]> {
  const stateDir = local.cluster.stateDir;
  const file = (label: string, path: string): LogSource => ({ label, lines: (request, signal) => logFileLines(path, request, signal) });
  switch (roleOf(options)) {
    case 'ztunnel':
      return (await nodesOf(view, options.name)).map((node) => file(`ztunnel/${node}`, logPath(stateDir, { kind: 'node', node }, [], 'ztunnel')));
    case 'control-plane':
      return [file('control-plane', logPath(stateDir, { kind: 'cluster' }, [], 'control-plane'))];
    case 'kubelet':
      return [file('kubelet', logPath(stateDir, { kind: 'host' }, [], 'kubelet'))];
    case 'waypoint':
    case 'pod':
      return perContainer(await podsOf(view, options), options.container, (pod, container, only) => (request, signal) => podFileLines(stateDir, pod, container, only, request, signal));
  }
}

/** A pod container's log file; a process started without a container name (the demo's, a test's) logs to <pod>.log. */
async function* podFileLines(stateDir: string, pod: Pod, container: string, only: boolean, request: LogRequest, signal: AbortSignal): AsyncGenerator<string> {
  const ref = { kind: 'pod' as const, namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name };
  const named = logPath(stateDir, ref, [], container);
  yield* logFileLines(only && !(await exists(named)) ? logPath(stateDir, ref, [], undefined) : named, request, signal);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

// --- a cluster: the pods' logs through the API server ----------------------------------

async function kubeSources(view: MeshView, kube: KubeContext, options: LogsOptions): Promise<LogSource[]> {
  const sources = (pods: Pod[], label: (pod: Pod) => string): LogSource[] => perContainer(pods, options.container,
    (pod, container) => (request, signal) => kubeLines(kube, pod, container, request, signal), label);
  const system = async (selector: string): Promise<Pod[]> => (await kube.store.list<Pod>('Pod', { namespace: SYSTEM_NAMESPACE, labelSelector: selector })).items
    .filter((p) => p.metadata.deletionTimestamp === undefined)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  switch (roleOf(options)) {
    case 'ztunnel': {
      const nodes = await nodesOf(view, options.name);
      const pods = (await system(ZTUNNEL_SELECTOR)).filter((p) => nodes.includes(p.spec?.nodeName ?? ''));
      return sources(pods, (pod) => `ztunnel/${pod.spec?.nodeName ?? '?'}`);
    }
    case 'control-plane': {
      const pods = await system(CONTROL_PLANE_SELECTOR);
      if (pods.length === 0) throw new AmbitError('not-found', `no control-plane pod in ${SYSTEM_NAMESPACE}`, { hint: `kubectl -n ${SYSTEM_NAMESPACE} get deployment ambit-control-plane` });
      return sources(pods, (pod) => `control-plane/${pod.metadata.name}`);
    }
    case 'kubelet':
      throw new AmbitError('unavailable', '`ambit logs kubelet` is the local mesh\'s kubelet; a cluster\'s kubelets log on their nodes', { hint: 'on a node: journalctl -u kubelet' });
    case 'waypoint':
    case 'pod':
      return sources(await podsOf(view, options), podName);
  }
}

async function* kubeLines(kube: KubeContext, pod: Pod, container: string, request: LogRequest, signal: AbortSignal): AsyncGenerator<string> {
  const stream: Readable = await kube.store.podLog(pod.metadata.namespace ?? 'default', pod.metadata.name, {
    container,
    ...(request.tail === undefined ? {} : { tailLines: request.tail }),
    ...(request.sinceMs === undefined ? {} : { sinceSeconds: Math.max(1, Math.ceil((Date.now() - request.sinceMs) / 1000)) }),
    ...(request.follow === true ? { follow: true } : {}),
  }, signal);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  // A stream destroyed (aborted, or the connection lost) closes without 'end', which is all readline waits for.
  stream.once('close', () => lines.close());
  yield* lines;
}

// --- targets -----------------------------------------------------------------------------

function roleOf(options: LogsOptions): (typeof LOG_ROLES)[number] | 'pod' {
  return (LOG_ROLES as readonly string[]).includes(options.target) ? options.target as (typeof LOG_ROLES)[number] : 'pod';
}

/** The waypoint pods, or the one pod, that `options` name; an error saying what exists when none matches. */
async function podsOf(view: MeshView, options: LogsOptions): Promise<Pod[]> {
  if (options.target === 'waypoint') {
    const selector = options.name === undefined ? LABEL_GATEWAY_NAME : `${LABEL_GATEWAY_NAME}=${options.name}`;
    const namespace = options.namespace ?? (options.name === undefined ? undefined : 'default');
    const pods = (await view.store.list<Pod>('Pod', { labelSelector: selector, ...(namespace === undefined ? {} : { namespace }) })).items
      .filter((p) => p.metadata.deletionTimestamp === undefined)
      .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
    if (pods.length === 0) {
      const which = options.name === undefined ? `no waypoint pod${namespace === undefined ? '' : ` in namespace ${namespace}`}` : `no pod of waypoint ${namespace ?? 'default'}/${options.name}`;
      throw new AmbitError('not-found', which, { hint: 'see `ambit waypoint list -A` and `ambit waypoint status`' });
    }
    return pods;
  }
  const slash = options.target.indexOf('/');
  if (slash >= 0 && options.namespace !== undefined) usage(`${options.target} names its namespace; drop -n ${options.namespace}`, USAGE_HINT);
  const [namespace, name] = slash >= 0 ? [options.target.slice(0, slash), options.target.slice(slash + 1)] : [options.namespace ?? 'default', options.target];
  if (namespace === '' || name === '' || name.includes('/')) usage(`${options.target} is not NAMESPACE/POD`, USAGE_HINT);
  const pod = await view.store.get<Pod>('Pod', name, namespace);
  if (pod === undefined) throw new AmbitError('not-found', `no pod ${namespace}/${name}`, { hint: `see \`ambit get pods -n ${namespace}\`; ${USAGE_HINT}` });
  return [pod];
}

/**
 * A source per container of each pod (the one -c names, else each), labelled `label(pod)` (default NS/POD), then
 * `/container` when the pod shows several.
 */
function perContainer(pods: Pod[], container: string | undefined, open: (pod: Pod, container: string, only: boolean) => LogSource['lines'], label: (pod: Pod) => string = podName): LogSource[] {
  return pods.flatMap((pod) => {
    const containers = containersOf(pod, container);
    const only = containers.length === 1;
    return containers.map((name) => ({ label: only ? label(pod) : `${label(pod)}/${name}`, lines: open(pod, name, only) }));
  });
}

function podName(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
}

function podContainers(pod: Pod): string[] {
  return ((pod.spec as { containers?: { name?: string }[] } | undefined)?.containers ?? []).map((c) => c.name ?? '').filter((n) => n !== '');
}

/** The pod's containers, or the one `-c` names (an error listing them when it is not the pod's). */
function containersOf(pod: Pod, container: string | undefined): string[] {
  const all = podContainers(pod);
  if (container === undefined) return all.length === 0 ? ['main'] : all;
  if (!all.includes(container)) {
    throw new AmbitError('not-found', `pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name} has no container ${container}`, { hint: `its containers: ${all.join(', ') || 'none'}` });
  }
  return [container];
}
