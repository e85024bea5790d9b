// Kafka's RoundRobinAssignor ("roundrobin"): every partition of every subscribed topic, by topic
// then partition, is dealt in turn to the members in sort order; a member not subscribed to the
// partition's topic is skipped. With equal subscriptions the counts differ by at most one across
// all topics together (range balances each topic alone).

import { invariant } from "@castle/common";
import type { TopicPartition } from "../subscription-state.js";
import type { AssignorMember, PartitionAssignor, RebalanceProtocol } from "./assignor.js";
import { AssignorInput, partitionsOf, sortAssignment } from "./assignor-input.js";

export class RoundRobinAssignor implements PartitionAssignor {
  readonly name = "roundrobin";
  readonly supportedProtocols: readonly RebalanceProtocol[] = ["EAGER"];

  assign(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]): Map<string, TopicPartition[]> {
    const input = new AssignorInput(partitionsPerTopic, members);
    const assignment = input.emptyAssignment();
    const dealOrder = input.members;
    let turn = 0;
    for (const [topic, partitionCount] of input.topics) {
      for (let partition = 0; partition < partitionCount; partition++) {
        // The next member in turn that subscribes; one lap finds one, as every topic in input.topics has a subscriber.
        let member: AssignorMember | undefined;
        for (let lap = 0; member === undefined && lap < dealOrder.length; lap++, turn++) {
          const candidate = dealOrder[turn % dealOrder.length];
          if (candidate !== undefined && input.isSubscribed(candidate.memberId, topic)) member = candidate;
        }
        invariant(member !== undefined, () => `no member subscribes to '${topic}'`);
        partitionsOf(assignment, member.memberId).push({ topic, partition });
      }
    }
    return sortAssignment(assignment);
  }
}
