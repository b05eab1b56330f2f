// An HBONE server and pool on loopback with real certificates, torn down by `close`.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import tls from 'node:tls';
import { HboneServer, HbonePool, type HboneServerOptions, type PoolOptions, type TunnelSpec } from '@ambit/hbone';
import { meshClientOptions, type WorkloadCertificate } from '@ambit/identity';
import type { SocketAddress } from '@ambit/api';
import { testMesh, type TestMesh } from './pki.js';

export interface HboneFixture {
  mesh: TestMesh;
  server: HboneServer;
  serverCert: WorkloadCertificate;
  clientCert: WorkloadCertificate;
  address: SocketAddress;
  pool: HbonePool;
  /** A tunnel spec from the client identity to the server, for `target`. */
  spec(target: SocketAddress, extra?: Partial<TunnelSpec>): TunnelSpec;
  close(): Promise<void>;
}

export async function hboneFixture(
  options: { server?: Partial<HboneServerOptions>; pool?: PoolOptions; mesh?: TestMesh } = {},
): Promise<HboneFixture> {
  const mesh = options.mesh ?? await testMesh();
  const serverCert = await mesh.cert('ambit-system', 'ztunnel');
  const clientCert = await mesh.cert('demo', 'client');
  const server = new HboneServer({ certificate: serverCert, ...options.server });
  const address = await server.listen(0);
  const pool = new HbonePool(options.pool);
  return {
    mesh, server, serverCert, clientCert, address, pool,
    spec: (target, extra = {}) => ({
      source: clientCert,
      destination: { address, identity: serverCert.identity },
      target,
      ...extra,
    }),
    async close() {
      pool.close();
      await server.close();
    },
  };
}

/** A raw HTTP/2 session with mesh TLS, for sending requests the pool never would. */
export async function rawSession(cert: WorkloadCertificate, address: SocketAddress, expected: WorkloadCertificate['identity']): Promise<ClientHttp2Session> {
  const socket = tls.connect({ ...meshClientOptions(cert, expected), host: address.ip, port: address.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const session = http2.connect(`https://${address.ip}:${address.port}`, { createConnection: () => socket });
  session.on('error', () => undefined);
  return session;
}

/** Sends one request on a raw session and returns the response headers. */
export function rawRequest(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false });
    stream.on('error', reject);
    stream.once('response', (response) => {
      resolve(response);
      stream.close();
    });
  });
}
