import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { H2_PREFACE, sniff, type Sniffed } from './sniff.js';

describe('protocol sniffing', () => {
  const cases: [string, Buffer, Sniffed][] = [
    ['nothing yet', Buffer.alloc(0), 'more'],
    ['the HTTP/2 preface', Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]), 'h2'],
    ['part of the preface', H2_PREFACE.subarray(0, 10), 'more'],
    ['P could be PUT/PATCH or the preface', Buffer.from('P'), 'more'],
    ['GET request line', Buffer.from('GET / HTTP/1.1\r\n'), 'http1'],
    ['POST with the space', Buffer.from('POST '), 'http1'],
    ['OPTIO so far', Buffer.from('OPTIO'), 'more'],
    ['lower-case is not HTTP', Buffer.from('get / HTTP/1.1'), 'tcp'],
    ['TLS client hello', Buffer.from([0x16, 0x03, 0x01, 0x00]), 'tcp'],
    ['GETX is not a method', Buffer.from('GETX / HTTP/1.1'), 'tcp'],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH'), 'tcp'],
    ['PRI without the rest of the preface', Buffer.from('PRI * HTTP/1.1\r\n\r\n'), 'tcp'],
  ];
  for (const [name, bytes, expected] of cases) it(name, () => assert.equal(sniff(bytes), expected));
});
