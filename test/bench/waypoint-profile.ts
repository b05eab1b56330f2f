// Preloaded into the waypoint by the waypoint benchmark's --waypoint-cpu-profile
// DIR (NODE_OPTIONS=--import=<this file>, AMBIT_BENCH_CPU_PROFILE_DIR=DIR;
// --cpu-prof itself is not allowed in NODE_OPTIONS): V8's sampling profiler
// runs from start-up, and on SIGUSR2 the profile so far is written to
// DIR/<pid>-<n>.cpuprofile (for Chrome DevTools or speedscope), a line
// {"cpuprofile":FILE} goes to stderr (the pod's log), and a new profile
// starts. Nothing else changes in the process.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.AMBIT_BENCH_CPU_PROFILE_DIR;
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  const post = <T>(method: string): Promise<T> => new Promise((resolve, reject) => {
    session.post(method, (error, result) => (error === null ? resolve(result as T) : reject(error)));
  });
  await post('Profiler.enable');
  await post('Profiler.start');
  let written = 0;
  process.on('SIGUSR2', () => {
    void (async () => {
      const { profile } = await post<{ profile: unknown }>('Profiler.stop');
      const file = join(dir, `${process.pid}-${++written}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      process.stderr.write(`${JSON.stringify({ cpuprofile: file })}\n`);
      await post('Profiler.start');
    })();
  });
}
