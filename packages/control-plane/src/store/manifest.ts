// Manifests in, validated objects out: YAML or JSON text with one or many
// documents (what `ambit apply -f` reads), and the same validation every
// local write goes through. A refusal names the document, the object and the
// path of the bad field, e.g.
//   document 2 (Service demo/echo): spec.ports[0].port: expected a number from 1 to 65535
// Only the fields Ambit reads are checked; unknown fields are kept as they are.
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { AmbitError } from '@ambit/core';
import { RESOURCE_TYPES, isKind, type HTTPRouteMatch, type Kind, type KubeObject } from '../resources.js';
import { labelKeyProblem, labelValueProblem } from './selector.js';
import {
  ANNOTATION_FAULT_ABORT, ANNOTATION_FAULT_DELAY, ANNOTATION_PER_TRY_TIMEOUT, ANNOTATION_RETRY_ON,
  parseDuration, parseFaultAbort, parseFaultDelay, parseRetryOn, regexProblem, type Parsed,
} from '../translate/route-values.js';
import { convertRedirect, convertRewrite, replaceablePrefix } from '../translate/route-url.js';

export interface ValidateOptions {
  /** The namespace given to namespaced objects that name none. */
  defaultNamespace?: string;
}

export interface ParseManifestOptions extends ValidateOptions {
  /** Where the text came from (a file name), to prefix messages with. */
  source?: string;
}

/**
 * Parses every document of `text` (YAML or JSON; `---` separated; empty
 * documents skipped; `kind: List` expanded) and validates each object.
 * Throws AmbitError `invalid-resource` on the first bad document.
 */
export function parseManifests(text: string, options: ParseManifestOptions = {}): KubeObject[] {
  const prefix = options.source === undefined ? '' : `${options.source}: `;
  const objects: KubeObject[] = [];
  const documents = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(documents) ? documents : [];
  list.forEach((document, i) => {
    const where = `${prefix}document ${i + 1}`;
    const error = document.errors[0];
    if (error !== undefined) {
      const line = error.linePos?.[0];
      const at = line === undefined ? '' : ` at line ${line.line}, column ${line.col}`;
      throw new AmbitError('invalid-resource', `${where}: not valid YAML or JSON${at}: ${firstLine(error.message)}`, {
        cause: error,
        details: { document: i + 1 },
      });
    }
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (isList(value)) {
      value.items.forEach((item, j) => objects.push(validate(item, options, `${where} item ${j}`)));
      return;
    }
    objects.push(validate(value, options, where));
  });
  return objects;
}

/**
 * Checks one object against the schema of its kind and returns it (the same
 * object, namespace defaulted). Throws AmbitError `invalid-resource`.
 */
export function validateResource<T extends KubeObject = KubeObject>(value: unknown, options: ValidateOptions = {}): T {
  return validate(value, options, undefined) as T;
}

// --- implementation ---------------------------------------------------------------

