import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatForwarded, parseForwarded, formatBaggage, parseBaggage, isTraceparent, newTraceparent, metadataHeaders,
  readMetadata, headerListSize,
} from './headers.js';

describe('forwarded', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['for=10.244.1.7', '10.244.1.7'],
    ['for="[fd00::7]"', 'fd00::7'],
    ['for="[fd00::7]:4711"', 'fd00::7'],
    ['for=10.0.0.1:8080', '10.0.0.1'],
    ['proto=https;for=10.0.0.2', '10.0.0.2'],
    ['For=10.0.0.3, for=10.0.0.4', '10.0.0.3'],
    ['for=unknown', undefined],
    ['for=_hidden', undefined],
    ['by=10.0.0.1', undefined],
    [undefined, undefined],
  ];
  for (const [header, expected] of cases) {
    it(`parses ${String(header)} as ${String(expected)}`, () => assert.equal(parseForwarded(header), expected));
  }
  it('round-trips v4 and v6', () => {
    assert.equal(parseForwarded(formatForwarded('10.1.2.3')), '10.1.2.3');
    assert.equal(formatForwarded('::1'), 'for="[::1]"');
    assert.equal(parseForwarded(formatForwarded('::1')), '::1');
  });
});

describe('baggage', () => {
  it('round-trips values that need escaping', () => {
    const entries = { 'k8s.namespace.name': 'demo', 'service.version': 'v 1,2;3=4' };
    assert.deepEqual(parseBaggage(formatBaggage(entries)), entries);
  });
  it('skips malformed members and properties', () => {
    assert.deepEqual(parseBaggage('a=1;prop=x, =nokey,novalue,b=%E0%A4%A,c= 3 '), { a: '1', c: '3' });
  });
});

describe('traceparent', () => {
  it('accepts valid and refuses invalid values', () => {
    assert.equal(isTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), true);
    assert.equal(isTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), false);
    assert.equal(isTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), false);
    assert.equal(isTraceparent('garbage'), false);
  });
  it('generates unique valid contexts', () => {
    const a = newTraceparent();
    assert.equal(isTraceparent(a), true);
    assert.notEqual(a, newTraceparent());
  });
});

describe('metadata headers', () => {
  it('writes and reads back every field', () => {
    const traceparent = newTraceparent();
    const headers = metadataHeaders({ forwardedFor: '10.244.0.9', baggage: { 'k8s.pod.name': 'client-1' }, traceparent });
    assert.deepEqual(readMetadata(headers), { forwardedFor: '10.244.0.9', baggage: { 'k8s.pod.name': 'client-1' }, traceparent });
  });
  it('replaces an invalid traceparent and omits empty baggage', () => {
    const headers = metadataHeaders({ traceparent: 'nope', baggage: {} });
    assert.equal(isTraceparent(headers.traceparent), true);
    assert.equal('baggage' in headers, false);
    assert.equal('forwarded' in headers, false);
  });
  it('counts header list size the HPACK way', () => {
    assert.equal(headerListSize({ ':method': 'CONNECT', a: ['1', '22'] }), 7 + 7 + 32 + (1 + 1 + 32) + (1 + 2 + 32));
  });
});
