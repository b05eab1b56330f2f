// The performance suite (issue 8): every benchmark of the mesh in one run —
// the ztunnel cluster benchmark (L4 throughput, HTTP at several open-loop
// rates, closed-loop maximum, new connections per second, memory with
// connections held), the waypoint benchmark (against HAProxy doing the same
// job) and the control plane at 1k and 10k workloads — then one summary
// section with issue 8's targets. Each part runs as its own process and
// writes into a scratch copy of docs/performance.md and a scratch results
// directory; only when every part succeeded are the page and the JSON files
// replaced, so the page never mixes figures of different runs.
//
//   pnpm build && pnpm bench:suite          # = node test/dist/bench/suite.js (about 16 minutes; root)
//   node test/dist/bench/suite.js --quick   # smoke run of every part (about 4 minutes); prints only
//
// Options: --help (OPTIONS below) and test/bench/README.md.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, positiveInt, shouldWrite, usage, UsageError, wantsHelp } from './args.js';
import { exitWith, progressLog } from './cluster-run.js';
import { benchFiles, writeJson, writeSection } from './report.js';
import { markdownSection, verdicts, type SuiteParts, type SuiteReport } from './suite-report.js';

const log = progressLog('suite');
const HERE = fileURLToPath(new URL('./', import.meta.url));
const PARTS = ['mesh', 'waypoint', 'control-plane'] as const;
type Part = (typeof PARTS)[number];
const SCRIPTS: Record<Part, string> = { mesh: 'mesh.js', waypoint: 'waypoint.js', 'control-plane': 'control-plane.js' };

interface Options {
  quick: boolean;
  write: boolean;
  reportOnly: boolean;
  /** Passed to the mesh and waypoint parts. */
  durationSeconds: number;
  repeat: number;
  rates: number[];
  /** The open-loop tests' settle window; the parts' default when absent. */
  settle: string | undefined;
  pinLoad: string | undefined;
  pinProxies: string | undefined;
  timeoutSeconds: number;
}

const OPTIONS = {
  quick: { type: 'boolean', default: false, help: 'every part\'s smoke run; prints only unless --write' },
  write: { type: 'boolean', help: 'replace docs/performance.md and the results JSON (the default unless --quick)' },
  'no-write': { type: 'boolean', help: 'print only' },
  'report-only': { type: 'boolean', default: false, help: 'measure nothing; render the summary again from the recorded JSON' },
  duration: { type: 'string', value: 'SECONDS', help: 'per test in the mesh and waypoint parts (default 6; 3 with --quick)' },
  repeat: { type: 'string', value: 'N', help: 'repetitions there (default 3; 1 with --quick)' },
  rates: { type: 'string', value: 'LIST', help: 'open-loop rates, must include 1000 (default 500,1000,2000)' },
  settle: { type: 'string', value: 'SECONDS', help: 'passed to the mesh and waypoint parts (default theirs, 3)' },
  'pin-load': { type: 'string', value: 'CPUS', help: 'passed to the mesh and waypoint parts (default: no pinning)' },
  'pin-proxies': { type: 'string', value: 'CPUS', help: 'passed to the mesh and waypoint parts (default: no pinning)' },
  timeout: { type: 'string', value: 'SECONDS', help: 'a part running past this is stopped and the suite fails (default 1500)' },
} as const;
const BENCH = { command: 'pnpm bench:suite', script: 'test/dist/bench/suite.js', readme: 'The suite (issue 8): one command for every figure in docs/performance.md' };

function parseOptions(argv: string[]): Options {
  const values = parseBenchArgs(argv, OPTIONS);
  const quick = values.quick;
  const rates = (values.rates ?? '500,1000,2000').split(',').map((r) => positiveInt('rates', r.trim(), 0));
  if (!rates.includes(1000)) throw new UsageError(`--rates ${values.rates} must include 1000: issue 8's latency targets are read at 1000 req/s`);
  return {
    quick,
    write: shouldWrite(values, quick),
    reportOnly: values['report-only'],
    durationSeconds: positiveInt('duration', values.duration, quick ? 3 : 6),
    repeat: positiveInt('repeat', values.repeat, quick ? 1 : 3),
    rates,
    settle: values.settle,
    pinLoad: values['pin-load'],
    pinProxies: values['pin-proxies'],
    timeoutSeconds: positiveInt('timeout', values.timeout, 1500),
  };
}

