// The V8 flags a Castle node runs with. They cannot be set from inside a running process, so
// they live where node is started: the `castle` executable's shebang line (which `castle server
// start`, the Helm chart and `npx castle` use), `npm start` in package.json, and
// @castle/testkit's node processes (which read them from the shebang). A test keeps all three
// equal to this list.
//
// --initial-heap-size: a broker's JS heap is small (~20 MB live) while it moves tens of MB/s
// through short-lived Buffers. With the default start, --trace-gc showed each node under
// replicated load in a mark-compact every 160-200 ms (pauses and incremental steps up to
// ~30 ms), the main source of the produce p99. With the flag a 60 s run (one producer, 256
// outstanding) had no major GC on any node and a p99 of 24.9 ms against 40-53 ms. It costs
// memory: bench:replicated's peak RSS per node went from 175-195 MiB to 250-330 MiB (aim:
// under 512). Busy producer processes suffer the same (README, "From code"), so
// bench:replicated starts both sides' producers with these flags too.
export const SERVER_NODE_FLAGS: readonly string[] = ["--initial-heap-size=256"];

/** The SERVER_NODE_FLAGS this process was not started with (empty when all were). */
export function missingServerNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
