export { run } from './program.js';
export type { Io } from './program.js';
export { describeFailure, UsageError, EXIT_OK, EXIT_FAILURE, EXIT_USAGE } from './errors.js';
export { table, render, outputFormat } from './output.js';
export { DEFAULT_STATE_DIR } from './context.js';
export { adminPortOf } from './mesh-view.js';