function validate(value: unknown, options: ValidateOptions, where: string | undefined): KubeObject {
  const fail = (path: string, reason: string, label?: string): never => {
    const head = where === undefined
      ? (label === undefined ? '' : `${label}: `)
      : `${where}${label === undefined ? '' : ` (${label})`}: `;
    throw new AmbitError('invalid-resource', `${head}${path === '' ? '' : `${path}: `}${reason}`, {
      details: { path, ...(where === undefined ? {} : { document: where }), ...(label === undefined ? {} : { object: label }) },
    });
  };
  if (!isRecord(value)) return fail('', `expected an object, got ${describe(value)}`);
  const { kind, apiVersion } = value;
  const metadata = isRecord(value.metadata) ? value.metadata : undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : undefined;
  const namespace = typeof metadata?.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined;
  if (typeof kind !== 'string' || kind === '') return fail('kind', 'required: the kind of object, e.g. Service');
  const label = `${kind}${name === undefined ? '' : ` ${namespace === undefined ? name : `${namespace}/${name}`}`}`;
  if (!isKind(kind)) return fail('kind', `unknown kind "${kind}" (known: ${Object.keys(RESOURCE_TYPES).join(', ')})`, label);
  const type = RESOURCE_TYPES[kind];
  if (apiVersion !== type.apiVersion) {
    return fail('apiVersion', `${apiVersion === undefined ? 'required' : `${typeof apiVersion === 'string' ? `"${apiVersion}"` : describe(apiVersion)} does not serve ${kind}`} (use ${type.apiVersion})`, label);
  }
  if (metadata === undefined) return fail('metadata', value.metadata === undefined ? 'required' : `expected an object, got ${describe(value.metadata)}`, label);

  if (metadata.namespace === '') delete metadata.namespace;
  if (type.namespaced && metadata.namespace === undefined) {
    if (options.defaultNamespace === undefined) return fail('metadata.namespace', `required: ${kind} is namespaced`, label);
    metadata.namespace = options.defaultNamespace;
  } else if (!type.namespaced && metadata.namespace !== undefined) {
    return fail('metadata.namespace', `${kind} is cluster-scoped and takes no namespace`, label);
  }

  const result = SCHEMAS[kind].safeParse(value, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0];
    const more = result.error.issues.length - 1;
    const finalLabel = `${kind}${name === undefined ? '' : ` ${typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : ''}${name}`}`;
    return fail(formatPath(issue?.path ?? []), `${issueMessage(issue)}${more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : ''}`, finalLabel);
  }
  return value as KubeObject;
}

function issueMessage(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'invalid';
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'required';
  return issue.message;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

function isList(value: unknown): value is { items: unknown[] } {
  return isRecord(value) && value.apiVersion === 'v1' && value.kind === 'List' && Array.isArray(value.items);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string' ? `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}` : typeof value;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

// --- schemas ------------------------------------------------------------------------

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

const str = (): z.ZodString => z.string({ error: 'expected a string' });
const strings = (): z.ZodArray<z.ZodString> => z.array(str(), { error: 'expected a list of strings' });
const bool = (): z.ZodBoolean => z.boolean({ error: 'expected true or false' });
const list = <T extends z.ZodType>(item: T): z.ZodArray<T> => z.array(item, { error: 'expected a list' });
const object = <T extends z.core.$ZodLooseShape>(shape: T): z.ZodObject<T, z.core.$loose> =>
  z.looseObject(shape, { error: 'expected an object' });
const PORT_MESSAGE = 'expected a number from 1 to 65535';
const port = (): z.ZodNumber => z.int({ error: PORT_MESSAGE }).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);

const subdomain = str()
  .max(253, 'must be at most 253 characters')
  .regex(DNS_SUBDOMAIN, 'must be a DNS subdomain: lowercase letters, digits, \'-\' and \'.\', starting and ending with a letter or digit');
const dnsLabel = str()
  .max(63, 'must be at most 63 characters')
  .regex(DNS_LABEL, 'must be a DNS label: lowercase letters, digits and \'-\', starting and ending with a letter or digit');
const dns1035Label = str()
  .max(63, 'must be at most 63 characters')
  .regex(DNS_1035_LABEL, 'must be a DNS label starting with a letter: lowercase letters, digits and \'-\'');

const labels = z.record(str(), str(), { error: 'expected a map of strings' }).superRefine((map, ctx) => {
  for (const [key, value] of Object.entries(map)) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid label: ${problem}`, path: [key] });
  }
});
const annotations = z.record(str(), str(), { error: 'expected a map of strings' }).superRefine((map, ctx) => {
  for (const key of Object.keys(map)) {
    const problem = labelKeyProblem(key);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid annotation key: ${problem}`, path: [key] });
  }
});

