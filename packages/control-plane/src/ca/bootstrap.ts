// Bootstrap credentials: how a proxy with no certificate yet proves who it
// is. Locally, `ambit up` writes one random token per node (and per
// waypoint) into the state directory, mode 0600; the CA keeps only their
// SHA-256, so a lookup never compares secrets byte by byte. (On Kubernetes
// the same interface is served by TokenReview.)
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile, rename, chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SpiffeId } from '@ambit/core';
import type { Principal } from './entitlement.js';

export interface BootstrapAuthenticator {
  /** The principal a token stands for, or undefined when it stands for nothing. */
  authenticate(token: string): Promise<Principal | undefined>;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

export class TokenTable implements BootstrapAuthenticator {
  private readonly table = new Map<string, Principal>();

  add(token: string, principal: Principal): void {
    this.table.set(hash(token), principal);
  }

  authenticate(token: string): Promise<Principal | undefined> {
    return Promise.resolve(this.table.get(hash(token)));
  }
}

export const BOOTSTRAP_DIR = 'bootstrap';

/** Writes a fresh token for node `node` (or a workload identity) under `stateDir/bootstrap`; returns it. */
export async function writeBootstrapToken(stateDir: string, subject: { node: string } | { identity: SpiffeId }): Promise<{ token: string; file: string }> {
  const dir = join(stateDir, BOOTSTRAP_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = 'node' in subject ? `node-${subject.node}.token` : `workload-${subject.identity.namespace}-${subject.identity.serviceAccount}.token`;
  const file = join(dir, name);
  const token = randomBytes(32).toString('hex');
  const body = 'node' in subject ? `node ${subject.node}\n${token}\n` : `workload ${subject.identity.uri}\n${token}\n`;
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, body, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return { token, file };
}

/** Reads the token back from a file written by writeBootstrapToken (the proxy side). */
export async function readBootstrapToken(file: string): Promise<string> {
  const [, token] = (await readFile(file, 'utf8')).split('\n');
  if (token === undefined || token.length < 32) throw new Error(`${file} does not hold a bootstrap token`);
  return token;
}

/** Loads every token under `stateDir/bootstrap` (the control-plane side). */
export async function loadBootstrapTokens(stateDir: string): Promise<TokenTable> {
  const table = new TokenTable();
  const dir = join(stateDir, BOOTSTRAP_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return table;
  }
  for (const name of names.filter((n) => n.endsWith('.token'))) {
    const [header, token] = (await readFile(join(dir, name), 'utf8')).split('\n');
    const [kind, subject] = (header ?? '').split(' ');
    if (token === undefined || subject === undefined) continue;
    if (kind === 'node') table.add(token, { kind: 'node', node: subject, via: 'bootstrap' });
    else if (kind === 'workload') table.add(token, { kind: 'workload', identity: SpiffeId.parse(subject), via: 'bootstrap' });
  }
  return table;
}

/**
 * The tokens under `stateDir/bootstrap`, re-read when an unknown token
 * arrives and the directory changed since the last read (its mtime moves
 * whenever a token file is added or replaced), so nodes added later work.
 */
export class DirectoryBootstrap implements BootstrapAuthenticator {
  private table = new TokenTable();
  private loadedMtimeMs: number | undefined;

  constructor(private readonly stateDir: string) {}

  async authenticate(token: string): Promise<Principal | undefined> {
    const known = await this.table.authenticate(token);
    if (known !== undefined) return known;
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(join(this.stateDir, BOOTSTRAP_DIR))).mtimeMs;
    } catch {
      return undefined;
    }
    if (mtimeMs === this.loadedMtimeMs) return undefined;
    this.table = await loadBootstrapTokens(this.stateDir);
    this.loadedMtimeMs = mtimeMs;
    return this.table.authenticate(token);
  }
}
