#!/usr/bin/env node
// ambit: the mesh's command line. See `ambit --help`; exit codes: 0 ok,
// 1 the operation failed, 2 usage.
import { run } from '../program.js';

process.exitCode = await run(process.argv.slice(2));