function metadata(name: z.ZodString): z.ZodType {
  return object({
    name,
    namespace: dnsLabel.optional(),
    uid: str().optional(),
    resourceVersion: str().optional(),
    generation: z.int({ error: 'expected a whole number' }).min(0, 'expected a whole number').optional(),
    creationTimestamp: str().optional(),
    deletionTimestamp: str().optional(),
    labels: labels.optional(),
    annotations: annotations.optional(),
    ownerReferences: list(object({ apiVersion: str(), kind: str(), name: str(), uid: str(), controller: bool().optional() })).optional(),
  });
}

const condition = object({
  type: str(),
  status: z.enum(['True', 'False', 'Unknown'], { error: 'expected True, False or Unknown' }),
  reason: str().optional(),
  message: str().optional(),
  observedGeneration: z.int({ error: 'expected a whole number' }).optional(),
});
const conditionsStatus = object({ conditions: list(condition).optional() });
const anyObject = object({});

function resource(name: z.ZodString, spec: z.ZodType, status: z.ZodType = anyObject): z.ZodType {
  return object({ apiVersion: str(), kind: str(), metadata: metadata(name), spec: spec.optional(), status: status.optional() });
}

const podSpec = object({
  nodeName: str().optional(),
  serviceAccountName: str().optional(),
  hostNetwork: bool().optional(),
  containers: list(object({
    name: str(),
    image: str().optional(),
    ports: list(object({ name: str().optional(), containerPort: port(), protocol: str().optional() })).optional(),
  })).optional(),
});
const podStatus = object({
  phase: str().optional(),
  podIP: str().optional(),
  podIPs: list(object({ ip: str() })).optional(),
  conditions: list(object({ type: str(), status: str() })).optional(),
});

const serviceSpec = object({
  selector: z.record(str(), str(), { error: 'expected a map of strings' }).optional(),
  clusterIP: str().optional(),
  clusterIPs: strings().optional(),
  type: str().optional(),
  ports: list(object({
    name: str().optional(),
    port: port(),
    targetPort: z.union([port(), str().min(1, 'expected a port number or a container port name')], {
      error: 'expected a port number or a container port name',
    }).optional(),
    protocol: z.enum(['TCP', 'UDP', 'SCTP'], { error: 'expected TCP, UDP or SCTP' }).optional(),
    appProtocol: str().optional(),
  })).optional(),
});

const address = object({ type: str().optional(), value: str() });
const gatewaySpec = object({
  gatewayClassName: str().min(1, 'required'),
  listeners: list(object({ name: str().min(1, 'required'), port: port(), protocol: str().min(1, 'required') }))
    .min(1, 'a Gateway needs at least one listener'),
  addresses: list(address).optional(),
});
const gatewayStatus = object({ addresses: list(address).optional(), conditions: list(condition).optional() });

const parentRef = object({
  group: str().optional(),
  kind: str().optional(),
  namespace: str().optional(),
  name: str().min(1, 'required'),
  port: port().optional(),
  sectionName: str().optional(),
});
// Gateway API v1 HTTPRoute, as its CRD validates it (limits, enums, CEL rules
// that matter to us); fields we do not read (e.g. other filters' bodies) are
// kept as they are.
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const ONCE_PER_RULE = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']);
const FILTER_TYPES = [
  'RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef', 'CORS', 'ExternalAuth',
] as const;
const max = <T extends z.ZodType>(items: z.ZodArray<T>, n: number): z.ZodArray<T> => items.max(n, `at most ${n} entries`);
const duration = (): z.ZodType => str().superRefine((text, ctx) => {
  const parsed = parseDuration(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem });
});
const headerName = str().min(1, 'required').max(256, 'must be at most 256 characters')
  .regex(HEADER_NAME, 'must be an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~)');
const valueMatch = (what: string): z.ZodType => object({
  type: z.enum(['Exact', 'RegularExpression'], { error: 'expected Exact or RegularExpression' }).optional(),
  name: what === 'header' ? headerName : str().min(1, 'required').max(256, 'must be at most 256 characters'),
  value: str().max(4096, 'must be at most 4096 characters'),
}).superRefine((match, ctx) => regexIssue(match.type, match.value, ctx));
const headerPairs = (): z.ZodType => max(list(object({ name: headerName, value: str().max(4096, 'must be at most 4096 characters') })), 16)
  .superRefine((pairs, ctx) => duplicateNames(pairs.map((p) => p.name), ctx));
