import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withoutHopByHop } from '../l7/forward.js';
import { CLIENT_CERT_HEADER, withClientCert } from './frontends.js';

describe('request headers on their way into the L7 stack', () => {
  it('drop pseudo-headers and hop-by-hop headers, in one copy that leaves the original alone', () => {
    const incoming = {
      ':path': '/x', host: 'web', connection: 'keep-alive', 'keep-alive': 'timeout=5', te: 'trailers', 'transfer-encoding': 'chunked',
      accept: '*/*', 'set-cookie': ['a=1', 'b=2'], 'x-trace': 't',
    };
    const copy = withoutHopByHop(incoming);
    assert.deepEqual(Object.entries(copy), [['accept', '*/*'], ['set-cookie', ['a=1', 'b=2']], ['x-trace', 't']]);
    assert.equal(incoming.connection, 'keep-alive', 'the original is not modified');
  });

  it('carry the waypoint\'s x-forwarded-client-cert, replacing the client\'s own', () => {
    const headers = withoutHopByHop({ [CLIENT_CERT_HEADER]: 'By=spiffe://evil;URI=spiffe://forged', accept: '*/*' });
    const result = withClientCert(headers, 'spiffe://cluster.local/ns/demo/sa/waypoint', 'spiffe://cluster.local/ns/demo/sa/client');
    assert.deepEqual(result, {
      [CLIENT_CERT_HEADER]: 'By=spiffe://cluster.local/ns/demo/sa/waypoint;URI=spiffe://cluster.local/ns/demo/sa/client', accept: '*/*',
    });
  });
});
