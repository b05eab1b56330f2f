// The GatewayClass half of the Gateway API contract: a controller marks every
// class whose spec.controllerName is its own Accepted, with the generation it
// saw, so `kubectl get gatewayclass` shows that someone acts on the class;
// classes of other controllers are never touched. Ambit's waypoint class
// takes no parameters, so a class that names some is not accepted, with the
// reason. Runs while this replica writes (the leader). Each class is judged
// on its own, so nothing waits for the informer to sync: a cluster without
// the Gateway API keeps only this writer idle (its informer retries).
import { isAmbitError, silentLogger, type Logger } from '@ambit/core';
import type { Condition, GatewayClass } from '../resources.js';
import { Informer } from '../store/informer.js';
import type { Store } from '../store/store.js';
import { merge } from '../app/status-writer.js';
import { ROUTE_CONTROLLER_NAME } from '../translate/routes.js';
import { CONDITION_ACCEPTED } from '../translate/status.js';

/** spec.controllerName of the classes this control plane acts on (deploy/gatewayclass.yaml). */
export const CONTROLLER_NAME = ROUTE_CONTROLLER_NAME;
const RETRY_MS = 5_000;

export interface GatewayClassStatusOptions {
  /** Default CONTROLLER_NAME. */
  controllerName?: string;
  logger?: Logger;
}

/** The conditions this controller owns on a class, or undefined for another controller's class. */
export function gatewayClassConditions(gatewayClass: GatewayClass, controllerName: string = CONTROLLER_NAME): Condition[] | undefined {
  if (gatewayClass.spec?.controllerName !== controllerName) return undefined;
  const generation = gatewayClass.metadata.generation;
  const ref = gatewayClass.spec.parametersRef;
  const accepted: Omit<Condition, 'type'> = ref === undefined
    ? { status: 'True', reason: 'Accepted', message: `Gateways of class ${gatewayClass.metadata.name} run as Ambit waypoints (HBONE on 15008)` }
    : {
      status: 'False', reason: 'InvalidParameters',
      message: `Ambit waypoints take no parameters, but spec.parametersRef names ${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}; remove it`,
    };
  return [{ type: CONDITION_ACCEPTED, ...accepted, ...(generation === undefined ? {} : { observedGeneration: generation }) }];
}

export class GatewayClassStatus {
  /** Status updates written (tests, metrics). */
  writes = 0;
  private readonly informer: Informer<GatewayClass>;
  private readonly log: Logger;
  private readonly controllerName: string;
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly store: Store, options: GatewayClassStatusOptions = {}) {
    this.log = (options.logger ?? silentLogger).child({ component: 'gateway-class-status' });
    this.controllerName = options.controllerName ?? CONTROLLER_NAME;
    this.informer = new Informer<GatewayClass>(store, 'GatewayClass', { logger: this.log });
  }

  start(): void {
    this.informer.on((event) => {
      if (event.type !== 'delete') void this.write(event.object.metadata.name);
    });
    this.informer.start();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    this.informer.stop();
  }

  /** Brings one class's owned conditions in line, from the cache's latest copy. */
  private async write(name: string): Promise<void> {
    const gatewayClass = this.informer.list().find((c) => c.metadata.name === name);
    if (this.stopped || gatewayClass === undefined) return;
    const desired = gatewayClassConditions(gatewayClass, this.controllerName);
    if (desired === undefined) return;
    const current = gatewayClass.status?.conditions ?? [];
    const next = merge(current, desired, desired.map((c) => c.type), new Date());
    if (JSON.stringify(next.map(key).sort()) === JSON.stringify(current.map(key).sort())) return;
    try {
      await this.store.updateStatus('GatewayClass', name, undefined, { ...gatewayClass.status, conditions: next }, gatewayClass.metadata.resourceVersion);
      this.writes++;
      const accepted = desired[0] as Condition;
      this.log.info({ gatewayClass: name, status: accepted.status, reason: accepted.reason }, `GatewayClass ${name}: Accepted=${accepted.status} (${accepted.reason})`);
    } catch (error) {
      // Changed or deleted meanwhile: the informer brings the new version.
      if (isAmbitError(error, 'conflict') || isAmbitError(error, 'not-found')) return;
      this.log.warn({ gatewayClass: name, err: (error as Error).message }, `could not write the status of GatewayClass ${name}; retrying in ${RETRY_MS / 1000}s`);
      if (!this.stopped && !this.retries.has(name)) {
        this.retries.set(name, setTimeout(() => {
          this.retries.delete(name);
          void this.write(name);
        }, RETRY_MS).unref());
      }
    }
  }
}

function key(condition: Condition): string {
  return JSON.stringify([condition.type, condition.status, condition.reason, condition.message, condition.observedGeneration, condition.lastTransitionTime]);
}
