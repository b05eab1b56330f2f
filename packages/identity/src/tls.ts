// Mesh TLS: TLS 1.3 only, ALPN h2, a certificate required on both sides,
// chains verified against the mesh roots by OpenSSL, and the peer's SPIFFE
// identity checked against what the caller expects.
import { X509Certificate, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { AmbitError, type SpiffeId } from '@ambit/core';
import { identityOf } from './x509.js';

/** A workload's usable credentials: its key, its chain and the roots it trusts. */
export interface WorkloadCertificate {
  readonly identity: SpiffeId;
  readonly privateKey: KeyObject;
  /** Leaf first, PEM each. */
  readonly chain: readonly string[];
  readonly roots: readonly string[];
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
}

/** What the peer must be: one identity, or a named predicate (e.g. "any identity in namespace demo"). */
export type PeerMatcher = SpiffeId | { readonly description: string; test(identity: SpiffeId): boolean };

export const MESH_ALPN = 'h2';
// AES-128-GCM first: the fastest suite with AES-NI, and what the benchmarks configure for peers too.
export const MESH_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** The TLS options every mesh endpoint uses, client or server. */
export function meshTlsOptions(cert: WorkloadCertificate): tls.SecureContextOptions {
  return {
    key: keyPem(cert),
    cert: cert.chain.join(''),
    ca: [...cert.roots],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    // Node takes TLS 1.3 suites through `ciphers` too.
    ciphers: MESH_CIPHERSUITES,
  };
}

export interface MeshServerOptions {
  handshakeTimeoutMs: number;
}

/** Options for a `tls.Server` that serves as `cert` and requires a mesh client certificate. */
export function meshServerOptions(cert: WorkloadCertificate, options: MeshServerOptions): tls.TlsOptions {
  return {
    ...meshTlsOptions(cert),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [MESH_ALPN],
    handshakeTimeout: options.handshakeTimeoutMs,
  };
}

const contexts = new WeakMap<WorkloadCertificate, tls.SecureContext>();

/** One secure context per certificate, built once. */
export function meshSecureContext(cert: WorkloadCertificate): tls.SecureContext {
  let context = contexts.get(cert);
  if (context === undefined) {
    context = tls.createSecureContext(meshTlsOptions(cert));
    contexts.set(cert, context);
  }
  return context;
}

/** Options for `tls.connect` presenting `cert` and accepting only a server matching `expected`. */
export function meshClientOptions(cert: WorkloadCertificate, expected: PeerMatcher): tls.ConnectionOptions {
  return {
    secureContext: meshSecureContext(cert),
    rejectUnauthorized: true,
    ALPNProtocols: [MESH_ALPN],
    minVersion: 'TLSv1.3',
    checkServerIdentity: serverIdentityCheck(expected),
  };
}

/**
 * Options for `tls.connect` with no client certificate yet (bootstrap): the
 * server is still verified against `roots` and must match `expected`.
 */
export function meshBootstrapClientOptions(roots: readonly string[], expected: PeerMatcher): tls.ConnectionOptions {
  return {
    ca: [...roots],
    rejectUnauthorized: true,
    ALPNProtocols: [MESH_ALPN],
    minVersion: 'TLSv1.3',
    checkServerIdentity: serverIdentityCheck(expected),
  };
}

function serverIdentityCheck(expected: PeerMatcher): NonNullable<tls.ConnectionOptions['checkServerIdentity']> {
  return (_host, peer) => {
    try {
      checkPeer(expected, identityOf(new X509Certificate(peer.raw)));
      return undefined;
    } catch (error) {
      return error as Error;
    }
  };
}

/** Throws `tls-identity-mismatch` naming both identities when `actual` does not match. */
export function checkPeer(expected: PeerMatcher, actual: SpiffeId): void {
  const ok = 'test' in expected ? expected.test(actual) : expected.equals(actual);
  if (!ok) {
    const wanted = 'test' in expected ? expected.description : expected.uri;
    throw new AmbitError('tls-identity-mismatch', `peer presented ${actual.uri} but ${wanted} was expected`, {
      details: { expected: wanted, actual: actual.uri },
    });
  }
}

export function describePeer(expected: PeerMatcher): string {
  return 'test' in expected ? expected.description : expected.uri;
}

/** The SPIFFE identity of the peer of an established TLS socket. */
export function peerIdentity(socket: tls.TLSSocket): SpiffeId {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) throw new AmbitError('tls-failure', 'the peer presented no certificate');
  return identityOf(cert);
}

const keyPems = new WeakMap<KeyObject, string>();

function keyPem(cert: WorkloadCertificate): string {
  let pem = keyPems.get(cert.privateKey);
  if (pem === undefined) {
    pem = cert.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    keyPems.set(cert.privateKey, pem);
  }
  return pem;
}
