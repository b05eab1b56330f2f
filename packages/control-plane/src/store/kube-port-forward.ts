// `kubectl port-forward` as a function: a stream to a TCP port inside a
// pod's network namespace, through the API server (WebSocket,
// v4.channel.k8s.io, @kubernetes/client-node's PortForward), and one HTTP GET
// over it. The CLI reads the proxies' and the control plane's admin APIs this
// way: they listen on loopback only, so RBAC on pods/portforward decides who
// may read them, as it does for kubectl.
import http from 'node:http';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '@ambit/core';

export interface PodHttpResponse {
  status: number;
  body: string;
}

/** A duplex stream to `port` in the pod; the error channel's text (e.g. connection refused) fails it. */
export async function portForwardStream(kubeConfig: KubeConfig, namespace: string, pod: string, port: number): Promise<Duplex> {
  const input = new PassThrough();
  const output = new PassThrough();
  let errorText = '';
  const errors = new Writable({
    write(chunk: Buffer, _encoding, done) {
      errorText += chunk.toString('utf8');
      done();
    },
  });
  let socket: Awaited<ReturnType<PortForward['portForward']>>;
  try {
    socket = await new PortForward(kubeConfig, true).portForward(namespace, pod, [port], output, errors, input);
  } catch (error) {
    throw forwardError(namespace, pod, port, describe(error));
  }
  if (typeof socket === 'function') throw new Error('port-forward returned a restartable socket without retries');
  const stream = Duplex.from({ readable: output, writable: input });
  socket.on('close', () => {
    // The pod's side is done: end what we read, or fail with what the kubelet said.
    if (errorText !== '') stream.destroy(forwardError(namespace, pod, port, errorText.trim()));
    else output.end();
  });
  stream.on('close', () => socket.close());
  return stream;
}

/** GET `path` from `port` in the pod (over port-forward), within `timeoutMs`. */
export async function podHttpGet(kubeConfig: KubeConfig, namespace: string, pod: string, port: number, path: string, timeoutMs: number): Promise<PodHttpResponse> {
  const stream = await portForwardStream(kubeConfig, namespace, pod, port);
  return new Promise((resolve, reject) => {
    // Not request.setTimeout: that sets the socket's timeout, and this "socket" is a stream over a WebSocket.
    const timer = setTimeout(() => request.destroy(forwardError(namespace, pod, port, `no answer within ${timeoutMs} ms`)), timeoutMs);
    const settle = <T>(fn: (value: T) => void) => (value: T): void => {
      clearTimeout(timer);
      fn(value);
    };
    const request = http.request({
      path, method: 'GET', headers: { host: `localhost:${port}`, connection: 'close' },
      createConnection: () => stream,
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => settle(resolve)({ status: response.statusCode ?? 0, body }));
      response.on('error', settle(reject));
    });
    request.on('error', (error) => settle(reject)(error instanceof AmbitError ? error : forwardError(namespace, pod, port, error.message)));
    request.end();
  });
}

function forwardError(namespace: string, pod: string, port: number, reason: string): AmbitError {
  const forbidden = /\b403\b|forbidden/i.test(reason);
  return new AmbitError('unavailable', `port-forward to ${namespace}/${pod}:${port} failed: ${reason}`, {
    hint: forbidden
      ? `you need permission to port-forward in ${namespace} (kubectl auth can-i create pods/portforward -n ${namespace})`
      : `is the pod running and ready? kubectl -n ${namespace} get pod ${pod}`,
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}
