#!/usr/bin/env -S node --max-semi-space-size=2 --no-concurrent-array-buffer-sweeping --no-concurrent-marking
// (The Node flags are ZTUNNEL_NODE_FLAGS, node-flags.ts, which says why: keep the two in step.)
// ambit-ztunnel: runs the node tunnel. Settings come from flags or
// AMBIT_ZTUNNEL_<SETTING> environment variables (flags win), e.g.
//   ambit-ztunnel --node node-1 --control-plane 10.0.0.2:15012 \
//     --ca-root-file /var/lib/ambit/ca/root-cert.pem --bootstrap-token-file /var/lib/ambit/bootstrap/node-node-1.token \
//     --admin-socket /run/ambit/ztunnel-node-1.sock
//   AMBIT_ZTUNNEL_CAPTURE=nftables ambit-ztunnel ...
// SIGTERM or SIGINT drains: listeners stop accepting, connections get until
// the drain deadline, then everything closes.
// Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad settings.
import { exitWith, runDaemon } from '@ambit/core';
import { CONFIG_KEYS, parseZtunnelConfig } from '../config.js';
import { startZtunnel } from '../app.js';

const HELP = `usage: ambit-ztunnel [--SETTING VALUE ...]

settings (flag, or environment variable AMBIT_ZTUNNEL_<SETTING with - as _>):
  --node NAME                     the node this ztunnel serves (required)
  --control-plane HOST:PORT       discovery + CA endpoint (required)
  --control-plane-identity ID     SPIFFE ID the control plane must present
                                  (default spiffe://TRUST-DOMAIN/ns/ambit-system/sa/control-plane)
  --ca-root-file FILE             PEM roots that verify the control plane (required)
  --bootstrap-token-file FILE     the node's bootstrap token (required)
  --trust-domain NAME             SPIFFE trust domain (default cluster.local)
  --capture nftables|none         transparent capture, or none (SOCKS5 only) (default none)
  --hbone-port PORT               HBONE inbound, and the port dialled on remote pods (default 15008)
  --outbound-port PORT            outbound capture, nftables mode (default 15001)
  --inbound-plaintext-port PORT   inbound plaintext capture, nftables mode (default 15006)
  --socks5 HOST:PORT|off          SOCKS5 outbound (default 127.0.0.1:15080)
  --socks5-pods PORT|off          SOCKS5 at every local pod's address, the pod being the address
                                  connected to (loopback mode, capture none) (default off)
  --metrics HOST:PORT             Prometheus metrics (default 127.0.0.1:15020)
  --readiness HOST:PORT           /healthz/ready (default 127.0.0.1:15021)
  --admin-socket PATH             admin API unix socket, mode 0600 (this or --admin-address)
  --admin-address HOST:PORT       admin API on a loopback address (Kubernetes: reached by port-forward)
  --drain-deadline DURATION       shutdown grace period (default 10s)
  --connect-timeout DURATION      upstream and HBONE connect deadline (default 5s)
  --log-level LEVEL               fatal|error|warn|info|debug|trace|silent (default info)
  --table NAME                    nftables table, nftables mode (default ambit-ztunnel)
  --source-ip preserve|node       the address local pods see their mesh clients at: the client's own
                                  (nftables mode sets net.ipv4/ipv6.ip_nonlocal_bind in ztunnel's
                                  network namespace for it) or the node's (default preserve)
  --waypoint-connections N        HBONE connections one workload's tunnels to a waypoint are spread
                                  over once the first carries 32, so they reach every waypoint
                                  worker (default 2)
`;

exitWith('ambit-ztunnel', runDaemon({
  name: 'ambit-ztunnel', app: 'ztunnel', help: HELP, keys: CONFIG_KEYS, envPrefix: 'AMBIT_ZTUNNEL_',
  parse: (record, source) => parseZtunnelConfig(record, source),
  start: (config, logger) => startZtunnel(config, { logger }),
  drain: (running, deadlineMs) => running.drain(deadlineMs),
}));
