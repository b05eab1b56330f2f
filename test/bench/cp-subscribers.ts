// Subscribers for the control-plane benchmark: one ztunnel per node, each
// bootstrapping its node certificate with the node's token (CaClient →
// CertificateManager) and then subscribing with DiscoveryClient, as a real
// ztunnel does. Several run in this one process; it records when each client
// applied and acknowledged each version ('synced') and answers queries from
// the benchmark over IPC.
//
// Only as a child of control-plane.ts (it needs the IPC channel).
import type { SocketAddress } from '@ambit/api';
import { SpiffeId } from '@ambit/core';
import { CaClient, DiscoveryClient } from '@ambit/cp-client';
import { CertificateManager, type WorkloadCertificate } from '@ambit/identity';
import { testKeys } from '../support/pki.js';
import { nowMs, serveIpc } from './ipc.js';

export interface SubscribersInit {
  address: SocketAddress;
  roots: string[];
  trustDomain: string;
  /** node → bootstrap token */
  tokens: Record<string, string>;
}

export interface Check {
  /** A workload by uid: its label `label` must equal `value` (undefined: absent), or its protocol must be `protocol`. */
  uid: string;
  label?: string;
  value?: string | null;
  protocol?: 'HBONE' | 'TCP';
}

interface Client {
  node: string;
  discovery: DiscoveryClient;
  /** [numeric version, nowMs when synced], oldest first, bounded. */
  synced: [number, number][];
  firstSyncedAt?: number;
}

const HISTORY = 256;
const clients: Client[] = [];
let init: SubscribersInit | undefined;
const certificates = new Map<string, WorkloadCertificate>();

const numeric = (version: string): number => {
  const n = Number(version.split('.')[1]);
  return Number.isFinite(n) ? n : -1;
};

serveIpc({
  /** Bootstraps every node's certificate; answers with how long that took. */
  async bootstrap(raw) {
    init = raw as SubscribersInit;
    const { address, roots, trustDomain, tokens } = init;
    const serverIdentity = SpiffeId.of(trustDomain, 'ambit-system', 'control-plane');
    const started = nowMs();
    await Promise.all(Object.entries(tokens).map(async ([node, token]) => {
      const ca = new CaClient({ address, serverIdentity, roots, bootstrapToken: () => token });
      const manager = new CertificateManager({ source: ca.source(node), generateKeys: testKeys });
      try {
        certificates.set(node, await manager.fetch(SpiffeId.of(trustDomain, 'ambit-system', 'ztunnel')));
      } finally {
        manager.close();
      }
    }));
    return { ms: nowMs() - started, nodes: certificates.size };
  },
  /** Starts every subscription at once; answers when each has applied its first update. */
  async subscribe() {
    if (init === undefined) throw new Error('bootstrap first');
    const { address, trustDomain } = init;
    const serverIdentity = SpiffeId.of(trustDomain, 'ambit-system', 'control-plane');
    const startedAt = nowMs();
    await Promise.all([...certificates].map(async ([node, certificate]) => {
      const discovery = new DiscoveryClient({
        address, serverIdentity, certificate: () => certificate,
        subscription: { role: 'ztunnel', node }, backoff: { initialMs: 100, maxMs: 1_000, jitter: 0.2 },
      });
      const client: Client = { node, discovery, synced: [] };
      discovery.on('synced', (version) => {
        const at = nowMs();
        client.firstSyncedAt ??= at;
        client.synced.push([numeric(version), at]);
        if (client.synced.length > HISTORY) client.synced.shift();
      });
      clients.push(client);
      await discovery.start();
    }));
    return {
      startedAt,
      firstSynced: clients.map((c) => ({ node: c.node, at: c.firstSyncedAt ?? Number.NaN, workloads: c.discovery.index.counts().workloads })),
    };
  },
  /** When each client synced `version` or the first version after it (undefined: not yet). */
  syncedAt(raw) {
    const version = numeric(raw as string);
    return clients.map((c) => ({ node: c.node, at: c.synced.find(([v]) => v >= version)?.[1] ?? null }));
  },
  /** How many clients' state passes `check`. */
  check(raw) {
    const check = raw as Check;
    let passed = 0;
    for (const { discovery } of clients) {
      const workload = discovery.index.workload(check.uid);
      if (workload === undefined) continue;
      if (check.label !== undefined && (workload.labels?.[check.label] ?? null) !== (check.value ?? null)) continue;
      if (check.protocol !== undefined && workload.protocol !== check.protocol) continue;
      passed++;
    }
    return { passed, of: clients.length };
  },
  stats() {
    return { memory: process.memoryUsage(), connected: clients.filter((c) => c.discovery.connected).length };
  },
  stop() {
    for (const client of clients) client.discovery.close();
    setTimeout(() => process.exit(0), 50);
  },
});
