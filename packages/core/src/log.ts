// The one structured logger. Library code never writes to the console: it
// receives a Logger and derives children carrying `component` and, for
// connection handling, a per-connection `conn` id.
import { pino, type Logger as PinoLogger, type DestinationStream, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  level?: LogLevel;
  /** Name of the process or app, e.g. `ztunnel`. */
  name?: string;
  /** Where lines go; defaults to stdout. Tests pass a memory stream. */
  destination?: DestinationStream;
  /**
   * Buffer stdout writes (up to 4 KiB, flushed at least every second and at
   * exit) instead of one write per line: for per-request access logs.
   */
  buffered?: boolean;
}

export const LOG_FLUSH_INTERVAL_MS = 1_000;

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = options.name === undefined ? {} : { app: options.name };
  let destination = options.destination;
  if (destination === undefined && options.buffered === true) {
    const buffered = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    setInterval(() => {
      try {
        buffered.flush();
      } catch {
        // Not open yet, or already closed: the next tick (or exit) writes it.
      }
    }, LOG_FLUSH_INTERVAL_MS).unref();
    destination = buffered;
  }
  return pino(
    {
      level: options.level ?? 'info',
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything: the default for libraries used without one. */
export const silentLogger: Logger = createLogger({ level: 'silent' });

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

let nextConnectionId = 0;

/** Short, process-unique id for correlating the log lines of one connection. */
export function connectionId(): string {
  nextConnectionId = (nextConnectionId + 1) % Number.MAX_SAFE_INTEGER;
  return nextConnectionId.toString(36);
}