const headerModifier = object({
  set: headerPairs().optional(),
  add: headerPairs().optional(),
  remove: max(list(headerName), 16).superRefine((names, ctx) => duplicateNames(names, ctx)).optional(),
});
const pathModifier = object({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch'], { error: 'expected ReplaceFullPath or ReplacePrefixMatch' }),
  replaceFullPath: str().max(1024, 'must be at most 1024 characters').optional(),
  replacePrefixMatch: str().max(1024, 'must be at most 1024 characters').optional(),
});
// The values are checked by the translation's own conversion (route-url.ts; the rule's match is checked with the rule).
const problem = (converted: Parsed<unknown>, ctx: z.RefinementCtx): void => {
  if (!converted.ok) ctx.addIssue({ code: 'custom', message: converted.problem });
};
const requestRedirect = object({
  scheme: str().optional(), hostname: str().optional(), path: pathModifier.optional(), port: port().optional(),
  statusCode: z.int({ error: 'expected an HTTP status' }).optional(),
}).superRefine((filter, ctx) => problem(convertRedirect(filter, '/'), ctx));
const urlRewrite = object({ hostname: str().optional(), path: pathModifier.optional() })
  .superRefine((filter, ctx) => problem(convertRewrite(filter, '/'), ctx));
const routeFilter = object({
  type: z.enum(FILTER_TYPES, { error: `expected one of ${FILTER_TYPES.join(', ')}` }),
  requestHeaderModifier: headerModifier.optional(),
  responseHeaderModifier: headerModifier.optional(),
  requestRedirect: requestRedirect.optional(),
  urlRewrite: urlRewrite.optional(),
}).superRefine((filter, ctx) => {
  // CEL in the CRD: the field named after the type must be set (and no other core one).
  const field = filter.type === 'URLRewrite' ? 'urlRewrite' : `${filter.type.charAt(0).toLowerCase()}${filter.type.slice(1)}`;
  if ((filter as Record<string, unknown>)[field] === undefined) {
    ctx.addIssue({ code: 'custom', message: `required when type is ${filter.type}`, path: [field] });
  }
});
const routeMatch = object({
  path: object({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression'], { error: 'expected Exact, PathPrefix or RegularExpression' }).optional(),
    value: str().max(1024, 'must be at most 1024 characters').optional(),
  }).superRefine((path, ctx) => {
    if (path.type === 'RegularExpression') regexIssue(path.type, path.value ?? '', ctx);
    else if (path.value !== undefined && !path.value.startsWith('/')) ctx.addIssue({ code: 'custom', message: 'must be an absolute path starting with /', path: ['value'] });
  }).optional(),
  headers: max(list(valueMatch('header')), 16).optional(),
  queryParams: max(list(valueMatch('query')), 16).optional(),
  method: z.enum(HTTP_METHODS, { error: `expected one of ${HTTP_METHODS.join(', ')}` }).optional(),
});
const backendRef = object({
  group: str().optional(),
  kind: str().optional(),
  name: str().min(1, 'required'),
  namespace: str().optional(),
  port: port().optional(),
  weight: z.int({ error: 'expected a whole number from 0 to 1000000' }).min(0, 'expected a whole number from 0 to 1000000').max(1_000_000, 'expected a whole number from 0 to 1000000').optional(),
  filters: max(list(routeFilter), 16).optional(),
});
const routeRule = object({
  name: str().optional(),
  matches: max(list(routeMatch), 64).optional(),
  filters: max(list(routeFilter), 16).superRefine((filters, ctx) => {
    const seen = new Set<string>();
    filters.forEach((f, i) => {
      if (ONCE_PER_RULE.has(f.type) && seen.has(f.type)) {
        ctx.addIssue({ code: 'custom', message: `${f.type} may appear only once per rule`, path: [i, 'type'] });
      }
      seen.add(f.type);
    });
    if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
      ctx.addIssue({ code: 'custom', message: 'RequestRedirect and URLRewrite cannot be used together' });
    }
  }).optional(),
  backendRefs: max(list(backendRef), 16).optional(),
  timeouts: object({ request: duration().optional(), backendRequest: duration().optional() }).superRefine((t, ctx) => {
    const request = t.request === undefined ? undefined : parseDuration(t.request as string);
    const backend = t.backendRequest === undefined ? undefined : parseDuration(t.backendRequest as string);
    if (request?.ok && backend?.ok && request.value > 0 && backend.value > request.value) {
      ctx.addIssue({ code: 'custom', message: 'must not be longer than timeouts.request', path: ['backendRequest'] });
    }
  }).optional(),
  retry: object({
    codes: list(z.int({ error: 'expected an HTTP status from 400 to 599' }).min(400, 'expected an HTTP status from 400 to 599').max(599, 'expected an HTTP status from 400 to 599')).optional(),
    attempts: z.int({ error: 'expected a whole number' }).min(0, 'expected a whole number').optional(),
    backoff: duration().optional(),
  }).optional(),
}).superRefine((rule, ctx) => {
  // CEL in the CRD: a redirect has no backends; a prefix replacement needs the rule's one match to be a PathPrefix.
  const filters = (rule.filters ?? []) as { type: string; requestRedirect?: { path?: { type: string } }; urlRewrite?: { path?: { type: string } } }[];
  if (filters.some((f) => f.type === 'RequestRedirect') && (rule.backendRefs ?? []).length > 0) {
    ctx.addIssue({ code: 'custom', message: 'a RequestRedirect filter cannot be used together with backendRefs', path: ['backendRefs'] });
  }
  const prefix = replaceablePrefix((rule.matches ?? []) as HTTPRouteMatch[]);
  filters.forEach((f, i) => {
    const modifier = f.type === 'RequestRedirect' ? f.requestRedirect?.path : f.type === 'URLRewrite' ? f.urlRewrite?.path : undefined;
    if (modifier?.type === 'ReplacePrefixMatch' && prefix === undefined) {
      ctx.addIssue({ code: 'custom', message: 'path.type ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix', path: ['filters', i] });
    }
  });
});
const httpRouteSpec = object({
  parentRefs: max(list(parentRef), 32).optional(),
  hostnames: max(list(str().max(253, 'must be at most 253 characters').regex(HOSTNAME, 'must be a hostname, optionally with a leading *.: lowercase letters, digits, \'-\' and \'.\'')), 16).optional(),
  rules: max(list(routeRule), 16).optional(),
});

