// Preloaded into the mesh's Node processes by the mesh benchmark
// (NODE_OPTIONS=--import=<this file>) so it can ask a running ztunnel where
// its memory is: on SIGUSR2 the process writes one JSON line to stderr (its
// log file) with process.memoryUsage() and V8's heap spaces, before and after
// a full garbage collection, and, when AMBIT_BENCH_HEAP_SNAPSHOT_DIR is set,
// writes a heap snapshot there. Nothing else changes in the process.
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
let dumps = 0;

function spaces(): Record<string, number> {
  return Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
}

process.on('SIGUSR2', () => {
  dumps++;
  const before = { memory: process.memoryUsage(), spaces: spaces() };
  gc();
  const after = { memory: process.memoryUsage(), spaces: spaces() };
  const dir = process.env.AMBIT_BENCH_HEAP_SNAPSHOT_DIR;
  const snapshot = dir === undefined || dir === '' ? undefined : v8.writeHeapSnapshot(join(dir, `${process.pid}-${dumps}.heapsnapshot`));
  process.stderr.write(`${JSON.stringify({ memdump: dumps, pid: process.pid, before, afterGc: after, snapshot })}\n`);
});
