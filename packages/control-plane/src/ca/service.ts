// The CA service, mounted on the control-plane endpoint: a caller proves who
// it is with its mesh certificate (node or workload) or a bootstrap token,
// asks for an identity with a CSR, and gets a chain only if entitled. Every
// refusal has a reason, is logged, counted and answered with that reason.
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { findAmbitError, silentLogger, type Logger } from '@ambit/core';
import type { CertificateResponse } from '@ambit/api';
import { parseCertificateRequest } from '@ambit/api/ca-request';
import type { CertificateIssuer } from '@ambit/identity';
import { readBody, respondError, type Caller } from '../endpoint.js';
import type { BootstrapAuthenticator } from './bootstrap.js';
import { entitle, type EntitlementContext, type Principal, type RefusalReason } from './entitlement.js';

export const CA_PATH = '/ambit.v1/ca/certificate';
const MAX_REQUEST_BYTES = 64 * 1024;

export interface CaServiceOptions extends EntitlementContext {
  /** Only issuing: the service never sees the root key. */
  issuer: CertificateIssuer;
  bootstrap?: BootstrapAuthenticator;
  logger?: Logger;
}

export interface CaServiceEvents {
  issued: [{ identity: string; principal: string; serial: string; node?: string }];
  refused: [{ reason: RefusalReason | 'invalid-csr'; message: string; principal?: string; address: string }];
}

export class CaService extends EventEmitter<CaServiceEvents> {
  /** Certificates issued since start. */
  issued = 0;
  /** Refusals since start, by reason. */
  readonly refusals = new Map<string, number>();
  private readonly log: Logger;

  constructor(private readonly options: CaServiceOptions) {
    super();
    this.log = (options.logger ?? silentLogger).child({ component: 'ca' });
  }

  readonly handle = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, caller: Caller): void => {
    if (headers[':method'] !== 'POST') {
      respondError(stream, 405, `${String(headers[':method'])} is not supported; request a certificate with POST ${CA_PATH}`);
      return;
    }
    void this.serve(stream, caller);
  };

  private async serve(stream: ServerHttp2Stream, caller: Caller): Promise<void> {
    let principal: Principal | undefined;
    try {
      const body = await readBody(stream, MAX_REQUEST_BYTES);
      principal = await this.principal(caller);
      if (principal === undefined) {
        return this.refuse(stream, 401, caller.token === undefined ? 'no-credential' : 'bad-bootstrap-token', caller,
          caller.token === undefined
            ? 'present a mesh client certificate or a bootstrap token (Authorization: Bearer ...)'
            : 'the bootstrap token is not known; it may have been rotated by `ambit up`');
      }
      let parsed: ReturnType<typeof parseCertificateRequest>;
      try {
        parsed = parseCertificateRequest(JSON.parse(body));
      } catch (error) {
        return this.refuse(stream, 400, 'invalid-request', caller, (error as Error).message, principal);
      }
      const { request, identity } = parsed;
      const decision = entitle(principal, { identity, ...(request.node === undefined ? {} : { node: request.node }) }, this.options);
      if (!decision.allowed) return this.refuse(stream, 403, decision.reason, caller, decision.message, principal);
      const issued = await this.options.issuer.issue(
        {
          csr: request.csr,
          identity,
          ...(request.ttlSeconds === undefined ? {} : { ttlMs: request.ttlSeconds * 1000 }),
          ...(request.node === undefined ? {} : { node: request.node }),
        },
        () => ({ allowed: true }),
      );
      const response: CertificateResponse = {
        chain: issued.chain, roots: issued.roots, serial: issued.serial,
        notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(),
      };
      this.issued++;
      const event = { identity: identity.uri, principal: describe(principal), serial: issued.serial, ...(request.node === undefined ? {} : { node: request.node }) };
      this.log.info(event, 'certificate issued');
      this.emit('issued', event);
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify(response));
    } catch (error) {
      const ambit = findAmbitError(error);
      if (ambit?.code === 'invalid-csr') return this.refuse(stream, 400, 'invalid-csr', caller, ambit.explain(), principal);
      if (ambit?.code === 'limit') return this.refuse(stream, 400, 'invalid-request', caller, ambit.message, principal);
      // The CA could not decide (the API server behind a TokenReview is down): not the caller's fault, retry.
      if (ambit?.code === 'unavailable') {
        this.log.warn({ err: ambit.message, address: caller.address }, `certificate request not decided: ${ambit.explain()}`);
        return respondError(stream, 503, `unavailable: ${ambit.explain()}`);
      }
      this.log.error({ err: (error as Error).message }, 'certificate issuance failed');
      respondError(stream, 500, `issuance failed: ${(error as Error).message}`);
    }
  }

  private async principal(caller: Caller): Promise<Principal | undefined> {
    if (caller.identity !== undefined) {
      return caller.node === undefined
        ? { kind: 'workload', identity: caller.identity, via: 'certificate' }
        : { kind: 'node', node: caller.node, via: 'certificate' };
    }
    if (caller.token !== undefined && this.options.bootstrap !== undefined) return this.options.bootstrap.authenticate(caller.token);
    return undefined;
  }

  private refuse(
    stream: ServerHttp2Stream, status: number, reason: RefusalReason | 'invalid-csr', caller: Caller, message: string, principal?: Principal,
  ): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    const event = { reason, message, address: caller.address, ...(principal === undefined ? {} : { principal: describe(principal) }) };
    this.log.warn(event, `certificate refused: ${message}`);
    this.emit('refused', event);
    respondError(stream, status, `${reason}: ${message}`);
  }
}

function describe(principal: Principal): string {
  return principal.kind === 'node' ? `node ${principal.node} (${principal.via})` : `${principal.identity.uri} (${principal.via})`;
}
