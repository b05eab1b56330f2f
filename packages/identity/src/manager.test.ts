import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError, ManualClock, SpiffeId, type BackoffOptions } from '@ambit/core';
import { CertificateAuthority } from './ca.js';
import { generateKeys } from './keys.js';
import { CertificateManager, type CertificateSource, type CertificateStatus } from './manager.js';
import type { WorkloadCertificate } from './tls.js';
import { rejectsWith } from '@ambit/core/testing';

// Key generation dominates the cost: the manager gets one cached pair, and a second pair stands for "someone else's key".
const [workloadKeys, otherKeys] = await Promise.all([generateKeys(), generateKeys()]);

const HOUR = 3_600_000;
const web = SpiffeId.of('cluster.local', 'demo', 'web');
const api = SpiffeId.of('cluster.local', 'demo', 'api');
const noJitter: BackoffOptions = { initialMs: 1_000, maxMs: 8_000, jitter: 0 };

interface Harness {
  clock: ManualClock;
  ca: CertificateAuthority;
  manager: CertificateManager;
  /** Every call to the source: identity and clock time. */
  calls: { identity: string; at: number }[];
  /** While set, the source throws it. */
  failWith: Error | undefined;
  /** While set, the source waits for it before answering. */
  gate: Promise<void> | undefined;
  keyRequests: number;
  issued: WorkloadCertificate[];
  failed: AmbitError[];
}

/**
 * A manager whose source is a real CA sharing the manager's ManualClock, so
 * certificate windows and timers agree. Closed when the test ends.
 */
