export { MeshIndex } from './mesh-index.js';
export type { MeshChange, MeshView, MeshIndexEvents } from './mesh-index.js';
export { DiscoveryClient, DISCOVERY_PATH } from './discovery.js';
export type { DiscoveryClientOptions, DiscoveryClientEvents } from './discovery.js';
export { CaClient, CA_PATH } from './ca-client.js';
export type { CaClientOptions } from './ca-client.js';
