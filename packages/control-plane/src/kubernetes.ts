// The Kubernetes backend, apart from the main entry so that importing
// @ambit/control-plane does not load @kubernetes/client-node (~80 MB).
export { KubernetesStore } from './store/kube.js';
export type { KubernetesStoreOptions, PodLogOptions } from './store/kube.js';
export type { KubeResponse } from './store/kube-http.js';
export type { PodHttpResponse } from './store/kube-port-forward.js';
export {
  TokenReviewAuthenticator, NODE_NAME_EXTRA, DEFAULT_TOKEN_AUDIENCE, DEFAULT_TOKEN_CACHE_TTL_MS, DEFAULT_TOKEN_CACHE_SIZE,
} from './ca/token-review.js';
export type { TokenReviewOptions } from './ca/token-review.js';
