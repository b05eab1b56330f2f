// One access-log line per connection, written when it closes (info level,
// component `access`): who talked to whom, with which identities, how many
// bytes each way, for how long, and how it ended.
import { causeChain, type Logger } from '@ambit/core';
import type { ConnectionContext, Outcome } from './proxy/connections.js';
import type { ResponseFlag } from './proxy/flags.js';

export interface AccessLogEntry {
  id: string;
  context: ConnectionContext;
  outcome: Outcome;
  flag: ResponseFlag;
  durationMs: number;
}

export function writeAccessLog(log: Logger, entry: AccessLogEntry): void {
  if (!log.isLevelEnabled('info')) return;
  const { context, outcome } = entry;
  const src = context.source;
  const dst = context.destination;
  log.info({
    conn: entry.id,
    direction: context.direction,
    via: context.via,
    src: { addr: context.src, workload: qualified(src.workload), identity: src.identity },
    dst: {
      addr: context.dst, upstream: context.upstream, hop: context.hop, workload: qualified(dst.workload), identity: dst.identity,
      service: dst.service?.hostname,
    },
    security: context.securityPolicy,
    bytes_sent: outcome.sent,
    bytes_recv: outcome.received,
    duration_ms: entry.durationMs,
    response_flags: entry.flag,
    error: outcome.error === undefined ? undefined : causeChain(outcome.error).join(': '),
  }, 'connection complete');
}

function qualified(workload: { namespace: string; name: string } | undefined): string | undefined {
  return workload === undefined ? undefined : `${workload.namespace}/${workload.name}`;
}
