export * from './resources.js';
export type {
  Store, ListOptions, ListResult, WatchEvent, WatchEventType, WatchOptions, Watch, WatchHandlers, DeleteOptions,
} from './store/store.js';
export { VersionedState, DEFAULT_TOMBSTONE_LIMIT } from './discovery/state.js';
export type { Changes } from './discovery/state.js';
export { DiscoveryService, DISCOVERY_PATH } from './discovery/server.js';
export type { DiscoveryServiceOptions, DiscoveryServiceEvents, SubscriberStatus, SubscriberDecision } from './discovery/server.js';
export { ControlPlaneEndpoint, respondError, readBody } from './endpoint.js';
export type { Caller, RouteHandler, EndpointOptions } from './endpoint.js';
export {
  translate, evaluateL4, appliesTo, translatePolicy, resolveWaypoint, waypointsOf, enrollment, isEnrolled,
  CONDITION_PROGRAMMED, CONDITION_WAYPOINT_BOUND, CONDITION_ACCEPTED, LABEL_USE_WAYPOINT_NAMESPACE, LABEL_GATEWAY_NAME, ROOT_NAMESPACE, DEFAULT_CLUSTER_DOMAIN,
  translateRoute, translateRoutes, compareMatches, ROUTE_CONTROLLER_NAME, CONDITION_RESOLVED_REFS, CONDITION_PARTIALLY_INVALID,
  UNRESOLVED_BACKEND_PREFIX,
} from './translate/index.js';
export type {
  ClusterSnapshot, TranslateOptions, MeshState, StatusUpdate, StatusKind, L4Request, L4Decision, PolicyOutcome, Waypoint, BindingResult,
  Enrollment, RouteStatusUpdate, ConditionStatusUpdate, RouteContext, RouteOutcome, TargetEnforcement,
} from './translate/index.js';
export { StoreApiServer, API_SOCKET_FILE, toWire, fromWire } from './store/api-server.js';
export type { WireError } from './store/api-server.js';
export { RemoteStore } from './store/remote.js';
export type { RemoteStoreOptions, ControlPlaneStatus, LeaderStatus } from './store/remote.js';
export { LocalStore, DEFAULT_HISTORY_SIZE, DEFAULT_WATCH_QUEUE_LIMIT } from './store/local.js';
export type { LocalStoreOptions } from './store/local.js';
export { LabelSelector, parseSelector, labelKeyProblem, labelValueProblem } from './store/selector.js';
export type { Requirement, SelectorOperator } from './store/selector.js';
export { applyMergePatch, createMergePatch, deepEqual } from './store/merge-patch.js';
export { parseManifests, validateResource } from './store/manifest.js';
export type { ParseManifestOptions, ValidateOptions } from './store/manifest.js';
export { Informer, DEFAULT_INFORMER_BACKOFF } from './store/informer.js';
export type { InformerEvent, InformerListener, InformerOptions } from './store/informer.js';
export { CaService, CA_PATH } from './ca/service.js';
export type { CaServiceOptions, CaServiceEvents } from './ca/service.js';
export { entitle } from './ca/entitlement.js';
export type { Principal, Decision, RefusalReason, EntitlementRequest, EntitlementContext } from './ca/entitlement.js';
export { TokenTable, writeBootstrapToken, readBootstrapToken, loadBootstrapTokens, BOOTSTRAP_DIR } from './ca/bootstrap.js';
export type { BootstrapAuthenticator } from './ca/bootstrap.js';
export { startControlPlane, CONTROL_PLANE_SERVICE_ACCOUNT, ZTUNNEL_SERVICE_ACCOUNT } from './app/app.js';
export type { ControlPlane, StartOptions } from './app/app.js';
export { parseConfig, CONFIG_KEYS } from './app/config.js';
export type { ControlPlaneConfig, HostPort } from './app/config.js';
export { MeshPipeline, WATCHED_KINDS } from './app/pipeline.js';
export type { PipelineOptions, TranslationInfo } from './app/pipeline.js';
export { StatusWriter, OWNED_CONDITIONS, merge as mergeConditions } from './app/status-writer.js';
export { ControlPlaneMetrics } from './app/metrics.js';
export { authorizeSubscriber } from './discovery/authorize.js';
export { DirectoryBootstrap } from './ca/bootstrap.js';
export { loadOrCreateRootSecret, ROOT_SECRET } from './ca/root-secret.js';
export {
  waypointObjects, managedGatewayKey, DEFAULT_WAYPOINT_IMAGE, MANAGED_BY, MANAGED_SELECTOR, MANAGED_KINDS, WAYPOINT_CONTAINER,
} from './waypoint-controller/objects.js';
export type { WaypointObjects, WaypointObjectOptions, ManagedKind } from './waypoint-controller/objects.js';
export { GatewayClassStatus, gatewayClassConditions, CONTROLLER_NAME } from './waypoint-controller/gateway-class.js';
export type { GatewayClassStatusOptions } from './waypoint-controller/gateway-class.js';
export { RootCertPublisher, DEFAULT_ROOT_CERT_RETRY_MS } from './root-cert/publisher.js';
export type { RootCertPublisherOptions } from './root-cert/publisher.js';
export {
  planRootCerts, rootCertNamespaces, rootCertConfigMap, ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, ROOT_CERT_MANAGER, ROOT_CERT_SELECTOR,
} from './root-cert/plan.js';
export type { RootCertAction } from './root-cert/plan.js';
