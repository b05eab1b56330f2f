// What a proxy starts from before it holds a certificate: the roots that
// verify the control plane, its bootstrap token, and the control plane's
// address. The token file is either the local cluster's (`node <name>` or
// `workload <spiffe id>`, then the token) or a bare token (a projected
// service-account token); it is re-read at each use, because projected
// tokens rotate.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { AmbitError, type BackoffOptions, type HostPort, type Logger } from '@ambit/core';
import { socketAddress, type SocketAddress } from '@ambit/api';
import { splitPemBundle, type KeyPair } from '@ambit/identity';
import type { ProxySettings } from './settings.js';

/** What tests (or an embedding program) may hand a proxy instead of what its settings name. */
export interface ProxyStartOptions {
  logger?: Logger;
  /** Key generation for certificates (tests pass a cached key). */
  generateKeys?: () => Promise<KeyPair>;
  /** The bootstrap token itself, instead of reading `bootstrap-token-file`. */
  bootstrapToken?: string;
  /** PEM roots, instead of reading `ca-root-file`. */
  roots?: readonly string[];
  /** Discovery reconnect backoff. */
  discoveryBackoff?: BackoffOptions;
}

export interface BootstrapInputs {
  roots: readonly string[];
  /** The token for the CA, re-read from its file at each call unless given. */
  bootstrapToken: () => string | Promise<string>;
  /** The control plane, resolved. */
  controlPlane: SocketAddress;
}

/** Reads the roots and resolves the control plane now (so a bad setting fails start-up); the token is read at each use. */
export async function readBootstrapInputs(settings: ProxySettings, options: ProxyStartOptions): Promise<BootstrapInputs> {
  const roots = options.roots ?? await readRoots(settings.caRootFile);
  const token = options.bootstrapToken;
  return {
    roots,
    bootstrapToken: token === undefined ? () => readBootstrapToken(settings.bootstrapTokenFile) : () => token,
    controlPlane: await resolveControlPlane(settings.controlPlane),
  };
}

export async function readRoots(file: string): Promise<string[]> {
  const roots = splitPemBundle(await readSetting(file, 'ca-root-file', 'invalid-config', 'point it at the mesh root certificate (PEM), e.g. <state-dir>/ca/root-cert.pem'));
  if (roots.length === 0) {
    throw new AmbitError('invalid-config', `ca-root-file ${file} holds no PEM certificate`, { hint: 'it must contain -----BEGIN CERTIFICATE----- blocks' });
  }
  return roots;
}

export async function readBootstrapToken(file: string): Promise<string> {
  return parseBootstrapToken(await readSetting(file, 'bootstrap-token-file', 'issuance-failed', 'ambit up writes one per node and per waypoint identity under <state-dir>/bootstrap'), file);
}

export function parseBootstrapToken(text: string, file = 'the bootstrap token file'): string {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const token = lines.length > 1 && /^(node|workload) /.test(lines[0] as string) ? lines[1] : lines[0];
  if (token === undefined || /\s/.test(token)) {
    throw new AmbitError('issuance-failed', `${file} holds no bootstrap token`, { hint: 'expected a token, or a "node <name>" or "workload <spiffe id>" line followed by one' });
  }
  return token;
}

/** The control plane's address; a name is resolved once, here (proxies never resolve names on the data path). */
export async function resolveControlPlane(where: HostPort): Promise<SocketAddress> {
  if (isIP(where.host) !== 0) return socketAddress(where.host, where.port);
  try {
    return socketAddress((await lookup(where.host)).address, where.port);
  } catch (cause) {
    throw new AmbitError('unavailable', `control-plane host ${where.host} cannot be resolved`, { cause, hint: 'use an IP address or a resolvable name' });
  }
}

async function readSetting(file: string, key: string, code: 'invalid-config' | 'issuance-failed', hint: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new AmbitError(code, `${key} ${file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause, hint });
  }
}
