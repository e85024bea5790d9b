// Small helpers for scripted scenarios over the simulator: build a quiet cluster, wait for a
// leader, commit a value and wait until the given nodes applied it. Every wait is bounded in
// simulated time and fails with the simulator's report (seed and trace) when it runs out.

import type { RaftNodeId } from "@castle/raft";
import { type SimNode, Simulation, type SimulationOptions } from "@castle/testkit";

export function cluster(options: Partial<SimulationOptions> & { seed?: number } = {}): Simulation {
  return new Simulation({ seed: 1, voters: 3, ...options });
}

export function waitForLeader(sim: Simulation, timeoutMs = 3000): SimNode {
  if (!sim.runUntil(() => sim.stableLeader() !== undefined, timeoutMs)) sim.fail(`no stable leader within ${timeoutMs}ms`);
  return sim.stableLeader()!;
}

/** Ids of the given nodes that applied `value`. */
export function appliedOn(sim: Simulation, value: string, ids: readonly RaftNodeId[]): RaftNodeId[] {
  return ids.filter((id) => sim.node(id).stateMachine.values.includes(value));
}

/** Propose at the current leader and wait until every node in `ids` applied it; returns its index. */
export function commit(sim: Simulation, value: string, ids: readonly RaftNodeId[], timeoutMs = 3000): number {
  const leader = waitForLeader(sim, timeoutMs);
  const result = sim.propose(value, leader.id);
  if (!result.ok) sim.fail(`leader n${leader.id} refused ${value}: ${result.reason}`);
  if (!sim.runUntil(() => appliedOn(sim, value, ids).length === ids.length, timeoutMs)) {
    sim.fail(`${value} applied only on [${appliedOn(sim, value, ids).join(",")}] of [${ids.join(",")}] within ${timeoutMs}ms`);
  }
  return result.index;
}