/** Ambit's HTTPRoute annotations, checked with the parsers the translation uses. */
const ROUTE_ANNOTATIONS: Record<string, (text: string) => { ok: true } | { ok: false; problem: string }> = {
  [ANNOTATION_RETRY_ON]: parseRetryOn,
  [ANNOTATION_PER_TRY_TIMEOUT]: parseDuration,
  [ANNOTATION_FAULT_DELAY]: parseFaultDelay,
  [ANNOTATION_FAULT_ABORT]: parseFaultAbort,
};

function routeAnnotationIssues(value: unknown, ctx: z.RefinementCtx): void {
  const annotations = (value as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations;
  for (const [key, parse] of Object.entries(ROUTE_ANNOTATIONS)) {
    const text = annotations?.[key];
    if (text === undefined) continue;
    const parsed = parse(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem, path: ['metadata', 'annotations', key] });
  }
}

function regexIssue(type: string | undefined, pattern: string, ctx: z.RefinementCtx): void {
  if (type !== 'RegularExpression') return;
  const problem = regexProblem(pattern);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['value'] });
}

function duplicateNames(names: readonly string[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    const lower = name.toLowerCase();
    if (seen.has(lower)) ctx.addIssue({ code: 'custom', message: `header ${name} is listed twice (names are case-insensitive)`, path: [i] });
    seen.add(lower);
  });
}
const httpRouteStatus = object({
  parents: list(object({ parentRef, controllerName: str(), conditions: list(condition) })).optional(),
});

