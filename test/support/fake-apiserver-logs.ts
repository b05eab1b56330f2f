// Pod logs for the test API server: GET /api/v1/namespaces/NS/pods/POD/log
// with container, tailLines, sinceSeconds and follow, answered in text/plain
// as the kubelet answers behind the real API server (tail first, then the
// since filter; 400 naming the containers when the pod has several and none
// is named, or the named one is not the pod's). What a container "writes" is
// what a test (or the fake kubelet, for the proxies it runs in-process)
// writes to `destination(...)`; every line is stamped with the time it came,
// as the container runtime stamps them.
import type http from 'node:http';
import { statuses, type Json } from './kube-semantics.js';

interface Line { at: number; text: string }
interface ContainerLog { lines: Line[]; followers: Set<http.ServerResponse> }

export class FakePodLogs {
  private readonly logs = new Map<string, ContainerLog>();

  /** A pino destination (or anything writing text) whose lines become the container's log. */
  destination(namespace: string, pod: string, container: string): { write(text: string): void } {
    const log = this.log(namespace, pod, container);
    let partial = '';
    return {
      write: (text) => {
        const parts = (partial + text).split('\n');
        partial = parts.pop() ?? '';
        for (const part of parts) {
          const line = `${part}\n`;
          log.lines.push({ at: Date.now(), text: line });
          for (const follower of log.followers) follower.write(line);
        }
      },
    };
  }

  /** Answers a pods/log request for `pod` (its stored object); a Status to send when the request is refused. */
  serve(pod: Json, query: URLSearchParams, res: http.ServerResponse): { code: number; status: Json } | undefined {
    const meta = pod.metadata as { name: string; namespace: string };
    const containers = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
    const container = query.get('container') ?? (containers.length === 1 ? containers[0] : undefined);
    if (container === undefined) {
      return refusal(`a container name must be specified for pod ${meta.name}, choose one of: [${containers.join(' ')}]`);
    }
    if (!containers.includes(container)) return refusal(`container ${container} is not valid for pod ${meta.name}`);
    const tail = query.get('tailLines');
    const since = query.get('sinceSeconds');
    for (const [name, value] of [['tailLines', tail], ['sinceSeconds', since]] as const) {
      if (value !== null && !/^\d+$/.test(value)) return refusal(`${name}: Invalid value: "${value}": must be a non-negative integer`);
    }
    const log = this.log(meta.namespace, meta.name, container);
    let lines = tail === null ? log.lines : log.lines.slice(Math.max(0, log.lines.length - Number(tail)));
    if (since !== null) lines = lines.filter((line) => line.at >= Date.now() - Number(since) * 1000);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    for (const line of lines) res.write(line.text);
    if (query.get('follow') !== 'true') {
      res.end();
      return undefined;
    }
    log.followers.add(res);
    res.on('close', () => log.followers.delete(res));
    return undefined;
  }

  private log(namespace: string, pod: string, container: string): ContainerLog {
    const key = `${namespace}/${pod}/${container}`;
    let log = this.logs.get(key);
    if (log === undefined) this.logs.set(key, log = { lines: [], followers: new Set() });
    return log;
  }
}

function refusal(message: string): { code: number; status: Json } {
  return { code: 400, status: statuses.badRequest(message) as unknown as Json };
}
