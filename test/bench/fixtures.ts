// What the benchmark runs against, written into its temp dir: a mesh CA and
// two workload certificates as PEM files (the same files for the stunnel and
// the HBONE pair), an nginx config serving a 1 KiB file, the stunnel
// client and server configs, an HAProxy config for an L7 hop between two
// mutual-TLS legs, and a wrk script that takes several paths in turn.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
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

/** What an nginx serves besides the defaults. */
export interface NginxServe {
  /** Paths that all answer the same 1 KiB file; default just BODY_PATH. */
  paths?: readonly string[];
  /** When set, any path ending in WHO_SUFFIX answers this name (text/plain): which server a router picked. */
  name?: string;
}

/** `<prefix>/who` answers the serving nginx's name (see NginxServe.name). */
export const WHO_SUFFIX = '/who';

/** nginx in the foreground, one worker, no access log, everything under `dir`. Returns the config path. */
export async function writeNginxConfig(dir: string, port: number, host = '127.0.0.1', serve: NginxServe = {}): Promise<string> {
  const root = join(dir, 'www');
  await mkdir(root, { recursive: true });
  // nginx's worker drops privileges when started as root: it must be able to read the file.
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  await writeFile(join(root, BODY_PATH.slice(1)), randomBytes(BODY_BYTES), { mode: 0o644 });
  const temp = (name: string): string => `${name}_temp_path ${join(dir, `nginx-${name}`)};`;
  const file = join(root, BODY_PATH.slice(1));
  const locations = (serve.paths ?? [BODY_PATH]).map((path) => `    location = ${path} {
      alias ${file};
      default_type application/octet-stream;
    }`);
  if (serve.name !== undefined) {
    locations.push(`    location ~ ${WHO_SUFFIX}$ {
      default_type text/plain;
      return 200 "${serve.name}";
    }`);
  }
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
${locations.join('\n')}
  }
}
`;
  const configFile = join(dir, 'nginx.conf');
  await writeFile(configFile, config);
  return configFile;
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

/** A wrk script taking the paths given after `--` in turn, one per request (the same on every path measured). */
export async function writeWrkPathsScript(dir: string): Promise<string> {
  const file = join(dir, 'wrk-paths.lua');
  await writeFile(file, `-- Written by test/bench (fixtures.ts): each request takes the next of the paths given after --.
local requests = {}
local n = 0
function init(args)
  for i, path in ipairs(args) do requests[i] = wrk.format("GET", path) end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
`);
  return file;
}

/** One path-routed backend of HAProxy: requests whose path begins with `prefix` go to `address` (host:port), over mutual TLS. */
export interface HaproxyBackend {
  name: string;
  prefix: string;
  address: string;
}

/** One HAProxy listener (`listen` is host:port): */
export type HaproxyFrontend =
  /** the L7 hop: mutual TLS in, HTTP routed by path prefix (anything else 404), mutual TLS out to the backends; */
  | { kind: 'route'; name: string; listen: string; backends: readonly HaproxyBackend[] }
  /** a client-side TLS leg: plain TCP in, mutual TLS out to `upstream`; */
  | { kind: 'originate'; name: string; listen: string; upstream: string }
  /** a server-side TLS leg: mutual TLS in, plain TCP out to `upstream`. */
  | { kind: 'terminate'; name: string; listen: string; upstream: string };

/**
 * One HAProxy process's config, in the foreground: TLS 1.3 with the suite
 * stunnel uses, our server certificate on TLS listeners (a client
 * certificate chaining to the mesh root required), our client certificate
 * towards TLS upstreams (their chain verified against the mesh root; like
 * stunnel, no identity check). The L7 hop keeps connections alive on both
 * sides (idle backend connections reused, `http-reuse safe`, the default);
 * the legs are TCP, one upstream connection per client connection. Threads:
 * HAProxy's default, one per CPU. `name` names the file, haproxy-<name>.cfg.
 */
export async function writeHaproxyConfig(dir: string, name: string, pem: PemFiles, frontends: readonly HaproxyFrontend[]): Promise<string> {
  const bundle = async (file: string, cert: string, key: string): Promise<string> => {
    await writeFile(join(dir, file), `${await readFile(cert, 'utf8')}${await readFile(key, 'utf8')}`, { mode: 0o600 });
    return join(dir, file);
  };
  const serverTls = `ssl crt ${await bundle('haproxy-server.pem', pem.serverCert, pem.serverKey)} ca-file ${pem.ca} verify required`;
  const clientTls = `ssl crt ${await bundle('haproxy-client.pem', pem.clientCert, pem.clientKey)} ca-file ${pem.ca} verify required`;
  const tls = 'ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3';
  const lines = [
    '# Written by test/bench (fixtures.ts).',
    'global',
    '  maxconn 4096',
    `  ssl-default-bind-options ${tls}`,
    `  ssl-default-bind-ciphersuites ${STUNNEL_CIPHERSUITES}`,
    `  ssl-default-server-options ${tls}`,
    `  ssl-default-server-ciphersuites ${STUNNEL_CIPHERSUITES}`,
    'defaults',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  timeout http-keep-alive 120s',
  ];
  for (const f of frontends) {
    if (f.kind === 'route') {
      const backend = (b: HaproxyBackend): string => `${f.name}_${b.name}`;
      lines.push(
        `frontend ${f.name}`,
        '  mode http',
        `  bind ${f.listen} ${serverTls} alpn http/1.1`,
        ...f.backends.map((b) => `  acl to_${b.name} path_beg ${b.prefix}`),
        `  http-request deny deny_status 404 unless ${f.backends.map((b) => `to_${b.name}`).join(' or ')}`,
        ...f.backends.map((b) => `  use_backend ${backend(b)} if to_${b.name}`),
        ...f.backends.flatMap((b) => [`backend ${backend(b)}`, '  mode http', `  server ${b.name} ${b.address} ${clientTls}`]),
      );
    } else {
      lines.push(
        `frontend ${f.name}`,
        '  mode tcp',
        `  bind ${f.listen}${f.kind === 'terminate' ? ` ${serverTls}` : ''}`,
        `  default_backend ${f.name}_upstream`,
        `backend ${f.name}_upstream`,
        '  mode tcp',
        `  server upstream ${f.upstream}${f.kind === 'originate' ? ` ${clientTls}` : ''}`,
      );
    }
  }
  const file = join(dir, `haproxy-${name}.cfg`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}
