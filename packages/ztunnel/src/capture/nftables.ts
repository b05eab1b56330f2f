// Transparent capture with nftables TPROXY, programmed in the node's network
// namespace (ztunnel runs there: `ip netns exec <node-ns> ambit-ztunnel`).
//
// The ruleset, `table inet <table>` (default `ambit-ztunnel`):
//
//   sets enrolled4 / enrolled6 — addresses of this node's enrolled pods.
//     Enrolling or unenrolling changes only set membership, never a rule.
//
//   chain prerouting (filter, priority mangle = -150; before the kube-proxy
//   DNAT at -100, so a pod's connection to a Service VIP is captured with the
//   VIP still as its destination):
//     1. `socket transparent 1 socket wildcard 0` → mark, accept. Later
//        packets of a captured connection belong to ztunnel's transparent
//        socket, and so do a pod's answers to a connection ztunnel dialled
//        from the client's address (proxy/source-address.ts: a transparent
//        socket too); the mark routes them to it (established flows follow
//        their socket). `wildcard 0` matters: the lookup also finds ztunnel's
//        listeners on 0.0.0.0, which would otherwise capture every pod's
//        connection to any :15008, e.g. a waypoint's HBONE to another node.
//     2. `fib daddr type local` → accept. Traffic for the node itself is never
//        touched; this exempts ztunnel's own upstream sockets, whose replies
//        come back to the node's address, and node-local health checks.
//     3. TCP from @enrolled → mark, tproxy to :outbound (15001).
//     4. TCP from @enrolled → drop. A tproxy with no transparent listener
//        falls through; this rule makes capture FAIL CLOSED.
//
//   chain inbound (filter, priority dstnat + 10 = -90; after DNAT, so a
//   non-mesh client reaching an enrolled pod through a Service VIP is caught
//   by its pod address, not let through):
//     1. already marked (captured outbound above) → accept.
//     2–3. established flows and local destinations as above (seen here with
//        the post-DNAT addresses).
//     4. TCP to @enrolled, dport hbone (15008) → mark, tproxy to :hbone; drop.
//     5. other TCP to @enrolled → mark, tproxy to :inboundPlaintext (15006); drop.
//
//   chain forward (filter, priority filter): TCP from or to @enrolled is
//   dropped. Captured traffic is delivered locally and never forwarded, so
//   anything of an enrolled pod that would be routed past ztunnel in
//   plaintext is refused — the invariant the rules above are meant to keep.
//
// Marked packets are delivered locally by policy routing: `ip rule fwmark
// CAPTURE_MARK lookup 133` with `local 0.0.0.0/0 dev lo` (and `::/0`) in table
// 133. The mark is also how the local cluster's kube-proxy knows to leave a
// captured packet alone (`meta mark & CAPTURE_MARK == CAPTURE_MARK return`).
//
// stop() swaps the table for a guard of the same name holding only the sets
// and the forward drop: while ztunnel is down, enrolled pods stay fail closed.
// start() replaces either in one transaction (reconcile); removeAll() deletes
// the table and the routing.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { AmbitError, silentLogger, type Logger } from '@ambit/core';
import { CAPTURE_MARK, type Capture, type CapturePorts, type CaptureStatus } from './capture.js';
import { setTransparent } from './transparent.js';
import type { SourceMode } from '../proxy/source-address.js';

export const DEFAULT_CAPTURE_TABLE = 'ambit-ztunnel';
/** Policy-routing table that delivers marked packets locally. */
export const CAPTURE_ROUTE_TABLE = 133;
/** Preference of the `ip rule` (before `main` at 32766). */
export const CAPTURE_RULE_PRIORITY = 32000;

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program with optional stdin; rejects only if it could not be started. */
export type CommandRunner = (command: string, args: readonly string[], input?: string) => Promise<CommandResult>;

export interface NftCaptureOptions {
  ports: CapturePorts;
  /** nftables table name (one per ztunnel); default `ambit-ztunnel`. */
  table?: string;
  logger?: Logger;
  /** Runs `nft`, `ip` and `sysctl`; tests substitute a recorder. */
  runner?: CommandRunner;
  /**
   * Let ztunnel dial local pods from their clients' addresses: start() sets
   * `net.ipv4.ip_nonlocal_bind` (and IPv6's) in this namespace.
   */
  preserveSources?: boolean;
}

export interface EnrolledAddresses {
  v4: readonly string[];
  v6: readonly string[];
}

export interface RulesetSpec {
  table: string;
  ports: CapturePorts;
  enrolled: EnrolledAddresses;
  mark?: number;
}

type Installed = 'none' | 'capture' | 'guard';

