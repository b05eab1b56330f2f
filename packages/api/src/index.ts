export { socketAddress, parseAuthority, formatAuthority, normalizeIp } from './address.js';
export type { SocketAddress } from './address.js';
export { CertificateRequestSchema, CertificateResponseSchema, parseCertificateRequest } from './ca.js';
export type { CertificateRequest, CertificateResponse } from './ca.js';
