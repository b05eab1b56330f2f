// Runs every compiled test with node's test runner: unit tests beside the
// code (packages/*/dist/**/*.test.js) and the cross-package suites
// (test/dist/{direct,netns,kube}/**/*.test.js). Arguments narrow the set:
//   node scripts/run-tests.mjs hbone direct/pool
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = [
  ...readdirSync('packages').map((p) => join('packages', p, 'dist')),
  ...['direct', 'netns', 'kube'].map((s) => join('test', 'dist', s)),
];
const filters = process.argv.slice(2);
const files = roots
  .filter((root) => existsSync(root))
  .flatMap((root) => readdirSync(root, { recursive: true }).map((f) => join(root, String(f))))
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}; did the build run?`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-timeout=300000', ...files],
  { stdio: 'inherit', env: { ...process.env, AMBIT_REPO_ROOT: process.cwd() } },
);
process.exit(result.status ?? 1);
