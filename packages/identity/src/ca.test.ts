import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { AmbitError, causeChain, ManualClock, SpiffeId } from '@ambit/core';
import {
  BACKDATE_MS, CertificateAuthority, DEFAULT_WORKLOAD_TTL_MS, ROOT_CERT_FILE, ROOT_KEY_FILE, type EntitlementDecision,
} from './ca.js';
import { buildCsr, generateKeys } from './keys.js';
import { forgePublicKey, keyMatchesCertificate, signCertificationRequest, uriSan, uriSans, verifyChain } from './x509.js';
import { rejectsWith } from '@ambit/core/testing';

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-ca-test-'));
  tempDirs.push(dir);
  return dir;
}

// Key generation dominates the cost: a few pairs and CAs for the whole file. The
// root key is private to the CA; the one test CA that needs it is persisted, so
// its key is read back the way an operator would.
const clock = new ManualClock();
const clockCaDir = await tempDir();
const [leafKeys, otherKeys, weakKeys, ca, otherCa, { ca: clockCa }] = await Promise.all([
  generateKeys(),
  generateKeys(),
  generateKeys(1024),
  CertificateAuthority.create(),
  CertificateAuthority.create(),
  CertificateAuthority.loadOrCreate(clockCaDir, { clock }),
]);
const clockCaKey = await readFile(join(clockCaDir, ROOT_KEY_FILE), 'utf8');

const HOUR = 3_600_000;
const web = SpiffeId.of('cluster.local', 'demo', 'web');
const admin = SpiffeId.of('cluster.local', 'kube-system', 'admin');
const allow = (): EntitlementDecision => ({ allowed: true });
const webCsr = buildCsr(leafKeys, web);

function leafOf(chain: readonly string[]): X509Certificate {
  assert.equal(chain.length, 1);
  return new X509Certificate(chain[0]!);
}

