import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import { parseCertificateRequest } from './ca-request.js';
import { parseCertificateResponse } from './ca.js';

const csr = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';

describe('certificate request validation', () => {
  it('accepts a well-formed request and parses the identity', () => {
    const { request, identity } = parseCertificateRequest({ csr, identity: 'spiffe://cluster.local/ns/demo/sa/echo', ttlSeconds: 3600 });
    assert.equal(request.ttlSeconds, 3600);
    assert.equal(identity.namespace, 'demo');
  });

  it('names the bad field', () => {
    assert.throws(() => parseCertificateRequest({ csr, identity: 'spiffe://cluster.local/ns/demo/sa/echo', ttlSeconds: -1 }),
      (e) => isAmbitError(e, 'invalid-argument') && e.message.includes('ttlSeconds'));
    assert.throws(() => parseCertificateRequest({ csr: 'nope', identity: 'spiffe://cluster.local/ns/demo/sa/echo' }),
      (e) => isAmbitError(e, 'invalid-argument') && e.message.includes('csr'));
  });

  it('refuses an identity that is not a workload SPIFFE ID', () => {
    assert.throws(() => parseCertificateRequest({ csr, identity: 'spiffe://cluster.local/anything' }),
      (e) => isAmbitError(e, 'invalid-identity'));
  });
});

describe('certificate response check', () => {
  const good = {
    chain: ['-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n'], roots: ['-----BEGIN CERTIFICATE-----\nR\n-----END CERTIFICATE-----\n'],
    notBefore: '2026-11-25T10:00:00.000Z', notAfter: '2026-11-26T10:00:00Z', serial: '0a1b',
  };

  it('accepts what the CA sends', () => {
    assert.deepEqual(parseCertificateResponse(JSON.parse(JSON.stringify(good))), good);
  });

  it('names the first bad field and changes nothing', () => {
    const cases: [unknown, string][] = [
      [null, '(root)'], [[good], '(root)'],
      [{ ...good, chain: [] }, 'chain'], [{ ...good, chain: [1] }, 'chain'], [{ ...good, roots: 'pem' }, 'roots'],
      [{ ...good, notBefore: 'yesterday' }, 'notBefore'], [{ ...good, notAfter: '2026-13-45T99:00:00Z' }, 'notAfter'],
      [{ ...good, serial: 10 }, 'serial'],
    ];
    for (const [input, field] of cases) {
      const before = JSON.stringify(input);
      assert.throws(() => parseCertificateResponse(input), (e) => isAmbitError(e, 'invalid-argument') && e.message.startsWith(`certificate response: ${field}:`), field);
      assert.equal(JSON.stringify(input), before);
    }
  });
});
