// Many idle connections through a path, for measuring what each one costs the
// proxies on it. Two roles, each run inside a pod:
//
//   node mesh-holder.js serve --port 9000
//     accepts connections and echoes what arrives; prints {"event":"listening"}
//   node mesh-holder.js hold --target 10.244.2.2:9000 --count 1000 [--parallel 50] [--max-hold 120] [--http /path]
//     opens `count` connections, each proven end to end (one byte out, the same byte back,
//     so a proxy that accepts before dialling upstream is not counted early; with --http,
//     one keep-alive GET of that path and the start of a 200 answer instead), prints
//     {"event":"held",...}, keeps them open until SIGTERM/SIGINT (or --max-hold seconds),
//     then closes them and prints {"event":"released",...}.
import net from 'node:net';
import { parseArgs } from 'node:util';

const PROBE = Buffer.from('h');
const CONNECT_TIMEOUT_MS = 20_000;

export const HELD_EVENT = /"event":"held"/;
export const LISTENING_EVENT = /"event":"listening"/;

export interface HeldEvent {
  event: 'held';
  count: number;
  openMs: number;
}

function say(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function serve(port: number): void {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  server.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => say({ event: 'listening', port }));
  const stop = (): void => { server.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function openOne(host: string, port: number, httpPath: string | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no ${httpPath === undefined ? 'echo' : 'HTTP answer'} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    const probe = httpPath === undefined ? PROBE : `GET ${httpPath} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    socket.once('connect', () => socket.write(probe));
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      if (httpPath !== undefined && !chunk.toString('latin1').startsWith('HTTP/1.1 200')) {
        socket.destroy();
        reject(new Error(`GET ${httpPath} answered ${JSON.stringify(chunk.toString('latin1').slice(0, 40))}`));
        return;
      }
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

async function hold(target: string, count: number, parallel: number, maxHoldSeconds: number, httpPath: string | undefined): Promise<void> {
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon);
  const port = Number(target.slice(colon + 1));
  const sockets: net.Socket[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      sockets.push(await openOne(host, port, httpPath));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  let droppedWhileHeld = 0;
  for (const socket of sockets) socket.once('close', () => { droppedWhileHeld++; });
  const held: HeldEvent = { event: 'held', count: sockets.length, openMs: performance.now() - started };
  say({ ...held });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, maxHoldSeconds * 1000);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => { clearTimeout(timer); resolve(); });
  });
  for (const socket of sockets) socket.removeAllListeners('close').destroy();
  say({ event: 'released', count: sockets.length, droppedWhileHeld });
}

/** The exit code, or undefined while serving (the listener keeps the process alive). */
async function main(): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      target: { type: 'string' },
      count: { type: 'string', default: '1000' },
      parallel: { type: 'string', default: '50' },
      'max-hold': { type: 'string', default: '120' },
      http: { type: 'string' },
    },
  });
  const [role] = positionals;
  if (role === 'serve' && values.port !== undefined) {
    serve(Number(values.port));
    return undefined;
  }
  if (role === 'hold' && values.target !== undefined) {
    try {
      await hold(values.target, Number(values.count), Number(values.parallel), Number(values['max-hold']), values.http);
      return 0;
    } catch (error) {
      process.stderr.write(`mesh-holder: ${(error as Error).message}\n`);
      return 1;
    }
  }
  process.stderr.write('usage: mesh-holder serve --port P | hold --target HOST:PORT [--count N] [--parallel N] [--max-hold SECONDS] [--http PATH]\n');
  return 2;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const code = await main();
  if (code !== undefined) process.exit(code);
}
