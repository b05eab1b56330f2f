import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWith } from '@ambit/core/testing';
import { parseBootstrapToken, readBootstrapToken, readRoots, resolveControlPlane } from './bootstrap.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('bootstrap token file', () => {
  it('reads the local node and workload formats and a bare token', () => {
    assert.equal(parseBootstrapToken('node node-1\nabc123\n'), 'abc123');
    assert.equal(parseBootstrapToken('workload spiffe://cluster.local/ns/demo/sa/waypoint\nxyz789\n'), 'xyz789');
    assert.equal(parseBootstrapToken('eyJhbGciOi.x.y\n'), 'eyJhbGciOi.x.y');
  });
  it('refuses an empty file', () => {
    assert.throws(() => parseBootstrapToken('\n\n', 'token.txt'), /token\.txt holds no bootstrap token/);
  });
});

describe('bootstrap inputs from files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-bootstrap-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads roots and the token, and names the setting when a file is missing or empty', async () => {
    await writeFile(join(dir, 'roots.pem'), PEM + PEM);
    assert.equal((await readRoots(join(dir, 'roots.pem'))).length, 2);
    await writeFile(join(dir, 'token'), 'node node-1\nabc123\n');
    assert.equal(await readBootstrapToken(join(dir, 'token')), 'abc123');
    await rejectsWith(readRoots(join(dir, 'missing.pem')), 'invalid-config', /ca-root-file .*missing\.pem cannot be read: ENOENT/);
    await writeFile(join(dir, 'empty.pem'), '');
    await rejectsWith(readRoots(join(dir, 'empty.pem')), 'invalid-config', /holds no PEM certificate/);
    await rejectsWith(readBootstrapToken(join(dir, 'missing')), 'issuance-failed', /bootstrap-token-file .*missing cannot be read/);
  });

  it('keeps an IP control-plane address as is', async () => {
    const address = await resolveControlPlane({ host: '10.0.0.2', port: 15012 });
    assert.deepEqual([address.ip, address.port], ['10.0.0.2', 15012]);
  });
});
