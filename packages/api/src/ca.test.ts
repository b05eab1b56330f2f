import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import { parseCertificateRequest } from './ca.js';

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
