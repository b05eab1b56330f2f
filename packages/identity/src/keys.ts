// Workload-side key material: keys from node:crypto (native, async so the
// event loop keeps serving), CSRs assembled by forge and signed natively.
import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import type { SpiffeId } from '@ambit/core';
import { forgePublicKey, signCertificationRequest, uriSan } from './x509.js';

const generateKeyPair = promisify(generateKeyPairCb);

export const DEFAULT_KEY_BITS = 2048;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export async function generateKeys(bits = DEFAULT_KEY_BITS): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return { privateKey, publicKey };
}

/** A PKCS#10 request carrying the identity as a URI SAN (the CA decides what it signs). */
export function buildCsr(keys: KeyPair, identity: SpiffeId): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(keys.publicKey);
  csr.setSubject([]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [uriSan(identity.uri)] }]);
  return signCertificationRequest(csr, keys.privateKey);
}
