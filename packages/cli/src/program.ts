// The `ambit` command line (commander). Verbs and flags follow kubectl and
// istioctl. Every action prints what it did; failures go through
// describeFailure (one sentence, a hint; exit 1, or 2 for usage).
import { Command, CommanderError, Option } from 'commander';
import { AmbitError, parseDurationMs } from '@ambit/core';
import { contextOf, openBackend, openLocal, stateDirOf, type Backend, type ContextOptions, type KubeContext, type LocalContext } from './context.js';
import { describeFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, usage } from './errors.js';
import { outputFormat, render } from './output.js';
import { checkMesh, checkPre, formatChecks } from './commands/check.js';
import { checkPreCluster } from './commands/check-cluster.js';
import { DEFAULT_MANIFESTS, install, uninstall } from './commands/install.js';
import { down } from './commands/down.js';
import { exec } from './commands/exec.js';
import { explain, type ZtunnelDump, type WaypointDump } from './commands/explain.js';
import { label, parseLabelChanges } from './commands/label.js';
import { logs, logsOptions } from './commands/logs.js';
import { namespaceRemoved, setEnrollment } from './commands/namespace.js';
import { apply, get, kindOf, readManifests, remove } from './commands/resources.js';
import { up } from './commands/up.js';
import { kubeView, localView, waypointJson, ztunnelJson, type MeshView } from './mesh-view.js';
import { meshStatus, proxyStatus, stopZtunnel, ztunnelView, ZTUNNEL_VIEWS } from './commands/inspect.js';
import { applyWaypoint, deleteWaypoint, listWaypoints, WAYPOINT_FOR, waypointStatus } from './commands/waypoint.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Output goes to a terminal: progress may animate. */
  tty?: boolean;
  /** Ends what runs until stopped (`logs --follow`); the bin has none: Ctrl-C ends the process. */
  signal?: AbortSignal;
}

const PROCESS_IO: Io = {
  out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), tty: process.stdout.isTTY === true,
};

const DEFAULT_WAIT = '60s';

/** Runs one command line; resolves with the exit code. */
export async function run(argv: readonly string[], io: Io = PROCESS_IO): Promise<number> {
  let code = EXIT_OK;
  const program = build(io, (value) => { code = value; });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    const failure = describeFailure(error, argv.includes('--debug'));
    io.err(failure.text);
    return failure.code;
  }
}

