// Node/V8 flags the ztunnel process runs with. They must be on the command
// line (V8 sizes the heap before any of our code runs), so every launcher
// passes them: the bin's shebang (bin/ztunnel.ts, as Kubernetes runs it) and
// the local cluster's launcher (@ambit/localcluster, through this list).
// test/direct/proxy-node-flags.test.ts keeps the shebang and this list in step.
//
// The first two are about one thing: every socket read and every decrypted TLS
// record is an ArrayBuffer whose memory V8 counts as external, so a bulk
// transfer allocates external memory at the rate of the traffic itself.
//
// --max-semi-space-size=2 (MiB; Node 20's default grows to 16): a ztunnel's
// young objects are few and short-lived. With a large young generation, tens
// of MB of those buffers accumulate between scavenges, and at 64 MB V8 starts
// a full mark-compact ("external memory pressure"). A small young generation
// is scavenged often enough (cheaply: little survives) to free them first,
// and it does not sit at 32 MB when idle.
//
// --no-concurrent-array-buffer-sweeping: V8 frees the buffers a scavenge
// found dead on a background thread, and only then subtracts them from its
// external-memory count. Right after each scavenge it checks whether the old
// generation plus the external memory allocated since the last mark-compact
// exceeds the old generation's limit, which for a ztunnel's ~10 MB heap
// leaves ~9 MB of slack: the not-yet-swept buffers of one scavenge interval
// (~20 ms at 4 Gbit/s) fill it, so every scavenge started a mark-compact,
// 15–20 per second on each side of a bulk transfer (`--trace-gc`: "Start
// (allocation limit)"), and marking the heap was most of the ztunnel's
// remaining user time. Sweeping them within the scavenge (a list walk,
// proportional to the young buffers) makes the count exact at the check.
//
// --no-concurrent-marking: the mark-compacts that remain (a bulk transfer
// still starts some) are marked incrementally on the main thread instead of
// by V8's helper threads, which competed with the ztunnel's own loop, its
// peer and the workloads for the node's cores and cost a wake-up each time.
// Mesh benchmark, 3 s quick runs, default and the flag interleaved: iperf3
// through the pair 0.75 / 0.79 / 0.72 → 0.87 / 0.91 / 0.99× the stunnel
// pair's in the same runs, wrk c64 CPU per 1000 requests 0.085 / 0.115 /
// 0.121 → 0.073 / 0.085 / 0.078 s, RSS with 1000 connections unchanged.
//
// Measured for issue 8 (docs/performance.md, optimisation changes 2, 6, 8).
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--no-concurrent-array-buffer-sweeping', '--no-concurrent-marking'];
