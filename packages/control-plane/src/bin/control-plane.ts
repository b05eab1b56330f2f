#!/usr/bin/env node
// ambit-control-plane: runs the control plane. Settings come from flags or
// AMBIT_<SETTING> environment variables (flags win), e.g.
//   ambit-control-plane --backend local --state-dir /var/lib/ambit
//   AMBIT_BACKEND=kubernetes ambit-control-plane
// Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad settings.
import { exitWith, runDaemon } from '@ambit/core';
import { CONFIG_KEYS, parseConfig } from '../app/config.js';
import { startControlPlane } from '../app/app.js';

const HELP = `usage: ambit-control-plane [--SETTING VALUE ...]

settings (flag, or environment variable AMBIT_<SETTING with - as _>):
  --backend local|kubernetes   where cluster state lives (default local)
  --state-dir DIR              local store, CA root and bootstrap tokens (required for local)
  --kubeconfig FILE            kubernetes backend; default: in-cluster
  --api-socket PATH|off        local backend: the store API socket (default STATE-DIR/api.sock)
  --listen HOST:PORT           discovery + CA (default 127.0.0.1:15012)
  --metrics HOST:PORT          Prometheus metrics (default 127.0.0.1:15020)
  --readiness HOST:PORT        /healthz/ready (default 127.0.0.1:15021)
  --admin-address HOST:PORT    admin API on a loopback address: GET /status, /metrics, /healthz/ready,
                               /logging (default off; on Kubernetes the CLI reaches it by port-forward)
  --trust-domain NAME          SPIFFE trust domain (default cluster.local)
  --cluster-domain NAME        service DNS suffix (default cluster.local)
  --cert-ttl DURATION          workload certificate lifetime (default 24h)
  --debounce DURATION          coalescing window for changes (default 100ms)
  --drain-deadline DURATION    shutdown grace period (default 10s)
  --log-level LEVEL            fatal|error|warn|info|debug|trace|silent (default info)
  --leader-election BOOL       kubernetes: only the holder of the Lease ambit-control-plane runs
                               the status writer and the waypoint controller (default true there)
  --lease-namespace NS         the Lease's namespace (default $POD_NAMESPACE, else ambit-system)
  --leader-id ID               this replica's holder identity (default $POD_NAME, else host-pid)
  --lease-duration DURATION    a standby takes over after this without renewal (default 15s)
  --lease-renew-deadline DUR   the leader stops writing when it could not renew for this (default 10s)
  --lease-retry-period DUR     between attempts to acquire or renew (default 2s)
`;

exitWith('ambit-control-plane', runDaemon({
  name: 'ambit-control-plane', app: 'control-plane', help: HELP, keys: CONFIG_KEYS, envPrefix: 'AMBIT_',
  parse: (record, source) => parseConfig(record, source, { podName: process.env.POD_NAME, podNamespace: process.env.POD_NAMESPACE }),
  start: (config, logger) => startControlPlane(config, { logger }),
  drain: (running, deadlineMs) => running.drain(deadlineMs),
}));
