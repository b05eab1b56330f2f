// Without capture, HBONE reaches this node's pods at <pod IP>:15008, so one
// listener is bound per local enrolled address and follows discovery: bound
// when a workload appears, closed when it leaves. Accepted connections go to
// the one HBONE server, which picks the identity by the local address. A bind
// that fails (the address is not configured yet) is retried. The loopback
// mode's per-pod SOCKS5 listeners are a second set of the same kind.
import type net from 'node:net';
import type { DrainParticipant, Logger } from '@ambit/core';
import { formatAuthority, socketAddress, type SocketAddress } from '@ambit/api';
import { TcpListener } from './listener.js';

const RETRY_MS = 2_000;

/** A bind that failed (and is being retried): `ip:port`, which listener set, why. */
export interface ListenerFailure {
  address: string;
  listener: 'HBONE' | 'SOCKS5';
  error: string;
}

export class WorkloadListeners implements DrainParticipant {
  private readonly listeners = new Map<string, TcpListener>();
  private readonly failed = new Map<string, string>();
  private wanted: readonly string[] = [];
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  private readonly log: Logger;

  constructor(
    private readonly port: number, private readonly accept: (socket: net.Socket) => void, private readonly logger: Logger,
    private readonly kind: 'HBONE' | 'SOCKS5' = 'HBONE',
  ) {
    this.log = logger.child({ component: kind === 'HBONE' ? 'hbone-listeners' : 'socks5-listeners' });
  }

  /** Whether `address` is one of these listeners (connecting there would loop). */
  has(address: SocketAddress): boolean {
    return address.port === this.port && this.listeners.has(address.ip);
  }

  /** Makes the bound set exactly `addresses`; concurrent calls apply in order. */
  reconcile(addresses: readonly string[]): Promise<void> {
    this.wanted = [...addresses];
    this.running = this.running.then(() => this.apply());
    return this.running;
  }

  addresses(): SocketAddress[] {
    return [...this.listeners.values()].filter((l) => l.server.listening).map((l) => l.address);
  }

  failures(): ListenerFailure[] {
    return [...this.failed].map(([ip, error]) => ({ address: formatAuthority(socketAddress(ip, this.port)), listener: this.kind, error }));
  }

  stopAccepting(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    for (const listener of this.listeners.values()) listener.stopAccepting();
  }

  async idle(): Promise<void> {
    await Promise.all([...this.listeners.values()].map((l) => l.idle()));
  }

  forceClose(): void {
    for (const listener of this.listeners.values()) listener.forceClose();
  }

  close(): void {
    this.stopAccepting();
    this.forceClose();
    this.listeners.clear();
  }

  private async apply(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.retry);
    const wanted = new Set(this.wanted);
    for (const [ip, listener] of this.listeners) {
      if (wanted.has(ip)) continue;
      // The pod is gone: so is anything connected to it.
      listener.close();
      this.listeners.delete(ip);
      this.log.info({ address: `${ip}:${this.port}` }, `${this.kind} listener removed`);
    }
    for (const ip of this.failed.keys()) if (!wanted.has(ip)) this.failed.delete(ip);
    for (const ip of wanted) {
      if (this.listeners.has(ip) || this.stopped) continue;
      // HBONE is HTTP/2 (no half-open); SOCKS5 carries TCP, half-closes included.
      const listener = new TcpListener(`${this.kind} for ${ip}`, this.accept, this.logger, { allowHalfOpen: this.kind === 'SOCKS5' });
      try {
        await listener.listen(ip, this.port);
        this.listeners.set(ip, listener);
        this.failed.delete(ip);
      } catch (error) {
        const message = (error as Error).message;
        if (this.failed.get(ip) !== message) this.log.error({ address: `${ip}:${this.port}`, err: message }, `cannot bind a${this.kind === 'HBONE' ? 'n' : ''} ${this.kind} listener for a local workload; retrying`);
        this.failed.set(ip, message);
      }
    }
    if (this.failed.size > 0 && !this.stopped) {
      this.retry = setTimeout(() => void this.reconcile(this.wanted), RETRY_MS);
      this.retry.unref();
    }
  }
}
