// Node/V8 flags the ztunnel process runs with. They must be on the command
// line (V8 sizes the heap before any of our code runs), so every launcher
// passes them: the bin's shebang (bin/ztunnel.ts, as Kubernetes runs it) and
// the local cluster's launcher (@ambit/localcluster, through this list).
//
// --max-semi-space-size=2 (MiB; Node 20's default grows to 16): a ztunnel's
// young objects are few and short-lived, but every socket read and every
// decrypted TLS record is an ArrayBuffer whose memory V8 counts as external.
// With a large young generation, tens of MB of those accumulate between
// scavenges, and at 64 MB V8 starts a full mark-compact ("external memory
// pressure"): ~10 per second on the receiving side of a bulk transfer. A
// small young generation is scavenged often enough (cheaply: little survives)
// to free them first, and it does not sit at 32 MB when idle. Measured for
// issue 8 (docs/performance.md).
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
