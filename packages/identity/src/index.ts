export { SpiffeId, DEFAULT_TRUST_DOMAIN } from '@ambit/core';
export {
  CertificateAuthority, DEFAULT_WORKLOAD_TTL_MS, MAX_WORKLOAD_TTL_MS, ROOT_CERT_FILE, ROOT_KEY_FILE, BACKDATE_MS,
} from './ca.js';
export type { CaOptions, Entitlement, EntitlementDecision, SigningRequest, IssuedCertificate, CertificateIssuer } from './ca.js';
export { generateKeys, buildCsr, DEFAULT_KEY_BITS } from './keys.js';
export type { KeyPair } from './keys.js';
export {
  meshTlsOptions, meshServerOptions, meshClientOptions, meshBootstrapClientOptions, meshSecureContext, checkPeer, describePeer, peerIdentity,
  MESH_ALPN, MESH_CIPHERSUITES,
} from './tls.js';
export type { WorkloadCertificate, PeerMatcher, MeshServerOptions } from './tls.js';
export { CertificateManager, toWorkloadCertificate } from './manager.js';
export type { CertificateManagerOptions, CertificateSource, CertificateState, CertificateStatus } from './manager.js';
export { identityOf, verifyChain, splitPemBundle, uriSans, randomSerial, keyMatchesCertificate, nodeOf, nodeUrn, NODE_URN_PREFIX } from './x509.js';
export type { VerifyOptions } from './x509.js';