export class NftCapture implements Capture {
  readonly mode = 'nftables' as const;
  private readonly table: string;
  private readonly ports: CapturePorts;
  private readonly logger: Logger;
  private readonly run: CommandRunner;
  private enrolled = new Set<string>();
  private installed: Installed = 'none';
  private tail: Promise<unknown> = Promise.resolve();
  private readonly preserveSources: boolean;
  private sources: SourceMode = 'off';

  constructor(options: NftCaptureOptions) {
    this.table = validateTable(options.table ?? DEFAULT_CAPTURE_TABLE);
    this.ports = validatePorts(options.ports);
    this.logger = (options.logger ?? silentLogger).child({ component: 'capture', table: this.table });
    this.run = options.runner ?? runCommand;
    this.preserveSources = options.preserveSources ?? false;
  }

  start(): Promise<void> {
    return this.serial(async () => {
      await this.ensureRouting();
      if (this.preserveSources && this.sources === 'off') await this.allowNonlocalBind();
      await this.nft(captureRuleset(this.spec()), 'install the capture rules');
      this.installed = 'capture';
      this.logger.info({ ports: this.ports, enrolled: this.enrolled.size }, 'capture rules installed');
    });
  }

  async setEnrolled(addresses: readonly string[]): Promise<void> {
    // Validated before queueing: bad input changes nothing.
    const desired = new Set(addresses.map(canonicalAddress));
    return await this.serial(async () => {
      const added = [...desired].filter((a) => !this.enrolled.has(a));
      const removed = [...this.enrolled].filter((a) => !desired.has(a));
      if (added.length === 0 && removed.length === 0) return;
      const previous = this.enrolled;
      this.enrolled = desired;
      if (this.installed === 'none') return;
      try {
        await this.nft(enrollmentUpdate(this.table, splitFamilies(added), splitFamilies(removed)), 'update the enrolled set');
      } catch (error) {
        // The table drifted (deleted or edited by someone else): rebuild it whole.
        this.logger.warn({ err: error }, 'enrolled set update failed; replacing the table');
        try {
          await this.nft(this.installed === 'capture' ? captureRuleset(this.spec()) : guardRuleset(this.spec()), 'replace the capture table');
        } catch (replaceError) {
          this.enrolled = previous;
          throw replaceError;
        }
      }
      this.logger.info({ added, removed, enrolled: this.enrolled.size }, 'enrolled set updated');
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.installed === 'none') return;
      await this.nft(guardRuleset(this.spec()), 'install the fail-closed guard');
      this.installed = 'guard';
      this.logger.info({ enrolled: this.enrolled.size }, 'capture stopped; guard keeps enrolled pods fail closed');
    });
  }

  removeAll(): Promise<void> {
    return this.serial(async () => {
      await this.nft(removeTableScript(this.table), 'delete the capture table');
      this.installed = 'none';
      await this.removeRouting();
      this.logger.info('capture table and routing removed');
    });
  }

  prepareListener(server: net.Server): void {
    setTransparent(server);
  }

  sourceMode(): SourceMode {
    return this.sources;
  }

  status(): CaptureStatus {
    return { mode: 'nftables', programmed: this.installed === 'capture', enrolled: [...this.enrolled].sort(), table: this.table, sourceAddresses: this.sources };
  }

  private spec(): RulesetSpec {
    return { table: this.table, ports: this.ports, enrolled: splitFamilies([...this.enrolled]) };
  }

  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async nft(script: string, what: string): Promise<void> {
    const result = await this.exec('nft', ['-f', '-'], script);
    if (result.code !== 0) {
      throw new AmbitError('unavailable', `nft failed to ${what} in table inet ${this.table}: ${result.stderr.trim() || `exit ${String(result.code)}`}`, {
        hint: 'is nftables installed, and is ztunnel running as root inside the node network namespace (ip netns exec <node-ns>)?',
        details: { stderr: result.stderr, script },
      });
    }
  }

  private async exec(command: string, args: readonly string[], input?: string): Promise<CommandResult> {
    try {
      return await this.run(command, args, input);
    } catch (error) {
      throw new AmbitError('unavailable', `cannot run ${command}: ${(error as Error).message}`, {
        cause: error,
        hint: command === 'nft' ? 'install nftables (the nft command) on this machine' : 'install iproute2 (the ip command) on this machine',
      });
    }
  }

  private async ip(args: readonly string[]): Promise<CommandResult> {
    return this.exec('ip', args);
  }

  /**
   * Sockets may bind addresses this namespace does not have: how ztunnel
   * dials a local pod from its client's address. Not fatal: without it pods
   * see the node's address, and the warning says why.
   */
  private async allowNonlocalBind(): Promise<void> {
    const ipv4 = await this.sysctl('net.ipv4.ip_nonlocal_bind', '1');
    if (ipv4 !== undefined) {
      this.logger.warn({ failure: ipv4 }, 'cannot allow non-local binds; local pods will see the node\'s address for their mesh clients (is sysctl installed, is /proc/sys writable?)');
      return;
    }
    this.sources = 'nonlocal';
    const ipv6 = await this.sysctl('net.ipv6.ip_nonlocal_bind', '1');
    if (ipv6 !== undefined) this.logger.warn({ failure: ipv6 }, 'IPv6 non-local binds not allowed; IPv6 pods will see the node\'s address for their mesh clients');
  }

  /** Sets a sysctl in this namespace; undefined when done, else why not. */
  private async sysctl(key: string, value: string): Promise<string | undefined> {
    try {
      const result = await this.run('sysctl', ['-w', `${key}=${value}`]);
      return result.code === 0 ? undefined : result.stderr.trim() || `exit ${String(result.code)}`;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** fwmark → table 133 → `local default dev lo`, for both families; idempotent. */
  private async ensureRouting(): Promise<void> {
    for (const family of ['-4', '-6'] as const) {
      const any = family === '-4' ? '0.0.0.0/0' : '::/0';
      const route = await this.ip([family, 'route', 'replace', 'local', any, 'dev', 'lo', 'table', String(CAPTURE_ROUTE_TABLE)]);
      let stderr = route.code === 0 ? undefined : route.stderr.trim();
      if (stderr === undefined && !(await this.hasRule(family))) {
        const rule = await this.ip([family, 'rule', 'add', ...ruleSelector()]);
        if (rule.code !== 0) stderr = rule.stderr.trim();
      }
      if (stderr !== undefined) {
        if (family === '-6') {
          // IPv6 may be disabled in the namespace; the forward drop still keeps IPv6 pods fail closed.
          this.logger.warn({ stderr }, 'IPv6 capture routing not installed; enrolled IPv6 pods will be dropped, not captured');
          continue;
        }
        throw new AmbitError('unavailable', `cannot install capture routing (${family} fwmark ${hex(CAPTURE_MARK)} → table ${CAPTURE_ROUTE_TABLE}): ${stderr}`, {
          hint: 'is ztunnel running as root inside the node network namespace, with loopback up?',
          details: { stderr },
        });
      }
    }
  }

  private async removeRouting(): Promise<void> {
    for (const family of ['-4', '-6'] as const) {
      // A bounded loop: earlier crashed runs may have left duplicates.
      for (let i = 0; i < 8 && (await this.hasRule(family)); i++) {
        const result = await this.ip([family, 'rule', 'del', ...ruleSelector()]);
        if (result.code !== 0) break;
      }
      await this.ip([family, 'route', 'flush', 'table', String(CAPTURE_ROUTE_TABLE)]);
    }
  }

  private async hasRule(family: '-4' | '-6'): Promise<boolean> {
    const result = await this.ip(['-j', family, 'rule', 'show', 'pref', String(CAPTURE_RULE_PRIORITY)]);
    if (result.code !== 0) return false;
    return parseRules(result.stdout).some((rule) =>
      rule.table === String(CAPTURE_ROUTE_TABLE) && Number(rule.fwmark) === CAPTURE_MARK && Number(rule.fwmask) === CAPTURE_MARK);
  }
}

// --- ruleset text (pure) -----------------------------------------------------------

/** The full capture table, replacing any earlier one in the same transaction. */
export function captureRuleset(spec: RulesetSpec): string {
  const { table, ports } = spec;
  const mark = hex(spec.mark ?? CAPTURE_MARK);
  const capture = (match: string, port: number, family: 'ip' | 'ip6'): string[] => [
    `    meta l4proto tcp ${match} meta mark set ${mark} tproxy ${family} to :${port} accept`,
    `    meta l4proto tcp ${match} drop`,
  ];
  return [
    ...replaceTable(table),
    `table inet ${table} {`,
    ...sets(spec.enrolled),
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    `    meta l4proto tcp socket transparent 1 socket wildcard 0 meta mark set ${mark} accept`,
    '    fib daddr type local accept',
    ...capture('ip saddr @enrolled4', ports.outbound, 'ip'),
    ...capture('ip6 saddr @enrolled6', ports.outbound, 'ip6'),
    '  }',
    '  chain inbound {',
    '    type filter hook prerouting priority dstnat + 10; policy accept;',
    `    meta mark & ${mark} == ${mark} accept`,
    `    meta l4proto tcp socket transparent 1 socket wildcard 0 meta mark set ${mark} accept`,
    '    fib daddr type local accept',
    ...capture(`ip daddr @enrolled4 tcp dport ${ports.hbone}`, ports.hbone, 'ip'),
    ...capture(`ip6 daddr @enrolled6 tcp dport ${ports.hbone}`, ports.hbone, 'ip6'),
    ...capture('ip daddr @enrolled4', ports.inboundPlaintext, 'ip'),
    ...capture('ip6 daddr @enrolled6', ports.inboundPlaintext, 'ip6'),
    '  }',
    ...forwardGuard(),
    '}',
    '',
  ].join('\n');
}

/** What stays while ztunnel is down: the sets and the forward drop (fail closed). */
export function guardRuleset(spec: RulesetSpec): string {
  return [...replaceTable(spec.table), `table inet ${spec.table} {`, ...sets(spec.enrolled), ...forwardGuard(), '}', ''].join('\n');
}

/**
 * Membership changes only. Removals are written `add` then `delete` so an
 * element that is already gone is not an error.
 */
export function enrollmentUpdate(table: string, added: EnrolledAddresses, removed: EnrolledAddresses): string {
  const lines: string[] = [];
  for (const [set, add, del] of [['enrolled4', added.v4, removed.v4], ['enrolled6', added.v6, removed.v6]] as const) {
    if (add.length > 0) lines.push(`add element inet ${table} ${set} { ${add.join(', ')} }`);
    if (del.length > 0) {
      lines.push(`add element inet ${table} ${set} { ${del.join(', ')} }`);
      lines.push(`delete element inet ${table} ${set} { ${del.join(', ')} }`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Deletes the table whether or not it exists. */
export function removeTableScript(table: string): string {
  return `${replaceTable(table).join('\n')}\n`;
}

/** Splits and canonicalises addresses; throws `invalid-address` naming the first bad one. */
export function splitFamilies(addresses: readonly string[]): EnrolledAddresses {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const address of addresses) {
    const canonical = canonicalAddress(address);
    (net.isIPv4(canonical) ? v4 : v6).push(canonical);
  }
  return { v4: v4.sort(), v6: v6.sort() };
}

function canonicalAddress(address: string): string {
  if (net.isIPv4(address)) return address;
  if (net.isIPv6(address)) return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  throw new AmbitError('invalid-address', `cannot enroll ${JSON.stringify(address)}: not an IPv4 or IPv6 address`, {
    hint: 'enroll pod IPs such as 10.244.1.5 (no port, no prefix length)',
  });
}

function replaceTable(table: string): string[] {
  // `add` first so `delete` never fails: create-or-replace in one transaction.
  return [`add table inet ${table}`, `delete table inet ${table}`];
}

function sets(enrolled: EnrolledAddresses): string[] {
  const set = (name: string, type: string, elements: readonly string[]): string =>
    `  set ${name} { type ${type};${elements.length > 0 ? ` elements = { ${elements.join(', ')} };` : ''} }`;
  return [set('enrolled4', 'ipv4_addr', enrolled.v4), set('enrolled6', 'ipv6_addr', enrolled.v6)];
}

function forwardGuard(): string[] {
  return [
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    meta l4proto tcp ip saddr @enrolled4 drop',
    '    meta l4proto tcp ip daddr @enrolled4 drop',
    '    meta l4proto tcp ip6 saddr @enrolled6 drop',
    '    meta l4proto tcp ip6 daddr @enrolled6 drop',
    '  }',
  ];
}

function ruleSelector(): string[] {
  return ['pref', String(CAPTURE_RULE_PRIORITY), 'fwmark', `${hex(CAPTURE_MARK)}/${hex(CAPTURE_MARK)}`, 'lookup', String(CAPTURE_ROUTE_TABLE)];
}

function parseRules(json: string): { table?: string; fwmark?: string; fwmask?: string }[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed as { table?: string; fwmark?: string; fwmask?: string }[] : [];
  } catch {
    return [];
  }
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

function validateTable(table: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(table)) {
    throw new AmbitError('invalid-config', `capture table name ${JSON.stringify(table)} is not a plain nftables identifier`, {
      hint: `use letters, digits, '-' and '_' (default ${DEFAULT_CAPTURE_TABLE})`,
    });
  }
  return table;
}

function validatePorts(ports: CapturePorts): CapturePorts {
  for (const key of ['outbound', 'inboundPlaintext', 'hbone'] as const) {
    const port = ports[key];
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new AmbitError('invalid-config', `capture port ${key}=${String(port)} is not a TCP port`, { hint: 'use 1-65535 (defaults 15001, 15006, 15008)' });
    }
  }
  if (new Set([ports.outbound, ports.inboundPlaintext, ports.hbone]).size !== 3) {
    throw new AmbitError('invalid-config', `capture ports must differ (outbound ${ports.outbound}, inboundPlaintext ${ports.inboundPlaintext}, hbone ${ports.hbone})`);
  }
  return { ...ports };
}

/** The default runner: spawn, feed stdin, collect output. */
export function runCommand(command: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => { /* the exit code reports what went wrong */ });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
    child.stdin.end(input ?? '');
  });
}
