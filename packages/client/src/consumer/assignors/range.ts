// Kafka's RangeAssignor ("range"): topic by topic, the topic's subscribers in sort order each take
// one contiguous range of its partitions, and the first (partitions % subscribers) take one more.
// Topics are split independently, so a member first in order gets the same partition numbers of
// every topic (useful for co-partitioned joins) and the extras pile up on it.

import type { TopicPartition } from "../subscription-state.js";
import type { AssignorMember, PartitionAssignor, RebalanceProtocol } from "./assignor.js";
import { AssignorInput, partitionsOf, sortAssignment } from "./assignor-input.js";

export class RangeAssignor implements PartitionAssignor {
  readonly name = "range";
  readonly supportedProtocols: readonly RebalanceProtocol[] = ["EAGER"];

  assign(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]): Map<string, TopicPartition[]> {
    const input = new AssignorInput(partitionsPerTopic, members);
    const assignment = input.emptyAssignment();
    for (const [topic, partitionCount] of input.topics) {
      const subscribers = input.subscribersOf(topic);
      const rangeSize = Math.floor(partitionCount / subscribers.length);
      const longerRanges = partitionCount % subscribers.length;
      let next = 0;
      subscribers.forEach((member, index) => {
        const end = next + rangeSize + (index < longerRanges ? 1 : 0);
        const partitions = partitionsOf(assignment, member.memberId);
        for (let partition = next; partition < end; partition++) partitions.push({ topic, partition });
        next = end;
      });
    }
    return sortAssignment(assignment);
  }
}
