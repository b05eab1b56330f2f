// Tunnel metadata carried on the CONNECT request: `forwarded` (RFC 7239,
// the original source address), `baggage` (W3C, source workload metadata)
// and `traceparent` (W3C trace context).
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';

export interface TunnelMetadata {
  /** The original client address, e.g. the pod IP behind a ztunnel. */
  forwardedFor?: string;
  /** Source workload attributes, e.g. { 'k8s.namespace.name': 'demo' }. */
  baggage?: Readonly<Record<string, string>>;
  traceparent?: string;
}

export function formatForwarded(address: string): string {
  return isIP(address) === 6 ? `for="[${address}]"` : `for=${address}`;
}

/** The first `for=` of a `forwarded` header, without quotes, brackets or port. */
export function parseForwarded(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /(?:^|[;,\s])for=("?)([^;,"]+)\1/i.exec(value);
  if (match === null) return undefined;
  let address = match[2] as string;
  if (address.startsWith('[')) address = address.slice(1, address.indexOf(']'));
  else if (address.includes(':') && isIP(address) !== 6) address = address.slice(0, address.lastIndexOf(':'));
  return isIP(address) === 0 ? undefined : address;
}

export function formatBaggage(entries: Readonly<Record<string, string>>): string {
  return Object.entries(entries)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join(',');
}

/** Lenient: malformed members are skipped, never fatal. */
export function parseBaggage(value: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (value === undefined) return result;
  for (const member of value.split(',')) {
    const pair = member.split(';')[0]?.trim();
    const eq = pair?.indexOf('=') ?? -1;
    if (pair === undefined || eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    try {
      result[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      continue;
    }
  }
  return result;
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function isTraceparent(value: string | undefined): value is string {
  return value !== undefined && TRACEPARENT.test(value) && !value.includes('-00000000000000000000000000000000-');
}

/** A new sampled trace context for a tunnel that arrives without one. */
export function newTraceparent(): string {
  const bytes = randomBytes(24).toString('hex');
  return `00-${bytes.slice(0, 32)}-${bytes.slice(32, 48)}-01`;
}

export function metadataHeaders(metadata: TunnelMetadata = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  if (metadata.forwardedFor !== undefined) headers.forwarded = formatForwarded(metadata.forwardedFor);
  if (metadata.baggage !== undefined && Object.keys(metadata.baggage).length > 0) headers.baggage = formatBaggage(metadata.baggage);
  headers.traceparent = isTraceparent(metadata.traceparent) ? metadata.traceparent : newTraceparent();
  return headers;
}

export function readMetadata(headers: IncomingHttpHeaders): TunnelMetadata {
  const metadata: TunnelMetadata = { baggage: parseBaggage(single(headers.baggage)) };
  const forwardedFor = parseForwarded(single(headers.forwarded));
  if (forwardedFor !== undefined) metadata.forwardedFor = forwardedFor;
  const traceparent = single(headers.traceparent);
  if (isTraceparent(traceparent)) metadata.traceparent = traceparent;
  return metadata;
}

/** Approximate HPACK size of a header list (RFC 7541 §4.1: name + value + 32 per entry). */
export function headerListSize(headers: IncomingHttpHeaders): number {
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) size += name.length + String(v).length + 32;
  }
  return size;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
