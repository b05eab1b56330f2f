import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { parseManifests, validateResource } from './manifest.js';
import type { AuthorizationPolicy, Gateway, Service } from '../resources.js';

const GOOD = `
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    ambit.dev/dataplane-mode: ambient
---
# an empty document is skipped
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: demo
  annotations:
    example.com/owner: team-a
spec:
  selector: { app: echo }
  sessionAffinity: None
  ports:
    - name: http
      port: 80
      targetPort: http
      appProtocol: http
    - port: 9090
      targetPort: 9090
      protocol: TCP
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: demo, labels: { ambit.dev/waypoint-for: service } }
spec:
  gatewayClassName: ambit-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo, namespace: demo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: security.ambit.dev/v1
kind: AuthorizationPolicy
metadata: { name: allow-frontend, namespace: demo }
spec:
  selector: { matchLabels: { app: echo } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["spiffe://cluster.local/ns/demo/sa/frontend"], notNamespaces: [other] } }]
      to: [{ operation: { ports: ["80"], methods: [GET] } }]
      when: [{ key: source.ip, values: [10.0.0.0/8] }]
---
apiVersion: v1
kind: Pod
metadata: { name: echo-1, namespace: demo, labels: { app: echo } }
spec:
  nodeName: node-a
  serviceAccountName: echo
  containers: [{ name: echo, image: "echo:1", ports: [{ name: http, containerPort: 8080 }] }]
status: { phase: Running, podIP: 10.244.1.7 }
`;

