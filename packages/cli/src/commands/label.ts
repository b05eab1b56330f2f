// `ambit label KIND NAME KEY=VALUE... KEY-...`: sets and removes labels of one
// object, as `kubectl label` does (the local mesh has no kubectl): a label
// that already has another value is changed only with --overwrite; removing
// one that is not there is said, not an error. The labels the mesh reads —
// ambit.dev/dataplane-mode, ambit.dev/use-waypoint on a namespace, service or
// pod — take effect as they would from kubectl. The patch carries the
// object's resourceVersion, so a concurrent change is re-read, not lost.
import { AmbitError, isAmbitError } from '@ambit/core';
import { labelKeyProblem, labelValueProblem, RESOURCE_TYPES, type Kind, type Store } from '@ambit/control-plane';
import { usage } from '../errors.js';

export interface LabelChanges {
  set: Record<string, string>;
  remove: string[];
}

const HINT = 'e.g. ambit label namespace demo ambit.dev/use-waypoint=waypoint, or ambit.dev/use-waypoint- to remove it';
const ATTEMPTS = 3;

/** `KEY=VALUE` sets, `KEY-` removes; anything else, a bad key or value, or a key both set and removed is a usage error. */
export function parseLabelChanges(args: readonly string[]): LabelChanges {
  if (args.length === 0) usage('name at least one label: KEY=VALUE to set it, KEY- to remove it', HINT);
  const changes: LabelChanges = { set: {}, remove: [] };
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq >= 0 ? arg.slice(0, eq) : arg.endsWith('-') ? arg.slice(0, -1) : undefined;
    if (key === undefined) usage(`${arg} is neither KEY=VALUE nor KEY-`, HINT);
    const problem = labelKeyProblem(key) ?? (eq >= 0 ? labelValueProblem(arg.slice(eq + 1)) : undefined);
    if (problem !== undefined) usage(`label ${arg}: ${problem}`, HINT);
    if (key in changes.set || changes.remove.includes(key)) usage(`label ${key} is named twice`, HINT);
    if (eq >= 0) changes.set[key] = arg.slice(eq + 1);
    else changes.remove.push(key);
  }
  return changes;
}

/** Applies `changes` to the object's labels: what changed (`namespace/demo labeled`), and notes on labels to remove that were not there. */
export async function label(store: Store, kind: Kind, name: string, namespace: string, changes: LabelChanges, overwrite: boolean): Promise<{ result: string; notes: string[] }> {
  const ns = RESOURCE_TYPES[kind].namespaced ? namespace : undefined;
  const what = `${kind.toLowerCase()}/${name}`;
  for (let attempt = 1; ; attempt++) {
    const object = await store.get(kind, name, ns);
    if (object === undefined) {
      throw new AmbitError('not-found', `no ${kind} ${ns === undefined ? name : `${ns}/${name}`}`, { hint: `see \`ambit get ${RESOURCE_TYPES[kind].plural}${ns === undefined ? '' : ` -n ${ns}`}\`` });
    }
    const labels = object.metadata.labels ?? {};
    const patch: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(changes.set)) {
      const current = labels[key];
      if (current === value) continue;
      if (current !== undefined && !overwrite) {
        throw new AmbitError('conflict', `${what}: ${key} already has a value (${current}), and --overwrite is not given`, { hint: 'pass --overwrite to change it; nothing was changed' });
      }
      patch[key] = value;
    }
    const notFound = changes.remove.filter((key) => labels[key] === undefined);
    for (const key of changes.remove) if (labels[key] !== undefined) patch[key] = null;
    const notes = notFound.map((key) => `label "${key}" not found`);
    if (Object.keys(patch).length === 0) return { result: `${what} not labeled`, notes };
    try {
      await store.patch(kind, name, ns, { metadata: { resourceVersion: object.metadata.resourceVersion, labels: patch } });
    } catch (error) {
      // Changed since we read it: judge the labels again on what it is now.
      if (isAmbitError(error, 'conflict') && attempt < ATTEMPTS) continue;
      throw error;
    }
    const onlyRemoved = Object.values(patch).every((value) => value === null);
    return { result: `${what} ${onlyRemoved ? 'unlabeled' : 'labeled'}`, notes };
  }
}
