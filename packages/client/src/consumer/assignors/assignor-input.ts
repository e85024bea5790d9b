// The validated view of one assign() call that every assignor starts from: the members in their
// sort order, each member's subscribed topics that exist, and each topic's subscribers. Building
// it rejects input no coordinator should send (duplicate member ids, bad partition counts).

import { invariant } from "@castle/common";
import { configError } from "../../errors/wire-error.js";
import type { TopicPartition } from "../subscription-state.js";
import type { AssignorMember } from "./assignor.js";

/** Code-unit order (Java's String.compareTo), never locale order: assignments must not depend on the host. */
export function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** Topic, then partition: the order of every list an assignor returns. */
export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition;
}

/**
 * Static members sort by group.instance.id, which survives restarts, so a restarted member gets its
 * old partitions back; dynamic members sort by member id. The member id breaks ties.
 */
export function compareMembers(a: AssignorMember, b: AssignorMember): number {
  return compareStrings(a.groupInstanceId ?? a.memberId, b.groupInstanceId ?? b.memberId) || compareStrings(a.memberId, b.memberId);
}

export class AssignorInput {
  /** Every member, in compareMembers order. */
  readonly members: readonly AssignorMember[];
  /** Topics at least one member subscribes to and partitionsPerTopic knows, sorted, with their partition counts. */
  readonly topics: ReadonlyMap<string, number>;
  private readonly memberIdsInInputOrder: readonly string[];
  /** memberId -> the member's subscribed topics that exist, sorted. */
  private readonly topicsByMember = new Map<string, readonly string[]>();
  /** topic -> its subscribers in compareMembers order. */
  private readonly subscribersByTopic = new Map<string, AssignorMember[]>();

  /** @throws ClientConfigError on duplicate member ids or partition counts that are not integers >= 0. */
  constructor(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]) {
    for (const [topic, partitionCount] of partitionsPerTopic) {
      if (!Number.isSafeInteger(partitionCount) || partitionCount < 0) {
        throw configError(`cannot assign topic '${topic}' with ${partitionCount} partitions: partition counts are integers >= 0`);
      }
    }
    const seen = new Set<string>();
    for (const member of members) {
      if (seen.has(member.memberId)) {
        throw configError(`cannot assign partitions: member id '${member.memberId}' appears twice in the group`);
      }
      seen.add(member.memberId);
    }
    this.memberIdsInInputOrder = members.map((m) => m.memberId);
    this.members = [...members].sort(compareMembers);

    const subscribed = new Set<string>();
    for (const member of this.members) {
      const topics = [...new Set(member.topics)].filter((t) => partitionsPerTopic.has(t)).sort(compareStrings);
      this.topicsByMember.set(member.memberId, topics);
      for (const topic of topics) {
        subscribed.add(topic);
        const subscribers = this.subscribersByTopic.get(topic) ?? [];
        subscribers.push(member);
        this.subscribersByTopic.set(topic, subscribers);
      }
    }
    this.topics = new Map([...subscribed].sort(compareStrings).map((t) => [t, partitionsPerTopic.get(t) ?? 0]));
  }

  /** The member's subscribed topics that exist, sorted. */
  topicsOf(memberId: string): readonly string[] {
    return this.topicsByMember.get(memberId) ?? [];
  }

  isSubscribed(memberId: string, topic: string): boolean {
    return this.topicsOf(memberId).includes(topic);
  }

  /** The topic's subscribers in compareMembers order; empty for a topic no one subscribes to or that does not exist. */
  subscribersOf(topic: string): readonly AssignorMember[] {
    return this.subscribersByTopic.get(topic) ?? [];
  }

  /** Whether the partition exists: its topic is subscribed and known, and the number is below its count. */
  exists(tp: TopicPartition): boolean {
    const partitionCount = this.topics.get(tp.topic);
    return partitionCount !== undefined && Number.isInteger(tp.partition) && tp.partition >= 0 && tp.partition < partitionCount;
  }

  /** An empty list for every member, in the caller's member order. */
  emptyAssignment(): Map<string, TopicPartition[]> {
    return new Map(this.memberIdsInInputOrder.map((id) => [id, []]));
  }
}

/** The member's list in an assignment built from emptyAssignment(), which has one for every member. */
export function partitionsOf(assignment: ReadonlyMap<string, TopicPartition[]>, memberId: string): TopicPartition[] {
  const partitions = assignment.get(memberId);
  invariant(partitions !== undefined, () => `member '${memberId}' has no list in the assignment`);
  return partitions;
}

/** Sorts every member's list in place (compareTopicPartitions) and returns the same map. */
export function sortAssignment(assignment: Map<string, TopicPartition[]>): Map<string, TopicPartition[]> {
  for (const partitions of assignment.values()) partitions.sort(compareTopicPartitions);
  return assignment;
}