function opensslVerify(dir: string, purpose: string): { status: number | null; output: string } {
  const result = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')], {
    encoding: 'utf8',
    input: '',
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('CertificateAuthority.create', () => {
  it('makes a self-signed CA root naming the trust domain in its subject and SAN', () => {
    const root = ca.rootCertificate;
    assert.equal(ca.trustDomain, 'cluster.local');
    assert.equal(root.ca, true);
    assert.equal(root.checkIssued(root), true);
    assert.equal(root.verify(root.publicKey), true);
    assert.match(root.subject, /^O=cluster\.local$/m);
    assert.equal(root.subject, root.issuer);
    assert.deepEqual(uriSans(root), ['spiffe://cluster.local']);
    assert.deepEqual(ca.roots, [ca.rootPem]);
  });

  it('uses the configured trust domain and the clock for the root window', async () => {
    const example = await CertificateAuthority.create({ trustDomain: 'example.org', clock, rootTtlMs: 365 * 86_400_000 });
    assert.equal(example.trustDomain, 'example.org');
    assert.match(example.rootCertificate.subject, /^O=example\.org$/m);
    assert.deepEqual(uriSans(example.rootCertificate), ['spiffe://example.org']);
    assert.equal(Date.parse(example.rootCertificate.validFrom), clock.now() - BACKDATE_MS);
    assert.equal(Date.parse(example.rootCertificate.validTo), clock.now() + 365 * 86_400_000);
  });

  it('refuses an invalid trust domain or workload TTL before generating anything', async () => {
    await rejectsWith(CertificateAuthority.create({ trustDomain: 'Not A Domain' }), 'invalid-identity');
    await rejectsWith(CertificateAuthority.create({ workloadTtlMs: 0 }), 'invalid-config', /TTL 0 ms is out of range/);
    await rejectsWith(CertificateAuthority.create({ workloadTtlMs: 31 * 86_400_000 }), 'invalid-config');
  });
});

describe('CertificateAuthority.issue', () => {
  it('issues a leaf whose only URI SAN is the requested identity, whatever the CSR asked for', async () => {
    const csrForAdmin = buildCsr(leafKeys, admin);
    const issued = await ca.issue({ csr: csrForAdmin, identity: web }, allow);
    const leaf = leafOf(issued.chain);
    assert.deepEqual(uriSans(leaf), [web.uri]);
    assert.equal(leaf.subjectAltName, `URI:${web.uri}`);
    assert.ok(issued.identity.equals(web));
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(keyMatchesCertificate(leafKeys.privateKey, leaf), true);
    assert.equal(leaf.serialNumber.toLowerCase(), issued.serial);
    assert.deepEqual(issued.roots, [ca.rootPem]);
  });

  it('issues a chain that verifies with verifyChain and with openssl verify', async () => {
    const issued = await ca.issue({ csr: webCsr, identity: web }, allow);
    assert.ok(verifyChain(issued.chain, { roots: issued.roots, trustDomain: 'cluster.local' }).equals(web));

    const dir = await tempDir();
    await writeFile(join(dir, 'root.pem'), ca.rootPem);
    await writeFile(join(dir, 'leaf.pem'), issued.chain.join(''));
    for (const purpose of ['sslserver', 'sslclient']) {
      const result = opensslVerify(dir, purpose);
      assert.equal(result.status, 0, result.output);
      assert.match(result.output, /leaf\.pem: OK/);
    }
    // The same check fails against another mesh's root: openssl really checks the signature.
    await writeFile(join(dir, 'root.pem'), otherCa.rootPem);
    const foreign = opensslVerify(dir, 'sslclient');
    assert.notEqual(foreign.status, 0, foreign.output);
  });

  it('defaults to a 24 h lifetime, backdated by 5 minutes', async () => {
    const issued = await clockCa.issue({ csr: webCsr, identity: web }, allow);
    const now = clock.now();
    assert.equal(DEFAULT_WORKLOAD_TTL_MS, 24 * HOUR);
    assert.equal(issued.notAfter.getTime(), now + 24 * HOUR);
    assert.equal(issued.notBefore.getTime(), now - 5 * 60_000);
    const leaf = leafOf(issued.chain);
    assert.equal(Date.parse(leaf.validTo), now + 24 * HOUR);
    assert.equal(Date.parse(leaf.validFrom), now - 5 * 60_000);
  });

  it('caps a requested TTL at workloadTtlMs and honours a shorter one', async () => {
    const hourCa = CertificateAuthority.fromPem(clockCa.rootPem, clockCaKey, { clock, workloadTtlMs: HOUR });
    const now = clock.now();

    const longer = await hourCa.issue({ csr: webCsr, identity: web, ttlMs: 2 * HOUR }, allow);
    assert.equal(Date.parse(leafOf(longer.chain).validTo), now + HOUR);

    const unspecified = await hourCa.issue({ csr: webCsr, identity: web }, allow);
    assert.equal(Date.parse(leafOf(unspecified.chain).validTo), now + HOUR);

    const shorter = await hourCa.issue({ csr: webCsr, identity: web, ttlMs: 10 * 60_000 }, allow);
    const leaf = leafOf(shorter.chain);
    assert.equal(Date.parse(leaf.validTo), now + 10 * 60_000);
    // A short certificate is backdated by a quarter of its lifetime, not the full 5 minutes.
    assert.equal(Date.parse(leaf.validFrom), now - 150_000);
  });

  it('asks the entitlement about the requested identity and refuses with its reason', async () => {
    const asked: string[] = [];
    const error = await rejectsWith(
      ca.issue({ csr: webCsr, identity: admin }, (identity) => {
        asked.push(identity.uri);
        return { allowed: false, reason: 'node node-1 runs no pod with service account kube-system/admin' };
      }),
      'not-entitled',
      /not entitled to spiffe:\/\/cluster\.local\/ns\/kube-system\/sa\/admin: node node-1 runs no pod with service account kube-system\/admin/,
    );
    assert.deepEqual(asked, [admin.uri]);
    assert.equal(error.details.reason, 'node node-1 runs no pod with service account kube-system/admin');
    assert.equal(error.details.identity, admin.uri);
  });

  it('waits for an asynchronous entitlement', async () => {
    await rejectsWith(
      ca.issue({ csr: webCsr, identity: web }, () => Promise.resolve({ allowed: false, reason: 'pod is terminating' })),
      'not-entitled',
      /pod is terminating/,
    );
    const issued = await ca.issue({ csr: webCsr, identity: web }, () => Promise.resolve({ allowed: true as const }));
    assert.deepEqual(uriSans(leafOf(issued.chain)), [web.uri]);
  });

  it('refuses an identity in a foreign trust domain without consulting the entitlement', async () => {
    let asked = 0;
    const foreign = SpiffeId.of('example.org', 'demo', 'web');
    const error = await rejectsWith(
      ca.issue({ csr: webCsr, identity: foreign }, () => {
        asked++;
        return { allowed: true };
      }),
      'not-entitled',
      /spiffe:\/\/example\.org\/ns\/demo\/sa\/web is outside trust domain cluster\.local/,
    );
    assert.equal(asked, 0);
    assert.equal(error.details.reason, 'foreign-trust-domain');
  });

  it('refuses a CSR that is not PEM PKCS#10', async () => {
    await rejectsWith(ca.issue({ csr: 'garbage', identity: web }, allow), 'invalid-csr', /cannot be parsed/);
    const truncated = webCsr.slice(0, 200) + '\n-----END CERTIFICATE REQUEST-----\n';
    await rejectsWith(ca.issue({ csr: truncated, identity: web }, allow), 'invalid-csr');
  });

  it('refuses a CSR whose signature was tampered with', async () => {
    const der = pemBody(webCsr);
    const last = der.length - 1;
    der[last] = (der[last] ?? 0) ^ 0xff; // the last bytes are the signature
    const tampered = toPem(der, 'CERTIFICATE REQUEST');
    assert.doesNotThrow(() => forge.pki.certificationRequestFromPem(tampered));
    await rejectsWith(ca.issue({ csr: tampered, identity: web }, allow), 'invalid-csr', /signature does not verify/);
  });

  it('refuses a CSR whose signed content was altered after signing', async () => {
    const der = pemBody(webCsr);
    const at = der.indexOf('/sa/web');
    assert.ok(at > 0);
    der.write('/sa/wex', at, 'latin1');
    const altered = toPem(der, 'CERTIFICATE REQUEST');
    assert.doesNotThrow(() => forge.pki.certificationRequestFromPem(altered));
    await rejectsWith(ca.issue({ csr: altered, identity: web }, allow), 'invalid-csr', /signature does not verify/);
  });

  it('refuses a CSR for one key signed with another (no proof of possession)', async () => {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forgePublicKey(leafKeys.publicKey);
    csr.setSubject([]);
    csr.setAttributes([{ name: 'extensionRequest', extensions: [uriSan(web.uri)] }]);
    const pem = signCertificationRequest(csr, otherKeys.privateKey);
    await rejectsWith(ca.issue({ csr: pem, identity: web }, allow), 'invalid-csr', /signature does not verify/);
  });

  it('refuses a 1024-bit RSA key', async () => {
    const error = await rejectsWith(ca.issue({ csr: buildCsr(weakKeys, web), identity: web }, allow), 'invalid-csr', /1024 bits/);
    assert.match(error.hint ?? '', /2048/);
  });

  it('refuses a non-RSA key', async () => {
    const result = spawnSync('openssl', [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=web', '-keyout', '/dev/null',
    ], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /BEGIN CERTIFICATE REQUEST/);
    await rejectsWith(ca.issue({ csr: result.stdout, identity: web }, allow), 'invalid-csr');
  });
});

describe('CertificateAuthority.sign', () => {
  it('gives 1000 certificates 1000 distinct serials, each the serial in the certificate', () => {
    const key = forgePublicKey(leafKeys.publicKey);
    const from = new Date(Date.now() - HOUR);
    const to = new Date(Date.now() + HOUR);
    const serials = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const issued = ca.sign(key, web, from, to);
      serials.add(issued.serial);
      if (i % 100 === 0) assert.equal(leafOf(issued.chain).serialNumber.toLowerCase(), issued.serial);
    }
    assert.equal(serials.size, 1000);
  });

  it('uses exactly the window it is given', () => {
    const from = new Date(Date.UTC(2020, 0, 1));
    const to = new Date(Date.UTC(2020, 0, 2));
    const leaf = leafOf(ca.sign(leafKeys.publicKey, web, from, to).chain);
    assert.equal(Date.parse(leaf.validFrom), from.getTime());
    assert.equal(Date.parse(leaf.validTo), to.getTime());
  });
});

