// Node/V8 flags the waypoint process runs with. They must be on the command
// line, so every launcher passes them: the bin's shebang (bin/waypoint.ts,
// as the rendered Kubernetes Deployment runs it) and the local cluster's
// launcher (@ambit/localcluster, through this list). test/direct's
// proxy-node-flags test keeps the shebang and this list in step.
//
// --single-threaded-gc: V8 otherwise hands scavenges, marking and sweeping to
// its helper threads (four in Node). A waypoint allocates ~35–60 KB of
// short-lived objects per request (Node's HTTP server and client, the L7
// stack, the access-log line), so under load it scavenges every few
// milliseconds, and each scavenge woke helpers that then competed for the
// same cores as the waypoint's own event loop, the ztunnels and the
// workloads, paying a wake-up and a context switch each time. Doing the work
// on the main thread is cheaper in total. Waypoint benchmark, 6 s tests,
// three runs each, interleaved (docs/performance.md, optimisation change 7):
// wrk c64 through ztunnel + waypoint 3,315 / 3,762 / 3,407 → 4,496 / 4,393 /
// 4,436 req/s, the waypoint's CPU per 1000 requests 0.248 / 0.216 / 0.241 →
// 0.177 / 0.179 / 0.176 s; at 1000 req/s the same CPU and p99 no worse.
export const WAYPOINT_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
