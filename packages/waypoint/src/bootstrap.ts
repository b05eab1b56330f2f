// What the waypoint starts from before it holds a certificate: the roots that
// verify the control plane, and its workload bootstrap token (`workload
// <spiffe id>` then the token, as the control plane writes it; or a bare
// token). The token file is re-read at each use: projected tokens rotate.
import { readFile } from 'node:fs/promises';
import { AmbitError } from '@ambit/core';
import { splitPemBundle } from '@ambit/identity';

export async function loadRoots(file: string): Promise<string[]> {
  const roots = splitPemBundle(await readSetting(file, 'ca-root-file', 'invalid-config', 'point it at the mesh root certificate (PEM)'));
  if (roots.length === 0) throw new AmbitError('invalid-config', `ca-root-file ${file} holds no PEM certificate`);
  return roots;
}

export async function loadBootstrapToken(file: string): Promise<string> {
  const lines = (await readSetting(file, 'bootstrap-token-file', 'issuance-failed', 'write one with the control plane for the gateway identity'))
    .split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const token = lines[0]?.startsWith('workload ') === true ? lines[1] : lines[0];
  if (token === undefined || /\s/.test(token)) {
    throw new AmbitError('issuance-failed', `${file} holds no bootstrap token`, { hint: 'expected a token, or a "workload <id>" line followed by one' });
  }
  return token;
}

async function readSetting(file: string, key: string, code: 'invalid-config' | 'issuance-failed', hint: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new AmbitError(code, `${key} ${file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause, hint });
  }
}
