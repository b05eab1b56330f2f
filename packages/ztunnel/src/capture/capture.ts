// What ztunnel needs from traffic capture: program the node's redirection
// once, then keep the enrolled set in step with discovery. The rules live in
// the node's network namespace; this process is expected to run there.
import type net from 'node:net';
import type { SourceMode } from '../proxy/source-address.js';

/**
 * The mark on captured packets (policy-routed to the local stack), which the
 * local cluster's kube-proxy skips. ztunnel's own sockets must NOT carry it:
 * they are exempt because their replies are addressed to the node (see nftables.ts).
 */
export const CAPTURE_MARK = 0x539;

export interface CapturePorts {
  /** Outbound capture (TPROXY target for TCP from enrolled pods). */
  outbound: number;
  /** Inbound plaintext capture (TCP to enrolled pods on ports other than `hbone`). */
  inboundPlaintext: number;
  /** HBONE to enrolled pods. */
  hbone: number;
}

export interface CaptureStatus {
  mode: 'nftables' | 'none';
  /** True once the rules are in place (always true for `none`). */
  programmed: boolean;
  /** Addresses currently in the enrolled set. */
  enrolled: string[];
  /** The nftables table name, when there is one. */
  table?: string;
  /** How local pods are dialled: from their clients' addresses (`nonlocal`, `loopback`) or the node's (`off`). */
  sourceAddresses: SourceMode;
}

export interface Capture {
  readonly mode: CaptureStatus['mode'];
  /** Programs the rules, replacing whatever an earlier run left (reconcile on start). */
  start(): Promise<void>;
  /** Makes the enrolled set exactly `addresses` (this node's enrolled pods); applies only the difference. */
  setEnrolled(addresses: readonly string[]): Promise<void>;
  /**
   * Clean shutdown: removes the redirection rules. Enrolled pods stay fail
   * closed (a guard drops their traffic) until the next start replaces it or
   * `removeAll()` is called by teardown.
   */
  stop(): Promise<void>;
  /** Removes everything this capture ever installed, guard included (uninstall / teardown). */
  removeAll(): Promise<void>;
  /** Prepares a listener for captured connections (IP_TRANSPARENT); call after it is listening. */
  prepareListener(server: net.Server): void;
  /** Which client addresses ztunnel may dial local pods from (decided by start()). */
  sourceMode(): SourceMode;
  status(): CaptureStatus;
}

/** No capture: loopback mode, where applications use SOCKS5 explicitly. */
export class NoCapture implements Capture {
  readonly mode = 'none' as const;
  private enrolled: string[] = [];
  private readonly sources: SourceMode;

  /** `preserveSources`: dial local pods from their clients' loopback addresses (every pod address is one here). */
  constructor(options: { preserveSources?: boolean } = {}) {
    this.sources = options.preserveSources === false ? 'off' : 'loopback';
  }

  start(): Promise<void> { return Promise.resolve(); }
  setEnrolled(addresses: readonly string[]): Promise<void> {
    this.enrolled = [...addresses].sort();
    return Promise.resolve();
  }
  stop(): Promise<void> { return Promise.resolve(); }
  removeAll(): Promise<void> { return Promise.resolve(); }
  prepareListener(): void { /* nothing to prepare without capture */ }
  sourceMode(): SourceMode { return this.sources; }
  status(): CaptureStatus { return { mode: 'none', programmed: true, enrolled: this.enrolled, sourceAddresses: this.sources }; }
}
