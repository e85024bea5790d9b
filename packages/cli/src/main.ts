#!/usr/bin/env -S node --initial-heap-size=256
// The `castle` executable.

import { run } from "./program.js";

const code = await run(process.argv);
process.exitCode = code;
// Open handles (a grpc channel closing) must not keep a finished command alive.
setTimeout(() => process.exit(code), 2000).unref();
