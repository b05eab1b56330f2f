import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestRedirect } from '@ambit/api';
import { hostOf, modifyPath, redirectLocation } from './url-modifier.js';

describe('modifyPath', () => {
  // The Gateway API's table for ReplacePrefixMatch (HTTPPathModifier), with the prefix as the control plane
  // normalises it (no trailing slash), plus a root prefix.
  const prefixCases: [string, string, string, string][] = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    ['/foo/bar', '/', '/xyz', '/xyz/foo/bar'],
    ['/', '/', '/xyz', '/xyz/'],
    ['/foo/bar', '/', '/', '/foo/bar'],
  ];
  for (const [path, prefix, value, expected] of prefixCases) {
    it(`ReplacePrefixMatch ${prefix} → ${JSON.stringify(value)}: ${path} becomes ${expected}`, () => {
      assert.equal(modifyPath(path, { type: 'ReplacePrefixMatch', prefix, value }), expected);
    });
  }

  it('keeps the query string, whichever the modifier', () => {
    assert.equal(modifyPath('/foo/bar?x=1&y=2', { type: 'ReplacePrefixMatch', prefix: '/foo', value: '/v2' }), '/v2/bar?x=1&y=2');
    assert.equal(modifyPath('/anything/at/all?x=1', { type: 'ReplaceFullPath', value: '/fixed' }), '/fixed?x=1');
    assert.equal(modifyPath('/a?', { type: 'ReplaceFullPath', value: '/b' }), '/b?');
  });

  it('leaves the path as it is without a modifier, or when the prefix is not the path\'s', () => {
    assert.equal(modifyPath('/a/b?q', undefined), '/a/b?q');
    assert.equal(modifyPath('/other', { type: 'ReplacePrefixMatch', prefix: '/foo', value: '/xyz' }), '/other');
  });
});

describe('redirectLocation', () => {
  const from = { path: '/old/page?x=1', host: 'echo.demo', port: 80 };
  const cases: { name: string; redirect: RequestRedirect; from?: Partial<typeof from>; location: string }[] = [
    { name: 'nothing changed but the status: the request\'s own URL', redirect: { statusCode: 302 }, location: 'http://echo.demo/old/page?x=1' },
    { name: 'https: the scheme\'s port, left out', redirect: { statusCode: 301, scheme: 'https' }, location: 'https://echo.demo/old/page?x=1' },
    { name: 'https on another port', redirect: { statusCode: 301, scheme: 'https', port: 8443 }, location: 'https://echo.demo:8443/old/page?x=1' },
    { name: 'http with port 443 shows it', redirect: { statusCode: 302, port: 443 }, location: 'http://echo.demo:443/old/page?x=1' },
    { name: 'no scheme: the port the client called', redirect: { statusCode: 302 }, from: { port: 8080 }, location: 'http://echo.demo:8080/old/page?x=1' },
    { name: 'a scheme given: its own port, not the called one', redirect: { statusCode: 302, scheme: 'http' }, from: { port: 8080 }, location: 'http://echo.demo/old/page?x=1' },
    { name: 'another host', redirect: { statusCode: 307, hostname: 'new.demo' }, location: 'http://new.demo/old/page?x=1' },
    { name: 'a full path', redirect: { statusCode: 308, path: { type: 'ReplaceFullPath', value: '/new' } }, location: 'http://echo.demo/new?x=1' },
    { name: 'a prefix', redirect: { statusCode: 302, path: { type: 'ReplacePrefixMatch', prefix: '/old', value: '/new' } }, location: 'http://echo.demo/new/page?x=1' },
    { name: 'an IPv6 host', redirect: { statusCode: 302 }, from: { host: '[fd00::1]', port: 8080 }, location: 'http://[fd00::1]:8080/old/page?x=1' },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(redirectLocation(c.redirect, { ...from, ...c.from }), c.location));
  }
});

describe('hostOf', () => {
  const cases: [string, string][] = [
    ['echo.demo', 'echo.demo'], ['echo.demo:8080', 'echo.demo'], ['10.0.0.1:80', '10.0.0.1'],
    ['[fd00::1]:80', '[fd00::1]'], ['[fd00::1]', '[fd00::1]'], ['fd00::1', '[fd00::1]'], ['echo.demo:', 'echo.demo'],
  ];
  for (const [authority, host] of cases) it(`${authority} → ${host}`, () => assert.equal(hostOf(authority), host));
});