const policySource = object({
  principals: strings().optional(), notPrincipals: strings().optional(),
  requestPrincipals: strings().optional(), notRequestPrincipals: strings().optional(),
  namespaces: strings().optional(), notNamespaces: strings().optional(),
  ipBlocks: strings().optional(), notIpBlocks: strings().optional(),
  remoteIpBlocks: strings().optional(), notRemoteIpBlocks: strings().optional(),
});
const policyOperation = object({
  hosts: strings().optional(), notHosts: strings().optional(),
  ports: strings().optional(), notPorts: strings().optional(),
  methods: strings().optional(), notMethods: strings().optional(),
  paths: strings().optional(), notPaths: strings().optional(),
});
const authorizationPolicySpec = object({
  selector: object({ matchLabels: labels.optional() }).optional(),
  targetRefs: list(object({ group: str().optional(), kind: str().min(1, 'required'), name: str().min(1, 'required'), namespace: str().optional() })).optional(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'], { error: 'expected ALLOW, DENY, AUDIT or CUSTOM' }).optional(),
  rules: list(object({
    from: list(object({ source: policySource })).optional(),
    to: list(object({ operation: policyOperation })).optional(),
    when: list(object({ key: str().min(1, 'required'), values: strings().optional(), notValues: strings().optional() })).optional(),
  })).optional(),
}).superRefine((spec, ctx) => {
  if (spec.selector !== undefined && spec.targetRefs !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'use either selector or targetRefs, not both', path: ['targetRefs'] });
  }
});

const peerAuthenticationSpec = object({
  selector: object({ matchLabels: labels.optional() }).optional(),
  mtls: object({
    mode: z.enum(['STRICT', 'PERMISSIVE', 'UNSET'], { error: 'expected STRICT, PERMISSIVE or UNSET' }).optional(),
  }).optional(),
});

const SCHEMAS: Record<Kind, z.ZodType> = {
  Namespace: resource(dnsLabel, anyObject),
  Node: resource(subdomain, object({ podCIDR: str().optional(), podCIDRs: strings().optional() })),
  Pod: resource(subdomain, podSpec, podStatus),
  Service: resource(dns1035Label, serviceSpec, conditionsStatus),
  ServiceAccount: resource(subdomain, anyObject),
  Deployment: resource(subdomain, object({
    replicas: z.number().int().min(0).optional(),
    selector: object({ matchLabels: labels.optional() }),
    template: object({ metadata: anyObject.optional(), spec: podSpec }),
  })),
  Secret: object({
    apiVersion: str(), kind: str(), metadata: metadata(subdomain), type: str().optional(),
    data: z.record(z.string(), str().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).optional(),
  }),
  ConfigMap: object({
    apiVersion: str(), kind: str(), metadata: metadata(subdomain), immutable: bool().optional(),
    data: z.record(z.string(), str(), { error: 'expected a map of strings' }).optional(),
    binaryData: z.record(z.string(), str().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).optional(),
  }),
  GatewayClass: resource(subdomain, object({ controllerName: str(), description: str().optional(), parametersRef: anyObject.optional() }), conditionsStatus),
  Gateway: object({
    apiVersion: str(), kind: str(), metadata: metadata(subdomain),
    spec: gatewaySpec, status: gatewayStatus.optional(),
  }),
  HTTPRoute: resource(subdomain, httpRouteSpec, httpRouteStatus).superRefine(routeAnnotationIssues),
  AuthorizationPolicy: resource(subdomain, authorizationPolicySpec, conditionsStatus),
  PeerAuthentication: resource(subdomain, peerAuthenticationSpec, conditionsStatus),
};