async function harness(
  t: TestContext,
  options: { workloadTtlMs?: number; backoff?: BackoffOptions; refreshAt?: number; source?: (h: Harness) => CertificateSource } = {},
): Promise<Harness> {
  const clock = new ManualClock();
  const ca = await CertificateAuthority.create({ clock, workloadTtlMs: options.workloadTtlMs });
  const h = { clock, ca, calls: [], failWith: undefined, gate: undefined, keyRequests: 0, issued: [], failed: [] } as unknown as Harness;
  const realSource: CertificateSource = async (identity, csr) => {
    h.calls.push({ identity: identity.uri, at: clock.now() });
    if (h.gate !== undefined) await h.gate;
    if (h.failWith !== undefined) throw h.failWith;
    return ca.issue({ csr, identity }, () => ({ allowed: true }));
  };
  h.manager = new CertificateManager({
    source: options.source?.(h) ?? realSource,
    clock,
    backoff: options.backoff ?? noJitter,
    refreshAt: options.refreshAt,
    generateKeys: () => {
      h.keyRequests++;
      return Promise.resolve(workloadKeys);
    },
  });
  h.manager.on('issued', (cert) => h.issued.push(cert));
  h.manager.on('failed', (_identity, error) => h.failed.push(error));
  t.after(() => h.manager.close());
  return h;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

async function turn(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function statusOf(manager: CertificateManager, identity: SpiffeId): CertificateStatus {
  const status = manager.status().find((s) => s.identity === identity.uri);
  assert.ok(status !== undefined, `no status for ${identity.uri}`);
  return status;
}

function refreshTime(cert: WorkloadCertificate, fraction = 0.5): number {
  return cert.notBefore + (cert.notAfter - cert.notBefore) * fraction;
}

describe('CertificateManager.fetch', () => {
  it('issues a certificate for the identity with the injected key and reports it available', async (t) => {
    const h = await harness(t);
    const cert = await h.manager.fetch(web);
    assert.ok(cert.identity.equals(web));
    assert.equal(cert.privateKey, workloadKeys.privateKey);
    assert.deepEqual(cert.roots, [h.ca.rootPem]);
    assert.equal(cert.notAfter, h.clock.now() + 24 * HOUR);
    assert.equal(h.manager.get(web), cert);
    assert.deepEqual(h.issued, [cert]);

    const status = statusOf(h.manager, web);
    assert.equal(status.state, 'available');
    assert.equal(status.serial, cert.serial);
    assert.equal(status.failures, 0);
    assert.equal(status.expiresInMs, 24 * HOUR);
    assert.equal(status.notAfter, new Date(cert.notAfter).toISOString());
    assert.equal(status.nextRefreshAt, new Date(refreshTime(cert)).toISOString());
    assert.equal(status.lastError, undefined);
  });

  it('shares one issuance between concurrent fetches of the same identity', async (t) => {
    const h = await harness(t);
    const gate = deferred();
    h.gate = gate.promise;
    const fetches = [h.manager.fetch(web), h.manager.fetch(web), h.manager.fetch(web)];
    await turn();
    assert.equal(h.calls.length, 1);
    assert.equal(statusOf(h.manager, web).state, 'pending');
    assert.equal(h.manager.get(web), undefined, 'nothing to hand out before the first certificate');
    gate.resolve();
    const [a, b, c] = await Promise.all(fetches);
    assert.equal(a, b);
    assert.equal(b, c);
    assert.equal(h.calls.length, 1);
    assert.equal(h.keyRequests, 1);

    // Later fetches are served from the cache while the certificate is valid.
    assert.equal(await h.manager.fetch(web), a);
    assert.equal(h.calls.length, 1);
  });

  it('issues separately for different identities', async (t) => {
    const h = await harness(t);
    const [a, b] = await Promise.all([h.manager.fetch(web), h.manager.fetch(api)]);
    assert.ok(a.identity.equals(web));
    assert.ok(b.identity.equals(api));
    assert.deepEqual(h.calls.map((c) => c.identity).sort(), [api.uri, web.uri]);
    assert.deepEqual(h.manager.identities().map((id) => id.uri).sort(), [api.uri, web.uri]);
  });

  it('rejects a certificate for another identity with invalid-certificate, naming both', async (t) => {
    const h = await harness(t, {
      source: (hh) => (_identity, csr) => hh.ca.issue({ csr, identity: api }, () => ({ allowed: true })),
    });
    await rejectsWith(h.manager.fetch(web), 'invalid-certificate', /returned a certificate for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/api instead of spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web/);
    assert.equal(h.manager.get(web), undefined);
    assert.equal(statusOf(h.manager, web).state, 'failed');
  });

  it('rejects a certificate for another key with invalid-certificate', async (t) => {
    const h = await harness(t, {
      source: (hh) => (identity) => {
        const now = hh.clock.now();
        return Promise.resolve(hh.ca.sign(otherKeys.publicKey, identity, new Date(now - 60_000), new Date(now + HOUR)));
      },
    });
    await rejectsWith(h.manager.fetch(web), 'invalid-certificate', /does not match the requested key/);
    assert.equal(h.manager.get(web), undefined);
  });

  it('rejects an answer without a certificate or roots', async (t) => {
    const h = await harness(t, { source: () => () => Promise.resolve({ chain: [], roots: [] }) });
    await rejectsWith(h.manager.fetch(web), 'invalid-certificate', /returned 0 certificates and 0 roots/);
  });

  it('never hands out a certificate that the source returned already expired', async (t) => {
    const h = await harness(t, {
      source: (hh) => (identity) => {
        hh.calls.push({ identity: identity.uri, at: hh.clock.now() });
        const now = hh.clock.now();
        return Promise.resolve(hh.ca.sign(workloadKeys.publicKey, identity, new Date(now - 2 * HOUR), new Date(now - HOUR)));
      },
    });
    await rejectsWith(h.manager.fetch(web), 'certificate-expired', /that expired at/);
    assert.equal(h.manager.get(web), undefined);
    // Retried with backoff, not immediately: a CA with a wrong clock must not be hammered.
    await h.clock.advance(999);
    assert.equal(h.calls.length, 1);
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
  });

  it('wraps an unexpected source failure as issuance-failed with the cause', async (t) => {
    const h = await harness(t);
    h.failWith = new Error('connect ECONNREFUSED 10.96.0.10:15012');
    const error = await rejectsWith(h.manager.fetch(web), 'issuance-failed', /could not obtain a certificate for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web/);
    assert.equal(error.cause, h.failWith);
    assert.deepEqual(h.failed, [error]);

    const status = statusOf(h.manager, web);
    assert.equal(status.state, 'failed');
    assert.equal(status.failures, 1);
    assert.equal(status.serial, undefined);
    assert.equal(status.expiresInMs, undefined);
    assert.equal(status.lastError, error.message);
    assert.equal(status.nextRefreshAt, new Date(h.clock.now() + 1_000).toISOString());
  });

  it('passes an AmbitError from the source through unchanged', async (t) => {
    const h = await harness(t);
    h.failWith = new AmbitError('not-entitled', 'not entitled to spiffe://cluster.local/ns/demo/sa/web: no such pod');
    assert.equal(await h.manager.fetch(web).catch((error: unknown) => error), h.failWith);
  });

  it('rejects after close and leaves no timers behind', async (t) => {
    const h = await harness(t);
    await h.manager.fetch(web);
    assert.equal(h.clock.pending, 1);
    h.manager.close();
    assert.equal(h.clock.pending, 0);
    await rejectsWith(h.manager.fetch(web), 'closed');
    assert.deepEqual(h.manager.status(), []);
  });

  it('refuses refreshAt outside (0, 1)', () => {
    const source: CertificateSource = () => Promise.reject(new Error('unused'));
    for (const refreshAt of [0, 1, 1.5, -0.1]) {
      assert.throws(() => new CertificateManager({ source, refreshAt }), (error: unknown) =>
        error instanceof AmbitError && error.code === 'invalid-config' && error.message.includes(`refreshAt=${refreshAt}`));
    }
  });
});

describe('CertificateManager refresh', () => {
  it('refreshes at half-life, not before, and hands out the new certificate', async (t) => {
    const h = await harness(t);
    const first = await h.manager.fetch(web);
    const due = refreshTime(first);
    // Half of notBefore..notAfter; notBefore is backdated 5 minutes.
    assert.equal(due, h.clock.now() + 12 * HOUR - 150_000);

    await h.clock.advance(due - 1 - h.clock.now());
    assert.equal(h.calls.length, 1);
    assert.equal(h.manager.get(web), first);
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]!.at, due);

    const second = h.manager.get(web);
    assert.ok(second !== undefined);
    assert.notEqual(second.serial, first.serial);
    assert.equal(second.notAfter, due + 24 * HOUR);
    assert.equal(await h.manager.fetch(web), second);
    assert.equal(h.calls.length, 2);
    assert.deepEqual(h.issued.map((c) => c.serial), [first.serial, second.serial]);
    assert.equal(statusOf(h.manager, web).nextRefreshAt, new Date(refreshTime(second)).toISOString());
  });

  it('honours a custom refreshAt fraction', async (t) => {
    const h = await harness(t, { refreshAt: 0.8 });
    const cert = await h.manager.fetch(web);
    const due = refreshTime(cert, 0.8);
    await h.clock.advance(due - 1 - h.clock.now());
    assert.equal(h.calls.length, 1);
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
  });

  it('retries a failing source with growing delays, capped, keeping the old certificate in use', async (t) => {
    const h = await harness(t);
    const first = await h.manager.fetch(web);
    h.failWith = new Error('CA unavailable');
    const due = refreshTime(first);
    await h.clock.advance(due - h.clock.now());
    assert.equal(h.calls.length, 2, 'refresh attempted at half-life');
    assert.equal(h.manager.get(web), first, 'the old certificate stays in use');
    let status = statusOf(h.manager, web);
    assert.equal(status.state, 'failed');
    assert.equal(status.failures, 1);
    assert.equal(status.serial, first.serial);
    assert.match(status.lastError ?? '', /could not obtain a certificate/);

    await h.clock.advance(30_000);
    const attempts = h.calls.slice(1).map((c) => c.at - due);
    // 1 s, 2 s, 4 s, 8 s, then capped at maxMs = 8 s.
    assert.deepEqual(attempts, [0, 1_000, 3_000, 7_000, 15_000, 23_000]);
    assert.equal(h.manager.get(web), first);
    assert.equal(await h.manager.fetch(web), first, 'fetch serves the still-valid certificate without waiting for the CA');
    status = statusOf(h.manager, web);
    assert.equal(status.failures, 6);
    assert.equal(status.nextRefreshAt, new Date(due + 31_000).toISOString());
    assert.equal(h.failed.length, 6);

    // The CA recovers: the next retry succeeds, failures reset, normal refresh resumes.
    h.failWith = undefined;
    await h.clock.advance(due + 31_000 - h.clock.now());
    const second = h.manager.get(web);
    assert.ok(second !== undefined && second.serial !== first.serial);
    status = statusOf(h.manager, web);
    assert.equal(status.state, 'available');
    assert.equal(status.failures, 0);
    assert.equal(status.lastError, undefined);
    assert.equal(status.nextRefreshAt, new Date(refreshTime(second)).toISOString());

    // Backoff starts over after a success.
    h.failWith = new Error('CA unavailable again');
    const nextDue = refreshTime(second);
    await h.clock.advance(nextDue + 1_000 - h.clock.now());
    assert.deepEqual(h.calls.slice(-2).map((c) => c.at - nextDue), [0, 1_000]);
  });

  it('draws retry delays with jitter inside [base * (1 - jitter), base]', async (t) => {
    const h = await harness(t, { backoff: { initialMs: 1_000, maxMs: 60_000, jitter: 0.5, random: () => 1 } });
    h.failWith = new Error('CA unavailable');
    await h.manager.fetch(web).catch(() => undefined);
    await h.clock.advance(10_000);
    const gaps = h.calls.slice(1).map((c, i) => c.at - h.calls[i]!.at);
    // random() = 1 takes the full jitter: half of 1 s, 2 s, 4 s ...
    assert.deepEqual(gaps, [500, 1_000, 2_000, 4_000]);
  });

  it('stops handing out the certificate once it expires while the source keeps failing', async (t) => {
    const h = await harness(t, { workloadTtlMs: HOUR, backoff: { initialMs: 1_000, maxMs: 60_000, jitter: 0 } });
    const cert = await h.manager.fetch(web);
    h.failWith = new Error('CA unavailable');
    await h.clock.advance(cert.notAfter - 1 - h.clock.now());
    assert.equal(h.manager.get(web), cert, 'valid until its last millisecond');
    let status = statusOf(h.manager, web);
    assert.equal(status.state, 'failed');
    assert.equal(status.expiresInMs, 1);
    assert.ok(status.failures > 5);

    await h.clock.advance(1);
    assert.equal(h.manager.get(web), undefined);
    status = statusOf(h.manager, web);
    assert.equal(status.state, 'expired');
    assert.equal(status.expiresInMs, 0);
    await h.clock.advance(5_000);
    assert.equal(statusOf(h.manager, web).expiresInMs, -5_000);

    const calls = h.calls.length;
    await rejectsWith(h.manager.fetch(web), 'issuance-failed', /could not obtain a certificate/);
    assert.equal(h.calls.length, calls + 1, 'fetch asks the source again rather than serving the expired certificate');
    assert.equal(h.manager.get(web), undefined);

    // Recovery: the next fetch gets a fresh certificate.
    h.failWith = undefined;
    const fresh = await h.manager.fetch(web);
    assert.ok(fresh.notAfter > h.clock.now());
    assert.equal(h.manager.get(web), fresh);
    assert.equal(statusOf(h.manager, web).state, 'available');
  });

  it('reports refreshing while a renewal is in flight and the old certificate is valid', async (t) => {
    const h = await harness(t);
    const first = await h.manager.fetch(web);
    const gate = deferred();
    h.gate = gate.promise;
    await h.clock.advance(refreshTime(first) - h.clock.now());
    assert.equal(statusOf(h.manager, web).state, 'refreshing');
    assert.equal(await h.manager.fetch(web), first, 'a valid certificate is served without waiting for the renewal');
    h.gate = undefined;
    gate.resolve();
    await turn();
    assert.equal(statusOf(h.manager, web).state, 'available');
    assert.notEqual(h.manager.get(web)?.serial, first.serial);
  });
});

