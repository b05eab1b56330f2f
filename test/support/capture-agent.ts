// Helper processes for test/netns/capture.test.ts, started inside the local
// cluster's namespaces and driven over a unix socket (paths are shared
// across network namespaces):
//
//   capture-agent.js agent --control SOCK
//     in a node namespace: an NftCapture, plus transparent listeners on the
//     capture ports (IP_TRANSPARENT set by NftCapture.prepareListener) that
//     answer every connection with one JSON line {listener, local, remote}
//     and close. Commands: listen, unlisten, enroll, start, stop, remove, status.
//   capture-agent.js recorder --port P --control SOCK
//     in a pod: a plain listener answering the same way and remembering every
//     client. Commands: seen.
import net from 'node:net';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '@ambit/core';
import { NftCapture } from '@ambit/ztunnel';

export const CAPTURE_PORTS = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };

interface Accepted {
  listener: string;
  local: string;
  remote: string;
}

type Handler = (command: Record<string, unknown>) => Promise<unknown>;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { control: { type: 'string' }, port: { type: 'string' } },
});
const [mode] = positionals;
const control = values.control;
if (control === undefined) throw new Error('--control SOCK is required');
const logger = createLogger({ name: `capture-${mode ?? 'unknown'}`, level: 'debug' });

function answerer(listener: string, seen: Accepted[]): (socket: net.Socket) => void {
  return (socket) => {
    const record = { listener, local: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`, remote: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}` };
    seen.push(record);
    logger.info(record, 'accepted');
    socket.on('error', () => socket.destroy());
    socket.end(`${JSON.stringify(record)}\n`);
  };
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
}

function serveControl(path: string, handler: Handler): void {
  rmSync(path, { force: true });
  net.createServer((socket) => {
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const command = JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>;
      handler(command).then(
        (result) => socket.end(`${JSON.stringify({ ok: true, result })}\n`),
        (error: unknown) => {
          logger.error({ err: error, command }, 'command failed');
          socket.end(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
        },
      );
    });
  }).listen(path, () => logger.info({ path }, 'control socket ready'));
}

if (mode === 'agent') {
  const capture = new NftCapture({ ports: CAPTURE_PORTS, logger });
  const seen: Accepted[] = [];
  let servers: net.Server[] = [];
  serveControl(control, async (command) => {
    switch (command.op) {
      case 'listen': {
        for (const [name, port] of Object.entries(CAPTURE_PORTS)) {
          const server = net.createServer(answerer(name, seen));
          await listen(server, port);
          capture.prepareListener(server);
          servers.push(server);
        }
        return CAPTURE_PORTS;
      }
      case 'unlisten':
        // close() stops accepting at once; its callback would wait for open connections.
        for (const server of servers) server.close();
        servers = [];
        return Promise.resolve(null);
      case 'enroll': await capture.setEnrolled(command.addresses as string[]); return capture.status();
      case 'start': await capture.start(); return capture.status();
      case 'stop': await capture.stop(); return capture.status();
      case 'remove': await capture.removeAll(); return capture.status();
      case 'status': return capture.status();
      case 'accepted': return seen;
      default: throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    }
  });
} else if (mode === 'recorder') {
  const port = Number(values.port ?? '9100');
  const seen: Accepted[] = [];
  await listen(net.createServer(answerer('recorder', seen)), port);
  serveControl(control, (command) => command.op === 'seen' ? Promise.resolve(seen) : Promise.reject(new Error('unknown op')));
} else {
  throw new Error(`unknown mode ${JSON.stringify(mode)} (agent or recorder)`);
}
