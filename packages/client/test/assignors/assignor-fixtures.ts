// Compact notation for assignor tests: partitions as "topic-partition" words ("t0-0 t0-1"), an
// assignment as { memberId: "t0-0 t1-0" }, plus a group that rebalances round after round the way
// a cooperative group does (each member reports what it got, in the next generation).

import type { Random } from "@castle/common";
import type { AssignorMember, PartitionAssignor } from "../../src/consumer/assignors/index.js";
import type { TopicPartition } from "../../src/consumer/subscription-state.js";

export function tps(words: string): TopicPartition[] {
  return words
    .split(" ")
    .filter((w) => w.length > 0)
    .map((word) => {
      const dash = word.lastIndexOf("-");
      return { topic: word.slice(0, dash), partition: Number(word.slice(dash + 1)) };
    });
}

export function words(partitions: readonly TopicPartition[]): string {
  return partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(" ");
}

/** The assignment as { memberId: "t-0 t-1" }, for deep.equal against a literal. */
export function shape(assignment: ReadonlyMap<string, readonly TopicPartition[]>): Record<string, string> {
  return Object.fromEntries([...assignment].map(([memberId, partitions]) => [memberId, words(partitions)]));
}

export function counts(perTopic: Record<string, number>): Map<string, number> {
  return new Map(Object.entries(perTopic));
}

export interface MemberOptions {
  owned?: string;
  generationId?: number;
  groupInstanceId?: string;
}

export function member(memberId: string, topics: string[], options: MemberOptions = {}): AssignorMember {
  return {
    memberId,
    topics,
    ownedPartitions: tps(options.owned ?? ""),
    generationId: options.generationId ?? -1,
    ...(options.groupInstanceId === undefined ? {} : { groupInstanceId: options.groupInstanceId }),
  };
}

/** The members as they join the next generation: each reports what it was just assigned. */
export function nextGeneration(
  members: readonly AssignorMember[],
  assignment: ReadonlyMap<string, readonly TopicPartition[]>,
  generationId: number,
): AssignorMember[] {
  return members.map((m) => ({ ...m, ownedPartitions: [...(assignment.get(m.memberId) ?? [])], generationId }));
}

/** Rebalances `rounds` times, each round's members reporting the previous round's result. */
export function rebalanceRounds(
  assignor: PartitionAssignor,
  partitionsPerTopic: ReadonlyMap<string, number>,
  members: readonly AssignorMember[],
  rounds: number,
): Map<string, TopicPartition[]>[] {
  const results: Map<string, TopicPartition[]>[] = [];
  let current = members;
  let generationId = Math.max(0, ...members.map((m) => m.generationId));
  for (let round = 0; round < rounds; round++) {
    const result = assignor.assign(partitionsPerTopic, current);
    results.push(result);
    generationId++;
    current = nextGeneration(current, result, generationId);
  }
  return results;
}

/** Every partition of a topic some member subscribes to, as "topic-partition" keys. */
export function subscribedPartitionKeys(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]): string[] {
  const topics = new Set(members.flatMap((m) => m.topics));
  const keys: string[] = [];
  for (const [topic, partitionCount] of partitionsPerTopic) {
    if (!topics.has(topic)) continue;
    for (let partition = 0; partition < partitionCount; partition++) keys.push(`${topic}-${partition}`);
  }
  return keys.sort();
}

export interface RandomGroup {
  partitionsPerTopic: Map<string, number>;
  members: AssignorMember[];
}

/**
 * A random group: up to 4 topics of 0..12 partitions, sometimes one topic members subscribe to that
 * does not exist, 1..8 members with random subscriptions (possibly none), some static. With
 * `claims`, members also claim random partitions (some nonexistent, some contested) in random generations.
 */
export function randomGroup(random: Random, claims: boolean): RandomGroup {
  const partitionsPerTopic = new Map<string, number>();
  const topicCount = 1 + random.int(4);
  for (let t = 0; t < topicCount; t++) partitionsPerTopic.set(`t${t}`, random.int(13));
  const subscribable = [...partitionsPerTopic.keys(), ...(random.int(4) === 0 ? ["missing"] : [])];
  const memberCount = 1 + random.int(8);
  const members: AssignorMember[] = [];
  for (let m = 0; m < memberCount; m++) {
    const topics = subscribable.filter(() => random.int(3) !== 0);
    const ownedPartitions: TopicPartition[] = [];
    if (claims) {
      for (const [topic, partitionCount] of partitionsPerTopic) {
        for (let partition = 0; partition <= partitionCount; partition++) {
          if (random.int(4) === 0) ownedPartitions.push({ topic, partition });
        }
      }
    }
    members.push({
      memberId: `m${random.int(1000)}-${m}`,
      topics,
      ownedPartitions,
      generationId: claims ? random.int(3) - 1 : -1,
      ...(random.int(3) === 0 ? { groupInstanceId: `i${random.int(100)}-${m}` } : {}),
    });
  }
  return { partitionsPerTopic, members };
}

export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
