// The V8 flags a Castle node runs with. They cannot be set from inside a running process, so
// they live where node is started: the `castle` executable's shebang line (which `castle server
// start`, the Helm chart and `npx castle` use), `npm start` in package.json, and
// @castle/testkit's node processes (which read them from the shebang). A test keeps all three
// equal to this list.
//
// --initial-heap-size: a broker's JS heap is small (~20 MB live) while it moves tens of MB/s
// through short-lived Buffers, whose bytes count as external memory. V8 sizes its next
// full-GC trigger from the heap's size, so with the default start it ran a mark-compact every
// 160-200 ms on each node under replicated load (pauses and incremental steps up to ~30 ms,
// the main source of the produce p99). Starting the heap's limits at 256 MB left no major GC
// in a 20 s run, raised bench:replicated's acks=all throughput ~15-20% and cut its p99; peak
// RSS did not move (V8 reserves the limit, it does not commit it).
export const SERVER_NODE_FLAGS: readonly string[] = ["--initial-heap-size=256"];

/** The SERVER_NODE_FLAGS this process was not started with (empty when all were). */
export function missingServerNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
