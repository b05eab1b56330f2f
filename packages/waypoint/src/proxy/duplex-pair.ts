// Two in-process streams joined back to back: what one side writes, the
// other reads. The HBONE server copies a tunnel into one end; the L7 stack
// (or the L4 forwarder) serves the other. Half-close crosses (ending one
// side's writes ends the other's reads) and so does destruction (a reset).
// (Node 22 has stream.duplexPair; the mesh supports Node 20.)
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  private waiting: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    const resume = this.waiting;
    this.waiting = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Backpressure: hold the writer until the peer's reader asks for more.
    if (this.peer.push(chunk)) callback();
    else this.peer.waiting = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const resume = this.peer.waiting;
    this.peer.waiting = undefined;
    resume?.();
    if (!this.peer.destroyed) this.peer.destroy(error ?? undefined);
    callback(error);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
