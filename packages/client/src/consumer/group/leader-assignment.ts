// The group leader's part of a rebalance and every member's reading of its result: decode the
// members' ConsumerSubscriptions from JoinGroup, run the assignor the coordinator chose, encode
// each member's ConsumerAssignment for SyncGroup; decode one's own assignment. Pure functions.

import {
  type ConsumerTopicPartitions,
  decodeConsumerAssignment,
  decodeConsumerSubscription,
  encodeConsumerAssignment,
  encodeConsumerSubscription,
  type JoinGroupMember,
  protocolError,
  type SyncGroupAssignmentInput,
} from "@castle/protocol";
import type { AssignorMember, PartitionAssignor } from "../assignors/assignor.js";
import type { TopicPartition } from "../subscription-state.js";

/** Topic-grouped partitions, topics and partitions in ascending order (the wire form). */
export function groupPartitions(tps: readonly TopicPartition[]): ConsumerTopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const tp of tps) {
    const list = byTopic.get(tp.topic) ?? [];
    list.push(tp.partition);
    byTopic.set(tp.topic, list);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: (byTopic.get(topic) ?? []).sort((a, b) => a - b) }));
}

export function flattenPartitions(grouped: readonly ConsumerTopicPartitions[]): TopicPartition[] {
  return grouped.flatMap((g) => g.partitions.map((partition) => ({ topic: g.topic, partition })));
}

export interface MemberSubscription {
  topics: readonly string[];
  ownedPartitions: readonly TopicPartition[];
  generationId: number;
  rackId: string;
}

export function encodeMemberSubscription(subscription: MemberSubscription): Buffer {
  return encodeConsumerSubscription({
    topics: [...subscription.topics].sort(),
    ownedPartitions: groupPartitions(subscription.ownedPartitions),
    generationId: subscription.generationId,
    rackId: subscription.rackId,
  });
}

/** JoinGroup's members as the assignor sees them. */
export function decodeMembers(members: readonly JoinGroupMember[]): AssignorMember[] {
  return members.map((m) => {
    const subscription = decodeConsumerSubscription(m.metadata);
    return {
      memberId: m.memberId,
      ...(m.groupInstanceId ? { groupInstanceId: m.groupInstanceId } : {}),
      topics: subscription.topics,
      ownedPartitions: flattenPartitions(subscription.ownedPartitions),
      generationId: subscription.generationId,
      ...(subscription.rackId ? { rackId: subscription.rackId } : {}),
    };
  });
}

/** Every topic any member subscribes to, sorted. */
export function subscribedTopics(members: readonly AssignorMember[]): string[] {
  return [...new Set(members.flatMap((m) => m.topics))].sort();
}

/** The assignor the coordinator chose; the consumer advertised it, so a miss is the coordinator's fault. */
export function chosenAssignor(assignors: readonly PartitionAssignor[], protocolName: string): PartitionAssignor {
  const assignor = assignors.find((a) => a.name === protocolName);
  if (assignor === undefined) {
    throw protocolError(
      "INCONSISTENT_GROUP_PROTOCOL",
      `the coordinator chose assignor '${protocolName}', which this consumer does not offer (it offers ${assignors.map((a) => `'${a.name}'`).join(", ")})`,
    );
  }
  return assignor;
}

/** Runs the assignor and encodes one SyncGroup assignment per member (members without partitions get an empty one). */
export function buildAssignments(
  assignor: PartitionAssignor,
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): SyncGroupAssignmentInput[] {
  const result = assignor.assign(partitionsPerTopic, members);
  const seen = new Map<string, string>();
  for (const [memberId, tps] of result) {
    for (const tp of tps) {
      const key = `${tp.topic}-${tp.partition}`;
      const other = seen.get(key);
      if (other !== undefined) {
        throw protocolError("INVALID_REQUEST", `assignor '${assignor.name}' gave ${key} to both ${other} and ${memberId}`);
      }
      seen.set(key, memberId);
    }
  }
  return members.map((m) => ({
    memberId: m.memberId,
    assignment: encodeConsumerAssignment({ assignedPartitions: groupPartitions(result.get(m.memberId) ?? []) }),
  }));
}

/** One's own assignment from SyncGroup (empty bytes: nothing assigned). */
export function decodeOwnAssignment(bytes: Uint8Array): TopicPartition[] {
  if (bytes.length === 0) return [];
  return flattenPartitions(decodeConsumerAssignment(bytes).assignedPartitions);
}
