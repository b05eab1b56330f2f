// Config is parsed from a plain record (flags, env, a file: the caller
// decides), so tests never touch process.env. Errors name the key, the value
// and the reason.
import { isIP } from 'node:net';
import { AmbitError } from './errors.js';

export type ConfigRecord = Readonly<Record<string, string | number | boolean | undefined>>;

export interface HostPort {
  host: string;
  port: number;
}

export interface HostPortOptions {
  /** The host must be an IP address (listeners); otherwise a name is allowed too (resolved once, at start). */
  ip?: boolean;
  /** Port 0 (any free port) is refused: for addresses that are dialled, not bound. */
  nonZeroPort?: boolean;
  /** The host must be a loopback IP (127.0.0.0/8 or ::1): for endpoints reached only by port-forward. */
  loopback?: boolean;
}

export class ConfigReader {
  private readonly used = new Set<string>();

  constructor(private readonly record: ConfigRecord, private readonly source = 'config') {}

  string(key: string, fallback: string): string;
  string(key: string): string | undefined;
  string(key: string, fallback?: string): string | undefined {
    const raw = this.raw(key);
    return raw === undefined ? fallback : String(raw);
  }

  required(key: string): string {
    const raw = this.raw(key);
    if (raw === undefined || String(raw) === '') throw this.error(key, raw, 'is required');
    return String(raw);
  }

  int(key: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    // Number('') is 0, so a blank value (`PORT=`) would silently become 0.
    const text = String(raw).trim();
    const value = typeof raw === 'number' ? raw : text === '' ? Number.NaN : Number(text);
    if (!Number.isSafeInteger(value)) throw this.error(key, raw, 'must be a whole number');
    if (range.min !== undefined && value < range.min) throw this.error(key, raw, `must be at least ${range.min}`);
    if (range.max !== undefined && value > range.max) throw this.error(key, raw, `must be at most ${range.max}`);
    return value;
  }

  /** Durations accept a number of milliseconds or a string such as `250ms`, `30s`, `5m`, `24h`. */
  durationMs(key: string, fallback: number): number {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    const value = parseDurationMs(raw);
    if (value === undefined) throw this.error(key, raw, 'must be a duration such as 500ms, 30s, 5m or 24h');
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    if (typeof raw === 'boolean') return raw;
    const text = String(raw).toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(text)) return true;
    if (['0', 'false', 'no', 'off'].includes(text)) return false;
    throw this.error(key, raw, 'must be true or false');
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const raw = this.raw(key);
    if (raw === undefined) return fallback;
    const text = String(raw);
    if (!(allowed as readonly string[]).includes(text)) throw this.error(key, raw, `must be one of ${allowed.join(', ')}`);
    return text as T;
  }

  /** `host:port` or `[v6]:port`; required when there is no fallback. */
  hostPort(key: string, fallback: string | undefined, options: HostPortOptions = {}): HostPort {
    const text = fallback === undefined ? this.required(key) : this.string(key, fallback);
    const parsed = parseHostPort(text);
    if (parsed === undefined || (options.ip === true && isIP(parsed.host) === 0)) {
      throw this.error(key, text, `must be ${options.ip === true ? 'ip' : 'host'}:port, e.g. 127.0.0.1:15012 or [::1]:15012`);
    }
    if (parsed.port === 0 && options.nonZeroPort === true) throw this.error(key, text, 'needs a port other than 0');
    if (options.loopback === true && !isLoopbackIp(parsed.host)) {
      throw this.error(key, text, 'must be a loopback address such as 127.0.0.1:15000 (reached through port-forward, never from the network)');
    }
    return parsed;
  }

  /** Keys present in the record that nothing asked for: usually typos. */
  unused(): string[] {
    return Object.keys(this.record).filter((k) => this.record[k] !== undefined && !this.used.has(k));
  }

  error(key: string, value: unknown, reason: string): AmbitError {
    return new AmbitError('invalid-config', `${this.source}: ${key}=${JSON.stringify(value)} ${reason}`, {
      details: { key, value },
    });
  }

  private raw(key: string): string | number | boolean | undefined {
    this.used.add(key);
    return this.record[key];
  }
}

/** 127.0.0.0/8 or ::1. */
export function isLoopbackIp(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** `host:port` or `[v6]:port`, else undefined; an unbracketed IPv6 address is ambiguous, so refused. */
export function parseHostPort(text: string): HostPort | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    if (isIP(host) !== 6) return undefined;
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    if (/[\s:[\]]/.test(host)) return undefined;
    portText = text.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host, port };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(raw: string | number | boolean): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw);
  if (match === null) return undefined;
  const unit = UNITS[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}
