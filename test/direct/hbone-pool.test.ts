// The pooled client: reuse, rollover at the stream limit, 1000 concurrent
// tunnels, lanes, GOAWAY, a dead server, idle release, and per-identity keys.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Stream } from 'node:http2';
import { HboneServer } from '@ambit/hbone';
import { hboneFixture, type HboneFixture } from '../support/hbone.js';
import { echoServer, readAll, eventually, type TestServer } from '../support/net.js';

async function roundTrip(tunnel: ClientHttp2Stream, text: string): Promise<string> {
  tunnel.end(text);
  return (await readAll(tunnel)).toString();
}

describe('HBONE pool', () => {
  let fixture: HboneFixture | undefined;
  let echo: TestServer | undefined;

  afterEach(async () => {
    await fixture?.close();
    await echo?.close();
    fixture = undefined;
    echo = undefined;
  });

  it('reuses one connection for sequential and concurrent tunnels', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    for (let i = 0; i < 5; i++) assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), `seq ${i}`), `seq ${i}`);
    const tunnels = await Promise.all(Array.from({ length: 20 }, () => fixture!.pool.connect(fixture!.spec(echo!.address))));
    const replies = await Promise.all(tunnels.map((t, i) => roundTrip(t, `par ${i}`)));
    assert.deepEqual(replies, tunnels.map((_, i) => `par ${i}`));
    assert.equal(fixture.pool.stats().opened, 1);
    assert.equal(fixture.server.stats.sessions, 1);
    assert.equal(echo.accepted, 25);
  });

  it('opens a new connection when the per-connection stream limit is reached', async () => {
    fixture = await hboneFixture({ pool: { maxStreamsPerConnection: 3 } });
    echo = await echoServer();
    const tunnels = await Promise.all(Array.from({ length: 7 }, () => fixture!.pool.connect(fixture!.spec(echo!.address))));
    assert.equal(fixture.pool.stats().opened, 3, '7 tunnels at 3 per connection need 3 connections');
    assert.equal(fixture.pool.stats().streams, 7);
    await Promise.all(tunnels.map((t, i) => roundTrip(t, String(i))));
  });

  it('carries 1000 concurrent tunnels on ceil(1000 / limit) connections', async () => {
    fixture = await hboneFixture({ pool: { maxStreamsPerConnection: 100 } });
    echo = await echoServer();
    const tunnels = await Promise.all(Array.from({ length: 1000 }, () => fixture!.pool.connect(fixture!.spec(echo!.address))));
    assert.equal(tunnels.length, 1000);
    assert.equal(fixture.server.stats.tunnels, 1000, 'all 1000 tunnels are open at the same time');
    assert.equal(fixture.pool.stats().opened, 10);
    assert.equal(fixture.server.stats.sessions, 10);
    const replies = await Promise.all(tunnels.map((t, i) => roundTrip(t, `tunnel ${i}`)));
    replies.forEach((reply, i) => assert.equal(reply, `tunnel ${i}`));
    assert.equal(echo.accepted, 1000);
  });

  it('spreads tunnels over one connection per lane, reusing each', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const tunnels = await Promise.all(Array.from({ length: 9 }, (_, i) => fixture!.pool.connect(fixture!.spec(echo!.address, { lane: i % 3 }))));
    assert.equal(fixture.pool.stats().opened, 3, 'three lanes, three connections');
    assert.equal(fixture.server.stats.sessions, 3);
    const replies = await Promise.all(tunnels.map((t, i) => roundTrip(t, `lane ${i % 3}`)));
    replies.forEach((reply, i) => assert.equal(reply, `lane ${i % 3}`));
    await roundTrip(await fixture.pool.connect(fixture.spec(echo.address, { lane: 2 })), 'again');
    assert.equal(fixture.pool.stats().opened, 3, 'a lane reuses its connection');
  });

  it('keys connections by source identity: another workload never shares a connection', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const other = await fixture.mesh.cert('demo', 'other');
    await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'a');
    await roundTrip(await fixture.pool.connect(fixture.spec(echo.address, { source: other })), 'b');
    await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'c');
    assert.equal(fixture.pool.stats().opened, 2);
    const peers = new Set<string>();
    fixture.server.on('tunnel-open', (request) => peers.add(request.peer.uri));
    await roundTrip(await fixture.pool.connect(fixture.spec(echo.address, { source: other })), 'd');
    assert.deepEqual([...peers], [other.identity.uri]);
  });

  it('moves new tunnels to a new connection after GOAWAY while old tunnels finish', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const old = await fixture.pool.connect(fixture.spec(echo.address));
    old.write('before ');
    fixture.server.goAway();
    await eventually(() => old.session?.closed === true || undefined);
    const fresh = await fixture.pool.connect(fixture.spec(echo.address));
    assert.equal(fixture.pool.stats().opened, 2, 'the tunnel after GOAWAY used a new connection');
    assert.equal(await roundTrip(fresh, 'fresh'), 'fresh');
    old.end('after');
    assert.equal((await readAll(old)).toString(), 'before after', 'the tunnel open at GOAWAY still completed');
  });

  it('recovers after the server goes away and comes back on the same port', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'one'), 'one');
    await fixture.server.close();
    await eventually(() => fixture!.pool.stats().connections === 0 || undefined);
    await assert.rejects(fixture.pool.connect(fixture.spec(echo.address)), { code: 'no-upstream' });
    const revived = new HboneServer({ certificate: fixture.serverCert });
    await revived.listen(fixture.address.port);
    try {
      assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'two'), 'two');
      assert.equal(revived.stats.sessions, 1);
    } finally {
      await revived.close();
    }
  });

  it('resumes the TLS session on reconnect and still authenticates the client', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const peers: string[] = [];
    fixture.server.on('tunnel-open', (request) => peers.push(request.peer.uri));
    assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'first'), 'first');
    await eventually(() => fixture!.pool.stats().streams === 0 || undefined);
    fixture.pool.closeIdle();
    await eventually(() => fixture!.pool.stats().connections === 0 || undefined);
    assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'second'), 'second');
    const stats = fixture.pool.stats();
    assert.equal(stats.opened, 2, 'the second tunnel needed a new connection');
    assert.equal(stats.resumed, 1, 'and that connection resumed the first TLS session');
    assert.deepEqual(peers, [fixture.clientCert.identity.uri, fixture.clientCert.identity.uri],
      'the resumed connection carried the client identity from its session');
  });

  it('closes connections left idle for idleTimeoutMs', async () => {
    fixture = await hboneFixture({ pool: { idleTimeoutMs: 200 } });
    echo = await echoServer();
    assert.equal(await roundTrip(await fixture.pool.connect(fixture.spec(echo.address)), 'x'), 'x');
    assert.equal(fixture.pool.stats().connections, 1);
    await eventually(() => fixture!.pool.stats().connections === 0 || undefined, 5_000);
    await eventually(() => fixture!.server.stats.sessions === 0 || undefined, 5_000);
  });

  it('keeps a connection with a quiet but open tunnel past the idle timeout', async () => {
    fixture = await hboneFixture({ pool: { idleTimeoutMs: 100 } });
    echo = await echoServer();
    const tunnel = await fixture.pool.connect(fixture.spec(echo.address));
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(fixture.pool.stats().connections, 1);
    assert.equal(await roundTrip(tunnel, 'still here'), 'still here');
  });
});
