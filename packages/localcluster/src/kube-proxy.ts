// A kube-proxy for the local cluster: Service VIPs DNAT'ed to a random ready
// endpoint, in every node's namespace. Rewritten whole (one nft transaction)
// on every service or endpoint change.
//
//   table ip ambit-kubeproxy
//     chain dstnat   (nat, prerouting, priority -100 = dstnat) — traffic from pods
//     chain output   (nat, output, priority -100)               — node-local clients
//       1. packets carrying CAPTURE_MARK return untouched: ztunnel captured
//          them at priority mangle (-150) and must see the VIP, not an
//          endpoint (it does its own load balancing);
//       2. jump services: `ip daddr VIP tcp dport P dnat to numgen ...`.
//     chains reject-prerouting / reject-output (filter, priority -110)
//       refuse connections to a service port with no ready endpoint (TCP
//       reset), as kube-proxy does, instead of letting them hang.
import { CAPTURE_MARK } from '@ambit/ztunnel';
import type { PodState, ServiceState } from './state.js';
import { selects } from './selector.js';

export const KUBE_PROXY_TABLE = 'ambit-kubeproxy';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface ServiceRule {
  /** `namespace/name:port`, written as a comment. */
  key: string;
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  endpoints: Endpoint[];
}

/** One rule per service port, with the ready pods its selector picks. */
export function serviceRules(services: readonly ServiceState[], pods: readonly PodState[]): ServiceRule[] {
  const rules: ServiceRule[] = [];
  for (const service of services) {
    const backends = pods.filter((pod) => pod.namespace === service.namespace && pod.ready && selects(service.selector, pod.labels));
    for (const port of service.ports) {
      const endpoints: Endpoint[] = [];
      for (const pod of backends) {
        const target = resolveTargetPort(port.targetPort ?? port.port, pod);
        if (target !== undefined) endpoints.push({ ip: pod.ip, port: target });
      }
      endpoints.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port);
      rules.push({
        key: `${service.namespace}/${service.name}:${port.port}`,
        vip: service.vip,
        port: port.port,
        protocol: port.protocol === 'UDP' ? 'udp' : 'tcp',
        endpoints,
      });
    }
  }
  return rules;
}

/** The whole table, replacing the previous one in the same transaction. */
export function kubeProxyRuleset(rules: readonly ServiceRule[], mark = CAPTURE_MARK): string {
  const m = `0x${mark.toString(16)}`;
  const skipCaptured = `    meta mark & ${m} == ${m} return`;
  const services = rules.filter((rule) => rule.endpoints.length > 0).map((rule) => `    ${match(rule)} ${dnat(rule.endpoints)} comment "${rule.key}"`);
  const rejects = rules.filter((rule) => rule.endpoints.length === 0)
    .map((rule) => `    ${match(rule)} ${rule.protocol === 'tcp' ? 'reject with tcp reset' : 'reject'} comment "${rule.key} has no ready endpoints"`);
  const base = (name: string, type: 'nat' | 'filter', hook: 'prerouting' | 'output', priority: string, target: string): string[] => [
    `  chain ${name} {`,
    `    type ${type} hook ${hook} priority ${priority}; policy accept;`,
    skipCaptured,
    `    jump ${target}`,
    '  }',
  ];
  return [
    `add table ip ${KUBE_PROXY_TABLE}`,
    `delete table ip ${KUBE_PROXY_TABLE}`,
    `table ip ${KUBE_PROXY_TABLE} {`,
    '  chain services {',
    ...services,
    '  }',
    '  chain no-endpoints {',
    ...rejects,
    '  }',
    // Numeric priorities: nft accepts the name `dstnat` only on prerouting.
    ...base('dstnat', 'nat', 'prerouting', '-100', 'services'),
    ...base('output', 'nat', 'output', '-100', 'services'),
    ...base('reject-prerouting', 'filter', 'prerouting', '-110', 'no-endpoints'),
    ...base('reject-output', 'filter', 'output', '-110', 'no-endpoints'),
    '}',
    '',
  ].join('\n');
}

function match(rule: ServiceRule): string {
  return `ip daddr ${rule.vip} ${rule.protocol} dport ${rule.port}`;
}

function dnat(endpoints: readonly Endpoint[]): string {
  const [only] = endpoints;
  if (endpoints.length === 1 && only !== undefined) return `dnat to ${only.ip}:${only.port}`;
  const entries = endpoints.map((endpoint, i) => `${i} : ${endpoint.ip} . ${endpoint.port}`).join(', ');
  return `dnat ip addr . port to numgen random mod ${endpoints.length} map { ${entries} }`;
}

function resolveTargetPort(target: number | string, pod: PodState): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  return pod.ports.find((port) => port.name === target)?.containerPort;
}
