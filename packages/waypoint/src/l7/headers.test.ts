import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { modifyHeaders } from './headers.js';
import { exchange, respond, stub } from './testing.js';

describe('header modification layer', () => {
  it('modifies the request before it goes on, leaving the client\'s request as it was', async () => {
    const inner = stub();
    const ex = exchange({
      request: { headers: { 'x-keep': 'k', 'x-drop': 'd', 'x-env': 'dev' } },
      rule: { requestHeaders: { set: [{ name: 'X-Env', value: 'canary' }], add: [{ name: 'x-keep', value: 'k2' }], remove: ['x-drop'] } },
    });
    await modifyHeaders()(inner)(ex);
    assert.deepEqual(inner.calls[0]?.request.headers, { 'x-keep': ['k', 'k2'], 'x-env': 'canary' });
    assert.deepEqual(ex.request.headers, { 'x-keep': 'k', 'x-drop': 'd', 'x-env': 'dev' });
    assert.equal(inner.calls[0]?.trace, ex.trace, 'the trace is still shared');
    assert.equal(inner.calls[0]?.signal, ex.signal);
  });

  it('modifies the response on its way back', async () => {
    const inner = stub(() => respond(200, 'ok', { server: 'echo', 'x-internal': '1' }));
    const ex = exchange({ rule: { responseHeaders: { set: [{ name: 'server', value: 'waypoint' }], remove: ['x-internal'] } } });
    const response = await modifyHeaders()(inner)(ex);
    assert.deepEqual(response.headers, { server: 'waypoint' });
    assert.equal(response.status, 200);
    assert.equal(inner.calls[0], ex, 'no request modifier: the exchange goes on as it is');
  });

  it('without a rule, passes the exchange and the response through untouched', async () => {
    const answer = respond(204, '', { 'x-a': '1' });
    const inner = stub(() => answer);
    const ex = exchange({ request: { headers: { 'x-a': '1' } } });
    assert.equal(await modifyHeaders()(inner)(ex), answer);
    assert.equal(inner.calls[0], ex);
  });
});