function refused(text: string, message: string | RegExp, options: Parameters<typeof parseManifests>[1] = {}): AmbitError {
  let caught: unknown;
  assert.throws(() => parseManifests(text, options), (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof AmbitError, String(caught));
  assert.equal(caught.code, 'invalid-resource');
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  return caught;
}

const service = (spec: string, meta = 'name: echo, namespace: demo'): string => `apiVersion: v1\nkind: Service\nmetadata: { ${meta} }\nspec: ${spec}\n`;

describe('parseManifests: good manifests', () => {
  it('parses many YAML documents, skipping empty ones, keeping unknown fields', () => {
    const objects = parseManifests(GOOD);
    assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata.name}`), [
      'Namespace demo', 'Service echo', 'Gateway waypoint', 'HTTPRoute echo', 'AuthorizationPolicy allow-frontend', 'Pod echo-1',
    ]);
    const svc = objects[1] as Service;
    assert.equal((svc.spec as Record<string, unknown>).sessionAffinity, 'None');
    assert.equal(svc.spec?.ports?.[0]?.targetPort, 'http');
    assert.deepEqual(svc.metadata.annotations, { 'example.com/owner': 'team-a' });
    assert.equal((objects[2] as Gateway).spec?.listeners[0]?.port, 15008);
    assert.equal((objects[4] as AuthorizationPolicy).spec?.rules?.[0]?.when?.[0]?.values?.[0], '10.0.0.0/8');
  });

  it('reads JSON, including a v1 List', () => {
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'echo', namespace: 'demo' } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: { podCIDR: '10.244.1.0/24' } },
    ] });
    assert.deepEqual(parseManifests(json).map((o) => o.kind), ['ServiceAccount', 'Node']);
  });

  it('gives namespaced objects the default namespace, never cluster-scoped ones', () => {
    const objects = parseManifests(`${service('{}', 'name: echo')}---\napiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n`, { defaultNamespace: 'team' });
    assert.equal(objects[0]?.metadata.namespace, 'team');
    assert.equal(objects[1]?.metadata.namespace, undefined);
  });

  it('returns nothing for empty text or comments only', () => {
    assert.deepEqual(parseManifests(''), []);
    assert.deepEqual(parseManifests('# nothing\n---\n---\n'), []);
  });
});

describe('parseManifests: bad manifests', () => {
  it('names the document, object and field of a bad port', () => {
    const error = refused(`apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n---\n${service('{ ports: [{ port: 70000 }] }')}`,
      'document 2 (Service demo/echo): spec.ports[0].port: expected a number from 1 to 65535');
    assert.equal(error.details.path, 'spec.ports[0].port');
  });

  const cases: [string, string, string | RegExp][] = [
    ['port as a string', service('{ ports: [{ port: "80" }] }'), 'document 1 (Service demo/echo): spec.ports[0].port: expected a number from 1 to 65535'],
    ['missing port', service('{ ports: [{ name: http }] }'), 'document 1 (Service demo/echo): spec.ports[0].port: required'],
    ['bad targetPort', service('{ ports: [{ port: 80, targetPort: 0 }] }'), /spec\.ports\[0\]\.targetPort: expected a number from 1 to 65535/], ['empty targetPort', service('{ ports: [{ port: 80, targetPort: "" }] }'), /spec\.ports\[0\]\.targetPort: expected a port number or a container port name/],
    ['bad protocol', service('{ ports: [{ port: 80, protocol: tcp }] }'), /spec\.ports\[0\]\.protocol: expected TCP, UDP or SCTP/],
    ['ports not a list', service('{ ports: 80 }'), /spec\.ports: expected a list/],
    ['selector values', service('{ selector: { app: 1 } }'), /spec\.selector\.app: expected a string/],
    ['unknown kind', 'apiVersion: v1\nkind: LimitRange\nmetadata: { name: x }\n', /document 1 \(LimitRange x\): kind: unknown kind "LimitRange" \(known: Namespace, .*AuthorizationPolicy, PeerAuthentication\)/],
    ['missing kind', 'apiVersion: v1\nmetadata: { name: x }\n', 'document 1: kind: required: the kind of object, e.g. Service'],
    ['wrong apiVersion', 'apiVersion: gateway.networking.k8s.io/v1beta1\nkind: Gateway\nmetadata: { name: w, namespace: demo }\n',
      'document 1 (Gateway demo/w): apiVersion: "gateway.networking.k8s.io/v1beta1" does not serve Gateway (use gateway.networking.k8s.io/v1)'],
    ['missing metadata', 'apiVersion: v1\nkind: Namespace\n', 'document 1 (Namespace): metadata: required'],
    ['missing name', 'apiVersion: v1\nkind: Namespace\nmetadata: { labels: { a: b } }\n', 'document 1 (Namespace): metadata.name: required'],
    ['bad name', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: Echo_1, namespace: demo }\n', /document 1 \(ServiceAccount demo\/Echo_1\): metadata\.name: must be a DNS subdomain/],
    ['service name with a dot', service('{}', 'name: echo.v1, namespace: demo'), /metadata\.name: must be a DNS label starting with a letter/],
    ['missing namespace', service('{}', 'name: echo'), 'document 1 (Service echo): metadata.namespace: required: Service is namespaced'],
    ['namespace on a cluster-scoped kind', 'apiVersion: v1\nkind: Node\nmetadata: { name: n, namespace: demo }\n',
      'document 1 (Node demo/n): metadata.namespace: Node is cluster-scoped and takes no namespace'],
    ['bad label key', 'apiVersion: v1\nkind: Namespace\nmetadata: { name: demo, labels: { "Bad/x": y } }\n', /metadata\.labels\["Bad\/x"\]: invalid label: prefix "Bad"/],
    ['bad label value', 'apiVersion: v1\nkind: Namespace\nmetadata: { name: demo, labels: { a: "-x" } }\n', /metadata\.labels\.a: invalid label: value "-x"/],
    ['gateway without listeners', 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: w, namespace: demo }\nspec: { gatewayClassName: ambit-waypoint, listeners: [] }\n',
      'document 1 (Gateway demo/w): spec.listeners: a Gateway needs at least one listener'],
    ['gateway without spec', 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: w, namespace: demo }\n', 'document 1 (Gateway demo/w): spec: required'],
    ['gateway listener port', 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: w, namespace: demo }\nspec: { gatewayClassName: c, listeners: [{ name: mesh, port: -1, protocol: HBONE }] }\n',
      /spec\.listeners\[0\]\.port: expected a number from 1 to 65535/],
    ['policy action', 'apiVersion: security.ambit.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: demo }\nspec: { action: allow }\n',
      'document 1 (AuthorizationPolicy demo/p): spec.action: expected ALLOW, DENY, AUDIT or CUSTOM'],
    ['policy source shape', 'apiVersion: security.ambit.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: demo }\nspec: { rules: [{ from: [{ source: { principals: a } }] }] }\n',
      /spec\.rules\[0\]\.from\[0\]\.source\.principals: expected a list of strings/],
    ['policy from without source', 'apiVersion: security.ambit.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: demo }\nspec: { rules: [{ from: [{ principals: [a] }] }] }\n',
      /spec\.rules\[0\]\.from\[0\]\.source: required/],
    ['policy when without key', 'apiVersion: security.ambit.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: demo }\nspec: { rules: [{ when: [{ values: [a] }] }] }\n',
      /spec\.rules\[0\]\.when\[0\]\.key: required/],
    ['policy selector and targetRefs', 'apiVersion: security.ambit.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: demo }\nspec: { selector: { matchLabels: { a: b } }, targetRefs: [{ kind: Service, name: s }] }\n',
      /spec\.targetRefs: use either selector or targetRefs, not both/],
    ['pod container port', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: demo }\nspec: { containers: [{ name: c, ports: [{ containerPort: 0 }] }] }\n',
      /spec\.containers\[0\]\.ports\[0\]\.containerPort: expected a number from 1 to 65535/],
    ['a scalar document', 'just text\n', 'document 1: expected an object, got the string "just text"'],
    ['a list document', '- a\n- b\n', 'document 1: expected an object, got a list'],
    ['bad YAML', 'apiVersion: v1\nkind: [Service\n', /^document 1: not valid YAML or JSON at line \d+, column \d+: /],
    ['duplicate keys', 'apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: { name: x }\n', /document 1: not valid YAML or JSON at line 3/],
  ];
  for (const [name, text, message] of cases) {
    it(`refuses ${name}`, () => {
      refused(text, message);
    });
  }

  it('counts further problems and prefixes the source', () => {
    refused(service('{ ports: [{ port: 0 }, { port: 0 }] }'), /^echo\.yaml: document 1 \(Service demo\/echo\): spec\.ports\[0\]\.port: .* \(and 1 more problem\)$/,
      { source: 'echo.yaml' });
  });
});

describe('validateResource', () => {
  it('returns the same object and names it in errors', () => {
    const object = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'demo' }, spec: { ports: [{ port: 80 }] } };
    assert.equal(validateResource(object), object);
    assert.throws(() => validateResource({ ...object, spec: { ports: [{ port: 0 }] } }),
      (error: unknown) => error instanceof AmbitError && error.code === 'invalid-resource'
        && error.message === 'Service demo/echo: spec.ports[0].port: expected a number from 1 to 65535');
  });
});

describe('parseManifests: HTTPRoute', () => {
  const route = (spec: string, annotations = ''): string =>
    `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: demo${annotations === '' ? '' : `, annotations: ${annotations}`} }\nspec: ${spec}\n`;

  it('accepts the fields Ambit reads, and keeps fields it does not (other filters, future ones)', () => {
    const [object] = parseManifests(route(`
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  hostnames: [echo.example.com, "*.example.com"]
  rules:
    - name: canary
      matches:
        - path: { type: PathPrefix, value: /api }
          headers: [{ name: X-User, value: a }, { type: RegularExpression, name: x-id, value: "[0-9]+" }]
          queryParams: [{ name: debug, value: "1" }]
          method: GET
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-a, value: "1" }], remove: [x-b] }
        - type: URLRewrite
          urlRewrite: { hostname: api.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v1 } }
        - type: RequestMirror
          requestMirror: { backendRef: { name: echo-v2, port: 80 } }
      backendRefs: [{ name: echo, port: 80, weight: 90 }, { name: echo-v2, port: 80, weight: 10 }]
      timeouts: { request: 10s, backendRequest: 2s }
      retry: { attempts: 3, codes: [503], backoff: 100ms }
      sessionPersistence: { type: Cookie }
