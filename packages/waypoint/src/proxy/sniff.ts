// Protocol detection on the first bytes of a tunnel (pure; table-tested):
// the HTTP/2 prior-knowledge preface means h2c, a request line with a known
// method means HTTP/1.x, anything else is opaque TCP. `more` asks for more
// bytes; the caller decides on a timeout (server-speaks-first protocols
// send nothing), treating silence as TCP.

export type Sniffed = 'h2' | 'http1' | 'tcp' | 'more';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'].map((m) => Buffer.from(`${m} `));
const LONGEST_METHOD = Math.max(...METHODS.map((m) => m.length));

export function sniff(bytes: Buffer): Sniffed {
  if (bytes.length === 0) return 'more';
  const prefaceLength = Math.min(bytes.length, H2_PREFACE.length);
  if (bytes.subarray(0, prefaceLength).equals(H2_PREFACE.subarray(0, prefaceLength))) {
    return bytes.length >= H2_PREFACE.length ? 'h2' : 'more';
  }
  let possible = false;
  for (const method of METHODS) {
    const n = Math.min(bytes.length, method.length);
    if (!bytes.subarray(0, n).equals(method.subarray(0, n))) continue;
    if (bytes.length >= method.length) return 'http1';
    possible = true;
  }
  return possible && bytes.length < LONGEST_METHOD ? 'more' : 'tcp';
}
