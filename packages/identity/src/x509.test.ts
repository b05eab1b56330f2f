import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { AmbitError, SpiffeId } from '@ambit/core';
import { CertificateAuthority } from './ca.js';
import { generateKeys, type KeyPair } from './keys.js';
import {
  forgePublicKey, identityOf, keyMatchesCertificate, randomSerial, signCertificate, splitPemBundle, uriSans, verifyChain,
} from './x509.js';

// RSA key generation dominates the cost: three pairs for the whole file.
const [rootKeys, leafKeys, otherKeys] = await Promise.all([generateKeys(), generateKeys(), generateKeys()]);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Whole seconds: X.509 validity has one-second resolution.
const NOW = Math.floor(Date.now() / 1000) * 1000;

const web = SpiffeId.of('cluster.local', 'demo', 'web');

type AltName = { type: number; value: string };

/** A self-signed CA certificate made with forge, so the test holds the root key. */
function craftRoot(keys: KeyPair, options: { trustDomain?: string; commonName?: string; from?: number; to?: number } = {}): string {
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(keys.publicKey);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(options.from ?? NOW - DAY);
  cert.validity.notAfter = new Date(options.to ?? NOW + 365 * DAY);
  const subject = [{ name: 'organizationName', value: trustDomain }, { name: 'commonName', value: options.commonName ?? 'Test Root CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${trustDomain}` }] },
  ]);
  return signCertificate(cert, keys.privateKey);
}

/** A certificate signed by `issuerPem`/`issuerKey` with exactly the SANs given. */
function craftCert(options: {
  issuerPem: string; issuerKey: KeyPair; subjectKey: KeyPair; altNames: AltName[]; ca?: boolean; from?: number; to?: number;
}): string {
  const issuer = forge.pki.certificateFromPem(options.issuerPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(options.subjectKey.publicKey);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(options.from ?? NOW - HOUR);
  cert.validity.notAfter = new Date(options.to ?? NOW + DAY);
  cert.setSubject(options.ca === true ? [{ name: 'commonName', value: 'Test Intermediate CA' }] : [{ name: 'commonName', value: 'crafted' }]);
  cert.setIssuer(issuer.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: options.ca === true, critical: true },
    options.ca === true
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuer.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (options.altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames: options.altNames });
  cert.setExtensions(extensions);
  return signCertificate(cert, options.issuerKey.privateKey);
}

