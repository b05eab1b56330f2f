// Bulk transfer through one tunnel, both directions at once, byte-exact.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { hboneFixture, type HboneFixture } from '../support/hbone.js';
import { tcpServer, drainHash, type TestServer } from '../support/net.js';

const MIB = 1024 * 1024;
const SIZE = 64 * MIB;

/** Writes `total` pseudo-random bytes in 1 MiB chunks honouring backpressure, then ends; resolves with their hash. */
async function writeRandom(stream: Duplex, total: number): Promise<string> {
  const hash = createHash('sha256');
  const block = randomBytes(MIB);
  for (let written = 0; written < total; written += MIB) {
    // Vary each chunk so reordering or duplication would change the hash.
    const chunk = Buffer.from(block);
    chunk.writeUInt32BE(written / MIB, 0);
    hash.update(chunk);
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
  }
  stream.end();
  return hash.digest('hex');
}

describe('HBONE bulk transfer', () => {
  let fixture: HboneFixture;
  let sink: TestServer;
  let serverSide: Promise<{ received: { bytes: number; sha256: string }; sent: string }>;

  before(async () => {
    fixture = await hboneFixture();
    let resolveServerSide!: (value: { received: { bytes: number; sha256: string }; sent: string }) => void;
    serverSide = new Promise((resolve) => { resolveServerSide = resolve; });
    // The upstream app reads everything and, at the same time, sends 64 MiB of its own.
    sink = await tcpServer((socket) => {
      void Promise.all([drainHash(socket), writeRandom(socket, SIZE)]).then(([received, sent]) => resolveServerSide({ received, sent }));
    });
  });

  after(async () => {
    await fixture.close();
    await sink.close();
  });

  it('moves 64 MiB each way simultaneously with identical hashes', async () => {
    const tunnel = await fixture.pool.connect(fixture.spec(sink.address));
    const [clientReceived, clientSent] = await Promise.all([drainHash(tunnel), writeRandom(tunnel, SIZE)]);
    const server = await serverSide;
    assert.equal(server.received.bytes, SIZE, 'upstream received every byte');
    assert.equal(server.received.sha256, clientSent, 'upstream received exactly what the client sent');
    assert.equal(clientReceived.bytes, SIZE, 'client received every byte');
    assert.equal(clientReceived.sha256, server.sent, 'client received exactly what the upstream sent');
  });
});
