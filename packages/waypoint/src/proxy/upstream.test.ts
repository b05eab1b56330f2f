import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { socketAddress } from '@ambit/api';
import { SpiffeId } from '@ambit/core';
import { HbonePool, HboneServer } from '@ambit/hbone';
import { CertificateAuthority, generateKeys, toWorkloadCertificate, type KeyPair, type WorkloadCertificate } from '@ambit/identity';
import { failure } from '../flags.js';
import { deliver, type Endpoint } from '../l7/exchange.js';
import { forward } from '../l7/forward.js';
import { exchange, never, text, workload } from '../l7/testing.js';
import { StreamAgent, Upstream, writesBuffers } from './upstream.js';

describe('StreamAgent', () => {
  let server: http.Server;
  let port: number;

  before(async () => {
    server = http.createServer({ keepAlive: true }, (_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function get(agent: http.Agent, transport: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const options = { agent, host: '127.0.0.1', port, transport } as http.RequestOptions;
      http.get(options, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
  }

  it('reuses an idle connection only for the same transport at the same address, and leaks no listeners', async () => {
    const opened: string[] = [];
    const sockets: net.Socket[] = [];
    const agent = new StreamAgent((options) => {
      opened.push(String(options.transport));
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      return Promise.resolve(socket);
    }, { keepAlive: true }, (options) => String(options.transport));
    try {
      for (let i = 0; i < 15; i++) await get(agent, 'tcp');
      await get(agent, 'hbone spiffe://td/ns/a/sa/b');
      await get(agent, 'tcp');
      assert.deepEqual(opened, ['tcp', 'hbone spiffe://td/ns/a/sa/b']);
      assert.ok((sockets[0]?.listenerCount('error') ?? 0) <= 2, `error listeners: ${sockets[0]?.listenerCount('error')}`);
    } finally {
      agent.destroy();
    }
  });

  it('drops an idle connection the endpoint ended (a half-open tunnel), so the next request opens a new one', async () => {
    // Half-open sockets stand in for tunnel streams, which stay writable after the endpoint's end.
    const sockets: net.Socket[] = [];
    const agent = new StreamAgent(() => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      sockets.push(socket);
      return Promise.resolve(socket);
    }, { keepAlive: true });
    try {
      await get(agent, 'tcp');
      const first = sockets[0]!;
      const closed = new Promise((resolve) => first.once('close', resolve));
      // The endpoint closes its idle keep-alive connection (as a server's keep-alive timeout does).
      server.closeIdleConnections();
      await closed;
      await get(agent, 'tcp');
      assert.equal(sockets.length, 2, 'the ended connection was not reused');
    } finally {
      agent.destroy();
    }
  });
});

// A real HBONE tunnel under the agent (an HTTP/2 stream from the pool,
// through a server on port 0, with real certificates): the pool's streams
// report their destruction a microtask later than a TCP socket does
// (http2-wrapper delays it), which is what made 5243d93 necessary and what
// a socket stand-in cannot show.
describe('Upstream over an HBONE tunnel', { timeout: 30_000 }, () => {
  const BODY = 'x'.repeat(8 * 1024);
  let server: http.Server;
  let hbone: HboneServer;
  let pool: HbonePool;
  let upstream: Upstream;
  let endpoint: Endpoint;

  before(async () => {
    const [ca, keys] = await Promise.all([CertificateAuthority.create({ keyBits: 2048 }), generateKeys(2048)]);
    const issue = (serviceAccount: string, pair: KeyPair): WorkloadCertificate => {
      const id = SpiffeId.of('cluster.local', 'demo', serviceAccount);
      const issued = ca.sign(pair.publicKey, id, new Date(Date.now() - 60_000), new Date(Date.now() + 3_600_000));
      return toWorkloadCertificate(id, pair, issued.chain, issued.roots);
    };
    server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(BODY.length) });
      response.write(BODY.slice(0, 1024));
      setTimeout(() => response.end(BODY.slice(1024)), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The backend's node tunnel: presents the backend's identity and dials the target over TCP.
    hbone = new HboneServer({ certificate: issue('backend', keys) });
    const hboneAddress = await hbone.listen(0);
    pool = new HbonePool();
    const own = issue('waypoint', keys);
    upstream = new Upstream({ pool, certificate: () => own, hbonePort: hboneAddress.port, connectTimeoutMs: 5000 });
    endpoint = {
      address: socketAddress('127.0.0.1', (server.address() as net.AddressInfo).port),
      workload: workload('backend', { ip: '127.0.0.1' }),
    };
  });

  after(async () => {
    upstream.close();
    pool.close();
    await hbone.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('an upstream tunnel\'s late error after the client went away is not fatal, and the next request is served', async () => {
    // Without a listener of its own, the tunnel's error surfaces here (and would end a waypoint).
    const unhandled: Error[] = [];
    const onUncaught = (error: Error): void => { unhandled.push(error); };
    process.on('uncaughtException', onUncaught);
    try {
      const client = new AbortController();
      const gone = exchange({ signal: client.signal });
      gone.trace.upstream = endpoint;
      const response = await forward(upstream)(never)(gone);
      assert.equal(response.status, 200);
      // A client that takes the first chunk and then stops reading: the rest of the body
      // arrives and waits in the upstream response, whose request and tunnel stay open.
      const sink = new Writable({ highWaterMark: 1, write() { /* never done */ } });
      // As the front ends do: a client gone before its response finished aborts the exchange.
      sink.once('close', () => { if (!sink.writableFinished) client.abort(failure('closed', 'DC', 'the client went away')); });
      deliver(response, sink);
      await until(() => (response.body as http.IncomingMessage).complete, 'the whole response body arrived');
      assert.equal(pool.stats().streams, 1, 'the tunnel is still open');
      // The client resets. Its 'close' (a tick later, as a socket's) aborts the exchange and
      // the forward layer destroys its request with that reason: the buffered body is dumped,
      // the response ends and the HTTP client hands the tunnel to the agent (which drops it),
      // no longer listening, all before the tunnel stream emits the reason a microtask late.
      sink.destroy();
      await until(() => pool.stats().streams === 0, 'the tunnel closed');
      for (let turn = 0; turn < 5; turn++) await nextTurn();
      assert.ok(client.signal.aborted, 'the client\'s going away aborted the exchange');
      assert.deepEqual(unhandled.map((error) => error.message), [], 'no unhandled error from the tunnel');

      const next = exchange();
      next.trace.upstream = endpoint;
      const answer = await forward(upstream)(never)(next);
      assert.equal(answer.status, 200);
      assert.equal(await text(answer.body), BODY);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

/** Waits until `condition` holds, checking every 5 ms (up to 10 s). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('writesBuffers', () => {
  it('turns string chunks into Buffers, through write and through end', async () => {
    const seen: unknown[] = [];
    // decodeStrings: false, like an HTTP/2 stream: strings would reach _write as strings.
    const stream = writesBuffers(new Duplex({
      decodeStrings: false,
      read() {},
      write(chunk: unknown, _encoding, callback) {
        seen.push(chunk);
        callback();
      },
    }));
    const finished = new Promise((resolve) => stream.on('finish', resolve));
    let written = false;
    stream.write('GET / HTTP/1.1\r\n', 'latin1', () => { written = true; });
    stream.write(Buffer.from('body'));
    stream.end('caf\u00e9', 'latin1');
    await finished;
    assert.ok(written, 'the write callback still runs');
    assert.deepEqual(seen.map((chunk) => Buffer.isBuffer(chunk)), [true, true, true]);
    assert.deepEqual(seen.map((chunk) => (chunk as Buffer).toString('latin1')), ['GET / HTTP/1.1\r\n', 'body', 'caf\u00e9']);
  });

  it('passes an end without a chunk through, callback included', async () => {
    const stream = writesBuffers(new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } }));
    await new Promise<void>((resolve) => stream.end(() => resolve()));
    assert.ok(stream.writableFinished);
  });
});
