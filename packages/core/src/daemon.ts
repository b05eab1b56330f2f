// The shape every Ambit daemon's bin shares: settings from `--flags` or
// environment variables (flags win) into a plain record, parsed by the
// daemon's own config module; start; drain on SIGTERM/SIGINT. Exit codes
// scripts can trust: 0 after a clean shutdown, 1 on a runtime failure, 2 for
// bad settings (including an `invalid-config` error at start-up).
import { parseArgs } from 'node:util';
import { causeChain, isAmbitError } from './errors.js';
import { createLogger, type Logger, type LogLevel } from './log.js';

export interface DaemonSpec<Config extends { logLevel: LogLevel; drainDeadlineMs: number }, Running> {
  /** The bin's name, e.g. `ambit-ztunnel`: prefixes messages. */
  name: string;
  /** The logger's `app` name. */
  app: string;
  help: string;
  keys: readonly string[];
  /** Environment variables are `<envPrefix><KEY with - as _>`, e.g. AMBIT_ZTUNNEL_NODE. */
  envPrefix: string;
  parse(record: Record<string, string | undefined>, source: string): Config;
  start(config: Config, log: Logger): Promise<Running>;
  drain(running: Running, deadlineMs: number): Promise<unknown>;
  /** Buffer log writes (see LoggerOptions.buffered): for daemons that log every request. */
  bufferedLogs?: boolean;
}

/**
 * A daemon's settings record: each key from its flag (`flags`, by key), else
 * from the environment variable `<envPrefix><KEY with - as _>`.
 */
export function daemonSettings(
  keys: readonly string[], flags: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>, envPrefix: string,
): Record<string, string | undefined> {
  const record: Record<string, string | undefined> = {};
  for (const key of keys) {
    const fromFlag = flags[key];
    record[key] = typeof fromFlag === 'string' ? fromFlag : env[`${envPrefix}${key.toUpperCase().replace(/-/g, '_')}`];
  }
  return record;
}

/** Runs a daemon to completion and resolves with its exit code. */
export async function runDaemon<Config extends { logLevel: LogLevel; drainDeadlineMs: number }, Running>(
  spec: DaemonSpec<Config, Running>, argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(spec.keys.map((k) => [k, { type: 'string' as const }])) },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`${spec.name}: ${(error as Error).message}\n${spec.help}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(spec.help);
    return 0;
  }
  const record = daemonSettings(spec.keys, values, env, spec.envPrefix);
  let config: Config;
  try {
    config = spec.parse(record, spec.name);
  } catch (error) {
    process.stderr.write(`${(error as Error).message} (see --help)\n`);
    return 2;
  }
  const log = createLogger({ name: spec.app, level: config.logLevel, buffered: spec.bufferedLogs === true });
  let running: Running;
  try {
    running = await spec.start(config, log);
  } catch (error) {
    log.fatal({ err: causeChain(error).join(': ') }, `${spec.app} failed to start`);
    process.stderr.write(`${spec.name}: ${isAmbitError(error) ? error.explain() : (error as Error).message}\n`);
    return isAmbitError(error, 'invalid-config') ? 2 : 1;
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, deadlineMs: config.drainDeadlineMs }, 'draining');
      spec.drain(running, config.drainDeadlineMs).then(
        (result) => {
          log.info(result as object, 'stopped');
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

/** The bin's last line: run, then exit with the code. */
export function exitWith(name: string, code: Promise<number>): void {
  code.then((value) => process.exit(value), (error: Error) => {
    process.stderr.write(`${name}: ${error.message}\n`);
    process.exit(1);
  });
}
