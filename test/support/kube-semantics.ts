// The pieces of Kubernetes API semantics the fake API server needs that are
// not about HTTP: Status objects shaped exactly as kube-apiserver sends them,
// label and field selectors, JSON merge patch (RFC 7386) and JSON patch
// (RFC 6902, the add/remove/replace/test subset).

export interface Json { [key: string]: unknown }

export interface StatusCause { reason: string; message: string; field: string }

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
  code: number;
}

/** The resource a Status talks about: `pods`, or `gateways.gateway.networking.k8s.io`. */
export interface StatusSubject { plural: string; group: string; kind: string }

function qualified(subject: StatusSubject): string {
  return subject.group === '' ? subject.plural : `${subject.plural}.${subject.group}`;
}

function details(subject: StatusSubject, name: string): NonNullable<KubeStatus['details']> {
  return { name, ...(subject.group === '' ? {} : { group: subject.group }), kind: subject.plural };
}

function failure(code: number, reason: string, message: string, extra?: KubeStatus['details']): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(extra === undefined ? {} : { details: extra }), code };
}

export const statuses = {
  notFound: (s: StatusSubject, name: string) => failure(404, 'NotFound', `${qualified(s)} "${name}" not found`, details(s, name)),
  alreadyExists: (s: StatusSubject, name: string) => failure(409, 'AlreadyExists', `${qualified(s)} "${name}" already exists`, details(s, name)),
  conflict: (s: StatusSubject, name: string) => failure(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualified(s)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(s, name)),
  preconditionFailed: (s: StatusSubject, name: string, message: string) => failure(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualified(s)} "${name}": ${message}`, details(s, name)),
  invalid: (s: StatusSubject, name: string, causes: StatusCause[]) => failure(422, 'Invalid',
    `${s.kind}${s.group === '' ? '' : `.${s.group}`} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { name, ...(s.group === '' ? {} : { group: s.group }), kind: s.kind, causes }),
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  expired: (message: string) => failure(410, 'Expired', message),
  unauthorized: () => failure(401, 'Unauthorized', 'Unauthorized'),
  methodNotAllowed: (method: string) => failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`),
  unsupportedMediaType: (type: string) => failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${type})`),
  noResource: () => failure(404, 'NotFound', 'the server could not find the requested resource'),
  internal: (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`),
};

export function requiredCause(field: string, message = 'Required value'): StatusCause {
  return { reason: 'FieldValueRequired', message, field };
}

// --- label selectors --------------------------------------------------------------

type Requirement =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

const KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EXISTS = new RegExp(String.raw`^(!?)\s*(${KEY})$`);
const VALUE_ONLY = new RegExp(`^${VALUE}$`);

export type Selector = (labels: Record<string, string> | undefined) => boolean;

/** Parses Kubernetes label selector syntax; throws a message for a 400 on bad input. */
export function parseLabelSelector(text: string): Selector {
  const requirements: Requirement[] = [];
  for (const raw of splitTopLevel(text)) {
    const part = raw.trim();
    if (part === '') continue;
    let m = EQUALITY.exec(part);
    if (m !== null) {
      requirements.push({ op: m[2] === '!=' ? 'notin' : 'in', key: m[1]!, values: [m[3]!] });
      continue;
    }
    m = SET.exec(part);
    if (m !== null) {
      const values = m[3]!.split(',').map((v) => v.trim());
      if (values.some((v) => !VALUE_ONLY.test(v))) throw new Error(`unable to parse requirement: invalid value in "${part}"`);
      requirements.push({ op: m[2] === 'notin' ? 'notin' : 'in', key: m[1]!, values });
      continue;
    }
    m = EXISTS.exec(part);
    if (m !== null) {
      requirements.push({ op: m[1] === '!' ? 'notexists' : 'exists', key: m[2]! });
      continue;
    }
    throw new Error(`unable to parse requirement: found '${part}', expected: key, !key, key=value, key!=value, key in (...), key notin (...)`);
  }
  return (labels) => requirements.every((r) => {
    const value = labels?.[r.key];
    switch (r.op) {
      case 'exists': return value !== undefined;
      case 'notexists': return value === undefined;
      case 'in': return value !== undefined && r.values.includes(value);
      case 'notin': return value === undefined || !r.values.includes(value);
    }
  });
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Field selectors: only `metadata.name` and `metadata.namespace` with `=`, `==`, `!=`, as for CRDs. */
export function parseFieldSelector(text: string): (object: Json) => boolean {
  const checks: ((object: Json) => boolean)[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const m = /^([a-zA-Z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (m === null) throw new Error(`invalid selector: '${part}'; can't understand '${part}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (field !== 'metadata.name' && field !== 'metadata.namespace') throw new Error(`field label not supported: ${field}`);
    const key = field === 'metadata.name' ? 'name' : 'namespace';
    checks.push((object) => {
      const actual = (object.metadata as Json | undefined)?.[key] ?? '';
      return op === '!=' ? actual !== value : actual === value;
    });
  }
  return (object) => checks.every((check) => check(object));
}

// --- patches ----------------------------------------------------------------------

export function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge recursively, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: Json = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export interface JsonPatchOperation { op: string; path: string; value?: unknown }

/** RFC 6902, the add/remove/replace/test subset; throws a message for a 422. */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new Error('a JSON patch must be an array of operations');
  const root: { doc: unknown } = { doc: structuredClone(target) };
  for (const operation of operations as JsonPatchOperation[]) {
    const tokens = operation.path.split('/').slice(1).map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (tokens.length === 0) {
      if (operation.op === 'test') {
        if (JSON.stringify(root.doc) !== JSON.stringify(operation.value)) throw new Error('testing value at / failed');
        continue;
      }
      root.doc = structuredClone(operation.value);
      continue;
    }
    const last = tokens.pop()!;
    let parent: unknown = root.doc;
    for (const token of tokens) {
      parent = Array.isArray(parent) ? parent[Number(token)] : isPlainObject(parent) ? parent[token] : undefined;
      if (parent === undefined) throw new Error(`doc is missing path: ${operation.path}`);
    }
    const container = parent as Json | unknown[];
    const exists = Array.isArray(container) ? Number(last) < container.length : last in container;
    switch (operation.op) {
      case 'add':
        if (Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, structuredClone(operation.value));
        else container[last] = structuredClone(operation.value);
        break;
      case 'replace':
      case 'remove':
        if (!exists) throw new Error(`doc is missing key: ${operation.path}`);
        if (operation.op === 'remove') {
          if (Array.isArray(container)) container.splice(Number(last), 1);
          else delete container[last];
        } else if (Array.isArray(container)) {
          container[Number(last)] = structuredClone(operation.value);
        } else {
          container[last] = structuredClone(operation.value);
        }
        break;
      case 'test': {
        const actual = Array.isArray(container) ? container[Number(last)] : container[last];
        if (JSON.stringify(actual) !== JSON.stringify(operation.value)) throw new Error(`testing value ${operation.path} failed`);
        break;
      }
      default:
        throw new Error(`unsupported JSON patch operation "${operation.op}" (this fake server implements add, remove, replace, test)`);
    }
  }
  if (!isPlainObject(root.doc)) throw new Error('the patched document is not an object');
  return root.doc;
}

/** Structural equality of JSON values, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}
