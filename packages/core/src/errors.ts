// One error type for the whole mesh. Every failure that crosses a package
// boundary carries a stable `code` (scripts and tests match on it, never on
// the message), the values involved in the message, an optional hint that
// says what to do next, and the cause it wraps.

export type ErrorCode =
  // configuration and input
  | 'invalid-config'
  | 'invalid-argument'
  | 'invalid-identity'
  | 'invalid-address'
  | 'invalid-csr'
  | 'invalid-certificate'
  // identity and trust
  | 'not-entitled'
  | 'untrusted-certificate'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'tls-identity-mismatch'
  | 'tls-failure'
  | 'issuance-failed'
  // resource store
  | 'not-found'
  | 'already-exists'
  | 'conflict'
  | 'gone'
  | 'invalid-resource'
  | 'unavailable'
  // tunnels
  | 'bad-request'
  | 'denied'
  | 'no-upstream'
  | 'timeout'
  | 'protocol'
  | 'closed'
  | 'limit'
  | 'internal';

export interface AmbitErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: Record<string, unknown>;
}

export class AmbitError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AmbitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AmbitError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  /** The message followed by its hint, the way a person should read it. */
  explain(): string {
    return this.hint === undefined ? this.message : `${this.message} (${this.hint})`;
  }
}

export function isAmbitError(error: unknown, code?: ErrorCode): error is AmbitError {
  return error instanceof AmbitError && (code === undefined || error.code === code);
}

/** Messages of an error and all its causes, outermost first. */
export function causeChain(error: unknown): string[] {
  const chain: string[] = [];
  let current: unknown = error;
  const seen = new Set<unknown>();
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      chain.push(typeof code === 'string' ? `${current.message} [${code}]` : current.message);
      current = current.cause;
    } else {
      chain.push(typeof current === 'string' ? current : JSON.stringify(current) ?? typeof current);
      current = undefined;
    }
  }
  return chain;
}

/** The first AmbitError found walking the cause chain, if any. */
export function findAmbitError(error: unknown): AmbitError | undefined {
  let current: unknown = error;
  const seen = new Set<unknown>();
  while (current instanceof Error && !seen.has(current)) {
    if (current instanceof AmbitError) return current;
    seen.add(current);
    current = current.cause;
  }
  return undefined;
}

/** Node's system error code (ECONNREFUSED, ETIMEDOUT, ...) if the error carries one. */
export function systemCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
