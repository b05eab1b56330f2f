// The leader Lease on the Kubernetes API (coordination.k8s.io/v1). The Lease
// is not one of the kinds the store models, and election needs only get,
// create and replace, so this sends its own requests (kube-http, the same
// credentials and TLS as the store) with a timeout of its own: a hanging API
// server must not hold a renewal much past the renew deadline. Loaded, like
// the store, only for the kubernetes backend.
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '@ambit/core';
import type { ResourceType } from '../resources.js';
import { isStatus, statusError } from '../store/kube-errors.js';
import { kubeRequest, serverOf, type KubeResponse } from '../store/kube-http.js';
import type { LeaseClient, LeaseRecord, StoredLease } from './elector.js';

export const LEASE_TYPE: ResourceType = {
  kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, hasStatus: false,
};

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  spec?: Partial<LeaseRecord> & Record<string, unknown>;
}

export class KubernetesLease implements LeaseClient {
  readonly name: string;
  private readonly server: URL;
  private readonly path: string;

  /** `timeoutMs` bounds each request. */
  constructor(
    private readonly kubeConfig: KubeConfig, private readonly namespace: string, private readonly leaseName: string, private readonly timeoutMs: number,
  ) {
    this.server = serverOf(kubeConfig);
    this.name = `${namespace}/${leaseName}`;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  }

  async get(): Promise<StoredLease | undefined> {
    const what = `get Lease ${this.name}`;
    const response = await this.request('GET', `${this.path}/${encodeURIComponent(this.leaseName)}`, what, undefined);
    if (response.status === 404 && isStatus(response.body) && response.body.details?.name === this.leaseName) return undefined;
    return stored(this.check(response, what));
  }

  async create(record: LeaseRecord): Promise<StoredLease> {
    const what = `create Lease ${this.name}`;
    const body: LeaseObject = {
      apiVersion: LEASE_TYPE.apiVersion, kind: LEASE_TYPE.kind,
      metadata: { name: this.leaseName, namespace: this.namespace, labels: { 'app.kubernetes.io/part-of': 'ambit' } },
      spec: specOf(record),
    };
    return stored(this.check(await this.request('POST', this.path, what, body), what));
  }

  async update(previous: StoredLease, record: LeaseRecord): Promise<StoredLease> {
    const what = `update Lease ${this.name}`;
    const object = (previous.object ?? {}) as LeaseObject;
    // A replace with the version read: the server refuses it (409) when anyone wrote since.
    const body: LeaseObject = {
      ...object, apiVersion: LEASE_TYPE.apiVersion, kind: LEASE_TYPE.kind,
      metadata: { ...object.metadata, name: this.leaseName, namespace: this.namespace, resourceVersion: previous.resourceVersion },
      spec: specOf(record),
    };
    const response = await this.request('PUT', `${this.path}/${encodeURIComponent(this.leaseName)}`, what, body);
    return stored(this.check(response, what));
  }

  private request(method: 'GET' | 'POST' | 'PUT', path: string, what: string, body: unknown): Promise<KubeResponse> {
    return kubeRequest(this.kubeConfig, this.server, { method, path, what, body, timeoutMs: this.timeoutMs });
  }

  private check(response: KubeResponse, what: string): LeaseObject {
    // Read defensively by stored(): a field of the wrong type reads as absent.
    if (response.status >= 200 && response.status < 300) return response.body ?? {};
    const status = isStatus(response.body) ? response.body : {};
    if (response.status === 404 && status.details?.name === undefined) {
      return fail(new AmbitError('not-found', `${what}: the API server does not serve leases.coordination.k8s.io/v1`, {
        hint: 'Kubernetes serves Leases since 1.14; without them run one replica with leader-election false',
      }));
    }
    if (response.status === 403) {
      return fail(new AmbitError('denied', `${what}: ${status.message ?? 'forbidden'}`, {
        hint: `grant the control plane's service account get, create and update on leases in namespace ${this.namespace} (a Role)`,
      }));
    }
    return fail(statusError(status, response.status, { what, type: LEASE_TYPE, name: this.leaseName }));
  }
}

/** What election reads of a Lease; fields a writer left out read as client-go reads them (empty, 0). */
function stored(object: LeaseObject): StoredLease {
  const spec = object.spec ?? {};
  return {
    record: {
      holderIdentity: typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '',
      leaseDurationSeconds: typeof spec.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : 0,
      acquireTime: typeof spec.acquireTime === 'string' ? spec.acquireTime : '',
      renewTime: typeof spec.renewTime === 'string' ? spec.renewTime : '',
      leaseTransitions: typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0,
    },
    resourceVersion: object.metadata?.resourceVersion ?? '',
    object,
  };
}

function specOf(record: LeaseRecord): LeaseObject['spec'] {
  // An empty MicroTime is not valid: leave the field out instead.
  return {
    holderIdentity: record.holderIdentity, leaseDurationSeconds: record.leaseDurationSeconds, leaseTransitions: record.leaseTransitions,
    ...(record.acquireTime === '' ? {} : { acquireTime: record.acquireTime }),
    ...(record.renewTime === '' ? {} : { renewTime: record.renewTime }),
  };
}

function fail(error: AmbitError): never {
  throw error;
}
