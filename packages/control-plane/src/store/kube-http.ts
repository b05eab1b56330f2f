// Talking to the API server, shared by the Kubernetes store and the CA's
// TokenReview authenticator: loading a KubeConfig (file, in-cluster, bare
// server URL) and one JSON request through node:http(s) with the options
// KubeConfig.applyToHTTPSOptions fills in (credentials, exec/OIDC plugins,
// TLS). Non-2xx answers are returned, not thrown: callers map them with
// kube-errors' statusError, which needs to know what was attempted.
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '@ambit/core';
import { unreachable } from './kube-errors.js';

export interface ServerKubeConfigOptions {
  /** Bearer token sent with every request. */
  token?: string;
  /** Skip server certificate verification (implied for plain http). */
  skipTLSVerify?: boolean;
}

export interface KubeRequest {
  method: string;
  /** Path below the server URL, with its query string. */
  path: string;
  /** What is attempted, for messages: `create Service demo/echo`. */
  what: string;
  body?: unknown;
  contentType?: string;
  timeoutMs: number;
}

export interface KubeResponse {
  status: number;
  /** The parsed JSON body; undefined when empty, `{ message }` when not JSON. */
  body: unknown;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** From a kubeconfig file, or the default chain ($KUBECONFIG, ~/.kube/config, in-cluster) without one. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path === undefined) kc.loadFromDefault();
    else kc.loadFromFile(path);
  } catch (error) {
    throw new AmbitError('invalid-config', `cannot load kubeconfig${path === undefined ? '' : ` ${path}`}: ${(error as Error).message}`, { cause: error });
  }
  return kc;
}

/** The pod's service account, as mounted by Kubernetes. */
export function inClusterKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromCluster();
  // client-node builds https://undefined:undefined outside a pod instead of failing.
  if (kc.getCurrentCluster()?.server.includes('undefined') !== false) {
    throw new AmbitError('invalid-config', 'not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set', { hint: 'pass a kubeconfig instead' });
  }
  return kc;
}

/** A server URL with an optional bearer token; plain http is allowed (tests, `kubectl proxy`). */
export function serverKubeConfig(url: string, options: ServerKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'ambit', server: url, skipTLSVerify: url.startsWith('http:') || options.skipTLSVerify === true },
    { name: 'ambit', ...(options.token === undefined ? {} : { token: options.token }) },
  );
  return kc;
}

/** The current cluster's server URL; refuses a kubeconfig without one. */
export function serverOf(kubeConfig: KubeConfig): URL {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) {
    throw new AmbitError('invalid-config', 'the kubeconfig has no current cluster', { hint: 'set current-context, or pass --kubeconfig' });
  }
  return new URL(cluster.server);
}

/**
 * One request. Throws 'invalid-config' when the credentials cannot be
 * applied and 'unavailable' when the server cannot be reached or does not
 * answer within `timeoutMs`; any HTTP answer is returned.
 */
export async function kubeRequest(kubeConfig: KubeConfig, server: URL, request: KubeRequest): Promise<KubeResponse> {
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    void send(kubeConfig, server, request, payload, (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    }, reject);
  }).catch(failed(request.what, server));
  return { status, body: parseJson(text) };
}

/**
 * A GET whose answer is read as it comes (pod logs, followed): resolves with
 * the response once its headers arrived with status 200; any other answer is
 * read whole and returned as `error`. `timeoutMs` bounds the wait for the
 * headers only; `signal` ends the request (and the stream) at any time.
 */
export async function kubeStream(kubeConfig: KubeConfig, server: URL, request: Omit<KubeRequest, 'method' | 'body' | 'contentType'>, signal?: AbortSignal):
  Promise<{ stream: http.IncomingMessage } | { error: KubeResponse }> {
  const answer = await new Promise<http.IncomingMessage>((resolve, reject) => {
    void send(kubeConfig, server, { ...request, method: 'GET', contentType: 'application/json' }, undefined, (req, res) => {
      req.setTimeout(0);
      signal?.addEventListener('abort', () => res.destroy(), { once: true });
      resolve(res);
    }, reject, signal);
  }).catch(failed(request.what, server));
  if (answer.statusCode === 200) return { stream: answer };
  const chunks: Buffer[] = [];
  for await (const chunk of answer) if (chunks.length < 64) chunks.push(chunk as Buffer);
  return { error: { status: answer.statusCode ?? 0, body: parseJson(Buffer.concat(chunks).toString('utf8')) } };
}

/** What a request that got no answer throws: its own AmbitError (credentials), else the server is unreachable. */
function failed(what: string, server: URL): (error: unknown) => never {
  return (error) => {
    if (error instanceof AmbitError) throw error;
    throw unreachable(what, server, error, 'is the API server running and the kubeconfig pointing at it?');
  };
}

/** Sends one request with the kubeconfig's credentials; `onResponse` gets the answer, `onError` what prevented one. */
async function send(kubeConfig: KubeConfig, server: URL, request: KubeRequest, payload: string | undefined,
  onResponse: (req: http.ClientRequest, res: http.IncomingMessage) => void, onError: (error: unknown) => void, signal?: AbortSignal): Promise<void> {
  const url = new URL(server.pathname.replace(/\/+$/, '') + request.path, server);
  const options: https.RequestOptions = { method: request.method, headers: {} };
  try {
    await kubeConfig.applyToHTTPSOptions(options);
  } catch (error) {
    // Credentials plugins (exec, OIDC) and client-node's own checks fail here.
    onError(new AmbitError('invalid-config', `${request.what}: cannot apply the kubeconfig's credentials: ${(error as Error).message}`, { cause: error }));
    return;
  }
  options.headers = {
    ...options.headers,
    accept: 'application/json',
    ...(payload === undefined ? {} : { 'content-type': request.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) }),
  };
  options.timeout = request.timeoutMs;
  if (signal !== undefined) options.signal = signal;
  const req = (url.protocol === 'https:' ? https.request : http.request)(url, options, (res) => onResponse(req, res));
  req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${request.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
  req.on('error', onError);
  req.end(payload);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { message: text.slice(0, 200) };
  }
}
