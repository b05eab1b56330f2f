// Names of everything a local cluster creates. Every network namespace (and
// its /etc/netns directory) starts with `ambit-<id>-`, so a cluster can be
// found and removed by its id alone, even after the process that built it
// is gone; ids are hex without dashes, so one cluster's prefix never matches
// another's names.
import { createHash, randomBytes } from 'node:crypto';
import { AmbitError } from '@ambit/core';

export const NETNS_PREFIX = 'ambit-';
export const CLUSTER_ID_LENGTH = 6;
/** Longest network namespace name we create; longer pod names are hashed. */
export const MAX_NETNS_NAME = 64;
export const CLUSTER_NETNS_SUFFIX = 'cluster';

const ID_PATTERN = /^[0-9a-f]{4,12}$/;
const LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function generateClusterId(): string {
  return randomBytes(CLUSTER_ID_LENGTH / 2).toString('hex');
}

export function validateClusterId(id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new AmbitError('invalid-argument', `cluster id ${JSON.stringify(id)} is not 4-12 lowercase hex characters`, {
      hint: 'omit the id to get a fresh one, or pass one shown by listClusters()',
    });
  }
  return id;
}

export function clusterPrefix(id: string): string {
  return `${NETNS_PREFIX}${id}-`;
}

/** The id of a name we created, e.g. `ambit-3fa9c1-node-1` → `3fa9c1`. */
export function idOfNetns(name: string): string | undefined {
  const match = /^ambit-([0-9a-f]{4,12})-./.exec(name);
  return match?.[1];
}

export function clusterNetns(id: string): string {
  return `${clusterPrefix(id)}${CLUSTER_NETNS_SUFFIX}`;
}

export function nodeNetns(id: string, node: string): string {
  return `${clusterPrefix(id)}${node}`;
}

/**
 * `ambit-<id>-<namespace>-<pod>`, or `ambit-<id>-pod-<hash>` when that is too
 * long or already taken (a node named like it, or `a-b`/`c` vs `a`/`b-c`).
 */
export function podNetns(id: string, namespace: string, pod: string, taken: ReadonlySet<string>): string {
  const plain = `${clusterPrefix(id)}${namespace}-${pod}`;
  if (plain.length <= MAX_NETNS_NAME && !taken.has(plain)) return plain;
  const hash = createHash('sha256').update(`${namespace}/${pod}`).digest('hex');
  for (let i = 0; ; i++) {
    const hashed = `${clusterPrefix(id)}pod-${hash.slice(0, 10)}${i === 0 ? '' : `-${i}`}`;
    if (!taken.has(hashed)) return hashed;
  }
}

/** Node names: DNS labels, and never `cluster` (the cluster namespace's suffix). */
export function validateNodeName(name: string): string {
  if (!LABEL_PATTERN.test(name) || name === CLUSTER_NETNS_SUFFIX) {
    throw new AmbitError('invalid-argument', `node name ${JSON.stringify(name)} is not a DNS label other than "cluster"`, {
      hint: 'use lowercase letters, digits and "-", e.g. node-1',
    });
  }
  return name;
}

export function validateNamespaceName(name: string): string {
  if (!LABEL_PATTERN.test(name)) {
    throw new AmbitError('invalid-argument', `namespace name ${JSON.stringify(name)} is not a DNS label`, {
      hint: 'use at most 63 lowercase letters, digits and "-"',
    });
  }
  return name;
}

/** Pods and services: DNS labels too (service names become host names). */
export function validateObjectName(kind: 'pod' | 'service', name: string): string {
  const pattern = kind === 'service' ? LABEL_PATTERN : SUBDOMAIN_PATTERN;
  if (!pattern.test(name)) {
    throw new AmbitError('invalid-argument', `${kind} name ${JSON.stringify(name)} is not valid`, {
      hint: kind === 'service' ? 'use at most 63 lowercase letters, digits and "-"' : 'use lowercase letters, digits, "-" and "."',
    });
  }
  return name;
}
