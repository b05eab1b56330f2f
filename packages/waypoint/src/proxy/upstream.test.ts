import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { StreamAgent, writesBuffers } from './upstream.js';

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