describe('CertificateAuthority.loadOrCreate', () => {
  it('creates the root files, the key with mode 0600, and loads the same root the second time', async () => {
    const dir = join(await tempDir(), 'nested', 'ca');
    const first = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'example.org' });
    assert.equal(first.created, true);
    assert.deepEqual((await readdir(dir)).sort(), [ROOT_CERT_FILE, ROOT_KEY_FILE].sort());
    assert.equal((await stat(join(dir, ROOT_KEY_FILE))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, ROOT_CERT_FILE))).mode & 0o777, 0o644);
    assert.equal(await readFile(join(dir, ROOT_CERT_FILE), 'utf8'), first.ca.rootPem);

    const second = await CertificateAuthority.loadOrCreate(dir);
    assert.equal(second.created, false);
    assert.equal(second.ca.rootPem, first.ca.rootPem);
    assert.equal(second.ca.trustDomain, 'example.org', 'the trust domain comes from the root when not configured');
    // The loaded key is the root key: what it issues verifies against the first instance's roots.
    const identity = SpiffeId.of('example.org', 'demo', 'web');
    const issued = await second.ca.issue({ csr: buildCsr(leafKeys, identity), identity }, allow);
    assert.ok(verifyChain(issued.chain, { roots: first.ca.roots, trustDomain: 'example.org' }).equals(identity));
  });

  it('refuses a directory holding only one of the two files, and overwrites nothing', async () => {
    const source = await tempDir();
    await CertificateAuthority.loadOrCreate(source);
    const certPem = await readFile(join(source, ROOT_CERT_FILE), 'utf8');
    const keyPem = await readFile(join(source, ROOT_KEY_FILE), 'utf8');

    const onlyCert = await tempDir();
    await writeFile(join(onlyCert, ROOT_CERT_FILE), certPem);
    const certError = await rejectsWith(CertificateAuthority.loadOrCreate(onlyCert), 'invalid-config', /holds root-cert\.pem without root-key\.pem/);
    assert.deepEqual(await readdir(onlyCert), [ROOT_CERT_FILE]);
    assert.equal(await readFile(join(onlyCert, ROOT_CERT_FILE), 'utf8'), certPem);

    const onlyKey = await tempDir();
    await writeFile(join(onlyKey, ROOT_KEY_FILE), keyPem, { mode: 0o600 });
    const keyError = await rejectsWith(CertificateAuthority.loadOrCreate(onlyKey), 'invalid-config', /holds root-key\.pem without root-cert\.pem/);
    assert.deepEqual(await readdir(onlyKey), [ROOT_KEY_FILE]);
    assert.equal(await readFile(join(onlyKey, ROOT_KEY_FILE), 'utf8'), keyPem);

    assertNoKeyMaterial([certError, keyError], keyPem);
  });

  it('refuses a key that does not belong to the certificate, or that cannot be parsed, without echoing the key', async () => {
    const a = await tempDir();
    const b = await tempDir();
    await CertificateAuthority.loadOrCreate(a);
    await CertificateAuthority.loadOrCreate(b);
    const keyB = await readFile(join(b, ROOT_KEY_FILE), 'utf8');
    const mixed = await tempDir();
    await writeFile(join(mixed, ROOT_CERT_FILE), await readFile(join(a, ROOT_CERT_FILE), 'utf8'));
    await writeFile(join(mixed, ROOT_KEY_FILE), keyB, { mode: 0o600 });
    const mismatch = await rejectsWith(CertificateAuthority.loadOrCreate(mixed), 'invalid-certificate', /does not belong to the root certificate/);
    assert.equal(await readFile(join(mixed, ROOT_KEY_FILE), 'utf8'), keyB, 'the key file is left alone');

    // A key file cut short: unparseable, and the error must not quote what it could read.
    const damagedKey = keyB.split('\n').slice(0, 10).join('\n') + '\n-----END PRIVATE KEY-----\n';
    await writeFile(join(mixed, ROOT_KEY_FILE), damagedKey);
    const damaged = await rejectsWith(CertificateAuthority.loadOrCreate(mixed), 'invalid-certificate', /cannot be parsed/);

    await writeFile(join(mixed, ROOT_KEY_FILE), keyB);
    await writeFile(join(mixed, ROOT_CERT_FILE), 'not a certificate');
    const badCert = await rejectsWith(CertificateAuthority.loadOrCreate(mixed), 'invalid-certificate');

    assertNoKeyMaterial([mismatch, damaged, badCert], keyB);
  });

  it('refuses a root that is not a CA, or that has expired', () => {
    const leaf = ca.sign(leafKeys.publicKey, web, new Date(Date.now() - HOUR), new Date(Date.now() + HOUR)).chain[0]!;
    const leafKey = leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => CertificateAuthority.fromPem(leaf, leafKey), (error: unknown) =>
      error instanceof AmbitError && error.code === 'invalid-certificate' && /is not a CA certificate/.test(error.message));

    assert.ok(CertificateAuthority.fromPem(clockCa.rootPem, clockCaKey, { clock }).rootCertificate.ca);
    const later = { clock: new ManualClock(clock.now() + 11 * 365 * 86_400_000) };
    assert.throws(() => CertificateAuthority.fromPem(clockCa.rootPem, clockCaKey, later), (error: unknown) =>
      error instanceof AmbitError && error.code === 'certificate-expired' && /root certificate expired/.test(error.message));
  });
});

function assertNoKeyMaterial(errors: AmbitError[], keyPem: string): void {
  const keyLines = keyPem.split('\n').filter((line) => line.length > 0 && !line.startsWith('-----'));
  assert.ok(keyLines.length > 10);
  for (const error of errors) {
    const text = [...causeChain(error), error.hint ?? '', JSON.stringify(error.details), error.stack ?? ''].join('\n');
    assert.doesNotMatch(text, /PRIVATE KEY/);
    for (const line of keyLines) assert.ok(!text.includes(line.slice(0, 24)), `error ${error.message} quotes the key`);
  }
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
