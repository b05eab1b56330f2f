// What a ztunnel starts from before it holds a certificate: the roots that
// verify the control plane and the node's bootstrap token. The token file is
// either the local cluster's (`node <name>` then the token) or a bare token
// (a projected service-account token); it is re-read at each use, because
// projected tokens rotate.
import { readFile } from 'node:fs/promises';
import { AmbitError } from '@ambit/core';
import { splitPemBundle } from '@ambit/identity';

export async function readRoots(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AmbitError('invalid-config', `ca-root-file ${file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, {
      cause, hint: 'point it at the mesh root certificate (PEM), e.g. <state-dir>/ca/root-cert.pem',
    });
  }
  const roots = splitPemBundle(text);
  if (roots.length === 0) {
    throw new AmbitError('invalid-config', `ca-root-file ${file} holds no PEM certificate`, { hint: 'it must contain -----BEGIN CERTIFICATE----- blocks' });
  }
  return roots;
}

export async function readBootstrapToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AmbitError('issuance-failed', `bootstrap-token-file ${file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, {
      cause, hint: 'ambit up writes one per node under <state-dir>/bootstrap',
    });
  }
  return parseBootstrapToken(text, file);
}

export function parseBootstrapToken(text: string, file = 'the bootstrap token file'): string {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const token = lines.length > 1 && /^(node|workload) /.test(lines[0] as string) ? lines[1] : lines[0];
  if (token === undefined || /\s/.test(token)) {
    throw new AmbitError('issuance-failed', `${file} holds no bootstrap token`, { hint: 'expected a token, or a "node <name>" line followed by one' });
  }
  return token;
}
