// Node/V8 flags the ztunnel process runs with. They must be on the command
// line (V8 sizes the heap before any of our code runs), so every launcher
// passes them: the bin's shebang (bin/ztunnel.ts, as Kubernetes runs it) and
// the local cluster's launcher (@ambit/localcluster, through this list).
// test/direct/proxy-node-flags.test.ts keeps the shebang and this list in step.
//
// Both flags are about one thing: every socket read and every decrypted TLS
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
// Both measured for issue 8 (docs/performance.md).
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--no-concurrent-array-buffer-sweeping'];
