// The README's command blocks, run verbatim (root only): the first ```sh
// block under "## Walkthrough" and the one under "### Your own workloads".
// Each is split into commands (a heredoc stays with its command); each runs
// in bash with `ambit` on the PATH and AMBIT_STATE_DIR pointing at the
// test's own mesh, and its output and exit code are checked against the
// block's steps below. README and steps must list the same commands in the
// same order, so the README cannot drift from the product.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, netnsSkipReason } from '../support/netns.js';

const skip = netnsSkipReason('netns/walkthrough');
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface Step {
  /** The command's first line as the README has it, without its comment. */
  command: string;
  code: number;
  out?: RegExp[];
  not?: RegExp[];
  /** What to check afterwards on the parsed output (beyond the patterns). */
  verify?: (out: string) => void;
  /** Before running: wait until this holds (what a reader's pace between two pastes gives for free). */
  settle?: () => Promise<void>;
}

const TD = 'spiffe://cluster.local';

/** Parses the first block under `heading` into commands: one per line, a heredoc's body kept with its line. */
function blockCommands(readme: string, heading: string): string[] {
  const at = readme.indexOf(`\n${heading}\n`);
  const block = at < 0 ? undefined : /```sh\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
  if (block === undefined) throw new Error(`README has no \`\`\`sh block under "${heading}"`);
  const commands: string[] = [];
  const lines = block.split('\n').filter((line) => line.trim() !== '');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /<<'?(\w+)'?/.exec(line)?.[1];
    if (heredoc === undefined) {
      commands.push(line);
      continue;
    }
    const body: string[] = [line];
    while (++i < lines.length && lines[i] !== heredoc) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`README ${heading}: heredoc ${heredoc} is not closed`);
    commands.push([...body, heredoc].join('\n'));
  }
  return commands;
}

