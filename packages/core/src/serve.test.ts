import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from './errors.js';
import { Readable } from 'node:stream';
import { boundPort, closeServer, listen, metricsRoute, readBody, readinessRoute, routeServer } from './serve.js';
import { rejectsWith } from './testing.js';
import { httpRequest as request } from './testing.js';

describe('HTTP servers for probes and scraping', () => {
  let reason: string | undefined = 'waiting for listeners';
  const readiness = routeServer({ '/healthz/ready': readinessRoute(() => reason) });
  const metrics = routeServer({
    '/metrics': metricsRoute({ metrics: () => Promise.resolve('up 1\n'), contentType: 'text/plain; version=0.0.4' }),
    '/failing': metricsRoute({ metrics: () => Promise.reject(new Error('collector broke')), contentType: 'text/plain' }),
  });
  after(async () => {
    await closeServer(readiness);
    await closeServer(metrics);
  });

  it('binds on port 0 and reports the port it got', async () => {
    await listen(readiness, { host: '127.0.0.1', port: 0 }, 'readiness');
    await listen(metrics, { host: '127.0.0.1', port: 0 }, 'metrics');
    assert.notEqual(boundPort(readiness), 0);
    assert.notEqual(boundPort(metrics), boundPort(readiness));
  });

  it('answers readiness 503 with the reason until ready, then 200', async () => {
    const port = boundPort(readiness);
    const waiting = await request({ host: '127.0.0.1', port, path: '/healthz/ready' });
    assert.equal(waiting.status, 503);
    assert.equal(waiting.body, 'not ready: waiting for listeners\n');
    reason = undefined;
    const ready = await request({ host: '127.0.0.1', port, path: '/healthz/ready' });
    assert.equal(ready.status, 200);
    assert.equal(ready.body, 'ready\n');
  });

  it('serves metrics in the source content type, and a collection failure as 500', async () => {
    const port = boundPort(metrics);
    const scraped = await request({ host: '127.0.0.1', port, path: '/metrics' });
    assert.equal(scraped.status, 200);
    assert.equal(scraped.headers['content-type'], 'text/plain; version=0.0.4');
    assert.equal(scraped.body, 'up 1\n');
    const failing = await request({ host: '127.0.0.1', port, path: '/failing' });
    assert.equal(failing.status, 500);
    assert.match(failing.body, /collector broke/);
  });

  it('answers an unknown path with 404 naming the endpoints', async () => {
    const missing = await request({ host: '127.0.0.1', port: boundPort(metrics), path: '/stats' });
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.body), { error: 'no such endpoint /stats', endpoints: ['/metrics', '/failing'] });
  });

  it('fails a bind on a taken port with an error that says what to do', async () => {
    const other = routeServer({});
    await assert.rejects(listen(other, { host: '127.0.0.1', port: boundPort(metrics) }, 'metrics'), (error: unknown) => {
      assert.ok(error instanceof AmbitError);
      assert.equal(error.code, 'unavailable');
      assert.match(error.message, /cannot listen for metrics on 127\.0\.0\.1:\d+: EADDRINUSE/);
      assert.match(error.hint ?? '', /another process holds the address/);
      return true;
    });
    await closeServer(other);
  });
});

describe('readBody', () => {
  it('returns the whole body', async () => {
    assert.equal((await readBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]))).toString(), 'abcd');
  });

  it('refuses a body over the limit with `limit` and drains the rest', async () => {
    const stream = Readable.from([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)]);
    await rejectsWith(readBody(stream, 6), 'limit', /larger than 6 bytes/);
    if (!stream.readableEnded) await new Promise((resolve) => stream.once('end', resolve));
    assert.ok(stream.readableEnded);
  });
});
