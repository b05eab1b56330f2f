// What the benchmark runs against, written into its temp dir: a mesh CA and
// two workload certificates as PEM files (the same files for the stunnel and
// the HBONE pair), an nginx config serving a 1 KiB file, and the stunnel
// client and server configs.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CertificateAuthority, SpiffeId, generateKeys, type KeyPair } from '@ambit/identity';

export const TRUST_DOMAIN = 'cluster.local';
export const CLIENT_ID = SpiffeId.of(TRUST_DOMAIN, 'bench', 'client');
export const SERVER_ID = SpiffeId.of(TRUST_DOMAIN, 'bench', 'server');
/** The suite our mesh TLS prefers (MESH_CIPHERSUITES starts with it); stunnel is restricted to it. */
export const STUNNEL_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256';
export const BODY_BYTES = 1024;
export const BODY_PATH = '/1k';

export interface PemFiles {
  ca: string;
  clientCert: string;
  clientKey: string;
  serverCert: string;
  serverKey: string;
}

/** A fresh root and one certificate each for the client and server side, valid for a day. */
export async function writeCertificates(dir: string): Promise<PemFiles> {
  const ca = await CertificateAuthority.create({ trustDomain: TRUST_DOMAIN, keyBits: 2048 });
  const [clientKeys, serverKeys] = await Promise.all([generateKeys(), generateKeys()]);
  const files: PemFiles = {
    ca: join(dir, 'ca.pem'),
    clientCert: join(dir, 'client-cert.pem'),
    clientKey: join(dir, 'client-key.pem'),
    serverCert: join(dir, 'server-cert.pem'),
    serverKey: join(dir, 'server-key.pem'),
  };
  const issue = async (keys: KeyPair, id: SpiffeId, certFile: string, keyFile: string): Promise<void> => {
    const issued = ca.sign(keys.publicKey, id, new Date(Date.now() - 60_000), new Date(Date.now() + 86_400_000));
    await writeFile(certFile, issued.chain.join(''), { mode: 0o644 });
    await writeFile(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  };
  await writeFile(files.ca, ca.rootPem, { mode: 0o644 });
  await issue(clientKeys, CLIENT_ID, files.clientCert, files.clientKey);
  await issue(serverKeys, SERVER_ID, files.serverCert, files.serverKey);
  return files;
}

/** nginx in the foreground, one worker, no access log, everything under `dir`. Returns the config path. */
export async function writeNginxConfig(dir: string, port: number, host = '127.0.0.1'): Promise<string> {
  const root = join(dir, 'www');
  await mkdir(root, { recursive: true });
  // nginx's worker drops privileges when started as root: it must be able to read the file.
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  await writeFile(join(root, BODY_PATH.slice(1)), randomBytes(BODY_BYTES), { mode: 0o644 });
  const temp = (name: string): string => `${name}_temp_path ${join(dir, `nginx-${name}`)};`;
  const config = `# Written by test/bench (fixtures.ts).
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  # Measure the data path, not reconnects: wrk keeps each connection for the whole run.
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  ${temp('client_body')}
  ${temp('proxy')}
  ${temp('fastcgi')}
  ${temp('uwsgi')}
  ${temp('scgi')}
  server {
    listen ${host}:${port};
    location = ${BODY_PATH} {
      root ${root};
      default_type application/octet-stream;
    }
  }
}
`;
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  return file;
}

export interface StunnelService {
  name: string;
  accept: number;
  connect: number;
  /** Addresses for accept and connect; default 127.0.0.1. */
  acceptHost?: string;
  connectHost?: string;
}

/**
 * One stunnel process's config: foreground, TLS 1.3 with our preferred
 * suite only, our certificate, and the peer's chain verified against the
 * mesh root (stunnel cannot check a SPIFFE URI SAN; the chain check is the
 * comparable part). Server side: `verifyChain` also makes a client
 * certificate mandatory.
 */
export async function writeStunnelConfig(
  dir: string, role: 'client' | 'server', pem: PemFiles, services: readonly StunnelService[],
): Promise<string> {
  const [cert, key] = role === 'client' ? [pem.clientCert, pem.clientKey] : [pem.serverCert, pem.serverKey];
  const lines = [
    '; Written by test/bench (fixtures.ts).',
    'foreground = yes',
    'syslog = no',
    'pid =',
    'debug = warning',
    '',
  ];
  for (const service of services) {
    lines.push(
      `[${service.name}]`,
      `client = ${role === 'client' ? 'yes' : 'no'}`,
      `accept = ${service.acceptHost ?? '127.0.0.1'}:${service.accept}`,
      `connect = ${service.connectHost ?? '127.0.0.1'}:${service.connect}`,
      `cert = ${cert}`,
      `key = ${key}`,
      `CAfile = ${pem.ca}`,
      'verifyChain = yes',
      'sslVersionMin = TLSv1.3',
      'sslVersionMax = TLSv1.3',
      `ciphersuites = ${STUNNEL_CIPHERSUITES}`,
      '',
    );
  }
  const file = join(dir, `stunnel-${role}.conf`);
  await writeFile(file, lines.join('\n'));
  return file;
}
