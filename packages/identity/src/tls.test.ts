import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { AmbitError, SpiffeId } from '@ambit/core';
import { CertificateAuthority } from './ca.js';
import { generateKeys, type KeyPair } from './keys.js';
import {
  checkPeer, describePeer, meshClientOptions, meshSecureContext, meshServerOptions, meshTlsOptions, peerIdentity,
  type PeerMatcher, type WorkloadCertificate,
} from './tls.js';

// The handshake checks validity against the real clock, so windows are relative to Date.now().
const [serverKeys, clientKeys, ca, otherCa] = await Promise.all([
  generateKeys(), generateKeys(), CertificateAuthority.create(), CertificateAuthority.create(),
]);

const HOUR = 3_600_000;
const serverId = SpiffeId.of('cluster.local', 'demo', 'server');
const clientId = SpiffeId.of('cluster.local', 'demo', 'client');
const impostorId = SpiffeId.of('cluster.local', 'demo', 'impostor');

interface WorkloadOptions {
  issuer?: CertificateAuthority;
  /** Roots the workload trusts; its own CA's by default. */
  trusts?: readonly string[];
  from?: number;
  to?: number;
}

function workload(keys: KeyPair, identity: SpiffeId, options: WorkloadOptions = {}): WorkloadCertificate {
  const issuer = options.issuer ?? ca;
  const from = options.from ?? Date.now() - HOUR;
  const to = options.to ?? Date.now() + HOUR;
  const issued = issuer.sign(keys.publicKey, identity, new Date(from), new Date(to));
  return {
    identity, privateKey: keys.privateKey, chain: issued.chain, roots: [...(options.trusts ?? issued.roots)],
    serial: issued.serial, notBefore: from, notAfter: to,
  };
}

const server = workload(serverKeys, serverId);
const client = workload(clientKeys, clientId);

type TlsError = Error & { code?: unknown };

interface ClientOutcome {
  /** Data the server sent after its handshake: only a fully accepted client receives it. */
  data: string;
  error: TlsError | undefined;
  protocol: string | null;
  alpn: string | false | null;
  cipher: string | undefined;
  serverIdentity: string | undefined;
}

interface ServerOutcome {
  /** Identities of clients whose handshake the server completed. */
  accepted: string[];
  /** Handshake failures the server saw. */
  errors: TlsError[];
  /**
   * Why the server refused the client's certificate. Node completes the TLS 1.3
   * handshake, then destroys the socket without an alert, so the error itself is
   * only "socket hang up"; the reason is on the socket.
   */
  authorizationErrors: string[];
}

/**
 * One connection from `clientOptions` to a server with `serverOptions`, on
 * 127.0.0.1 port 0. An accepted client is greeted with "hello <its identity>".
 */
