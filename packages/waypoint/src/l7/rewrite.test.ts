import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rewriteUrl } from './rewrite.js';
import { boundary, exchange, stub } from './testing.js';

describe('URL rewrite and redirect layer', () => {
  it('answers a redirect itself: the status, a Location built from the request, an empty body', async () => {
    const inner = stub();
    const ex = exchange({
      request: { path: '/old/page?x=1', authority: 'echo.demo:80' },
      rule: { backends: [], redirect: { statusCode: 301, scheme: 'https', path: { type: 'ReplacePrefixMatch', prefix: '/old', value: '/new' } } },
    });
    const response = await rewriteUrl()(inner)(ex);
    assert.equal(response.status, 301);
    assert.deepEqual(response.headers, { location: 'https://echo.demo/new/page?x=1' });
    assert.deepEqual(response.body, Buffer.alloc(0));
    assert.equal(inner.calls.length, 0, 'nothing is forwarded');
  });

  it('without a Host, redirects to the called service\'s name at the called port', async () => {
    const ex = exchange({
      request: { authority: '', path: '/' },
      destination: { port: 8080, service: { name: 'echo', namespace: 'demo', hostname: 'echo.demo.svc.cluster.local', vips: [], ports: [], endpoints: [] } },
      rule: { backends: [], redirect: { statusCode: 302 } },
    });
    const response = await rewriteUrl()(stub())(ex);
    assert.equal(response.headers.location, 'http://echo.demo.svc.cluster.local:8080/');
  });

  it('rewrites the path and the Host of the request it forwards, leaving the client\'s request as it was', async () => {
    const inner = stub();
    const ex = exchange({
      request: { path: '/api/v1/items?page=2', authority: 'echo.demo' },
      rule: { rewrite: { hostname: 'items.internal', path: { type: 'ReplacePrefixMatch', prefix: '/api/v1', value: '/' } } },
    });
    await rewriteUrl()(inner)(ex);
    assert.equal(inner.calls[0]?.request.path, '/items?page=2');
    assert.equal(inner.calls[0]?.request.authority, 'items.internal');
    assert.equal(ex.request.path, '/api/v1/items?page=2', 'what the access log reports');
    assert.equal(ex.request.authority, 'echo.demo');
    assert.equal(inner.calls[0]?.trace, ex.trace, 'the trace is still shared');
    assert.equal(inner.calls[0]?.signal, ex.signal);
  });

  it('a full-path rewrite only', async () => {
    const inner = stub();
    await rewriteUrl()(inner)(exchange({ request: { path: '/anything?q=1' }, rule: { rewrite: { path: { type: 'ReplaceFullPath', value: '/fixed' } } } }));
    assert.equal(inner.calls[0]?.request.path, '/fixed?q=1');
    assert.equal(inner.calls[0]?.request.authority, 'echo.demo.svc.cluster.local');
  });

  it('without URL filters, passes the exchange on untouched', async () => {
    const inner = stub();
    const ex = exchange({ rule: { requestHeaders: { set: [{ name: 'x', value: '1' }] } } });
    await rewriteUrl()(inner)(ex);
    const unrouted = exchange();
    await rewriteUrl()(inner)(unrouted);
    assert.deepEqual(inner.calls, [ex, unrouted]);
  });

  it('a redirect is a request like any other to telemetry: counted with its status and no flag, logged with the client\'s path', async () => {
    const { handler, metrics, lines } = boundary(rewriteUrl()(stub()));
    await handler(exchange({ request: { path: '/old?x=1' }, rule: { backends: [], redirect: { statusCode: 302, hostname: 'new.demo' } } }));
    const counted = (await metrics.requests.get()).values.map((v) => [v.labels.response_code, v.labels.response_flags, v.value]);
    assert.deepEqual(counted, [['302', '-', 1]]);
    assert.equal(lines[0]?.status, 302);
    assert.equal(lines[0]?.path, '/old?x=1');
    assert.equal(lines[0]?.upstream, '-');
  });
});
