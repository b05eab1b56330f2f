#!/usr/bin/env node
// ambit-control-plane: runs the control plane. Settings come from flags or
// AMBIT_<SETTING> environment variables (flags win), e.g.
//   ambit-control-plane --backend local --state-dir /var/lib/ambit
//   AMBIT_BACKEND=kubernetes ambit-control-plane
// Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad settings.
import { parseArgs } from 'node:util';
import { causeChain, createLogger, isAmbitError } from '@ambit/core';
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
  --trust-domain NAME          SPIFFE trust domain (default cluster.local)
  --cluster-domain NAME        service DNS suffix (default cluster.local)
  --cert-ttl DURATION          workload certificate lifetime (default 24h)
  --debounce DURATION          coalescing window for changes (default 100ms)
  --drain-deadline DURATION    shutdown grace period (default 10s)
  --log-level LEVEL            fatal|error|warn|info|debug|trace|silent (default info)
`;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      options: { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(CONFIG_KEYS.map((k) => [k, { type: 'string' as const }])) },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`ambit-control-plane: ${(error as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const record: Record<string, string | undefined> = {};
  for (const key of CONFIG_KEYS) {
    const fromEnv = process.env[`AMBIT_${key.toUpperCase().replace(/-/g, '_')}`];
    const fromFlag = values[key];
    record[key] = typeof fromFlag === 'string' ? fromFlag : fromEnv;
  }
  let config;
  try {
    config = parseConfig(record, 'ambit-control-plane');
  } catch (error) {
    process.stderr.write(`${(error as Error).message} (see --help)\n`);
    return 2;
  }
  const log = createLogger({ name: 'control-plane', level: config.logLevel });
  let controlPlane;
  try {
    controlPlane = await startControlPlane(config, { logger: log });
  } catch (error) {
    log.fatal({ err: causeChain(error).join(': ') }, 'control plane failed to start');
    process.stderr.write(`ambit-control-plane: ${isAmbitError(error) ? error.explain() : (error as Error).message}\n`);
    return isAmbitError(error, 'invalid-config') ? 2 : 1;
  }
  const running = controlPlane;
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, deadlineMs: config.drainDeadlineMs }, 'draining');
      running.drain().then(
        (result) => {
          log.info(result, 'stopped');
          resolve(0);
        },
        (error: Error) => {
          log.error({ err: error.message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    // `on`, not `once`: a repeated signal (a process group and its leader both signalled) must not kill mid-drain.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

main().then((code) => process.exit(code), (error: Error) => {
  process.stderr.write(`ambit-control-plane: ${error.message}\n`);
  process.exit(1);
});
