// Who may tunnel: the server's authorize hook, foreign CAs and trust
// domains, the client's check of the server identity, and validity windows.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { HboneServer, HbonePool } from '@ambit/hbone';
import { hboneFixture, type HboneFixture } from '../support/hbone.js';
import { testMesh } from '../support/pki.js';
import { echoServer, readAll, eventually, type TestServer } from '../support/net.js';

const HOUR = 3_600_000;

describe('HBONE identity', () => {
  let fixture: HboneFixture | undefined;
  let echo: TestServer | undefined;
  const extra: { close(): unknown }[] = [];

  afterEach(async () => {
    await fixture?.close();
    await echo?.close();
    for (const thing of extra.splice(0)) await thing.close();
    fixture = undefined;
    echo = undefined;
  });

  it('answers 401 when the authorize hook refuses the peer, and dials nothing', async () => {
    echo = await echoServer();
    const seen: string[] = [];
    fixture = await hboneFixture({
      server: {
        authorize: (request) => {
          seen.push(request.peer.uri);
          if (request.peer.serviceAccount === 'client') {
            throw new AmbitError('denied', `policy deny-client forbids ${request.peer.uri}`);
          }
        },
      },
    });
    await assert.rejects(fixture.pool.connect(fixture.spec(echo.address)), (error: AmbitError) => {
      assert.equal(error.code, 'denied');
      assert.match(error.message, /401/);
      assert.match(error.message, /deny-client/);
      return true;
    });
    assert.deepEqual(seen, [fixture.clientCert.identity.uri], 'the hook saw the identity from the client certificate');
    assert.equal(echo.accepted, 0);
    assert.equal(fixture.server.refusals.get('denied'), 1);
    const allowed = await fixture.mesh.cert('demo', 'allowed');
    const tunnel = await fixture.pool.connect(fixture.spec(echo.address, { source: allowed }));
    tunnel.end('ok');
    assert.equal((await readAll(tunnel)).toString(), 'ok');
  });

  it('fails the handshake for a client certificate from another CA', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const stranger = await (await testMesh()).cert('demo', 'client');
    await assert.rejects(fixture.pool.connect(fixture.spec(echo.address, { source: stranger })), { code: 'tls-failure' });
    await eventually(() => fixture!.server.refusals.get('tls-handshake') === 1 || undefined);
    assert.equal(echo.accepted, 0);
  });

  it('refuses a peer from another trust domain even when its CA is trusted', async () => {
    const home = await testMesh('cluster.local');
    const foreign = await testMesh('other.example');
    const serverCert = await home.cert('ambit-system', 'ztunnel');
    const bothRoots = { ...serverCert, roots: [...serverCert.roots, ...foreign.ca.roots] };
    const server = new HboneServer({ certificate: bothRoots });
    extra.push(server);
    const address = await server.listen(0);
    const pool = new HbonePool();
    extra.push(pool);
    echo = await echoServer();
    const outsider = await foreign.cert('demo', 'client');
    const outsiderTrustingHome = { ...outsider, roots: [...outsider.roots, ...home.ca.roots] };
    await assert.rejects(
      pool.connect({ source: outsiderTrustingHome, destination: { address, identity: serverCert.identity }, target: echo.address }),
      (error: AmbitError) => ['tls-failure', 'no-upstream', 'protocol'].includes(error.code),
    );
    await eventually(() => server.refusals.get('untrusted-peer') === 1 || undefined);
    assert.equal(echo.accepted, 0);
  });

  it('rejects a server presenting another identity, naming both', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const expected = fixture.mesh.id('ambit-system', 'waypoint');
    await assert.rejects(
      fixture.pool.connect(fixture.spec(echo.address, { destination: { address: fixture.address, identity: expected } })),
      (error: AmbitError) => {
        assert.equal(error.code, 'tls-identity-mismatch');
        assert.match(error.message, new RegExp(fixture!.serverCert.identity.uri));
        assert.match(error.message, new RegExp(expected.uri));
        return true;
      },
    );
    assert.equal(echo.accepted, 0);
  });

  it('accepts a server identity through a predicate', async () => {
    fixture = await hboneFixture();
    echo = await echoServer();
    const identity = { description: 'any identity in ambit-system', test: (id: { namespace: string }) => id.namespace === 'ambit-system' };
    const tunnel = await fixture.pool.connect(fixture.spec(echo.address, { destination: { address: fixture.address, identity } }));
    tunnel.end('pred');
    assert.equal((await readAll(tunnel)).toString(), 'pred');
  });

  for (const [label, window] of [
    ['expired', { from: new Date(Date.now() - 3 * HOUR), to: new Date(Date.now() - HOUR) }],
    ['not-yet-valid', { from: new Date(Date.now() + HOUR), to: new Date(Date.now() + 3 * HOUR) }],
  ] as const) {
    it(`refuses an ${label} client certificate`, async () => {
      fixture = await hboneFixture();
      echo = await echoServer();
      const stale = await fixture.mesh.cert('demo', 'client', window);
      await assert.rejects(fixture.pool.connect(fixture.spec(echo.address, { source: stale })), { code: 'tls-failure' });
      await eventually(() => fixture!.server.refusals.get('tls-handshake') === 1 || undefined);
      assert.equal(echo.accepted, 0);
    });

    it(`rejects a server with an ${label} certificate`, async () => {
      const mesh = await testMesh();
      const server = new HboneServer({ certificate: await mesh.cert('ambit-system', 'ztunnel', window) });
      extra.push(server);
      const address = await server.listen(0);
      const pool = new HbonePool();
      extra.push(pool);
      echo = await echoServer();
      await assert.rejects(
        pool.connect({ source: await mesh.cert('demo', 'client'), destination: { address, identity: mesh.id('ambit-system', 'ztunnel') }, target: echo.address }),
        (error: AmbitError) => {
          assert.equal(error.code, 'tls-failure');
          assert.match(error.message, label === 'expired' ? /expired/i : /not yet valid/i);
          return true;
        },
      );
      assert.equal(echo.accepted, 0);
    });
  }

  it('presents the identity selected by the local address', async () => {
    const mesh = await testMesh();
    const podA = await mesh.cert('demo', 'pod-a');
    const server = new HboneServer({ certificate: (local) => (local.ip === '127.0.0.1' ? podA : undefined) });
    extra.push(server);
    const address = await server.listen(0, '0.0.0.0');
    const pool = new HbonePool();
    extra.push(pool);
    echo = await echoServer();
    const source = await mesh.cert('demo', 'client');
    const tunnel = await pool.connect({ source, destination: { address: { ...address, ip: '127.0.0.1' }, identity: podA.identity }, target: echo.address });
    tunnel.end('a');
    assert.equal((await readAll(tunnel)).toString(), 'a');
    await assert.rejects(
      pool.connect({ source, destination: { address: { ...address, ip: '127.0.0.2' }, identity: podA.identity }, target: echo.address }),
      (error: AmbitError) => error instanceof AmbitError,
    );
    await eventually(() => server.refusals.get('no-certificate') === 1 || undefined);
  });
});
