#!/usr/bin/env node
// The durability test (test/durability.test.ts) run longer, after a build:
//   npm run test:chaos -- --minutes 10              10 minutes of faults, a random seed
//   npm run test:chaos -- --minutes 10 --seed 42    the same seed's fault schedule again
// It is the CI scenario (3 nodes behind fault proxies, RF 3, min.insync.replicas 2, acks=all
// producers, a seeded nemesis of kill -9, SIGSTOP, partitions and one-way cuts), with the fault
// phase set by --minutes. The seed is printed first; a failing run ends with it, so it can be
// replayed and, once fixed, pinned in the test. Exit code: the test's.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseScriptArgs } from "./script-args.mjs";

/** Upper bound on --minutes: a run is meant to end the same day. */
const MINUTES_MAX = 24 * 60;

const { values } = parseScriptArgs(import.meta.url, {
  minutes: { type: "string", default: "5" },
  seed: { type: "string" },
});

const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > MINUTES_MAX) {
  console.error(`--minutes must be a number in (0, ${MINUTES_MAX}], got ${values.minutes}`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed) || seed < 0) {
  console.error(`--seed must be a non-negative integer, got ${values.seed}`);
  process.exit(2);
}

const root = fileURLToPath(new URL("..", import.meta.url));
const mocha = createRequire(import.meta.url).resolve("mocha/bin/mocha.js");
console.log(`chaos: seed ${seed}, ${minutes} minute(s) of faults`);
// Its own process group: the nemesis SIGSTOPs nodes, and a process group with a stopped member
// that becomes orphaned (npm run in a background job whose shell has gone) gets SIGHUP from the
// kernel, which would end the whole run. This group keeps a parent (this script) outside it.
const child = spawn(process.execPath, [mocha, "--no-config", "--import=tsx", "--exit", "test/durability.test.ts"], {
  cwd: root,
  stdio: "inherit",
  detached: true,
  env: { ...process.env, CASTLE_CHAOS_SEED: String(seed), CASTLE_CHAOS_FAULT_SECONDS: String(minutes * 60) },
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  const failed = code !== 0;
  console.log(
    failed
      ? `chaos: FAILED with seed ${seed} (${signal ?? `exit ${code}`}); replay: npm run test:chaos -- --seed ${seed} --minutes ${minutes}`
      : `chaos: passed with seed ${seed}`,
  );
  process.exit(code ?? 1);
});
