// Kafka's CooperativeStickyAssignor ("cooperative-sticky"), KIP-429 on top of KIP-54's sticky goal.
//
// Ownership: only claims from the group's latest generation count (a member with an older
// generation missed a rebalance, and the coordinator already fences its commits), so of two
// members claiming one partition the one with the higher generationId keeps it. A claim on a
// topic the member no longer subscribes to, or on a partition that does not exist, keeps nothing.
// Two claims from the same generation cannot both be right; the first member in sort order keeps
// the partition for the target, and the cooperative rule below withholds it from both.
//
// Target: stickyBalancedAssignment (sticky-balancer.ts), balanced as far as the subscriptions
// allow, moving as few owned partitions as that needs.
//
// Cooperative rule (KIP-429): a partition is handed to a member only if no other member holds it
// (claims it in the latest generation, subscribed or not). Otherwise it is left out of this
// round: its holder, not finding it in its new assignment, revokes it and rejoins, and the next
// rebalance, seeing no owner, hands it over at once. Partitions no one holds (new ones, those of a
// member that left) are handed out at once, so a group converges within two rebalances.
//
// The rule applies under the EAGER protocol too: eager members revoke everything before joining
// and claim nothing, so nothing is withheld.

import { type TopicPartition, tpKey } from "../subscription-state.js";
import type { AssignorMember, PartitionAssignor, RebalanceProtocol } from "./assignor.js";
import { AssignorInput } from "./assignor-input.js";
import { stickyBalancedAssignment } from "./sticky-balancer.js";

export class CooperativeStickyAssignor implements PartitionAssignor {
  readonly name = "cooperative-sticky";
  readonly supportedProtocols: readonly RebalanceProtocol[] = ["COOPERATIVE", "EAGER"];

  assign(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]): Map<string, TopicPartition[]> {
    const input = new AssignorInput(partitionsPerTopic, members);
    const claims = latestClaims(input);
    const target = stickyBalancedAssignment(input, claims.owners);
    const result = new Map<string, TopicPartition[]>();
    for (const [memberId, partitions] of target) {
      result.set(
        memberId,
        partitions.filter((tp) => (claims.holders.get(tpKey(tp)) ?? []).every((holder) => holder === memberId)),
      );
    }
    return result;
  }
}

interface Claims {
  /** tpKey -> every member that claims the partition in the latest generation. */
  readonly holders: ReadonlyMap<string, readonly string[]>;
  /** tpKey -> the one member that keeps the partition if balance allows (existing partitions of subscribed topics only). */
  readonly owners: ReadonlyMap<string, string>;
}

function latestClaims(input: AssignorInput): Claims {
  let latestGenerationId = Number.NEGATIVE_INFINITY;
  for (const member of input.members) latestGenerationId = Math.max(latestGenerationId, member.generationId);
  const holders = new Map<string, string[]>();
  const owners = new Map<string, string>();
  for (const member of input.members) {
    if (member.generationId !== latestGenerationId) continue;
    const claimed = new Set<string>();
    for (const tp of member.ownedPartitions) {
      const key = tpKey(tp);
      if (claimed.has(key)) continue;
      claimed.add(key);
      const others = holders.get(key) ?? [];
      others.push(member.memberId);
      holders.set(key, others);
      if (input.exists(tp) && input.isSubscribed(member.memberId, tp.topic) && !owners.has(key)) owners.set(key, member.memberId);
    }
  }
  return { holders, owners };
}