const rootPem = craftRoot(rootKeys);
const ca = CertificateAuthority.fromPem(rootPem, rootKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const roots = [rootPem];

function leaf(identity: SpiffeId, from = NOW - HOUR, to = NOW + DAY): string {
  const pem = ca.sign(leafKeys.publicKey, identity, new Date(from), new Date(to)).chain[0];
  assert.ok(pem !== undefined);
  return pem;
}

function crafted(altNames: AltName[]): string {
  return craftCert({ issuerPem: rootPem, issuerKey: rootKeys, subjectKey: leafKeys, altNames });
}

function rejectsWith(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AmbitError, `expected an AmbitError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

describe('randomSerial', () => {
  it('is 16 bytes of hex, positive (high bit clear), non-zero and unique', () => {
    const serials = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const serial = randomSerial();
      assert.match(serial, /^[0-7][13579bdf][0-9a-f]{30}$/);
      serials.add(serial);
    }
    assert.equal(serials.size, 1000);
  });
});

describe('identityOf', () => {
  it('returns the one SPIFFE identity of a CA-issued certificate, from PEM or X509Certificate', () => {
    const pem = leaf(web);
    assert.equal(identityOf(pem).uri, web.uri);
    assert.ok(identityOf(new X509Certificate(pem)).equals(web));
  });

  it('rejects a certificate without any SAN', () => {
    rejectsWith(() => identityOf(crafted([])), 'invalid-certificate', /has 0 SPIFFE URI SANs/);
  });

  it('rejects a certificate whose only SANs are not SPIFFE IDs', () => {
    const pem = crafted([{ type: 2, value: 'web.demo.svc' }, { type: 6, value: 'https://web.demo.svc/' }]);
    assert.deepEqual(uriSans(new X509Certificate(pem)), ['https://web.demo.svc/']);
    rejectsWith(() => identityOf(pem), 'invalid-certificate', /has 0 SPIFFE URI SANs/);
  });

  it('rejects a certificate with two SPIFFE IDs, even if both are well formed', () => {
    const pem = crafted([
      { type: 6, value: web.uri },
      { type: 6, value: 'spiffe://cluster.local/ns/demo/sa/admin' },
    ]);
    assert.deepEqual(uriSans(new X509Certificate(pem)), [web.uri, 'spiffe://cluster.local/ns/demo/sa/admin']);
    rejectsWith(() => identityOf(pem), 'invalid-certificate', /has 2 SPIFFE URI SANs; a workload certificate has exactly one/);
  });

  it('ignores non-SPIFFE URI SANs next to the one SPIFFE ID', () => {
    const pem = crafted([{ type: 6, value: 'https://web.demo.svc/' }, { type: 6, value: web.uri }, { type: 2, value: 'web' }]);
    assert.ok(identityOf(pem).equals(web));
  });

  it('rejects a SPIFFE ID that is not a workload identity', () => {
    rejectsWith(() => identityOf(crafted([{ type: 6, value: 'spiffe://cluster.local/web' }])), 'invalid-identity');
  });
});

describe('verifyChain', () => {
  it('accepts a leaf issued by the root and returns its identity', () => {
    const identity = verifyChain([leaf(web)], { roots, trustDomain: 'cluster.local' });
    assert.ok(identity.equals(web));
  });

  it('accepts a chain through an intermediate CA, leaf first', () => {
    const intermediate = craftCert({ issuerPem: rootPem, issuerKey: rootKeys, subjectKey: otherKeys, altNames: [], ca: true });
    const leafPem = craftCert({ issuerPem: intermediate, issuerKey: otherKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }] });
    assert.ok(verifyChain([leafPem, intermediate], { roots }).equals(web));
    // Without the intermediate, or in the wrong order, there is no path to the root.
    rejectsWith(() => verifyChain([leafPem], { roots }), 'untrusted-certificate');
    rejectsWith(() => verifyChain([intermediate, leafPem], { roots }), 'untrusted-certificate');
    // A leaf naming the intermediate but signed with another key breaks the chain.
    const forged = craftCert({ issuerPem: intermediate, issuerKey: rootKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }] });
    rejectsWith(() => verifyChain([forged, intermediate], { roots }), 'untrusted-certificate', /is not signed by the next certificate/);
  });

  it('rejects an intermediate that is not a CA', () => {
    const notCa = craftCert({ issuerPem: rootPem, issuerKey: rootKeys, subjectKey: otherKeys, altNames: [] });
    const leafPem = craftCert({ issuerPem: notCa, issuerKey: otherKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }] });
    rejectsWith(() => verifyChain([leafPem, notCa], { roots }), 'untrusted-certificate', /is not signed by the next certificate/);
  });

  it("rejects another CA's certificate, even when that CA has the same name", async () => {
    const other = await CertificateAuthority.create();
    const foreign = other.sign(leafKeys.publicKey, web, new Date(NOW - HOUR), new Date(NOW + DAY)).chain[0]!;
    rejectsWith(() => verifyChain([foreign], { roots }), 'untrusted-certificate', /is not signed by a trusted root/);
    // The same certificate is fine against its own root: the rejection is about trust, not the certificate.
    assert.ok(verifyChain([foreign], { roots: other.roots }).equals(web));

    const impostorRoot = craftRoot(otherKeys, { commonName: 'Test Root CA' });
    assert.equal(new X509Certificate(impostorRoot).subject, new X509Certificate(rootPem).subject);
    const impostor = craftCert({ issuerPem: impostorRoot, issuerKey: otherKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }] });
    rejectsWith(() => verifyChain([impostor], { roots }), 'untrusted-certificate');
  });

  it('rejects a forgery that names the root exactly (issuer and key identifier) but is signed with another key', () => {
    const forged = craftCert({ issuerPem: rootPem, issuerKey: otherKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }] });
    assert.equal(new X509Certificate(forged).checkIssued(new X509Certificate(rootPem)), true, 'it claims the root as issuer');
    rejectsWith(() => verifyChain([forged], { roots }), 'untrusted-certificate', /is not signed by a trusted root/);
  });

  it('rejects an expired certificate, and accepts it at a time inside its window', () => {
    const expired = leaf(web, NOW - 2 * HOUR, NOW - HOUR);
    rejectsWith(() => verifyChain([expired], { roots }), 'certificate-expired', /expired at/);
    assert.ok(verifyChain([expired], { roots, now: NOW - 90 * 60_000 }).equals(web));
  });

  it('treats notAfter as the last valid instant', () => {
    const pem = leaf(web, NOW - HOUR, NOW);
    assert.ok(verifyChain([pem], { roots, now: NOW }).equals(web));
    rejectsWith(() => verifyChain([pem], { roots, now: NOW + 1000 }), 'certificate-expired');
  });

  it('rejects a certificate that is not yet valid', () => {
    const future = leaf(web, NOW + HOUR, NOW + 2 * HOUR);
    rejectsWith(() => verifyChain([future], { roots }), 'certificate-not-yet-valid', /is not valid before/);
    assert.ok(verifyChain([future], { roots, now: NOW + HOUR }).equals(web));
  });

  it('rejects a valid leaf when the root itself has expired', () => {
    const shortRoot = craftRoot(otherKeys, { commonName: 'Short Root', to: NOW + DAY });
    const longLeaf = craftCert({
      issuerPem: shortRoot, issuerKey: otherKeys, subjectKey: leafKeys, altNames: [{ type: 6, value: web.uri }], to: NOW + 10 * DAY,
    });
    assert.ok(verifyChain([longLeaf], { roots: [shortRoot] }).equals(web));
    const rootSerial = new X509Certificate(shortRoot).serialNumber;
    rejectsWith(() => verifyChain([longLeaf], { roots: [shortRoot], now: NOW + 2 * DAY }), 'certificate-expired', new RegExp(rootSerial));
  });

  it('rejects an identity outside the expected trust domain', () => {
    rejectsWith(
      () => verifyChain([leaf(web)], { roots, trustDomain: 'example.org' }),
      'untrusted-certificate',
      /spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web is outside trust domain example\.org/,
    );
    // A root that signs for a foreign trust domain does not make that identity part of this mesh.
    const foreign = leaf(SpiffeId.of('example.org', 'demo', 'web'));
    rejectsWith(() => verifyChain([foreign], { roots, trustDomain: 'cluster.local' }), 'untrusted-certificate', /outside trust domain cluster\.local/);
  });

  it('rejects a trusted leaf that has no single SPIFFE identity', () => {
    const two = crafted([{ type: 6, value: web.uri }, { type: 6, value: 'spiffe://cluster.local/ns/demo/sa/admin' }]);
    rejectsWith(() => verifyChain([two], { roots }), 'invalid-certificate', /2 SPIFFE URI SANs/);
    rejectsWith(() => verifyChain([crafted([])], { roots }), 'invalid-certificate', /0 SPIFFE URI SANs/);
  });

  it('rejects an empty chain', () => {
    rejectsWith(() => verifyChain([], { roots }), 'invalid-certificate', /empty certificate chain/);
  });
});

describe('PEM and key helpers', () => {
  it('splitPemBundle returns each certificate of a bundle, ignoring text around them', () => {
    const a = leaf(web);
    const b = rootPem;
    const parts = splitPemBundle(`# leaf\n${a}\nsome comment\n${b}`);
    assert.equal(parts.length, 2);
    assert.equal(new X509Certificate(parts[0]!).fingerprint256, new X509Certificate(a).fingerprint256);
    assert.equal(new X509Certificate(parts[1]!).fingerprint256, new X509Certificate(b).fingerprint256);
    assert.deepEqual(splitPemBundle('no certificates here'), []);
  });

  it('keyMatchesCertificate tells the matching private key from another one', () => {
    const cert = new X509Certificate(leaf(web));
    assert.equal(keyMatchesCertificate(leafKeys.privateKey, cert), true);
    assert.equal(keyMatchesCertificate(otherKeys.privateKey, cert), false);
  });
});
