// From cluster objects to mesh state: one informer per kind the translation
// reads; any change schedules one translation (coalesced over `debounceMs`),
// whose output is published to discovery and whose conditions are written
// back. Translation is a pure function of the informers' caches, so a
// restarted control plane converges from whatever the store holds.
import type { Resource } from '@ambit/api';
import { silentLogger, type Logger } from '@ambit/core';
import type { AuthorizationPolicy, PeerAuthentication, Gateway, HTTPRoute, Kind, KubeObject, Namespace, Pod, Service } from '../resources.js';
import { Rounds } from '../rounds.js';
import { Informer } from '../store/informer.js';
import type { Store } from '../store/store.js';
import { translate } from '../translate/index.js';
import type { ClusterSnapshot, MeshState, StatusKind, TranslateOptions } from '../translate/types.js';
import type { DiscoveryService } from '../discovery/server.js';
import { StatusWriter } from './status-writer.js';

export const WATCHED_KINDS = ['Namespace', 'Pod', 'Service', 'Gateway', 'HTTPRoute', 'AuthorizationPolicy', 'PeerAuthentication'] as const satisfies readonly Kind[];
type WatchedKind = (typeof WATCHED_KINDS)[number];

export interface PipelineOptions {
  discovery: DiscoveryService;
  translate: TranslateOptions;
  debounceMs: number;
  logger?: Logger;
  /** Whether this replica writes status (the leader, on Kubernetes). */
  writeStatus?: () => boolean;
  onTranslated?: (info: TranslationInfo) => void;
  /** When this control plane runs waypoints: their sync state and the controller's problems (see ClusterSnapshot). */
  waypointRuntime?: () => NonNullable<ClusterSnapshot['waypointRuntime']>;
}

export interface TranslationInfo {
  durationMs: number;
  workloads: number;
  services: number;
  authorizations: number;
  routes: number;
  statusUpdates: number;
}

export class MeshPipeline {
  readonly informers: { [K in WatchedKind]: Informer };
  readonly status: StatusWriter;
  private readonly log: Logger;
  private readonly rounds: Rounds;
  last: (TranslationInfo & { at: string }) | undefined;

  constructor(store: Store, private readonly options: PipelineOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'pipeline' });
    const informer = (kind: WatchedKind): Informer => new Informer(store, kind, { logger: options.logger ?? silentLogger });
    this.informers = {
      Namespace: informer('Namespace'), Pod: informer('Pod'), Service: informer('Service'),
      Gateway: informer('Gateway'), HTTPRoute: informer('HTTPRoute'), AuthorizationPolicy: informer('AuthorizationPolicy'),
      PeerAuthentication: informer('PeerAuthentication'),
    };
    this.status = new StatusWriter(store, (kind: StatusKind) => this.informers[kind].list(), options.logger);
    this.rounds = new Rounds(() => this.translateOnce(), options.debounceMs);
  }

  /** Starts the informers; resolves after they synced and the first state was published. */
  async start(): Promise<void> {
    for (const informer of Object.values(this.informers)) {
      informer.on(() => this.schedule());
      informer.start();
    }
    await Promise.all(Object.values(this.informers).map((i) => i.synced));
    await this.run();
  }

  get synced(): boolean {
    return Object.values(this.informers).every((i) => i.hasSynced);
  }

  /** Pods scheduled on `node`, from the cache (for node-bound issuance). */
  podsOnNode(node: string): Pod[] {
    return (this.informers.Pod.list() as Pod[]).filter((pod) => pod.spec?.nodeName === node);
  }

  stop(): void {
    this.rounds.stop();
    for (const informer of Object.values(this.informers)) informer.stop();
  }

  /** Translates now (tests, and the end of a debounce window). */
  run(): Promise<void> {
    return this.rounds.run();
  }

  /** Translates again soon (something outside the informers changed, e.g. a waypoint acknowledged). */
  refresh(): void {
    this.schedule();
  }

  private schedule(): void {
    this.rounds.schedule();
  }

  private async translateOnce(): Promise<void> {
    const started = performance.now();
    const list = <T extends KubeObject>(kind: WatchedKind): T[] => this.informers[kind].list() as T[];
    let state: MeshState;
    try {
      state = translate({
        namespaces: list<Namespace>('Namespace'), pods: list<Pod>('Pod'), services: list<Service>('Service'),
        gateways: list<Gateway>('Gateway'), httpRoutes: list<HTTPRoute>('HTTPRoute'), policies: list<AuthorizationPolicy>('AuthorizationPolicy'),
        peerAuthentications: list<PeerAuthentication>('PeerAuthentication'),
        ...(this.options.waypointRuntime === undefined ? {} : { waypointRuntime: this.options.waypointRuntime() }),
      }, this.options.translate);
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'translation failed; proxies keep the previous state');
      return;
    }
    const resources: Resource[] = [
      ...state.workloads.map((value) => ({ kind: 'workload' as const, value })),
      ...state.services.map((value) => ({ kind: 'service' as const, value })),
      ...state.authorizations.map((value) => ({ kind: 'authorization' as const, value })),
      ...state.routes.map((value) => ({ kind: 'route' as const, value })),
    ];
    this.options.discovery.publish(resources);
    this.options.discovery.flush();
    if (this.options.writeStatus?.() ?? true) await this.status.apply(state.status);
    const info: TranslationInfo = {
      durationMs: performance.now() - started, workloads: state.workloads.length, services: state.services.length,
      authorizations: state.authorizations.length, routes: state.routes.length, statusUpdates: state.status.length,
    };
    this.last = { ...info, at: new Date().toISOString() };
    this.options.onTranslated?.(info);
    this.log.debug(info, 'translated');
  }
}