/** The command line of each part. */
function partArgs(part: Part, options: Options): string[] {
  const common = ['--write', ...(options.quick ? ['--quick'] : [])];
  if (part === 'control-plane') return [...common, ...(options.quick ? [] : ['--scales', 'small,large'])];
  const extraRates = options.rates.filter((r) => r !== 1000);
  return [
    ...common, '--duration', String(options.durationSeconds), '--repeat', String(options.repeat),
    ...(extraRates.length === 0 ? [] : ['--extra-rates', extraRates.join(',')]),
    ...(options.settle === undefined ? [] : ['--settle', options.settle]),
    ...(options.pinLoad === undefined ? [] : ['--pin-load', options.pinLoad]),
    ...(options.pinProxies === undefined ? [] : ['--pin-proxies', options.pinProxies]),
  ];
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(usage(BENCH, OPTIONS));
    return 0;
  }
  const options = parseOptions(argv);
  const final = { doc: benchFiles('suite').docFile, results: (part: string) => benchFiles(part).resultsFile };
  if (options.reportOnly) {
    const parts = await readParts((part) => final.results(part));
    const { summary: _old, ...previous } = JSON.parse(await readFile(final.results('suite'), 'utf8')) as SuiteReport & { summary: unknown };
    await writeSection(final.doc, markdownSection({ ...previous, parts }), { first: true });
    log(`rewrote the suite's section of ${final.doc} from the recorded results`);
    return 0;
  }
  if (process.getuid?.() !== 0) throw new Error('the suite needs root (network namespaces, veth pairs, nftables)');
  const started = Date.now();
  const scratch = await mkdtemp(join(os.tmpdir(), 'ambit-suite-'));
  try {
    const doc = join(scratch, 'performance.md');
    await copyFile(final.doc, doc).catch(() => undefined);
    const deadline = started + options.timeoutSeconds * 1000;
    const partSeconds: Record<string, number> = {};
    for (const part of PARTS) {
      const args = partArgs(part, options);
      log(`${part}: node ${SCRIPTS[part]} ${args.join(' ')}`);
      const t0 = Date.now();
      const code = await runPart(part, args, { AMBIT_BENCH_DOC: doc, AMBIT_BENCH_RESULTS_DIR: scratch }, deadline - Date.now());
      partSeconds[part] = (Date.now() - t0) / 1000;
      if (code !== 0) {
        log(`${part} failed (exit ${code}); nothing recorded`);
        return 1;
      }
    }
    const parts = await readParts((part) => join(scratch, `${part}.json`));
    const report: SuiteReport = {
      date: new Date().toISOString(),
      command: `node test/dist/bench/suite.js ${process.argv.slice(2).join(' ')}`.trim(),
      wallSeconds: (Date.now() - started) / 1000,
      partSeconds,
      options: { durationSeconds: options.durationSeconds, repeat: options.repeat, rates: options.rates, pinLoad: options.pinLoad, pinProxies: options.pinProxies },
      parts,
    };
    const section = markdownSection(report);
    console.log(`\n${section}`);
    for (const v of verdicts(report)) log(`target ${v.label}: ${v.met === undefined ? 'not measured' : v.met ? 'met' : 'MISSED'} (${v.detail})`);
    if (!options.write) {
      log('not written (smoke run); pass --write to record it');
      return 0;
    }
    await writeSection(doc, section, { first: true });
    const { parts: _parts, ...own } = report;
    await writeJson(join(scratch, 'suite.json'), own);
    for (const name of [...PARTS, 'suite']) await copyFile(join(scratch, `${name}.json`), final.results(name));
    await copyFile(doc, final.doc);
    log(`wrote ${final.doc} and the results of every part (${[...PARTS, 'suite'].map((p) => `${p}.json`).join(', ')})`);
    return 0;
  } finally {
    await rm(scratch, { recursive: true, force: true });
    log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  }
}

async function readParts(file: (part: Part) => string): Promise<SuiteParts> {
  const read = async (part: Part): Promise<unknown> => JSON.parse(await readFile(file(part), 'utf8')) as unknown;
  return { mesh: await read('mesh'), waypoint: await read('waypoint'), controlPlane: await read('control-plane') } as SuiteParts;
}

/** Runs one part with its output passed through; killed (its process group) past `timeoutMs` or when the suite is interrupted. */
function runPart(part: Part, args: string[], env: Record<string, string>, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, SCRIPTS[part]), ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
    // The parts clean up on SIGTERM themselves (and stop their own children).
    const stop = (): void => { child.kill('SIGTERM'); };
    const timer = setTimeout(() => {
      log(`${part}: past the suite's --timeout; stopping it`);
      stop();
    }, Math.max(1, timeoutMs));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

exitWith(main, log);
