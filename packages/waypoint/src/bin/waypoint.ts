#!/usr/bin/env -S node --single-threaded-gc
// (The Node flags are WAYPOINT_NODE_FLAGS, node-flags.ts, which says why: keep the two in step.)
// ambit-waypoint: runs the L7 proxy of one waypoint Gateway. Settings come
// from flags or AMBIT_WAYPOINT_<SETTING> environment variables (flags win), e.g.
//   ambit-waypoint --gateway demo/waypoint --control-plane 10.0.0.2:15012 \
//     --ca-root-file /var/lib/ambit/ca/root-cert.pem \
//     --bootstrap-token-file /var/lib/ambit/bootstrap/workload-demo-waypoint.token \
//     --admin-socket /run/ambit/waypoint-demo-waypoint.sock
// SIGTERM or SIGINT drains: HBONE and HTTP/2 get GOAWAY, keep-alive
// connections close after their response, everything closes at the deadline.
// Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad settings.
import cluster from 'node:cluster';
import { exitWith, runDaemon } from '@ambit/core';
import { CONFIG_KEYS, ENV_PREFIX, parseWaypointConfig } from '../config.js';
import { startWaypoint } from '../app.js';
import { serveAsWorker, superviseWaypoint } from '../workers.js';

const HELP = `usage: ambit-waypoint [--SETTING VALUE ...]

settings (flag, or environment variable AMBIT_WAYPOINT_<SETTING with - as _>):
  --gateway NAMESPACE/NAME        the waypoint Gateway this process runs (required);
                                  its identity is spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/NAME
  --control-plane HOST:PORT       discovery + CA endpoint (required)
  --control-plane-identity ID     SPIFFE ID the control plane must present
                                  (default spiffe://TRUST-DOMAIN/ns/ambit-system/sa/control-plane)
  --ca-root-file FILE             PEM roots that verify the control plane (required)
  --bootstrap-token-file FILE     the gateway identity's workload bootstrap token (required)
  --trust-domain NAME             SPIFFE trust domain (default cluster.local)
  --hbone IP:PORT                 HBONE listener (default 0.0.0.0:15008)
  --upstream-hbone-port PORT      HBONE port of the endpoints' ztunnels (default 15008)
  --metrics IP:PORT               Prometheus metrics (default 127.0.0.1:15020)
  --readiness IP:PORT             /healthz/ready (default 127.0.0.1:15021)
  --admin-socket PATH             admin API unix socket, mode 0600 (this or --admin-address)
  --admin-address HOST:PORT       admin API on a loopback address (Kubernetes: reached by port-forward)
  --drain-deadline DURATION       shutdown grace period (default 10s)
  --connect-timeout DURATION      upstream and HBONE connect deadline (default 5s)
  --log-level LEVEL               fatal|error|warn|info|debug|trace|silent (default info)
  --workers N                     data-path processes sharing the HBONE listener (default 2); with more
                                  than 1, a primary process serves metrics, readiness and the admin API
                                  for all of them and replaces a worker that dies
`;

exitWith('ambit-waypoint', runDaemon({
  name: 'ambit-waypoint', app: 'waypoint', help: HELP, keys: CONFIG_KEYS, envPrefix: ENV_PREFIX,
  parse: (record, source) => parseWaypointConfig(record, source),
  // One worker: all in this process. More: this is the primary (metrics, readiness, admin) or one of its workers.
  start: (config, logger): Promise<{ drain(deadlineMs: number): Promise<object> }> => config.workers === 1 ? startWaypoint(config, { logger })
    : cluster.isPrimary ? superviseWaypoint(config, logger) : serveAsWorker(config, logger),
  drain: (running, deadlineMs) => running.drain(deadlineMs),
  // One access-log line per request: written in 4 KiB batches, not a syscall each.
  bufferedLogs: true,
}));