/** A command's first line without its trailing comment, spaces collapsed. */
function headOf(command: string): string {
  return (command.split('\n')[0] ?? '').replace(/\s+#.*$/, '').replace(/\s+/g, ' ').trim();
}

type Bash = (command: string, timeoutMs?: number) => Promise<{ code: number; out: string }>;

const WALKTHROUGH = (bash: Bash, proxiesSynced: () => Promise<void>): Step[] => [
  {
    command: 'ambit exec demo/client -- ambit-client http http://echo.demo/', code: 0,
    out: [/"status":200/, /"pod":"echo-v[12]"/], not: [/x-forwarded-client-cert/],
  },
  { command: 'ambit ztunnel connections', code: 0, out: [/^NODE\s+DIRECTION\s+SOURCE\s+DESTINATION\s+SECURITY\s+PEER\s+STATE\s+AGE\n$/] },
  { command: 'ambit namespace enroll demo --wait', code: 0, out: [/namespace\/demo enrolled/, /all 3 pod\(s\) of demo show protocol HBONE/] },
  { command: 'ambit exec demo/client -- ambit-client http http://echo.demo/', code: 0, out: [/"status":200/] },
  {
    command: 'ambit ztunnel connections', code: 0,
    out: [
      new RegExp(`node-1\\s+outbound\\s+10\\.244\\.1\\.2:\\d+\\s+10\\.96\\.\\d+\\.\\d+:80\\s+mutual_tls\\s+${TD}/ns/demo/sa/echo\\s+closed`),
      new RegExp(`inbound\\s+10\\.244\\.1\\.2(:\\d+)?\\s+10\\.244\\.\\d+\\.\\d+:8080\\s+mutual_tls\\s+${TD}/ns/demo/sa/client\\s+closed`),
    ],
  },
  {
    command: 'ambit waypoint apply -n demo --enroll-namespace --wait', code: 0,
    out: [/waypoint demo\/waypoint applied/, /namespace\/demo labelled ambit\.dev\/use-waypoint=waypoint/, /waypoint demo\/waypoint programmed: /],
  },
  {
    command: 'ambit exec demo/client -- ambit-client http http://echo.demo/', code: 0,
    out: [new RegExp(`"x-forwarded-client-cert":"By=${TD}/ns/demo/sa/waypoint;URI=${TD}/ns/demo/sa/client"`)],
  },
  { command: "cat <<'YAML' | ambit apply -f -", code: 0, out: [/^httproute\/echo-split created\nauthorizationpolicy\/echo-read-only created\n$/] },
  {
    command: 'ambit exec demo/client -- ambit-client http http://echo.demo/ --count 20 --summary', code: 0, settle: proxiesSynced,
    out: [/^20 request\(s\): 200 ×20; answered by echo-v1 ×\d+(, echo-v2 ×\d+)?\n$/],
    verify: (out) => {
      // 90/10 weights: fewer than 13 of 20 on v1 happens by chance with p < 0.001, and half the time without the route.
      const v1 = Number(/echo-v1 ×(\d+)/.exec(out)?.[1]);
      assert.ok(v1 >= 13, `the split sends most requests to v1: ${out}`);
    },
  },
  {
    command: 'ambit exec demo/client -- ambit-client http http://echo.demo/ --method POST', code: 1,
    out: [/"status":403/, new RegExp(`RBAC: access denied: POST / from ${TD}/ns/demo/sa/client`)],
  },
  {
    command: 'ambit explain demo/client http://echo.demo/ --method POST', code: 1,
    out: [/ztunnel node-\d\s+service demo\/echo uses waypoint demo\/waypoint: HBONE \(mTLS\)/, /waypoint demo\/waypoint\s+× denies POST \/ with 403: no ALLOW policy matches/, /\n× denied\n$/],
  },
  {
    command: 'ambit logs waypoint -n demo --tail 1', code: 0,
    out: [/^\{"level":"info".*"app":"waypoint".*"component":"access".*"method":"POST".*"status":403.*"response_flags":"DENY".*"msg":"request complete"\}\n$/],
    // The waypoint writes its access lines at least once a second.
    settle: async () => {
      await eventually(async () => /"method":"POST".*"status":403/.test((await bash('ambit logs waypoint -n demo --tail 1')).out) || undefined, 'the POST logged', 10_000);
    },
  },
  { command: 'ambit waypoint list -A', code: 0, out: [/NAMESPACE\s+NAME\s+TRAFFIC-TYPE\s+PROGRAMMED\ndemo\s+waypoint\s+service\s+True\n/] },
  { command: 'ambit get httproutes -n demo', code: 0, out: [/echo-split\s+Accepted/] },
  { command: 'ambit get authorizationpolicies -n demo', code: 0, out: [/echo-read-only\s+Accepted/] },
  {
    command: 'ambit ztunnel workloads', code: 0,
    out: [/NAMESPACE\s+POD\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL/, /demo\s+client\s+10\.244\.1\.2\s+node-1\s+\S+\s+HBONE/, /demo\s+echo-v2\s+10\.244\.2\.\d+\s+node-2\s+\S+\s+HBONE/],
  },
  {
    command: 'ambit status', code: 0,
    out: [/Control plane: local backend, ready/, /node-1\s+yes/, /node-2\s+yes/, /demo\s+yes\s+3\/3 \(\+1 opted out\)\s+waypoint\s+True/],
    not: [/‼/],
  },
  { command: 'ambit proxy-status', code: 0, out: [/ztunnel\/node-1\s+ztunnel\s+SYNCED/, /ztunnel\/node-2\s+ztunnel\s+SYNCED/, /waypoint\/demo\/waypoint\s+waypoint\s+SYNCED/] },
  {
    command: 'ambit check', code: 0, settle: proxiesSynced,
    out: [/✔ control plane is reachable and ready/, /✔ waypoint demo\/waypoint is programmed/, /✔ policy demo\/echo-read-only is accepted/, /Status check results are ✔/],
    not: [/×/],
  },
  { command: 'ambit ztunnel stop --node node-2', code: 0, out: [/ztunnel on node-2 stopped/] },
  {
    command: 'ambit check', code: 1,
    out: [/× ztunnel on node-2 is running and ready\n\s+its admin socket does not answer/, /see: start it again with `ambit up`/, /Status check results are × \(\d+ failed\)/],
  },
  { command: 'ambit up', code: 0, out: [/✔ local cluster found in /, /✔ ztunnel on node-2 ready/] },
  { command: 'ambit down', code: 0, out: [/✔ stopped \d+ process\(es\), removed \d+ network namespace\(s\)/, /✔ removed /] },
];

let netnsBefore = 0;
const netnsCount = (): number => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line !== '').length;

