// A kubeconfig for a test API server (plain http, no credentials), so a
// component under test loads its cluster the way it would in production.
import { writeFile } from 'node:fs/promises';

export async function writeKubeconfig(path: string, server: string): Promise<string> {
  await writeFile(path, [
    'apiVersion: v1', 'kind: Config', 'current-context: test',
    `clusters: [{name: test, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
    'users: [{name: test, user: {}}]',
    'contexts: [{name: test, context: {cluster: test, user: test}}]', '',
  ].join('\n'));
  return path;
}
