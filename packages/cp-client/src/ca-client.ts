// The CA client: asks the control plane for a certificate with a CSR. It
// authenticates with the proxy's own mesh certificate when it has one,
// otherwise with its bootstrap token (the server is verified against the
// mesh roots either way). Plugs into CertificateManager as its source.
import http2 from 'node:http2';
import tls from 'node:tls';
import { AmbitError, type SpiffeId } from '@ambit/core';
import { formatAuthority, parseCertificateResponse, type CertificateRequest, type SocketAddress } from '@ambit/api';
import {
  meshBootstrapClientOptions, meshClientOptions, type CertificateSource, type PeerMatcher, type WorkloadCertificate,
} from '@ambit/identity';

export const CA_PATH = '/ambit.v1/ca/certificate';

export interface CaClientOptions {
  address: SocketAddress;
  serverIdentity: PeerMatcher;
  /** Trust anchors for verifying the control plane before this proxy has a certificate. */
  roots: readonly string[];
  /** The proxy's current credential, when it has one (preferred). */
  credential?: () => WorkloadCertificate | undefined;
  /** The bootstrap token, used when there is no credential. */
  bootstrapToken?: () => string | Promise<string>;
  timeoutMs?: number;
}

export class CaClient {
  constructor(private readonly options: CaClientOptions) {}

  /** A CertificateSource for CertificateManager; `node` asks for a node certificate. */
  source(node?: string): CertificateSource {
    return (identity, csr) => this.request(identity, csr, node);
  }

  async request(identity: SpiffeId, csr: string, node?: string): Promise<{ chain: string[]; roots: string[] }> {
    const where = formatAuthority(this.options.address);
    const credential = this.options.credential?.();
    const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': CA_PATH, 'content-type': 'application/json' };
    if (credential === undefined) {
      if (this.options.bootstrapToken === undefined) {
        throw new AmbitError('issuance-failed', `no credential to authenticate to the CA at ${where}`, { hint: 'configure a bootstrap token' });
      }
      headers.authorization = `Bearer ${await this.options.bootstrapToken()}`;
    }
    const tlsOptions = credential === undefined
      ? meshBootstrapClientOptions(this.options.roots, this.options.serverIdentity)
      : meshClientOptions(credential, this.options.serverIdentity);
    const body: CertificateRequest = { csr, identity: identity.uri, ...(node === undefined ? {} : { node }) };
    const { status, text } = await this.exchange(tlsOptions, headers, JSON.stringify(body));
    if (status !== 200) {
      let reason = text;
      try {
        const error = (JSON.parse(text) as { error?: unknown }).error;
        if (typeof error === 'string') reason = error;
      } catch { /* keep the raw text */ }
      const code = status === 401 || status === 403 ? 'not-entitled' : 'issuance-failed';
      throw new AmbitError(code, `the CA at ${where} refused ${identity.uri} (${status}): ${reason}`, { details: { status } });
    }
    let parsed: ReturnType<typeof parseCertificateResponse>;
    try {
      parsed = parseCertificateResponse(JSON.parse(text));
    } catch (error) {
      throw new AmbitError('issuance-failed', `the CA at ${where} sent a malformed answer: ${(error as Error).message}`, { cause: error });
    }
    return { chain: parsed.chain, roots: parsed.roots };
  }

  private exchange(tlsOptions: tls.ConnectionOptions, headers: http2.OutgoingHttpHeaders, body: string): Promise<{ status: number; text: string }> {
    const { address } = this.options;
    const where = formatAuthority(address);
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ ...tlsOptions, host: address.ip, port: address.port });
      let session: http2.ClientHttp2Session | undefined;
      const timer = setTimeout(() => {
        socket.destroy();
        session?.destroy();
        reject(new AmbitError('timeout', `the CA at ${where} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        session?.destroy();
        reject(error instanceof AmbitError ? error : new AmbitError('unavailable', `the CA at ${where} is unreachable: ${error.message}`, { cause: error }));
      };
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        session = http2.connect(`https://${where}`, { createConnection: () => socket });
        session.on('error', fail);
        const stream = session.request(headers);
        let status = 0;
        const chunks: Buffer[] = [];
        stream.on('response', (h) => { status = Number(h[':status']); });
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', fail);
        stream.once('end', () => {
          clearTimeout(timer);
          session?.close();
          resolve({ status, text: Buffer.concat(chunks).toString('utf8') });
        });
        stream.end(body);
      });
    });
  }
}