async function handshake(serverOptions: tls.TlsOptions, clientOptions: tls.ConnectionOptions): Promise<{ client: ClientOutcome; server: ServerOutcome }> {
  const serverOutcome: ServerOutcome = { accepted: [], errors: [], authorizationErrors: [] };
  const sockets = new Set<net.Socket>();
  const listener = tls.createServer(serverOptions, (socket) => {
    socket.on('error', () => undefined); // a client that rejects us resets the connection
    const identity = peerIdentity(socket).uri;
    serverOutcome.accepted.push(identity);
    socket.end(`hello ${identity}`);
  });
  listener.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  listener.on('tlsClientError', (error, socket) => {
    serverOutcome.errors.push(error);
    if (socket.authorizationError !== undefined) serverOutcome.authorizationErrors.push(String(socket.authorizationError));
    socket.destroy();
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  try {
    const clientOutcome = await new Promise<ClientOutcome>((resolve) => {
      const outcome: ClientOutcome = { data: '', error: undefined, protocol: null, alpn: null, cipher: undefined, serverIdentity: undefined };
      const socket = tls.connect({ ...clientOptions, host: '127.0.0.1', port });
      socket.setEncoding('utf8');
      socket.setTimeout(5_000, () => socket.destroy(new Error('client timed out')));
      socket.on('secureConnect', () => {
        outcome.protocol = socket.getProtocol();
        outcome.alpn = socket.alpnProtocol;
        outcome.cipher = socket.getCipher().standardName;
        outcome.serverIdentity = peerIdentity(socket).uri;
      });
      socket.on('data', (chunk: string) => { outcome.data += chunk; });
      socket.on('error', (error) => { outcome.error ??= error; });
      socket.on('close', () => resolve(outcome));
    });
    const deadline = Date.now() + 2_000;
    while (serverOutcome.accepted.length + serverOutcome.errors.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { client: clientOutcome, server: serverOutcome };
  } finally {
    for (const socket of sockets) socket.destroy();
    listener.close();
  }
}

function mesh(serverCert: WorkloadCertificate, clientCert: WorkloadCertificate, expected: PeerMatcher = serverId) {
  return handshake(meshServerOptions(serverCert, { handshakeTimeoutMs: 2_000 }), meshClientOptions(clientCert, expected));
}

/** Plain tls.connect options presenting `cert` (if any) and trusting the mesh root; overrides come last. */
function plainClient(cert: WorkloadCertificate | undefined, overrides: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  return {
    ca: [...ca.roots],
    ...(cert === undefined ? {} : { cert: cert.chain.join(''), key: cert.privateKey.export({ type: 'pkcs8', format: 'pem' }) }),
    checkServerIdentity: () => undefined,
    ...overrides,
  };
}

function assertAccepted(outcome: { client: ClientOutcome; server: ServerOutcome }, clientIdentity = clientId): void {
  assert.equal(outcome.client.error, undefined, outcome.client.error?.message);
  assert.equal(outcome.client.data, `hello ${clientIdentity.uri}`);
  assert.deepEqual(outcome.server.accepted, [clientIdentity.uri]);
  assert.deepEqual(outcome.server.errors, []);
}

/**
 * The server refused the client during the handshake: it never served it and
 * reported the failure. With TLS 1.3 the client may already consider itself
 * connected; all it sees is the connection closing before any data.
 */
function assertServerRefused(outcome: { client: ClientOutcome; server: ServerOutcome }): TlsError {
  assert.deepEqual(outcome.server.accepted, []);
  assert.equal(outcome.server.errors.length, 1, 'the server reports one handshake failure');
  assert.equal(outcome.client.data, '');
  return outcome.server.errors[0]!;
}

/** The client refused the server: it never read anything and reports why. */
function assertClientRefused(outcome: { client: ClientOutcome; server: ServerOutcome }, code: string): TlsError {
  assert.equal(outcome.client.data, '');
  assert.ok(outcome.client.error !== undefined, 'the client refuses the server');
  assert.equal(outcome.client.error.code, code, outcome.client.error.message);
  return outcome.client.error;
}

describe('mesh TLS options', () => {
  it('pin TLS 1.3 on both ends and ALPN h2', () => {
    const options = meshTlsOptions(server);
    assert.equal(options.minVersion, 'TLSv1.3');
    assert.equal(options.maxVersion, 'TLSv1.3');
    assert.equal(options.cert, server.chain.join(''));
    assert.deepEqual(options.ca, server.roots);
    const serverOptions = meshServerOptions(server, { handshakeTimeoutMs: 1234 });
    assert.equal(serverOptions.requestCert, true);
    assert.equal(serverOptions.rejectUnauthorized, true);
    assert.deepEqual(serverOptions.ALPNProtocols, ['h2']);
    assert.equal(serverOptions.handshakeTimeout, 1234);
    const clientOptions = meshClientOptions(client, serverId);
    assert.equal(clientOptions.rejectUnauthorized, true);
    assert.deepEqual(clientOptions.ALPNProtocols, ['h2']);
  });

  it('build one secure context per certificate', () => {
    assert.equal(meshSecureContext(client), meshSecureContext(client));
    assert.notEqual(meshSecureContext(client), meshSecureContext(server));
  });
});

describe('mesh TLS handshake', () => {
  it('succeeds between matching identities with TLS 1.3 and ALPN h2, each side seeing the other', async () => {
    const outcome = await mesh(server, client);
    assertAccepted(outcome);
    assert.equal(outcome.client.protocol, 'TLSv1.3');
    assert.equal(outcome.client.alpn, 'h2');
    assert.equal(outcome.client.cipher, 'TLS_AES_128_GCM_SHA256');
    assert.equal(outcome.client.serverIdentity, serverId.uri);
  });

  it('client refuses a server presenting another identity, naming both', async () => {
    const impostor = workload(serverKeys, impostorId);
    const outcome = await mesh(impostor, client, serverId);
    const error = assertClientRefused(outcome, 'tls-identity-mismatch');
    assert.ok(error instanceof AmbitError);
    assert.match(error.message, /spiffe:\/\/cluster\.local\/ns\/demo\/sa\/impostor/);
    assert.match(error.message, /spiffe:\/\/cluster\.local\/ns\/demo\/sa\/server/);
    assert.deepEqual(error.details, { expected: serverId.uri, actual: impostorId.uri });
  });

  it('accepts a server matching a predicate and refuses one that does not, naming the predicate', async () => {
    const inDemo: PeerMatcher = { description: 'any workload in namespace demo', test: (id) => id.namespace === 'demo' };
    assertAccepted(await mesh(server, client, inDemo));

    const inProd: PeerMatcher = { description: 'any workload in namespace prod', test: (id) => id.namespace === 'prod' };
    const error = assertClientRefused(await mesh(server, client, inProd), 'tls-identity-mismatch');
    assert.equal(error.message, `peer presented ${serverId.uri} but any workload in namespace prod was expected`);
  });

  it('server refuses a client certificate from another CA', async () => {
    const foreignClient = workload(clientKeys, clientId, { issuer: otherCa, trusts: ca.roots });
    const outcome = await mesh(server, foreignClient);
    assertServerRefused(outcome);
    assert.deepEqual(outcome.server.authorizationErrors, ['UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
  });

  it('client refuses a server certificate from another CA', async () => {
    const foreignServer = workload(serverKeys, serverId, { issuer: otherCa, trusts: otherCa.roots });
    const outcome = await mesh(foreignServer, client);
    assert.equal(outcome.client.data, '');
    assert.ok(outcome.client.error !== undefined);
    // The server sends its root along (OpenSSL builds the chain from `ca`); the client does not trust it.
    assert.match(String(outcome.client.error.code), /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/, 'refused by chain verification, before the identity check');
    assert.deepEqual(outcome.server.accepted, []);
  });

  it('server accepts a plain TLS 1.3 client with a mesh certificate (control for the refusals below)', async () => {
    assertAccepted(await handshake(meshServerOptions(server, { handshakeTimeoutMs: 2_000 }), plainClient(client)));
  });

  it('server refuses a TLS 1.2-only client', async () => {
    const outcome = await handshake(
      meshServerOptions(server, { handshakeTimeoutMs: 2_000 }),
      plainClient(client, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }),
    );
    const error = assertServerRefused(outcome);
    assert.match(String(error.code), /UNSUPPORTED_PROTOCOL/);
    assert.match(String(outcome.client.error?.code), /PROTOCOL_VERSION/);
    assert.equal(outcome.client.protocol, null, 'no TLS 1.2 session was established');
  });

  it('server refuses a client without a certificate', async () => {
    const outcome = await handshake(meshServerOptions(server, { handshakeTimeoutMs: 2_000 }), plainClient(undefined));
    const error = assertServerRefused(outcome);
    assert.match(String(error.code), /PEER_DID_NOT_RETURN_A_CERTIFICATE/);
    assert.ok(outcome.client.error !== undefined, 'the client receives the certificate-required alert');
  });

  it('server reports a client that never completes its handshake after handshakeTimeoutMs', async () => {
    const listener = tls.createServer(meshServerOptions(server, { handshakeTimeoutMs: 100 }));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const errors: TlsError[] = [];
    listener.on('tlsClientError', (error, socket) => {
      errors.push(error);
      // Node 20 reports the timeout but leaves the connection open: the listener must close it.
      socket.destroy();
    });
    const socket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    try {
      await once(socket, 'close');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
    } finally {
      socket.destroy();
      listener.close();
    }
  });

  it('client refuses an expired server certificate', async () => {
    const expired = workload(serverKeys, serverId, { from: Date.now() - 2 * HOUR, to: Date.now() - HOUR });
    assertClientRefused(await mesh(expired, client), 'CERT_HAS_EXPIRED');
  });

  it('client refuses a server certificate that is not yet valid', async () => {
    const future = workload(serverKeys, serverId, { from: Date.now() + HOUR, to: Date.now() + 2 * HOUR });
    assertClientRefused(await mesh(future, client), 'CERT_NOT_YET_VALID');
  });

  it('server refuses an expired client certificate', async () => {
    const expired = workload(clientKeys, clientId, { from: Date.now() - 2 * HOUR, to: Date.now() - HOUR });
    const outcome = await mesh(server, expired);
    assertServerRefused(outcome);
    assert.deepEqual(outcome.server.authorizationErrors, ['CERT_HAS_EXPIRED']);
  });

  it('server refuses a client certificate that is not yet valid', async () => {
    const future = workload(clientKeys, clientId, { from: Date.now() + HOUR, to: Date.now() + 2 * HOUR });
    const outcome = await mesh(server, future);
    assertServerRefused(outcome);
    assert.deepEqual(outcome.server.authorizationErrors, ['CERT_NOT_YET_VALID']);
  });
});

describe('checkPeer', () => {
  it('accepts the expected identity or a matching predicate', () => {
    assert.doesNotThrow(() => checkPeer(serverId, SpiffeId.parse(serverId.uri)));
    assert.doesNotThrow(() => checkPeer({ description: 'anyone in demo', test: (id) => id.namespace === 'demo' }, serverId));
  });

  it('throws tls-identity-mismatch naming what was expected and what was presented', () => {
    assert.throws(() => checkPeer(serverId, impostorId), (error: unknown) => {
      assert.ok(error instanceof AmbitError);
      assert.equal(error.code, 'tls-identity-mismatch');
      assert.equal(error.message, `peer presented ${impostorId.uri} but ${serverId.uri} was expected`);
      return true;
    });
    assert.throws(
      () => checkPeer({ description: 'anyone in prod', test: (id) => id.namespace === 'prod' }, serverId),
      (error: unknown) => error instanceof AmbitError && error.code === 'tls-identity-mismatch' && error.message.includes('anyone in prod'),
    );
  });

  it('describePeer names an identity by its URI and a predicate by its description', () => {
    assert.equal(describePeer(serverId), serverId.uri);
    assert.equal(describePeer({ description: 'anyone in demo', test: () => true }), 'anyone in demo');
  });
});
