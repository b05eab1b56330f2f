// What the server does with each request: only CONNECT to ip:port, 200 only
// after the upstream is connected, 503 for an unreachable upstream,
// half-close and reset both ways, limits, and tunnel metadata.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AmbitError } from '@ambit/core';
import { socketAddress } from '@ambit/api';
import { dialTcp, type TunnelRequest } from '@ambit/hbone';
import { hboneFixture, rawRequest, rawSession, type HboneFixture } from '../support/hbone.js';
import { echoServer, tcpServer, closedPort, readAll, eventually, type TestServer } from '../support/net.js';

describe('HBONE requests', () => {
  let fixture: HboneFixture | undefined;
  let upstream: TestServer | undefined;

  afterEach(async () => {
    await fixture?.close();
    await upstream?.close();
    fixture = undefined;
    upstream = undefined;
  });

  it('answers 400 to methods other than CONNECT and dials nothing', async () => {
    upstream = await echoServer();
    fixture = await hboneFixture();
    const session = await rawSession(fixture.clientCert, fixture.address, fixture.serverCert.identity);
    try {
      for (const method of ['GET', 'POST']) {
        const response = await rawRequest(session, { ':method': method, ':path': '/', ':authority': `127.0.0.1:${upstream.address.port}` });
        assert.equal(response[':status'], 400);
        assert.match(String(response['ambit-reason']), new RegExp(`method ${method}`));
      }
    } finally {
      session.close();
    }
    assert.equal(upstream.accepted, 0);
    assert.equal(fixture.server.refusals.get('bad-method'), 2);
  });

  it('answers 400 to an authority that is not ip:port and dials nothing', async () => {
    fixture = await hboneFixture();
    const session = await rawSession(fixture.clientCert, fixture.address, fixture.serverCert.identity);
    try {
      for (const authority of ['example.com:80', '127.0.0.1', '127.0.0.1:0', '[::1]']) {
        const response = await rawRequest(session, { ':method': 'CONNECT', ':authority': authority });
        assert.equal(response[':status'], 400, authority);
      }
    } finally {
      session.close();
    }
    assert.equal(fixture.server.refusals.get('bad-authority'), 4);
  });

  it('answers 503 for an unreachable upstream and the client gets no-upstream', async () => {
    fixture = await hboneFixture();
    const nothing = await closedPort();
    await assert.rejects(fixture.pool.connect(fixture.spec(nothing)), (error: AmbitError) => {
      assert.equal(error.code, 'no-upstream');
      assert.match(error.message, /503/);
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
    assert.equal(fixture.server.refusals.get('no-upstream'), 1);
  });

  it('answers 200 only after the upstream connection is established', async () => {
    upstream = await echoServer();
    let releaseConnect!: () => void;
    const gate = new Promise<void>((resolve) => { releaseConnect = resolve; });
    fixture = await hboneFixture({
      server: { connect: async (request) => { await gate; return dialTcp(request.target); } },
    });
    let answered = false;
    const pending = fixture.pool.connect(fixture.spec(upstream.address)).then((t) => { answered = true; return t; });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answered, false, 'no 200 while the upstream is still connecting');
    assert.equal(upstream.accepted, 0);
    releaseConnect();
    const tunnel = await pending;
    assert.equal(upstream.accepted, 1);
    tunnel.end('x');
    assert.equal((await readAll(tunnel)).toString(), 'x');
  });

  it('propagates half-close: the client ends, the upstream still replies, then both close', async () => {
    let upstreamSawEnd = false;
    upstream = await tcpServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => {
        upstreamSawEnd = true;
        // Reply only after the client's half-close arrived, then close our side.
        setTimeout(() => socket.end(`got ${Buffer.concat(chunks).toString()}`), 50);
      });
    });
    fixture = await hboneFixture();
    const closed = new Promise<void>((resolve) => fixture!.server.once('tunnel-close', () => resolve()));
    const tunnel = await fixture.pool.connect(fixture.spec(upstream.address));
    tunnel.end('question');
    const reply = await readAll(tunnel);
    assert.equal(upstreamSawEnd, true);
    assert.equal(reply.toString(), 'got question');
    await closed;
    await eventually(() => tunnel.closed || undefined);
    assert.equal(tunnel.rstCode, 0, 'the stream closed cleanly, not by reset');
  });

  it('propagates half-close the other way: the upstream ends first, the client still sends', async () => {
    let received = '';
    upstream = await tcpServer((socket) => {
      socket.end('bye early');
      socket.on('data', (chunk: Buffer) => { received += chunk.toString(); });
    });
    fixture = await hboneFixture();
    const tunnel = await fixture.pool.connect(fixture.spec(upstream.address));
    const reply = await readAll(tunnel);
    assert.equal(reply.toString(), 'bye early');
    tunnel.end('late words');
    await eventually(() => received === 'late words' || undefined);
  });

  it('turns an upstream reset into a stream reset for the client', async () => {
    upstream = await tcpServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    fixture = await hboneFixture();
    const tunnel = await fixture.pool.connect(fixture.spec(upstream.address));
    const failed = new Promise<Error>((resolve) => tunnel.once('error', resolve));
    tunnel.write('trigger');
    const error = await failed;
    assert.match(error.message, /NGHTTP2_CONNECT_ERROR|CONNECT_ERROR|code 10/);
  });

  it('turns a client reset into an upstream reset', async () => {
    let upstreamError: string | undefined;
    let firstData!: () => void;
    const gotData = new Promise<void>((resolve) => { firstData = resolve; });
    upstream = await tcpServer((socket) => {
      socket.on('error', (error: NodeJS.ErrnoException) => { upstreamError = error.code; });
      socket.once('data', () => firstData());
    });
    fixture = await hboneFixture();
    const tunnel = await fixture.pool.connect(fixture.spec(upstream.address));
    tunnel.write('hello');
    await gotData;
    tunnel.destroy();
    await eventually(() => upstreamError);
    assert.equal(upstreamError, 'ECONNRESET');
  });

  it('answers 431 to oversized request headers and counts it', async () => {
    upstream = await echoServer();
    fixture = await hboneFixture({ server: { limits: { maxHeaderListBytes: 1024 } } });
    await assert.rejects(
      fixture.pool.connect(fixture.spec(upstream.address, { metadata: { baggage: { big: 'x'.repeat(2000) } } })),
      (error: AmbitError) => error.code === 'bad-request' && /431/.test(error.message),
    );
    assert.equal(fixture.server.refusals.get('headers-too-large'), 1);
    assert.equal(upstream.accepted, 0);
  });

  it('delivers forwarded, baggage and traceparent to the server hooks', async () => {
    upstream = await echoServer();
    const requests: TunnelRequest[] = [];
    fixture = await hboneFixture({ server: { authorize: (request) => { requests.push(request); } } });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const tunnel = await fixture.pool.connect(fixture.spec(upstream.address, {
      metadata: { forwardedFor: '10.244.1.7', baggage: { 'k8s.namespace.name': 'demo', 'service.version': 'v 1' }, traceparent },
    }));
    tunnel.end();
    await readAll(tunnel);
    const request = requests[0]!;
    assert.equal(request.metadata.forwardedFor, '10.244.1.7');
    assert.deepEqual(request.metadata.baggage, { 'k8s.namespace.name': 'demo', 'service.version': 'v 1' });
    assert.equal(request.metadata.traceparent, traceparent);
    assert.equal(request.target.port, upstream.address.port);
    assert.equal(request.peer.uri, fixture.clientCert.identity.uri);
    // Without one, the client starts a new trace.
    const second = await fixture.pool.connect(fixture.spec(upstream.address));
    second.end();
    await readAll(second);
    assert.match(requests[1]!.metadata.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('refuses new tunnels while draining and finishes the open ones', async () => {
    upstream = await echoServer();
    fixture = await hboneFixture();
    const open = await fixture.pool.connect(fixture.spec(upstream.address));
    open.write('a');
    const stopped = fixture.server.stopAccepting();
    await stopped;
    await assert.rejects(fixture.pool.connect(fixture.spec(upstream.address)));
    open.end('b');
    assert.equal((await readAll(open)).toString(), 'ab');
    await fixture.server.idle();
    assert.equal(fixture.server.stats.connections, 0);
  });

  it('times out a TLS handshake that never happens and counts it', async () => {
    fixture = await hboneFixture({ server: { limits: { handshakeTimeoutMs: 200 } } });
    const socket = net.connect(fixture.address.port, fixture.address.ip);
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await closed;
    await eventually(() => fixture!.server.refusals.get('tls-handshake') === 1 || undefined);
  });
  it('hands the CONNECT stream itself to a serve hook once authorized, counts it open, and closes it when idle', async () => {
    const served: TunnelRequest[] = [];
    fixture = await hboneFixture({
      server: {
        authorize: (request) => {
          if (request.target.port === 9) throw new AmbitError('denied', 'not here');
        },
        // An in-process echo: the tunnel's own bytes come back on it.
        serve: (request, tunnel) => {
          served.push(request);
          tunnel.pipe(tunnel);
        },
        limits: { tunnelIdleTimeoutMs: 300 },
      },
    });
    const target = socketAddress('10.9.9.9', 8080);
    const tunnel = await fixture.pool.connect(fixture.spec(target));
    assert.equal(served.length, 1);
    assert.deepEqual(served[0]?.target, target, 'nothing is dialled: the hook sees what was asked for');
    assert.equal(fixture.server.stats.tunnels, 1);
    tunnel.write('ping');
    const echoed = await new Promise<string>((resolve) => tunnel.once('data', (chunk: Buffer) => resolve(String(chunk))));
    assert.equal(echoed, 'ping');
    await eventually(() => tunnel.destroyed || undefined, 5_000);
    await eventually(() => fixture!.server.stats.tunnels === 0 || undefined);

    await assert.rejects(fixture.pool.connect(fixture.spec(socketAddress('10.9.9.9', 9))));
    assert.equal(served.length, 1, 'a refused tunnel is never served');
  });
});
