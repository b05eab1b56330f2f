// The root CA kept in a Kubernetes Secret (ambit-system/ambit-root-ca), so
// every replica and every restart signs with the same root. The first
// replica to start creates it; a replica that loses the creation race loads
// the winner's. The key never leaves the Secret and this process.
import { AmbitError, isAmbitError } from '@ambit/core';
import { CertificateAuthority, ROOT_CERT_FILE, ROOT_KEY_FILE, type CaOptions } from '@ambit/identity';
import type { Secret } from '../resources.js';
import type { Store } from '../store/store.js';

export const ROOT_SECRET = { namespace: 'ambit-system', name: 'ambit-root-ca' } as const;

export async function loadOrCreateRootSecret(
  store: Store, options: CaOptions, where: { namespace: string; name: string } = ROOT_SECRET,
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const existing = await store.get<Secret>('Secret', where.name, where.namespace);
  if (existing !== undefined) return { ca: fromSecret(existing, options, where), created: false };
  const ca = await CertificateAuthority.create(options);
  const { certPem, keyPem } = ca.exportRoot();
  try {
    await store.create<Secret>({
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: where.name, namespace: where.namespace, labels: { 'app.kubernetes.io/part-of': 'ambit' } },
      data: { [ROOT_CERT_FILE]: base64(certPem), [ROOT_KEY_FILE]: base64(keyPem) },
    });
    return { ca, created: true };
  } catch (error) {
    if (!isAmbitError(error, 'already-exists')) throw error;
    const winner = await store.get<Secret>('Secret', where.name, where.namespace);
    if (winner === undefined) throw error;
    return { ca: fromSecret(winner, options, where), created: false };
  }
}

function fromSecret(secret: Secret, options: CaOptions, where: { namespace: string; name: string }): CertificateAuthority {
  const cert = secret.data?.[ROOT_CERT_FILE];
  const key = secret.data?.[ROOT_KEY_FILE];
  if (cert === undefined || key === undefined) {
    throw new AmbitError('invalid-config', `secret ${where.namespace}/${where.name} lacks ${ROOT_CERT_FILE} or ${ROOT_KEY_FILE}`, {
      hint: 'restore both keys, or delete the secret to create a new root (every workload must then be re-issued)',
    });
  }
  return CertificateAuthority.fromPem(Buffer.from(cert, 'base64').toString('utf8'), Buffer.from(key, 'base64').toString('utf8'), options);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
