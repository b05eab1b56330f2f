#!/usr/bin/env node
// ambit-local-kubelet: the local cluster's kubelet as a long-running process,
// so what controllers write into the store keeps being realised after the
// command that brought the mesh up has exited (`ambit up` starts it; the
// cluster's teardown stops it). Runs in the machine's own namespace (it
// builds pod namespaces) and reaches the control plane through its store API
// socket in the state directory.
//
//   ambit-local-kubelet --state-dir DIR [--log-level info] [--drain-deadline 5s]
//
// Exit codes: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 for bad settings.
import { ConfigReader, exitWith, isLogLevel, runDaemon, type LogLevel } from '@ambit/core';
import { LocalCluster } from '../cluster.js';
import { LocalMesh } from '../mesh.js';

const HELP = `usage: ambit-local-kubelet --state-dir DIR [--log-level LEVEL]

settings (flag, or environment variable AMBIT_KUBELET_<SETTING with - as _>):
  --state-dir DIR          the local cluster's state directory (cluster.json; required)
  --log-level LEVEL        fatal, error, warn, info (default), debug, trace, silent
  --drain-deadline DUR     how long stopping may take (default 5s)
`;

interface KubeletConfig {
  stateDir: string;
  logLevel: LogLevel;
  drainDeadlineMs: number;
}

exitWith('ambit-local-kubelet', runDaemon<KubeletConfig, LocalMesh>({
  name: 'ambit-local-kubelet', app: 'kubelet', help: HELP, keys: ['state-dir', 'log-level', 'drain-deadline'], envPrefix: 'AMBIT_KUBELET_',
  parse(record, source) {
    const reader = new ConfigReader(record, source);
    const logLevel = reader.string('log-level', 'info');
    if (!isLogLevel(logLevel)) throw reader.error('log-level', logLevel, 'must be one of fatal, error, warn, info, debug, trace, silent');
    return { stateDir: reader.required('state-dir'), logLevel, drainDeadlineMs: reader.durationMs('drain-deadline', 5_000) };
  },
  async start(config, log) {
    const mesh = new LocalMesh(await LocalCluster.load(config.stateDir, { logger: log }), { logger: log, logLevel: config.logLevel });
    await mesh.runKubeletHere();
    log.info({ stateDir: config.stateDir }, 'kubelet running');
    return mesh;
  },
  drain: (mesh) => mesh.stopKubelet(),
}));

