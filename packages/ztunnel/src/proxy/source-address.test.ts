import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '@ambit/core';
import { socketAddress } from '@ambit/api';
import { dialFromSource, sourceAddressFor } from './source-address.js';

const pod = socketAddress('10.244.2.5', 8080);

describe('sourceAddressFor', () => {
  it('nonlocal: the client\'s own address, of the same family, never the pod\'s own', () => {
    assert.equal(sourceAddressFor('nonlocal', '10.244.1.2', pod), '10.244.1.2');
    assert.equal(sourceAddressFor('nonlocal', '10.244.2.5', pod), undefined, 'a pod calling itself would answer itself');
    assert.equal(sourceAddressFor('nonlocal', 'fd00::2', pod), undefined);
    assert.equal(sourceAddressFor('nonlocal', '', pod), undefined);
    assert.equal(sourceAddressFor('nonlocal', 'not-an-ip', pod), undefined);
    assert.equal(sourceAddressFor('nonlocal', 'fd00::2', socketAddress('fd00::5', 80)), 'fd00::2');
  });

  it('loopback: only loopback clients (every pod address is one in the loopback mode)', () => {
    assert.equal(sourceAddressFor('loopback', '127.0.1.1', socketAddress('127.0.2.1', 80)), '127.0.1.1');
    assert.equal(sourceAddressFor('loopback', '10.244.1.2', pod), undefined);
    assert.equal(sourceAddressFor('loopback', '::1', socketAddress('::2', 80)), '::1');
  });

  it('off: always the node\'s address', () => {
    assert.equal(sourceAddressFor('off', '127.0.1.1', socketAddress('127.0.2.1', 80)), undefined);
    assert.equal(sourceAddressFor('off', '10.244.1.2', pod), undefined);
  });
});

describe('dialFromSource', () => {
  let server: net.Server;
  let port = 0;
  const seen: string[] = [];

  before(async () => {
    server = net.createServer((socket) => {
      seen.push(socket.remoteAddress ?? '');
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.2.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => server.close());

  it('the pod sees the client\'s address; with `off`, the node\'s', async () => {
    const target = socketAddress('127.0.2.1', port);
    (await dialFromSource('loopback', '127.0.1.7', target, { timeoutMs: 2000 }, silentLogger)).destroy();
    (await dialFromSource('off', '127.0.1.7', target, { timeoutMs: 2000 }, silentLogger)).destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen.slice(-2), ['127.0.1.7', '127.0.0.1']);
  });

  it('every path turns Nagle off (TCP_NODELAY), a given socket included', async (t) => {
    const sockopt = createRequire(import.meta.url)('sockopt') as { getsockopt(socket: unknown, level: number, option: number): number };
    const IPPROTO_TCP = 6;
    const TCP_NODELAY = 1;
    const target = socketAddress('127.0.2.1', port);
    const dialled = [await dialFromSource('off', '127.0.1.7', target, { timeoutMs: 2000 }, silentLogger), await dialFromSource('loopback', '127.0.1.7', target, { timeoutMs: 2000 }, silentLogger)];
    if (process.getuid?.() === 0) dialled.push(await dialFromSource('nonlocal', '127.0.1.8', target, { timeoutMs: 2000 }, silentLogger));
    else t.diagnostic('the transparent socket needs root; checked the other two');
    for (const socket of dialled) {
      assert.notEqual(sockopt.getsockopt(socket, IPPROTO_TCP, TCP_NODELAY), 0, `TCP_NODELAY on the socket from ${socket.localAddress ?? '?'}`);
      socket.destroy();
    }
  });

  it('nonlocal: dials through a transparent socket bound before it connects', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('IP_TRANSPARENT needs CAP_NET_ADMIN: run as root (test/netns proves the foreign-address case)');
      return;
    }
    // A loopback address binds without ip_nonlocal_bind; the path is the one capture uses.
    (await dialFromSource('nonlocal', '127.0.1.8', socketAddress('127.0.2.1', port), { timeoutMs: 2000 }, silentLogger)).destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(seen.at(-1), '127.0.1.8');
  });

  it('a source the kernel will not bind falls back to the node\'s address, with a warning', async (t) => {
    if (readFileSync('/proc/sys/net/ipv4/ip_nonlocal_bind', 'utf8').trim() !== '0') {
      t.skip('net.ipv4.ip_nonlocal_bind is on in this namespace, so a foreign source would bind');
      return;
    }
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } }) });
    // TEST-NET-1: not an address of this machine.
    const socket = await dialFromSource('nonlocal', '192.0.2.10', socketAddress('127.0.2.1', port), { timeoutMs: 2000 }, logger);
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(seen.at(-1), '127.0.0.1', 'connected from the node\'s address');
    assert.equal(lines.length, 1, 'one warning for the fallback');
    assert.match(lines[0] ?? '', /EADDRNOTAVAIL/);
  });
});
