// Test PKI: a real CA and real certificates, made in the test. RSA key
// generation dominates the cost, so a few key pairs are made once per
// process and reused across identities.
import { X509Certificate } from 'node:crypto';
import {
  CertificateAuthority, SpiffeId, generateKeys, toWorkloadCertificate, type KeyPair, type WorkloadCertificate,
} from '@ambit/identity';

const keyPool: Promise<KeyPair>[] = [];
let nextKey = 0;

/** One of four process-wide key pairs, in rotation. */
export function testKeys(): Promise<KeyPair> {
  const index = nextKey++ % 4;
  const keys = keyPool[index] ?? generateKeys();
  keyPool[index] = keys;
  return keys;
}

export interface TestMesh {
  ca: CertificateAuthority;
  trustDomain: string;
  /** A certificate for ns/sa signed by this mesh's CA; `window` overrides validity. */
  cert(namespace: string, serviceAccount: string, window?: { from: Date; to: Date }): Promise<WorkloadCertificate>;
  id(namespace: string, serviceAccount: string): SpiffeId;
}

export async function testMesh(trustDomain = 'cluster.local'): Promise<TestMesh> {
  const ca = await CertificateAuthority.create({ trustDomain, keyBits: 2048 });
  const id = (ns: string, sa: string): SpiffeId => SpiffeId.of(trustDomain, ns, sa);
  return {
    ca,
    trustDomain,
    id,
    async cert(ns, sa, window) {
      const keys = await testKeys();
      const from = window?.from ?? new Date(Date.now() - 60_000);
      const to = window?.to ?? new Date(Date.now() + 3_600_000);
      const issued = ca.sign(keys.publicKey, id(ns, sa), from, to);
      if (window !== undefined) {
        // toWorkloadCertificate accepts any window; expired material is exactly what some tests need.
        const leaf = new X509Certificate(issued.chain[0]!);
        return {
          identity: id(ns, sa), privateKey: keys.privateKey, chain: issued.chain, roots: issued.roots,
          serial: leaf.serialNumber.toLowerCase(), notBefore: from.getTime(), notAfter: to.getTime(),
        };
      }
      return toWorkloadCertificate(id(ns, sa), keys, issued.chain, issued.roots);
    },
  };
}
