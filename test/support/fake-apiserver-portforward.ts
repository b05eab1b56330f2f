// Port-forward for the test API server: the WebSocket endpoint
// /api/v1/namespaces/NS/pods/POD/portforward?ports=N (v4.channel.k8s.io, as
// the kubelet serves it behind the real API server). Data channel 0 and error
// channel 1; the first frame on each carries the port (uint16 little-endian);
// every later frame is the channel byte then the bytes. The "pod" is a
// loopback address the test registers for (namespace, pod, port): a
// connection there that fails is reported on the error channel, as the
// kubelet reports a refused connection inside the pod.
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';
const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/;

export interface ForwardTarget { host: string; port: number }

export interface PortForwardOptions {
  /** Where (namespace, pod, port) is reached; undefined → the kubelet's "connection refused". */
  target(namespace: string, pod: string, port: number): ForwardTarget | undefined;
  /** An HTTP status refusing the upgrade (pod missing, unauthorized), or undefined to accept. */
  refuse(request: http.IncomingMessage, namespace: string, pod: string): { status: number; message: string } | undefined;
  /** Each accepted forward, for assertions. */
  onForward?(namespace: string, pod: string, port: number): void;
}

/** Serves port-forward upgrades on `server`; returns a function that closes every forward. */
export function servePortForward(server: http.Server, options: PortForwardOptions): () => void {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false),
  });
  server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const match = PATH.exec(url.pathname);
    const port = Number(url.searchParams.get('ports'));
    const reject = (status: number, message: string): void => {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code: status });
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 401 ? 'Unauthorized' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    if (match === null) return reject(404, `no WebSocket endpoint at ${url.pathname}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return reject(400, 'ports: a single port from 1 to 65535 is required');
    const namespace = decodeURIComponent(match[1]!);
    const pod = decodeURIComponent(match[2]!);
    const refused = options.refuse(request, namespace, pod);
    if (refused !== undefined) return reject(refused.status, refused.message);
    wss.handleUpgrade(request, socket, head, (ws) => {
      options.onForward?.(namespace, pod, port);
      forward(ws, port, options.target(namespace, pod, port), `${namespace}/${pod}`);
    });
  });
  return () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  };
}

function forward(ws: WebSocket, port: number, target: ForwardTarget | undefined, pod: string): void {
  const portPrefix = Buffer.alloc(3);
  portPrefix.writeUInt16LE(port, 1);
  const frame = (channel: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([channel]), data]);
  ws.send(frame(0, portPrefix.subarray(1)));
  ws.send(frame(1, portPrefix.subarray(1)));
  const fail = (reason: string): void => {
    ws.send(frame(1, Buffer.from(`error forwarding port ${port} to pod ${pod}: ${reason}`)));
    ws.close();
  };
  if (target === undefined) return fail(`failed to connect to localhost:${port} inside the pod's network namespace: connection refused`);
  const upstream = net.connect(target.port, target.host);
  const pending: Buffer[] = [];
  let connected = false;
  upstream.on('connect', () => {
    connected = true;
    for (const chunk of pending.splice(0)) upstream.write(chunk);
  });
  upstream.on('data', (chunk: Buffer) => ws.send(frame(0, chunk)));
  upstream.on('end', () => ws.close());
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (!connected) fail(`failed to connect to localhost:${port} inside the pod's network namespace: ${error.code ?? error.message}`);
    else ws.close();
  });
  ws.on('message', (data: Buffer) => {
    if (data.length === 0 || data[0] !== 0) return; // only the data channel carries bytes to the pod
    const bytes = data.subarray(1);
    if (connected) upstream.write(bytes);
    else pending.push(bytes);
  });
  ws.on('close', () => upstream.destroy());
}
