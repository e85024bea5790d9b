// Majority quorums over the voter set (§3.6, §4.1: one configuration at a time, so one
// majority). Observers never appear here: callers pass voters only.

import { invariant } from "@castle/common";
import type { RaftNodeId } from "../core/types.js";

export type VoteOutcome = "won" | "lost" | "pending";

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index a majority of voters has (matchOf returns 0 for unknown voters): the
 * quorum-th highest match. An empty voter set commits nothing.
 */
export function majorityCommittedIndex(voters: readonly RaftNodeId[], matchOf: (id: RaftNodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  const committed = matches[quorumSize(voters.length) - 1];
  invariant(committed !== undefined, "quorum index within voters");
  return committed;
}

/** Tallies granted/rejected votes of current voters only (§3.4). */
export function voteOutcome(voters: readonly RaftNodeId[], votes: ReadonlyMap<RaftNodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (voters.length > 0 && granted >= quorum) return "won";
  if (rejected > voters.length - quorum || voters.length === 0) return "lost";
  return "pending";
}

/** True when the ids in `acks` (plus nothing else) form a majority of voters. */
export function hasMajority(voters: readonly RaftNodeId[], acks: ReadonlySet<RaftNodeId>): boolean {
  let count = 0;
  for (const id of voters) if (acks.has(id)) count++;
  return voters.length > 0 && count >= quorumSize(voters.length);
}
