export { LocalCluster, DEFAULT_NODE_COUNT, DEFAULT_SERVICE_ACCOUNT } from './cluster.js';
export type { NetworkMode } from './state.js';
export type { LocalClusterOptions, LoadOptions, SpawnOptions, ClusterProcess } from './cluster.js';
export type { PodRef, ProcessTargetRef, AddPodOptions, AddServiceOptions, ServicePortOptions } from './specs.js';
export { teardownCluster, listClusters } from './teardown.js';
export type { TeardownReport, TeardownOptions, LeftoverCluster } from './teardown.js';
export {
  CLUSTER_ADDRESS, SERVICE_CIDR, CLUSTER_DOMAIN, BRIDGE_NAME, nodeAddress, podCidr, podGateway, podAddress,
  LOOPBACK_SOCKS5_PORT, LOOPBACK_MAX_NODES, loopbackPlan,
} from './addressing.js';
export type { LoopbackPlan } from './addressing.js';
export { clusterNetns, nodeNetns, clusterPrefix, validateClusterId, NETNS_PREFIX } from './names.js';
export { KUBE_PROXY_TABLE, kubeProxyRuleset, serviceRules } from './kube-proxy.js';
export type { Endpoint, ServiceRule } from './kube-proxy.js';
export { hostsFile } from './hosts.js';
export { STATE_FILE, LOGS_DIR, readState } from './state.js';
export type {
  ClusterState, NodeState, PodState, ServiceState, NamespaceState, PortState, ServicePortState, ProcessState, ProcessTarget,
} from './state.js';
export type { CommandResult } from './command.js';
export type { ExecOptions } from './processes.js';
export { isAlive, logPath } from './processes.js';
export { LocalMesh, BINS, CONTROL_PLANE_PORT, CONTROL_PLANE_DIR, ZTUNNEL_DIR, WAYPOINT_DIR, WAYPOINT_IMAGE, ECHO_IMAGE, CLIENT_IMAGE } from './mesh.js';
export { LocalKubelet, LABEL_DEPLOYMENT, LABEL_TEMPLATE_HASH, templateHash, REASON_NO_LOCAL_RUNTIME } from './kubelet.js';
export type { ImageRuntime, RunContext, ContainerRun, KubeletOptions } from './kubelet.js';
export type { MeshOptions, Tracked } from './mesh.js';
