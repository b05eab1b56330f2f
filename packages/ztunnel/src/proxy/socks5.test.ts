import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AmbitError } from '@ambit/core';
import { socketAddress, formatAuthority } from '@ambit/api';
import { encodeReply, isNamed, negotiate, parseGreeting, parseRequest, Reply, replyFor } from './socks5.js';
import { refusal } from './flags.js';

const request = (atyp: number, address: number[], port: number, command = 1): Buffer =>
  Buffer.from([5, command, 0, atyp, ...address, port >> 8, port & 0xff]);
const domain = (name: string, port: number): Buffer => request(3, [name.length, ...Buffer.from(name, 'latin1')], port);

describe('SOCKS5 greeting', () => {
  it('accepts a complete greeting and says how long it was', () => {
    assert.deepEqual(parseGreeting(Buffer.from([5, 2, 0, 2, 0xaa])), { kind: 'ok', methods: [0, 2], length: 4 });
  });
  it('waits for more bytes', () => {
    assert.equal(parseGreeting(Buffer.from([])).kind, 'incomplete');
    assert.equal(parseGreeting(Buffer.from([5])).kind, 'incomplete');
    assert.equal(parseGreeting(Buffer.from([5, 2, 0])).kind, 'incomplete');
  });
  it('refuses SOCKS4 and empty method lists', () => {
    assert.match((parseGreeting(Buffer.from([4, 1, 0])) as { reason: string }).reason, /version 4 is not SOCKS5/);
    assert.match((parseGreeting(Buffer.from([5, 0])) as { reason: string }).reason, /no authentication method/);
  });
});

describe('SOCKS5 request', () => {
  const ok: { name: string; bytes: Buffer; ip: string; port: number }[] = [
    { name: 'IPv4', bytes: request(1, [10, 244, 1, 7], 8080), ip: '10.244.1.7', port: 8080 },
    { name: 'IPv6, compressed as the mesh stores it', bytes: request(4, [0xfd, 0, ...new Array<number>(13).fill(0), 7], 443), ip: 'fd00::7', port: 443 },
    { name: 'a domain name that is an IPv4 literal', bytes: domain('127.0.9.1', 80), ip: '127.0.9.1', port: 80 },
    { name: 'a domain name that is a bracketed IPv6 literal', bytes: domain('[FD00:0:0::7]', 80), ip: 'fd00::7', port: 80 },
  ];
  for (const c of ok) {
    it(`parses ${c.name}`, () => {
      const parsed = parseRequest(Buffer.concat([c.bytes, Buffer.from('GET /')]));
      assert.equal(parsed.kind, 'ok');
      if (parsed.kind !== 'ok') return;
      assert.deepEqual(parsed.destination, socketAddress(c.ip, c.port));
      assert.equal(parsed.length, c.bytes.length, 'bytes after the request are not part of it');
    });
  }

  it('keeps a DNS name for the listener to resolve, lowercased and without the final dot', () => {
    const bytes = domain('Echo.Demo.svc.cluster.local.', 8080);
    const parsed = parseRequest(bytes);
    assert.deepEqual(parsed, { kind: 'ok', destination: { name: 'echo.demo.svc.cluster.local', port: 8080 }, length: bytes.length });
  });

  it('waits for a complete request', () => {
    const full = request(1, [10, 0, 0, 1], 80);
    for (let n = 0; n < full.length; n++) assert.equal(parseRequest(full.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
  });

  const bad: { name: string; bytes: Buffer; reply: number; reason: RegExp }[] = [
    { name: 'BIND', bytes: request(1, [10, 0, 0, 1], 80, 2), reply: Reply.commandNotSupported, reason: /only CONNECT/ },
    { name: 'UDP ASSOCIATE', bytes: request(1, [10, 0, 0, 1], 80, 3), reply: Reply.commandNotSupported, reason: /command 3/ },
    { name: 'a name that is no DNS name', bytes: domain('echo demo/../x', 80), reply: Reply.hostUnreachable, reason: /neither an IP address nor a DNS name/ },
    { name: 'a name with port 0', bytes: domain('echo.demo', 0), reply: Reply.hostUnreachable, reason: /echo\.demo has port 0/ },
    { name: 'an unknown address type', bytes: request(9, [1, 2, 3, 4], 80), reply: Reply.addressTypeNotSupported, reason: /address type 9/ },
    { name: 'port 0', bytes: request(1, [10, 0, 0, 1], 0), reply: Reply.hostUnreachable, reason: /port 0/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.name} with reply ${c.reply}`, () => {
      const parsed = parseRequest(c.bytes);
      assert.equal(parsed.kind, 'invalid');
      if (parsed.kind !== 'invalid') return;
      assert.equal(parsed.reply, c.reply);
      assert.match(parsed.reason, c.reason);
    });
  }

  it('encodes replies with a 0.0.0.0:0 bound address', () => {
    assert.deepEqual([...encodeReply(Reply.notAllowed)], [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('maps refusals to the closest reply code', () => {
    assert.equal(replyFor(refusal('denied', 'denied-by-policy', 'DENY', 'no')), Reply.notAllowed);
    assert.equal(replyFor(refusal('no-upstream', 'no-healthy-endpoint', 'NR', 'no')), Reply.hostUnreachable);
    assert.equal(replyFor(new AmbitError('no-upstream', 'refused')), Reply.connectionRefused);
    assert.equal(replyFor(new AmbitError('timeout', 'slow')), Reply.hostUnreachable);
    assert.equal(replyFor(new AmbitError('tls-failure', 'bad')), Reply.generalFailure);
  });
});

describe('SOCKS5 handshake on a socket', () => {
  const servers: net.Server[] = [];
  after(() => { for (const s of servers) s.close(); });

  async function pair(): Promise<{ client: net.Socket; accepted: Promise<net.Socket> }> {
    let resolveAccepted!: (s: net.Socket) => void;
    const accepted = new Promise<net.Socket>((resolve) => { resolveAccepted = resolve; });
    const server = net.createServer({ allowHalfOpen: true }, resolveAccepted);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    return { client, accepted };
  }

  it('completes a byte-at-a-time handshake and keeps pipelined bytes for the connection', async () => {
    const { client, accepted } = await pair();
    const socket = await accepted;
    const negotiated = negotiate(socket, 5_000);
    const bytes = Buffer.concat([Buffer.from([5, 1, 0]), request(1, [10, 0, 0, 9], 8080), Buffer.from('hello')]);
    for (const byte of bytes) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await negotiated;
    assert.equal(isNamed(result.destination) ? result.destination.name : formatAuthority(result.destination), '10.0.0.9:8080');
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    result.reply(Reply.succeeded);
    socket.resume();
    const rest = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
    assert.equal(rest.toString(), 'hello');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual([...Buffer.concat(received)], [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    client.destroy();
    socket.destroy();
  });

  it('answers "no acceptable methods" to a client that wants authentication', async () => {
    const { client, accepted } = await pair();
    const negotiated = negotiate(await accepted, 5_000);
    const answer = new Promise<Buffer>((resolve) => client.once('data', resolve));
    client.write(Buffer.from([5, 1, 2]));
    await assert.rejects(negotiated, /only "no authentication"/);
    assert.deepEqual([...await answer], [5, 0xff]);
    client.destroy();
  });

  it('gives up on a client that stalls', async () => {
    const { client, accepted } = await pair();
    await assert.rejects(negotiate(await accepted, 50), /within 50 ms/);
    client.destroy();
  });
});
