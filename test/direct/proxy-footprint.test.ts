// What the proxies load. Every module a ztunnel or waypoint imports stays in
// its memory for life, and their RSS is budgeted (issue 8,
// docs/performance.md): zod alone costs a process ~12 MB, so only the
// control plane may load it. Each check runs a fresh Node with a resolve
// hook that fails the import when a forbidden package is resolved; the
// control plane, which does load zod, shows the hook catches it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEST_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url)))); // test/dist/direct → test

const HOOK = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (/\\/node_modules\\/(\\.pnpm\\/[^/]+\\/node_modules\\/)?zod\\//.test(result.url)) {
    throw new Error('FORBIDDEN ' + specifier + ' imported by ' + context.parentURL);
  }
  return result;
}`;

function load(entry: string): { status: number | null; output: string } {
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));
    await import(${JSON.stringify(entry)});
    console.log('LOADED');`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: TEST_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('proxy footprint: modules the proxies must not load', () => {
  for (const entry of ['@ambit/ztunnel', '@ambit/waypoint', '@ambit/cp-client', '@ambit/api']) {
    it(`${entry} loads without zod`, () => {
      const { status, output } = load(entry);
      assert.equal(status, 0, output);
      assert.match(output, /LOADED/);
    });
  }

  it('the check sees zod where it is loaded (the control plane)', () => {
    const { status, output } = load('@ambit/control-plane');
    assert.notEqual(status, 0);
    assert.match(output, /FORBIDDEN zod/);
  });
});
