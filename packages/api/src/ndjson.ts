// Newline-delimited JSON framing for the control-plane streams: pure, with
// a bound on line length so a peer cannot make us buffer without limit.
import { AmbitError } from '@ambit/core';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES) {}

  /** Complete lines contained in `chunk` (plus what was buffered); a trailing partial line is kept. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      const line = this.partialBytes === 0 ? piece.toString('utf8') : Buffer.concat([...this.partial, piece]).toString('utf8');
      this.partial = [];
      this.partialBytes = 0;
      if (line.trim() !== '') lines.push(line);
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.maxLineBytes) {
        throw new AmbitError('limit', `a line exceeded ${this.maxLineBytes} bytes`);
      }
      this.partial.push(Buffer.from(rest));
    }
    return lines;
  }
}

export function encodeLine(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
