// Keeps the root certificate published (plan.ts) while this replica writes
// (the leader, on Kubernetes; the local backend's kubelet hands proxies the
// root file itself, so there is nothing to publish there): a label-selected
// informer on the ConfigMaps it owns, and a new plan on any change to them or
// to the Gateways (coalesced). A deleted one is recreated, an edited one
// repaired, one in a namespace without waypoints removed. A ConfigMap of the
// same name without our label is someone else's: never touched, logged once
// and counted, and tried again every `retryMs` (it may have been removed).
import { isAmbitError, silentLogger, type Logger } from '@ambit/core';
import type { ConfigMap, Gateway } from '../resources.js';
import { LABEL_MANAGED_BY } from '../resources.js';
import { Rounds } from '../rounds.js';
import { Informer } from '../store/informer.js';
import type { Store } from '../store/store.js';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_MANAGER, ROOT_CERT_SELECTOR, planRootCerts, rootCertNamespaces, type RootCertAction } from './plan.js';

export interface RootCertPublisherOptions {
  /** The root certificate (PEM), never the key. */
  rootPem: string;
  /** The control plane's own namespace, where the ztunnels run. */
  namespace: string;
  /** The Gateways (the pipeline's informer cache). */
  gateways: () => readonly Gateway[];
  debounceMs: number;
  /** How long a namespace blocked by someone else's ConfigMap waits before the next try. Default 30 s. */
  retryMs?: number;
  logger?: Logger;
  /** Someone else's ConfigMap of that name was found in a namespace (once per object). */
  onUnmanaged?: (namespace: string) => void;
  /** After each write (metrics, tests). */
  onWritten?: (action: RootCertAction) => void;
}

export const DEFAULT_ROOT_CERT_RETRY_MS = 30_000;

interface Blocked {
  uid: string | undefined;
  since: number;
}

export class RootCertPublisher {
  private readonly informer: Informer<ConfigMap>;
  private readonly log: Logger;
  private readonly retryMs: number;
  /** Namespaces where an unmanaged ConfigMap of our name is in the way. */
  private readonly blocked = new Map<string, Blocked>();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly rounds: Rounds;

  constructor(private readonly store: Store, private readonly options: RootCertPublisherOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'root-cert-publisher' });
    this.retryMs = options.retryMs ?? DEFAULT_ROOT_CERT_RETRY_MS;
    this.informer = new Informer<ConfigMap>(store, 'ConfigMap', { labelSelector: ROOT_CERT_SELECTOR, logger: this.log });
    this.rounds = new Rounds(() => this.round(), options.debounceMs);
  }

  async start(): Promise<void> {
    this.informer.on(() => this.schedule());
    this.informer.start();
    // Stopped before the first list (leadership lost, shutdown): nothing to start, and nothing to wait for.
    if (!(await this.informer.ready) || this.rounds.stopped) return;
    this.retryTimer = setInterval(() => { if (this.blocked.size > 0) this.schedule(); }, Math.max(this.retryMs, this.options.debounceMs));
    this.retryTimer.unref();
    await this.reconcile();
  }

  stop(): void {
    this.rounds.stop();
    clearInterval(this.retryTimer);
    this.informer.stop();
  }

  /** Call when Gateways changed. */
  schedule(): void {
    this.rounds.schedule();
  }

  /** Namespaces where someone else's ConfigMap of that name keeps the root from being published. */
  unmanaged(): string[] {
    return [...this.blocked.keys()].sort();
  }

  reconcile(): Promise<void> {
    return this.rounds.run();
  }

  private async round(): Promise<void> {
    if (this.rounds.stopped) return;
    const wanted = rootCertNamespaces(this.options.namespace, this.options.gateways());
    const managed = this.informer.list();
    for (const namespace of this.blocked.keys()) if (!wanted.has(namespace)) this.blocked.delete(namespace);
    for (const configMap of managed) this.blocked.delete(configMap.metadata.namespace ?? 'default');
    const now = Date.now();
    for (const action of planRootCerts(wanted, managed, this.options.rootPem)) {
      const blocked = this.blocked.get(action.namespace);
      if (action.op === 'create' && blocked !== undefined && now - blocked.since < this.retryMs) continue;
      if (this.rounds.stopped) return;
      await this.apply(action);
    }
  }

  private async apply(action: RootCertAction): Promise<void> {
    const what = `ConfigMap ${action.namespace}/${ROOT_CERT_CONFIGMAP}`;
    try {
      switch (action.op) {
        case 'create':
          await this.store.create(action.object);
          this.blocked.delete(action.namespace);
          this.log.info({ namespace: action.namespace }, `published the root certificate as ${what}`);
          break;
        case 'update':
          await this.store.patch('ConfigMap', ROOT_CERT_CONFIGMAP, action.namespace, action.patch);
          this.log.info({ namespace: action.namespace, reason: action.reason }, `repaired ${what}: ${action.reason}`);
          break;
        case 'delete':
          await this.store.delete('ConfigMap', ROOT_CERT_CONFIGMAP, action.namespace, action.resourceVersion === undefined ? {} : { resourceVersion: action.resourceVersion });
          this.log.info({ namespace: action.namespace, reason: action.reason }, `removed ${what}: ${action.reason}`);
          break;
      }
      this.options.onWritten?.(action);
    } catch (error) {
      if (action.op === 'create' && isAmbitError(error, 'already-exists')) return this.inTheWay(action.namespace);
      // Changed or gone meanwhile: the informer brings the news and a new round.
      if (isAmbitError(error, 'conflict') || (action.op !== 'create' && isAmbitError(error, 'not-found'))) return;
      this.log.warn({ namespace: action.namespace, action: action.op, err: (error as Error).message }, `could not ${action.op} ${what}: ${(error as Error).message}`);
    }
  }

  /** A create found the name taken: ours (the informer has not seen it yet) or someone else's. */
  private async inTheWay(namespace: string): Promise<void> {
    let existing: ConfigMap | undefined;
    try {
      existing = await this.store.get<ConfigMap>('ConfigMap', ROOT_CERT_CONFIGMAP, namespace);
    } catch (error) {
      this.log.warn({ namespace, err: (error as Error).message }, `could not read ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP}`);
      return;
    }
    if (existing === undefined || existing.metadata.labels?.[LABEL_MANAGED_BY] === ROOT_CERT_MANAGER) return;
    const uid = existing.metadata.uid;
    const known = this.blocked.get(namespace);
    this.blocked.set(namespace, { uid, since: Date.now() });
    if (known !== undefined && known.uid === uid) return;
    this.options.onUnmanaged?.(namespace);
    this.log.warn({ namespace, configMap: `${namespace}/${ROOT_CERT_CONFIGMAP}` },
      `ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP} exists without the label ${ROOT_CERT_SELECTOR}, so it is not the control plane's `
      + 'and is left alone; proxies in this namespace read whatever it holds. If it was created by hand (an earlier release\'s '
      + 'manual step), delete it: the control plane then publishes its own');
  }
}