describe('CertificateManager.forget', () => {
  it('cancels the refresh timer and drops the identity', async (t) => {
    const h = await harness(t);
    await h.manager.fetch(web);
    await h.manager.fetch(api);
    assert.equal(h.clock.pending, 2);
    h.manager.forget(web);
    assert.equal(h.clock.pending, 1);
    assert.equal(h.manager.get(web), undefined);
    assert.deepEqual(h.manager.status().map((s) => s.identity), [api.uri]);
    await h.clock.advance(48 * HOUR);
    assert.equal(h.calls.filter((c) => c.identity === web.uri).length, 1, 'no refresh for a forgotten identity');
    assert.ok(h.calls.filter((c) => c.identity === api.uri).length > 1, 'the other identity keeps refreshing');
    h.manager.forget(web); // forgetting twice is harmless
  });

  it('cancels retries of a failing identity', async (t) => {
    const h = await harness(t);
    h.failWith = new Error('CA unavailable');
    await h.manager.fetch(web).catch(() => undefined);
    assert.equal(h.clock.pending, 1);
    h.manager.forget(web);
    assert.equal(h.clock.pending, 0);
    await h.clock.advance(HOUR);
    assert.equal(h.calls.length, 1);
  });

  it('does not revive an identity forgotten while its issuance was in flight', async (t) => {
    const h = await harness(t);
    const gate = deferred();
    h.gate = gate.promise;
    const fetching = h.manager.fetch(web);
    await turn();
    h.manager.forget(web);
    gate.resolve();
    const cert = await fetching;
    assert.ok(cert.identity.equals(web), 'the caller still gets what it asked for');
    assert.equal(h.clock.pending, 0, 'but nothing is scheduled for it');
    assert.equal(h.manager.get(web), undefined);
    assert.deepEqual(h.manager.status(), []);
  });
});