const OWN_WORKLOADS = (bash: Bash, proxiesSynced: () => Promise<void>): Step[] => [
  { command: 'ambit up', code: 0, out: [/✔ local cluster (with \d+ node\(s\) created|found) in /, /✔ kubelet running/] },
  { command: "cat <<'YAML' | ambit apply -f -", code: 0, out: [/^namespace\/shop created\ndeployment\/api created\nservice\/api created\npod\/shell created\n$/] },
  {
    command: 'ambit get pods -n shop', code: 0,
    // What a reader's pace gives: the kubelet starts them within a second or two.
    settle: async () => {
      await eventually(async () => {
        const result = await bash('ambit get pods -n shop -o json');
        const pods = result.code === 0 ? (JSON.parse(result.out) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items : [];
        return pods.length === 3 && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
      }, 'the shop pods ready', 30_000);
    },
    out: [/^NAME\s+STATUS\s+AGE\napi-[0-9a-f]{8}-0\s+Running\s+\S+\napi-[0-9a-f]{8}-1\s+Running\s+\S+\nshell\s+Running\s+\S+\n$/],
  },
  {
    command: 'ambit exec shop/shell -- ambit-client http http://api.shop/', code: 0,
    settle: async () => {
      await eventually(async () => /shell\s+\S+\s+node-\d\s+\S+\s+HBONE/.test((await bash('ambit ztunnel workloads')).out) || undefined, 'shell in the mesh', 30_000);
    },
    out: [/"status":200/, /"pod":"api-[0-9a-f]{8}-[01]","namespace":"shop"/],
  },
  { command: 'ambit exec demo/client -- ambit-client http http://api.shop/', code: 0, out: [/"status":200/, /"namespace":"shop"/] },
  { command: "cat <<'YAML' | ambit apply -f -", code: 0, out: [/^peerauthentication\/strict created\n$/] },
  {
    command: 'ambit exec demo/client -- ambit-client http http://api.shop/', code: 1, out: [/"error":/], not: [/"status":200/],
    settle: proxiesSynced,
  },
  {
    command: 'ambit explain demo/client http://api.shop/', code: 1,
    out: [/from demo\/client \(\S+ on node-\d\), not enrolled/, /kube-proxy\s+service shop\/api: one of 2 ready endpoint\(s\)/,
      /ztunnel node-\d\s+× refuses: plaintext client \S+ may not connect to shop\/api-[0-9a-f]{8}-[01] port \d+: policy shop\/peer-authentication-strict/, /\n× denied on every path \(2\)\n$/],
  },
  { command: 'ambit delete pod shell -n shop', code: 0, out: [/^pod\/shell deleted\n$/] },
  {
    command: 'ambit delete namespace shop', code: 0, out: [/^namespace\/shop deleted\n$/],
    settle: async () => {
      await eventually(async () => /no pod shop\/shell/.test((await bash('ambit exec shop/shell -- true')).out) || undefined, 'shell removed', 30_000);
      netnsBefore = netnsCount();
    },
    verify: () => assert.equal(netnsCount(), netnsBefore - 2, 'the network namespaces of both api pods are gone when delete returns'),
  },
  { command: 'ambit get pods -n shop', code: 0, out: [/^No pods found in namespace shop\.\n$/] },
];

/** Runs the first ```sh block under `heading` against a mesh of its own, checking each command against `steps`. */
function readmeBlock(heading: string, steps: (bash: Bash, proxiesSynced: () => Promise<void>) => Step[], options: { upFirst: boolean }): void {
  describe(`the README's "${heading.replace(/^#+ /, '')}" block, verbatim`, { skip }, () => {
    let base: string;
    let stateDir: string;
    let env: NodeJS.ProcessEnv;

    const bash: Bash = (command, timeoutMs = 180_000) => new Promise((resolve) => {
      execFile('bash', ['-c', command], { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, out: `${stdout}${stderr}` });
      });
    });

    /** Until every proxy has acknowledged the control plane's latest version. */
    async function proxiesSynced(): Promise<void> {
      await eventually(async () => {
        const result = await bash('ambit proxy-status -o json');
        const rows = result.code === 0 ? (JSON.parse(result.out) as { proxies: { synced: string }[] }).proxies : [];
        return rows.length > 0 && rows.every((r) => r.synced === 'SYNCED') ? true : undefined;
      }, 'every proxy synced', 30_000);
    }

    const STEPS = steps(bash, proxiesSynced);

    before(async () => {
      base = await mkdtemp(join(tmpdir(), 'ambit-walkthrough-'));
      stateDir = join(base, 'state');
      // `ambit` on the PATH, as scripts/up.sh puts it there (a symlink to the built bin).
      await mkdir(join(base, 'bin'));
      const bin = join(repoRoot, 'packages/cli/dist/bin/ambit.js');
      await chmod(bin, 0o755);
      await symlink(bin, join(base, 'bin', 'ambit'));
      env = { ...process.env, PATH: `${join(base, 'bin')}:${process.env.PATH ?? ''}`, AMBIT_STATE_DIR: stateDir, NO_COLOR: '1' };
    });

    after(async () => {
      if (existsSync(stateDir)) {
        const id = (JSON.parse(await readFile(join(stateDir, 'cluster.json'), 'utf8').catch(() => '{}')) as { id?: string }).id;
        const down = await bash('ambit down');
        assert.equal(down.code, 0, down.out);
        if (id !== undefined) assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, new RegExp(`ambit-${id}-`));
      }
      await rm(base, { recursive: true, force: true });
    });

    it('README and test list the same commands', async () => {
      const commands = blockCommands(await readFile(join(repoRoot, 'README.md'), 'utf8'), heading);
      assert.deepEqual(commands.map(headOf), STEPS.map((s) => s.command),
        `the README block under "${heading}" changed: bring its steps in test/netns/walkthrough.test.ts in line with it`);
    });

    it('every command of the block does what the README says', async () => {
      if (options.upFirst) {
        // What `bash scripts/up.sh` ends with (the script also installs tools and builds: done already here).
        const up = await bash('ambit up');
        assert.equal(up.code, 0, up.out);
        assert.match(up.out, /✔ demo workloads in namespace demo answering/);
      }
      const commands = blockCommands(await readFile(join(repoRoot, 'README.md'), 'utf8'), heading);
      for (const [index, command] of commands.entries()) {
        const step = STEPS[index];
        assert.ok(step !== undefined && headOf(command) === step.command, `step ${index + 1}: README and steps differ`);
        await step.settle?.();
        const result = await bash(command);
        const what = `step ${index + 1} \`${step.command}\` printed:\n${result.out}`;
        assert.equal(result.code, step.code, what);
        for (const pattern of step.out ?? []) assert.match(result.out, pattern, what);
        for (const pattern of step.not ?? []) assert.doesNotMatch(result.out, pattern, what);
        step.verify?.(result.out);
      }
      if (STEPS.at(-1)?.command === 'ambit down') assert.ok(!existsSync(stateDir), 'ambit down removed the state');
    });
  });
}

readmeBlock('## Walkthrough', WALKTHROUGH, { upFirst: true });
readmeBlock('### Your own workloads', OWN_WORKLOADS, { upFirst: false });