`, '{ ambit.dev/retry-on: "5xx,reset", ambit.dev/per-try-timeout: 1s, ambit.dev/fault-delay: "10% 2s", ambit.dev/fault-abort: "5% 503" }'));
    const rule = (object?.spec as { rules: Record<string, unknown>[] }).rules[0];
    assert.deepEqual(rule?.sessionPersistence, { type: 'Cookie' });
  });

  it('accepts redirects: scheme, hostname, port, path, the status codes the Gateway API names', () => {
    for (const code of [301, 302, 303, 307, 308]) {
      parseManifests(route(`{ rules: [{ matches: [{ path: { type: PathPrefix, value: /old } }], filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, hostname: new.example.com, port: 8443, statusCode: ${code}, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }] }] }`));
    }
    parseManifests(route('{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: "" } } }] }] }'));
  });

  const cases: [string, string, string | RegExp, string?][] = [
    ['a bad path regex', '{ rules: [{ matches: [{ path: { type: RegularExpression, value: "/(a" } }] }] }', /spec\.rules\[0\]\.matches\[0\]\.path\.value: "\/\(a" is not a valid regular expression/],
    ['a relative path', '{ rules: [{ matches: [{ path: { type: Exact, value: api } }] }] }', /spec\.rules\[0\]\.matches\[0\]\.path\.value: must be an absolute path starting with \//],
    ['a bad header regex', '{ rules: [{ matches: [{ headers: [{ type: RegularExpression, name: x, value: "[" }] }] }] }', /spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.value: "\[" is not a valid/],
    ['a bad header name', '{ rules: [{ matches: [{ headers: [{ name: "x y", value: a }] }] }] }', /spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.name: must be an HTTP header name/],
    ['an unknown method', '{ rules: [{ matches: [{ method: FETCH }] }] }', /spec\.rules\[0\]\.matches\[0\]\.method: expected one of GET, HEAD/],
    ['an unknown filter type', '{ rules: [{ filters: [{ type: Rewrite }] }] }', /spec\.rules\[0\]\.filters\[0\]\.type: expected one of RequestHeaderModifier/],
    ['a filter without its body', '{ rules: [{ filters: [{ type: RequestHeaderModifier }] }] }', /spec\.rules\[0\]\.filters\[0\]\.requestHeaderModifier: required when type is RequestHeaderModifier/],
    ['a repeated header modifier', '{ rules: [{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: {} }, { type: RequestHeaderModifier, requestHeaderModifier: {} }] }] }', /spec\.rules\[0\]\.filters\[1\]\.type: RequestHeaderModifier may appear only once per rule/],
    ['a header set twice', '{ rules: [{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-A, value: "1" }, { name: x-a, value: "2" }] } }] }] }', /requestHeaderModifier\.set\[1\]: header x-a is listed twice/],
    ['a repeated redirect', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: {} }, { type: RequestRedirect, requestRedirect: {} }] }] }', /spec\.rules\[0\]\.filters\[1\]\.type: RequestRedirect may appear only once per rule/],
    ['a redirect and a rewrite together', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: {} }, { type: URLRewrite, urlRewrite: {} }] }] }', /spec\.rules\[0\]\.filters: RequestRedirect and URLRewrite cannot be used together/],
    ['a redirect beside backendRefs', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: {} }], backendRefs: [{ name: echo, port: 80 }] }] }', /spec\.rules\[0\]\.backendRefs: a RequestRedirect filter cannot be used together with backendRefs/],
    ['a redirect status that is not one', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 304 } }] }] }', /spec\.rules\[0\]\.filters\[0\]\.requestRedirect: statusCode 304 is not a redirect status \(use 301, 302, 303, 307, 308\)/],
    ['a redirect to ftp', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: ftp } }] }] }', /requestRedirect: scheme "ftp" is not http or https/],
    ['a redirect port out of range', '{ rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { port: 70000 } }] }] }', /requestRedirect\.port: expected a number from 1 to 65535/],
    ['a rewrite to a wildcard host', '{ rules: [{ filters: [{ type: URLRewrite, urlRewrite: { hostname: "*.example.com" } }] }] }', /urlRewrite: hostname "\*\.example\.com" is not a hostname/],
    ['a full path without its value', '{ rules: [{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath } } }] }] }', /urlRewrite: path\.replaceFullPath is required when path\.type is ReplaceFullPath/],
    ['an unknown path type', '{ rules: [{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: Replace, replaceFullPath: /x } } }] }] }', /urlRewrite\.path\.type: expected ReplaceFullPath or ReplacePrefixMatch/],
    ['a prefix replacement on an Exact match', '{ rules: [{ matches: [{ path: { type: Exact, value: /a } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }] }] }', /spec\.rules\[0\]\.filters\[0\]: path\.type ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix/],
    ['a prefix replacement on two matches', '{ rules: [{ matches: [{ path: { value: /a } }, { path: { value: /b } }], filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /c } } }] }] }', /filters\[0\]: path\.type ReplacePrefixMatch needs/],
    ['a negative weight', '{ rules: [{ backendRefs: [{ name: echo, port: 80, weight: -1 }] }] }', /spec\.rules\[0\]\.backendRefs\[0\]\.weight: expected a whole number from 0 to 1000000/],
    ['a bad backend port', '{ rules: [{ backendRefs: [{ name: echo, port: 0 }] }] }', /spec\.rules\[0\]\.backendRefs\[0\]\.port: expected a number from 1 to 65535/],
    ['a bad duration', '{ rules: [{ timeouts: { request: 1.5s } }] }', /spec\.rules\[0\]\.timeouts\.request: "1\.5s" is not a duration such as 500ms/],
    ['backendRequest longer than request', '{ rules: [{ timeouts: { request: 1s, backendRequest: 2s } }] }', /spec\.rules\[0\]\.timeouts\.backendRequest: must not be longer than timeouts\.request/],
    ['a retry code that is not an error', '{ rules: [{ retry: { codes: [200] } }] }', /spec\.rules\[0\]\.retry\.codes\[0\]: expected an HTTP status from 400 to 599/],
    ['a bad hostname', '{ hostnames: ["Echo_1"] }', /spec\.hostnames\[0\]: must be a hostname/],
    ['too many rules', `{ rules: [${Array.from({ length: 17 }, () => '{}').join(', ')}] }`, /spec\.rules: at most 16 entries/],
    ['a bad fault annotation', '{}', /metadata\.annotations\["ambit\.dev\/fault-delay"\]: "ten" is not a percentage/, '{ ambit.dev/fault-delay: "ten 2s" }'],
    ['a bad retry-on annotation', '{}', /metadata\.annotations\["ambit\.dev\/retry-on"\]: unknown value "sometimes"/, '{ ambit.dev/retry-on: sometimes }'],
  ];
  for (const [name, spec, message, annotations] of cases) {
    it(`refuses ${name}`, () => {
      const error = refused(route(spec, annotations), message);
      assert.match(error.message, /^document 1 \(HTTPRoute demo\/r\): /);
    });
  }
});
