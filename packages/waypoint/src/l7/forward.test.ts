// Forwarding is the one layer that needs a peer: a local HTTP server on
// port 0, reached over plain TCP (the endpoints have no workload, so no HBONE).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { socketAddress } from '@ambit/api';
import { findAmbitError } from '@ambit/core';
import { rejectsWith } from '@ambit/core/testing';
import { HbonePool } from '@ambit/hbone';
import { outcomeFor } from '../flags.js';
import { Upstream } from '../proxy/upstream.js';
import type { Endpoint, Exchange, ProxyRequest, ProxyResponse } from './exchange.js';
import { forward } from './forward.js';
import { retryableError } from './retry.js';
import { exchange, never, text, workload } from './testing.js';

interface Seen { method: string | undefined; url: string | undefined; headers: http.IncomingHttpHeaders; body: string }

describe('forwarding layer (HTTP/1.1 to a local server on port 0)', { timeout: 10_000 }, () => {
  let server: http.Server;
  let endpoint: Endpoint;
  let closedPort: Endpoint;
  let pool: HbonePool;
  let upstream: Upstream;
  const seen: Seen[] = [];
  let behaviour: (request: http.IncomingMessage, response: http.ServerResponse) => void = (_, response) => response.end();

  before(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, headers: request.headers, body });
        behaviour(request, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = { address: socketAddress('127.0.0.1', (server.address() as AddressInfo).port), workload: undefined };
    const gone = http.createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    closedPort = { address: socketAddress('127.0.0.1', (gone.address() as AddressInfo).port), workload: undefined };
    await new Promise((resolve) => gone.close(resolve));
    pool = new HbonePool();
    upstream = new Upstream({ pool, certificate: () => Promise.reject(new Error('no certificate: plain TCP needs no certificate')), hbonePort: 15008, connectTimeoutMs: 2000 });
  });

  after(async () => {
    upstream.close();
    pool.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const send = (request: Partial<ProxyRequest>, options: { to?: Endpoint; signal?: AbortSignal } = {}): { ex: Exchange; response: Promise<ProxyResponse> } => {
    const ex = exchange({ request, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    ex.trace.upstream = options.to ?? endpoint;
    return { ex, response: forward(upstream)(never)(ex) };
  };

  it('sends the request to the chosen endpoint without hop-by-hop headers, and streams the answer back', async () => {
    seen.length = 0;
    behaviour = (_, response) => {
      response.writeHead(201, { 'x-answer': 'yes', 'keep-alive': 'timeout=5' });
      response.write('created ');
      response.end('it');
    };
    const { response } = send({
      method: 'POST', path: '/items?x=1', authority: 'echo.demo:80', body: Buffer.from('payload'),
      headers: { 'x-request': '1', te: 'trailers', upgrade: 'h2c', connection: 'upgrade', host: 'elsewhere' },
    });
    const answer = await response;
    assert.equal(answer.status, 201);
    assert.equal(answer.headers['x-answer'], 'yes');
    for (const name of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(answer.headers[name], undefined, name);
    assert.equal(await text(answer.body), 'created it');
    const [request] = seen;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, '/items?x=1');
    assert.equal(request.body, 'payload');
    assert.equal(request.headers.host, 'echo.demo:80');
    assert.equal(request.headers['x-request'], '1');
    assert.equal(request.headers['content-length'], '7');
    assert.equal(request.headers['x-forwarded-for'], '10.0.0.9');
    for (const name of ['te', 'upgrade']) assert.equal(request.headers[name], undefined, name);
  });

  it('appends the client to x-forwarded-for, and names the endpoint as host when the client sent none', async () => {
    seen.length = 0;
    behaviour = (_, response) => response.end();
    const answer = await send({ authority: '', headers: { 'x-forwarded-for': '192.0.2.1' } }).response;
    await text(answer.body);
    assert.equal(seen[0]?.headers['x-forwarded-for'], '192.0.2.1, 10.0.0.9');
    assert.equal(seen[0]?.headers.host, `127.0.0.1:${endpoint.address.port}`);
  });

  it('fails to connect as UF, retryable as a connect failure', async () => {
    const error = await rejectsWith(send({}, { to: closedPort }).response, 'no-upstream', new RegExp(`cannot connect to upstream 127\\.0\\.0\\.1:${closedPort.address.port}`));
    assert.deepEqual(outcomeFor(error), { status: 503, flag: 'UF' });
    assert.equal(retryableError({ on: ['connect-failure'] }, error), true);
    assert.equal(retryableError({ on: ['reset'] }, error), false);
  });

  it('fails as UF when the tunnel to a mesh endpoint cannot be opened', async () => {
    // Another port than the server's: the agent keeps connections by address, whatever the workload.
    const mesh: Endpoint = { address: closedPort.address, workload: workload('echo-0', { ip: '127.0.0.1' }) };
    const error = await rejectsWith(send({}, { to: mesh }).response, 'no-upstream', /plain TCP needs no certificate/);
    assert.deepEqual(outcomeFor(error), { status: 503, flag: 'UF' });
    assert.equal(findAmbitError(error)?.details.retryOn, 'connect-failure');
  });

  it('reports a connection the endpoint drops before answering as a reset, UC, retryable as one', async () => {
    behaviour = (request) => request.socket.destroy();
    const error = await rejectsWith(send({}).response, 'protocol', /reset the request/);
    assert.deepEqual(outcomeFor(error), { status: 503, flag: 'UC' });
    assert.equal(findAmbitError(error)?.details.retryOn, 'reset');
    assert.equal(retryableError({ on: ['reset'] }, error), true);
  });

  it('sends an idempotent request again, once, when its reused keep-alive connection turns out closed; a POST it does not', async () => {
    // A connection the endpoint closes as the request takes it: here it drops the first request it gets, unanswered.
    let drops = 0;
    const dropFirst = (request: http.IncomingMessage, response: http.ServerResponse): void => {
      if (drops++ === 0) request.socket.destroy();
      else response.end('answered');
    };
    const warm = async (): Promise<void> => {
      behaviour = (_, response) => response.end();
      await text((await send({}).response).body);
    };
    await warm();
    seen.length = 0;
    behaviour = dropFirst;
    const answer = await send({ method: 'GET', path: '/again' }).response;
    assert.equal(answer.status, 200);
    assert.equal(await text(answer.body), 'answered');
    assert.deepEqual(seen.map((r) => [r.method, r.url, r.headers['x-forwarded-for']]), [['GET', '/again', '10.0.0.9'], ['GET', '/again', '10.0.0.9']]);

    await warm();
    seen.length = 0;
    drops = 0;
    behaviour = dropFirst;
    const error = await rejectsWith(send({ method: 'POST', body: Buffer.from('once') }).response, 'protocol', /reset the request/);
    assert.deepEqual(outcomeFor(error), { status: 503, flag: 'UC' });
    assert.equal(seen.length, 1, 'a POST is not sent twice');
  });

  it('cancels the request when its signal aborts, rejecting with the signal\'s reason', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    behaviour = (request) => { closed = new Promise((resolve) => request.socket.once('close', resolve)); };
    const deadline = new AbortController();
    const reason = new Error('per-try deadline');
    setTimeout(() => deadline.abort(reason), 50);
    await assert.rejects(send({}, { signal: deadline.signal }).response, (error) => error === reason);
    await closed;
  });

  it('rejects at once when already cancelled, or when no endpoint was chosen', async () => {
    seen.length = 0;
    const cancelled = new AbortController();
    const reason = new Error('client went away');
    cancelled.abort(reason);
    await assert.rejects(send({}, { signal: cancelled.signal }).response, (error) => error === reason);
    await rejectsWith(forward(upstream)(never)(exchange()), 'internal', /no endpoint was chosen/);
    assert.equal(seen.length, 0, 'nothing was sent');
  });
});
