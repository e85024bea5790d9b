#!/usr/bin/env node

// Deterministic simulation of the Raft core (packages/testkit/src/sim). Run after a build:
//   npm run sim -- --seeds 500                 seeds 1..500 (mixed 3- and 5-voter clusters)
//   npm run sim -- --seeds 500 --base 123456   seeds base..base+499
//   npm run sim -- --seed 42                   one seed, with its whole trace
//   --voters 3|5   fix the cluster size;  --steps K   fault-phase steps per seed (default 3000)
//   --quiet        with --seed: only the summary
// A failing seed prints its reproduction command and the trace tail; add it to
// packages/raft/test/sim/failing-seeds.json so CI runs it forever.

import { runSeed, SimulationFailure } from "../packages/testkit/dist/sim/index.js";
import { parseScriptArgs } from "./script-args.mjs";

const { values } = parseScriptArgs(import.meta.url, {
  seeds: { type: "string" },
  seed: { type: "string" },
  base: { type: "string" },
  voters: { type: "string" },
  steps: { type: "string" },
  quiet: { type: "boolean", default: false },
});

const voters = values.voters === undefined ? undefined : Number(values.voters);
if (voters !== undefined && voters !== 3 && voters !== 5) {
  console.error("--voters must be 3 or 5");
  process.exit(2);
}
const faultSteps = values.steps === undefined ? undefined : Number(values.steps);
const common = { ...(voters === undefined ? {} : { voters }), ...(faultSteps === undefined ? {} : { faultSteps }) };

if (values.seed !== undefined) {
  const seed = Number(values.seed);
  const started = performance.now();
  try {
    const result = runSeed({
      seed,
      ...common,
      ...(values.quiet ? {} : { traceSink: (line) => console.log(line) }),
    });
    console.log(`seed ${seed} passed in ${(performance.now() - started).toFixed(0)} ms:`, result);
  } catch (error) {
    // The verbose trace is already printed above; repeat only the headline.
    console.error(error instanceof SimulationFailure && !values.quiet ? error.message.split("\n").slice(0, 2).join("\n") : error);
    process.exit(1);
  }
} else {
  const count = Number(values.seeds ?? 100);
  const base = values.base === undefined ? 1 : Number(values.base);
  const started = performance.now();
  const failures = [];
  let committed = 0;
  for (let i = 0; i < count; i++) {
    const seed = base + i;
    try {
      const result = runSeed({ seed, ...common });
      committed += result.committedEntries;
    } catch (error) {
      failures.push(seed);
      console.error(error instanceof Error ? error.message : error);
    }
    if ((i + 1) % 100 === 0 || i + 1 === count) {
      const seconds = (performance.now() - started) / 1000;
      console.log(`${i + 1}/${count} seeds, ${failures.length} failed, ${seconds.toFixed(1)} s`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `summary: ${count} seeds (${base}..${base + count - 1}) in ${seconds.toFixed(1)} s, ${committed} entries committed, ` +
      `${failures.length} failed${failures.length > 0 ? `: ${failures.join(", ")}` : ""}`,
  );
  process.exit(failures.length > 0 ? 1 : 0);
}
