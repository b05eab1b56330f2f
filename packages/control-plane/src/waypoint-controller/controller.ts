// Runs the waypoint controller's plan against the store: watches the objects
// it owns (by label), re-plans on any change to them or to a Gateway
// (coalesced), applies the actions, and remembers per Gateway the last
// failure so its status can say why it is not programmed. On Kubernetes only
// the leader runs one (the control plane starts it each term and stops it when
// the term ends); the local control plane always does.
import { isAmbitError, silentLogger, type Logger } from '@ambit/core';
import type { Gateway, KubeObject } from '../resources.js';
import { Rounds } from '../rounds.js';
import { Informer } from '../store/informer.js';
import type { Store } from '../store/store.js';
import { MANAGED_SELECTOR, type ManagedKind, type WaypointObjectOptions } from './objects.js';
import { planWaypoints, type Action } from './plan.js';

export interface WaypointControllerOptions extends WaypointObjectOptions {
  /** The Gateways (the pipeline's informer cache). */
  gateways: () => readonly Gateway[];
  debounceMs: number;
  logger?: Logger;
  /** After each round that changed something (tests, metrics). */
  onApplied?: (actions: readonly Action[]) => void;
}

export class WaypointController {
  private readonly informers: Record<ManagedKind, Informer>;
  private readonly log: Logger;
  private readonly failures = new Map<string, string>();
  private readonly rounds: Rounds;

  constructor(private readonly store: Store, private readonly options: WaypointControllerOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'waypoint-controller' });
    const informer = (kind: ManagedKind): Informer => new Informer(store, kind, { labelSelector: MANAGED_SELECTOR, logger: this.log });
    this.informers = { ServiceAccount: informer('ServiceAccount'), Deployment: informer('Deployment'), Service: informer('Service') };
    this.rounds = new Rounds(() => this.round(), options.debounceMs);
  }

  async start(): Promise<void> {
    for (const informer of Object.values(this.informers)) {
      informer.on(() => this.schedule());
      informer.start();
    }
    // Stopped before every informer listed (leadership lost, shutdown): nothing to start, and nothing to wait for.
    const ready = await Promise.all(Object.values(this.informers).map((i) => i.ready));
    if (!ready.every(Boolean) || this.rounds.stopped) return;
    await this.reconcile();
  }

  stop(): void {
    this.rounds.stop();
    for (const informer of Object.values(this.informers)) informer.stop();
  }

  /** Call when Gateways changed. */
  schedule(): void {
    this.rounds.schedule();
  }

  /** Why the controller could not (yet) put a Gateway's objects in place, by namespace/name. */
  problems(): ReadonlyMap<string, string> {
    return new Map(this.failures);
  }

  /** Objects the controller owns, of one kind (from its cache). */
  owned(kind: ManagedKind): KubeObject[] {
    return this.informers[kind].list();
  }

  reconcile(): Promise<void> {
    return this.rounds.run();
  }

  private async round(): Promise<void> {
    if (this.rounds.stopped) return;
    const owned = { ServiceAccount: this.owned('ServiceAccount'), Deployment: this.owned('Deployment'), Service: this.owned('Service') };
    const actions = planWaypoints(this.options.gateways(), owned, this.options);
    const failed = new Map<string, string>();
    for (const action of actions) {
      const problem = await this.apply(action);
      if (problem !== undefined && !failed.has(action.gateway)) failed.set(action.gateway, problem);
    }
    this.failures.clear();
    for (const [gateway, problem] of failed) this.failures.set(gateway, problem);
    if (actions.length > 0) this.options.onApplied?.(actions);
  }

  /** Applies one action; returns what went wrong, for the Gateway's status. */
  private async apply(action: Action): Promise<string | undefined> {
    const what = `${action.kind} ${action.op === 'create' ? `${action.object.metadata.namespace ?? ''}/${action.object.metadata.name}` : `${action.namespace}/${action.name}`}`;
    try {
      switch (action.op) {
        case 'create':
          await this.store.create(action.object);
          break;
        case 'update':
          await this.store.patch(action.kind, action.name, action.namespace, action.patch);
          break;
        case 'delete':
          await this.store.delete(action.kind, action.name, action.namespace);
          break;
      }
      this.log.info({ gateway: action.gateway, action: action.op, object: what, ...(action.op === 'delete' ? { reason: action.reason } : {}) }, `waypoint ${action.op}d ${what}`);
      return undefined;
    } catch (error) {
      if (action.op === 'delete' && isAmbitError(error, 'not-found')) return undefined;
      // Someone else's object of that name is in the way: say so, and do not touch it.
      const problem = action.op === 'create' && isAmbitError(error, 'already-exists')
        ? `a ${what} that the waypoint controller does not manage already exists; rename the Gateway or remove that object`
        : `could not ${action.op} ${what}: ${(error as Error).message}`;
      this.log.warn({ gateway: action.gateway, object: what, err: (error as Error).message }, problem);
      return problem;
    }
  }
}
