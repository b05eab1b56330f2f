// `ambit exec NS/POD -- CMD...`: runs a command inside a pod of the local
// cluster, with the terminal attached, and exits with its code. The sample
// programs `ambit-client` and `ambit-echo` are found without a PATH. In the
// loopback mode the command runs on the host with the pod's environment:
// ALL_PROXY=socks5h://<pod IP>:15080 puts it in the mesh as that pod (curl
// and ambit-client honour it).
import { spawn } from 'node:child_process';
import { BINS } from '@ambit/localcluster';
import { usage } from '../errors.js';
import { openLocal } from '../context.js';

const SAMPLES: Record<string, string> = { 'ambit-client': BINS.client, 'ambit-echo': BINS.echo };

export async function exec(stateDir: string, pod: string, command: readonly string[]): Promise<number> {
  if (!/^[^/]+\/[^/]+$/.test(pod)) usage(`${pod} is not NAMESPACE/POD`, 'e.g. ambit exec demo/client -- ambit-client http http://echo.demo/');
  if (command.length === 0) usage('exec needs a command after --', 'e.g. ambit exec demo/client -- ambit-client http http://echo.demo/');
  const local = await openLocal(stateDir);
  try {
    const { netns, env } = local.cluster.where(pod as `${string}/${string}`);
    const [program, ...args] = command as [string, ...string[]];
    const sample = SAMPLES[program];
    const argv = sample === undefined ? [program, ...args] : [process.execPath, sample, ...args];
    // Loopback pods share the host's network (netns ''): the command runs here, with the pod's environment (ALL_PROXY).
    const [file, ...rest] = netns === '' ? argv as [string, ...string[]] : ['ip', 'netns', 'exec', netns, ...argv];
    const child = spawn(file, rest, { stdio: 'inherit', env: { ...process.env, ...env } });
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    });
  } finally {
    await local.close();
  }
}