function build(io: Io, setCode: (code: number) => void): Command {
  const program = new Command('ambit')
    .description('Ambit: an ambient-mode service mesh. The local mesh runs on this machine (network namespaces; needs root).')
    .option('--state-dir <dir>', 'the local mesh state directory (default $AMBIT_STATE_DIR, else /var/lib/ambit for root and ~/.local/state/ambit for other users)')
    .option('--context <context>', 'local (the local mesh, default) or kube (a Kubernetes cluster)')
    .option('--kubeconfig <file>', 'the cluster\'s kubeconfig (implies --context kube; default $KUBECONFIG or ~/.kube/config)')
    .option('--debug', 'show stack traces on errors')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: (text) => io.err(text.startsWith('error:') ? `ambit: ${text.slice(7)}` : text) })
    .showHelpAfterError('(run with --help for usage)');
  const stateDir = (): string => stateDirOf(program.opts<{ stateDir?: string }>());
  const lines = (text: readonly string[]): void => { for (const line of text) io.out(`${line}\n`); };
  const globals = (): ContextOptions => program.opts<ContextOptions>();
  /** Commands that only read and write objects: the local mesh or a cluster. */
  const withBackend = async <T>(action: (backend: Backend) => Promise<T>): Promise<T> => {
    const backend = await openBackend({ ...globals(), stateDir: stateDir() });
    try {
      return await action(backend);
    } finally {
      await backend.close();
    }
  };
  /** Commands that act on this machine: the local mesh only. */
  const requireLocal = (command: string, why: string): void => {
    if (contextOf(globals()) === 'kube') {
      throw new AmbitError('unavailable', `\`ambit ${command}\` works on the local mesh only: ${why}`, {
        hint: 'drop --context kube / --kubeconfig to use the local mesh',
      });
    }
  };
  /** Commands that read the proxies and the control plane: the local mesh, or a cluster through port-forward. */
  const withView = async <T>(action: (view: MeshView, backend: Backend, local: LocalContext | undefined) => Promise<T>): Promise<T> => withBackend((backend) => (
    backend.context === 'local'
      ? action(localView(backend as LocalContext), backend, backend as LocalContext)
      : action(kubeView(backend as KubeContext), backend, undefined)
  ));
  const withLocal = async <T>(action: (local: LocalContext) => Promise<T>, command: string, why: string): Promise<T> => {
    requireLocal(command, why);
    const local = await openLocal(stateDir());
    try {
      return await action(local);
    } finally {
      await local.close();
    }
  };
  const waitMs = (value: string | boolean | undefined): number | undefined => {
    if (value === undefined || value === false) return undefined;
    return parseDuration(value === true ? DEFAULT_WAIT : value);
  };

  program.command('up')
    .description('build the local cluster, start the control plane, a ztunnel per node and the demo workloads')
    .option('--nodes <n>', 'number of nodes', '2')
    .option('--no-demo', 'skip the demo workloads')
    .option('--loopback', 'the loopback mode: no root, no network namespaces, no capture; pods use their ztunnel as a SOCKS5 proxy')
    .action(async (options: { nodes: string; demo: boolean; loopback?: boolean }) => {
      requireLocal('up', 'it builds the mesh on this machine');
      const nodes = Number(options.nodes);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 8) usage(`--nodes ${options.nodes} is not a number from 1 to 8`);
      await up({
        stateDir: stateDir(), nodes, demo: options.demo, loopback: options.loopback === true,
        out: (line) => io.out(`${line}\n`), spinner: io.tty === true,
      });
    });

  /** Commands that act on a Kubernetes cluster only. */
  const withKube = async <T>(command: string, action: (store: KubeContext['store']) => Promise<T>): Promise<T> => {
    if (contextOf(globals()) !== 'kube') {
      throw new AmbitError('unavailable', `\`ambit ${command}\` acts on a Kubernetes cluster`, {
        hint: `pass --kubeconfig FILE or --context kube (which reads $KUBECONFIG or ~/.kube/config); for this machine, use \`ambit ${command === 'install' ? 'up' : 'down'}\``,
      });
    }
    return withBackend((backend) => action((backend as KubeContext).store));
  };

  program.command('install')
    .description('install Ambit on a Kubernetes cluster (server-side apply of deploy/; idempotent)')
    .option('--manifests <dir>', 'the Kustomize base to apply', DEFAULT_MANIFESTS)
    .option('--wait [duration]', `wait until the control plane and ztunnel are ready (default ${DEFAULT_WAIT})`)
    .action(async (options: { manifests: string; wait?: string | boolean }) => {
      const wait = waitMs(options.wait);
      await withKube('install', (store) => install(store, {
        manifests: options.manifests, out: (line) => io.out(`${line}\n`), ...(wait === undefined ? {} : { waitMs: wait }),
      }));
    });

  program.command('uninstall')
    .description('remove Ambit from a Kubernetes cluster; namespaces keep their labels unless --remove-labels')
    .option('--manifests <dir>', 'the Kustomize base that was applied', DEFAULT_MANIFESTS)
    .option('--force', 'also delete users\' waypoints (Gateways of class ambit-waypoint) and AuthorizationPolicies')
    .option('--remove-labels', 'remove ambit.dev/dataplane-mode and ambit.dev/use-waypoint from every namespace')
    .option('--wait [duration]', `wait until everything deleted is gone (default ${DEFAULT_WAIT})`)
    .action(async (options: { manifests: string; force?: boolean; removeLabels?: boolean; wait?: string | boolean }) => {
      const wait = waitMs(options.wait);
      await withKube('uninstall', (store) => uninstall(store, {
        manifests: options.manifests, force: options.force === true, removeLabels: options.removeLabels === true,
        out: (line) => io.out(`${line}\n`), ...(wait === undefined ? {} : { waitMs: wait }),
      }));
    });

  program.command('down')
    .description('stop everything and remove every namespace, link, rule, process and the state')
    .option('--keep-state', 'keep the state directory (logs, store)')
    .action(async (options: { keepState?: boolean }) => {
      requireLocal('down', 'it removes the mesh on this machine');
      await down({ stateDir: stateDir(), keepState: options.keepState === true, out: (line) => io.out(`${line}\n`) });
    });

  program.command('exec')
    .description('run a command inside a pod of the local cluster')
    .argument('<pod>', 'NAMESPACE/POD')
    .argument('[command...]', 'the command, after --')
    .action(async (pod: string, command: string[]) => {
      requireLocal('exec', 'it enters pods of the local cluster (kubectl exec does this on a cluster)');
      setCode(await exec(stateDir(), pod, command));
    });

  const namespace = program.command('namespace').alias('ns').description('enroll namespaces in the mesh');
  for (const [verb, enrolled] of [['enroll', true], ['unenroll', false]] as const) {
    namespace.command(verb)
      .description(enrolled ? 'capture the namespace\'s traffic: mTLS with per-workload identities' : 'take the namespace out of the mesh')
      .argument('<namespace>')
      .option('--wait [duration]', `wait until every pod shows ${enrolled ? 'HBONE' : 'TCP'} in discovery (default ${DEFAULT_WAIT})`)
      .action(async (name: string, options: { wait?: string | boolean }) => {
        const wait = waitMs(options.wait);
        lines(await withView((view, backend) => setEnrollment(backend, view, name, enrolled, wait)));
      });
  }

  const waypoint = program.command('waypoint').alias('wp').description('deploy and inspect waypoints (the L7 proxies)');
  const output = (): Option => new Option('-o, --output <format>', 'table, json or yaml').default('table');
  waypoint.command('apply')
    .description('create or update a waypoint Gateway')
    .option('-n, --namespace <ns>', 'the namespace (required)')
    .option('--name <name>', 'the waypoint name', 'waypoint')
    .addOption(new Option('--for <type>', 'which traffic it handles').choices([...WAYPOINT_FOR]).default('service'))
    .option('--enroll-namespace', 'also label the namespace to use this waypoint')
    .option('--wait [duration]', `wait until it is programmed (default ${DEFAULT_WAIT})`)
    .action(async (options: { namespace?: string; name: string; for: string; enrollNamespace?: boolean; wait?: string | boolean }) => {
      const ns = required(options.namespace);
      const wait = withWait(waitMs(options.wait));
      lines(await withBackend((backend) => applyWaypoint(backend, {
        namespace: ns, name: options.name, for: options.for, enrollNamespace: options.enrollNamespace === true, ...wait,
      })));
    });
  waypoint.command('delete')
    .description('delete a waypoint Gateway (its pod and Service go with it)')
    .argument('[name]', 'the waypoint name', 'waypoint')
    .option('-n, --namespace <ns>', 'the namespace (required)')
    .action(async (name: string, options: { namespace?: string }) => {
      const ns = required(options.namespace);
      lines(await withBackend((backend) => deleteWaypoint(backend.store, ns, name)));
    });
  waypoint.command('list')
    .description('list waypoints: NAMESPACE NAME TRAFFIC-TYPE PROGRAMMED')
    .option('-n, --namespace <ns>', 'one namespace (default: default)')
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(output())
    .action(async (options: { namespace?: string; allNamespaces?: boolean; output: string }) => {
      const format = outputFormat(options.output);
      io.out(await withBackend((backend) => listWaypoints(backend.store, options.allNamespaces === true ? undefined : options.namespace ?? 'default', format)));
    });
  waypoint.command('status')
    .description('the waypoints\' conditions: NAME STATUS TYPE REASON MESSAGE')
    .argument('[name]')
    .option('-n, --namespace <ns>', 'the namespace (default: default)')
    .addOption(output())
    .action(async (name: string | undefined, options: { namespace?: string; output: string }) => {
      const format = outputFormat(options.output);
      io.out(await withBackend((backend) => waypointStatus(backend.store, options.namespace ?? 'default', name, format)));
    });

  program.command('status')
    .description('one screen: the control plane, each node\'s ztunnel, each namespace, warnings')
    .addOption(output())
    .action(async (options: { output: string }) => {
      const format = outputFormat(options.output);
      io.out(await withView((view) => meshStatus(view, format)));
    });
  program.command('check')
    .description('grouped health checks (✔ ‼ ×) with what to do; exit 0 only when nothing failed')
    .option('--pre', 'check this machine before `ambit up` (root, iproute2, nftables, kernel TPROXY)')
    .addOption(output())
    .action(async (options: { pre?: boolean; output: string }) => {
      const format = outputFormat(options.output);
      const results = options.pre !== true ? await withView((view, _backend, local) => checkMesh(view, local))
        : contextOf(globals()) === 'kube' ? await withBackend((backend) => checkPreCluster((backend as KubeContext).store))
          : checkPre();
      io.out(render(format, results, () => formatChecks(results)));
      if (results.some((r) => r.verdict === 'fail')) setCode(EXIT_FAILURE);
    });
  program.command('proxy-status')
    .description('every proxy the control plane pushes to: NAME ROLE SYNCED VERSION LAST-ACK')
    .addOption(output())
    .action(async (options: { output: string }) => {
      const format = outputFormat(options.output);
      io.out(await withView((view) => proxyStatus(view, format)));
    });
  program.command('explain')
    .description('what the mesh would do with a connection from a pod, hop by hop: proxies, identities, the policy that decides; exit 0 only when it is allowed on every path')
    .argument('<source>', 'the pod that connects: NAMESPACE/POD')
    .argument('<destination>', 'http://HOST[:PORT]/PATH, HOST[:PORT] (a service name as the pod resolves it, or an address) or NAMESPACE/POD:PORT')
    .option('--port <port>', 'the destination port (default: the URL\'s, or the service\'s only port)', (value) => portArgument(value))
    .option('-X, --method <method>', 'the HTTP method the waypoint judges and routes (default GET)')
    .option('--path <path>', 'the HTTP path and query (default: the URL\'s, else /)')
    .option('-H, --header <name:value>', 'a request header (repeatable)', (value, all: Record<string, string>) => headerArgument(value, all), {})
    .option('--tcp', 'explain a TCP connection that is not HTTP (the waypoint applies L4 rules only)')
    .addOption(output())
    .action(async (source: string, destination: string, options: { port?: number; method?: string; path?: string; header: Record<string, string>; tcp?: boolean; output: string }) => {
      const format = outputFormat(options.output);
      const { text, verdict } = await withView((view) => explain({
        pods: () => view.pods(),
        ztunnel: (node) => ztunnelJson<ZtunnelDump>(view, node, '/config_dump'),
        waypoint: (pod) => waypointJson<WaypointDump>(view, pod, '/config_dump'),
      }, {
        source, destination,
        ...(options.port === undefined ? {} : { port: options.port }),
        ...(options.method === undefined ? {} : { method: options.method }),
        ...(options.path === undefined ? {} : { path: options.path }),
        ...(Object.keys(options.header).length === 0 ? {} : { headers: options.header }),
        ...(options.tcp === true ? { tcp: true } : {}),
      }, format));
      io.out(text);
      if (verdict !== 'allowed') setCode(EXIT_FAILURE);
    });
  const ztunnel = program.command('ztunnel').description('what a node\'s ztunnel holds (its admin API)');
  for (const view of ZTUNNEL_VIEWS) {
    ztunnel.command(view)
      .description(`the ztunnel's ${view}`)
      .option('--node <node>', view === 'certificates' || view === 'connections' ? 'one node (default: every node)' : 'the node whose ztunnel answers (default: the first)')
      .addOption(output())
      .action(async (options: { node?: string; output: string }) => {
        const format = outputFormat(options.output);
        io.out(await withView((mesh) => ztunnelView(mesh, view, options.node, format)));
      });
  }

  ztunnel.command('stop')
    .description('stop a node\'s ztunnel (to see what breaks: its enrolled pods\' traffic is dropped, fail closed; `ambit up` starts it again)')
    .requiredOption('--node <node>', 'the node')
    .action(async (options: { node: string }) => {
      lines([await withLocal((local) => stopZtunnel(local, localView(local), options.node), 'ztunnel stop', 'it stops a process on this machine (on a cluster, the DaemonSet owns the ztunnels)')]);
    });

  program.command('logs')
    .description('what the mesh\'s proxies and a pod write: ztunnel [NODE], waypoint [NAME], control-plane, kubelet, NS/POD')
    .argument('<target>', `ztunnel, waypoint, control-plane, kubelet (the local mesh's), or a pod: NS/POD, or POD with -n`)
    .argument('[name]', 'the node (ztunnel; default every node) or the waypoint (waypoint; default every waypoint)')
    .option('-n, --namespace <ns>', 'the namespace of the pod or the waypoint (default: default for a pod or a named waypoint, else every namespace)')
    .option('-c, --container <name>', 'one container of the pod (default: each)')
    .option('-f, --follow', 'keep printing what is written (Ctrl-C ends)')
    .option('--tail <lines>', 'only the last lines of each log (default: all of one log, 10 of each of several)')
    .option('--since <duration>', 'only lines written in the last 30s, 5m, 1h, ... (on the local mesh, by each line\'s JSON time)')
    .option('--level <level>', 'only lines at this level or more severe: error, warn, info, debug (a line without a level counts as info)')
    .action(async (target: string, name: string | undefined, flags: { namespace?: string; container?: string; tail?: string; since?: string; follow?: boolean; level?: string }) => {
      const options = logsOptions(target, name, flags, parseDuration);
      await withView((view, backend) => logs(view, backend as LocalContext | KubeContext, options, io, io.signal));
    });

  program.command('apply')
    .description('create or update objects from a YAML/JSON file (- for stdin)')
    .requiredOption('-f, --filename <file>', 'the file')
    .option('-n, --namespace <ns>', 'the namespace of objects that name none (default: default)')
    .action(async (options: { filename: string; namespace?: string }) => {
      const objects = await readManifests(options.filename, options.namespace);
      lines(await withBackend((backend) => apply(backend.store, objects)));
    });
  program.command('get')
    .description('list or show objects of a kind')
    .argument('<kind>', 'e.g. httproutes, authorizationpolicies, gateways, pods')
    .argument('[name]')
    .option('-n, --namespace <ns>', 'the namespace (default: default)')
    .option('-A, --all-namespaces', 'every namespace')
    .addOption(new Option('-o, --output <format>', 'table, wide (pods\' IP and node, services\' selector), json or yaml').default('table'))
    .action(async (kindText: string, name: string | undefined, options: { namespace?: string; allNamespaces?: boolean; output: string }) => {
      const kind = kindOf(kindText);
      const wide = options.output === 'wide';
      const format = wide ? 'table' : outputFormat(options.output);
      io.out(await withBackend((backend) => get(backend.store, kind, {
        ...(name === undefined ? {} : { name }), ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
        all: options.allNamespaces === true, format, wide,
      })));
    });
  program.command('label')
    .description('set (KEY=VALUE) and remove (KEY-) labels of an object, as kubectl label does')
    .argument('<kind>', 'e.g. namespace, service, pod')
    .argument('<name>')
    .argument('<labels...>', 'KEY=VALUE to set a label, KEY- to remove it')
    .option('-n, --namespace <ns>', 'the namespace (default: default)')
    .option('--overwrite', 'change a label that already has another value')
    .action(async (kindText: string, name: string, args: string[], options: { namespace?: string; overwrite?: boolean }) => {
      const kind = kindOf(kindText);
      const changes = parseLabelChanges(args);
      const { result, notes } = await withBackend((backend) => label(backend.store, kind, name, options.namespace ?? 'default', changes, options.overwrite === true));
      for (const note of notes) io.err(`${note}\n`);
      lines([result]);
    });
  program.command('delete')
    .description('delete objects by kind and name, or those in a file')
    .argument('[kind]')
    .argument('[names...]')
    .option('-n, --namespace <ns>', 'the namespace (default: default)')
    .option('-f, --filename <file>', 'delete the objects a file describes')
    .option('--ignore-not-found', 'do not fail on objects that do not exist')
    .action(async (kindText: string | undefined, names: string[], options: { namespace?: string; filename?: string; ignoreNotFound?: boolean }) => {
      let targets: { kind: ReturnType<typeof kindOf>; name: string; namespace?: string }[];
      if (options.filename !== undefined) {
        targets = (await readManifests(options.filename, options.namespace)).map((o) => ({
          kind: kindOf(o.kind), name: o.metadata.name, ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
        }));
      } else {
        if (kindText === undefined || names.length === 0) usage('delete needs KIND NAME... or -f FILE', 'e.g. ambit delete httproute echo-split -n demo');
        const kind = kindOf(kindText);
        targets = names.map((name) => ({ kind, name, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) }));
      }
      lines(await withBackend(async (backend) => {
        const deleted = await remove(backend.store, targets, options.ignoreNotFound === true);
        // As kubectl waits for a namespace to finish terminating: here until the kubelet removed its pods.
        if (backend.context === 'local') {
          for (const target of targets) if (target.kind === 'Namespace') await namespaceRemoved(backend as LocalContext, target.name);
        }
        return deleted;
      }));
    });
  return program;
}

function portArgument(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) usage(`--port ${value} is not a port`, 'a port is 1 to 65535');
  return port;
}

function headerArgument(value: string, all: Record<string, string>): Record<string, string> {
  const colon = value.indexOf(':');
  if (colon <= 0) usage(`--header ${value} is not NAME:VALUE`, 'e.g. -H "x-version: v2"');
  return { ...all, [value.slice(0, colon).trim().toLowerCase()]: value.slice(colon + 1).trim() };
}

function withWait(ms: number | undefined): { waitMs?: number } {
  return ms === undefined ? {} : { waitMs: ms };
}

function required(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '') usage('-n/--namespace is required', 'e.g. -n demo');
  return namespace;
}

function parseDuration(value: string, flag = '--wait'): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) return usage(`${flag} ${value} is not a duration`, `e.g. ${flag} 90s or ${flag} 2m`);
  return ms;
}
