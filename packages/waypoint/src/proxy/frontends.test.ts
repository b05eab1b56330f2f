import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withoutHopByHop } from '../l7/forward.js';
import { CLIENT_CERT_HEADER, clientErrorAnswer, withClientCert } from './frontends.js';

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


describe('what the HTTP/1 server\'s clientError means', () => {
  const error = (code: string, message = code): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

  it('answers what the parser refused, and a head that did not arrive in time, each with its reason', () => {
    const answer = (code: string) => {
      const result = clientErrorAnswer(error(code));
      return result === undefined ? undefined : [result.reason, result.answer.toString('latin1').split('\r\n')[0]];
    };
    assert.deepEqual(answer('HPE_INVALID_HEADER_TOKEN'), ['malformed-request', 'HTTP/1.1 400 Bad Request']);
    assert.deepEqual(answer('HPE_HEADER_OVERFLOW'), ['headers-too-large', 'HTTP/1.1 431 Request Header Fields Too Large']);
    assert.deepEqual(answer('ERR_HTTP_REQUEST_TIMEOUT'), ['request-timeout', 'HTTP/1.1 408 Request Timeout']);
  });

  it('is no refusal when the connection itself failed: a client that went away sent nothing wrong', () => {
    assert.equal(clientErrorAnswer(error('ERR_HTTP2_STREAM_ERROR', 'Stream closed with error code NGHTTP2_CONNECT_ERROR')), undefined);
    assert.equal(clientErrorAnswer(error('ECONNRESET', 'aborted')), undefined);
    assert.equal(clientErrorAnswer(error('HPE_INVALID_EOF_STATE', 'Parse Error')), undefined, 'the connection ended mid-request');
    assert.equal(clientErrorAnswer(new Error('no code')), undefined);
  });
});
