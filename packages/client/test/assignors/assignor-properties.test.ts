// Seeded properties of all three assignors on random groups (random topics of 0..12 partitions,
// 1..8 members with random subscriptions; for cooperative-sticky also random, conflicting claims).
// A failure names the seed; replay it by narrowing the seed loop.

import { SeededRandom } from "@castle/common";
import { expect } from "chai";
import {
  type AssignorMember,
  CooperativeStickyAssignor,
  type PartitionAssignor,
  RangeAssignor,
  RoundRobinAssignor,
} from "../../src/consumer/assignors/index.js";
import type { TopicPartition } from "../../src/consumer/subscription-state.js";
import { nextGeneration, randomGroup, shape, shuffled, subscribedPartitionKeys, words } from "./assignor-fixtures.js";

const SEEDS = 300;

function key(tp: TopicPartition): string {
  return `${tp.topic}-${tp.partition}`;
}

/** Checks the contract every assignor keeps, and returns the assigned partition keys, sorted. */
function checkContract(
  context: string,
  partitionsPerTopic: ReadonlyMap<string, number>,
  members: readonly AssignorMember[],
  assignment: ReadonlyMap<string, readonly TopicPartition[]>,
): string[] {
  expect([...assignment.keys()].sort(), `${context}: one entry per member`).to.deep.equal(members.map((m) => m.memberId).sort());
  const given = new Set<string>();
  for (const m of members) {
    const partitions = assignment.get(m.memberId) ?? [];
    const sorted = [...partitions].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    expect(words(partitions), `${context}: ${m.memberId}'s list is sorted`).to.equal(words(sorted));
    for (const tp of partitions) {
      expect(m.topics, `${context}: ${m.memberId} subscribes to ${key(tp)}'s topic`).to.include(tp.topic);
      expect(tp.partition, `${context}: ${key(tp)} exists`).to.be.within(0, (partitionsPerTopic.get(tp.topic) ?? 0) - 1);
      expect(given.has(key(tp)), `${context}: ${key(tp)} is given once`).to.equal(false);
      given.add(key(tp));
    }
  }
  return [...given].sort();
}

/** A chain u -> ... -> v (each holds a partition of a topic the next subscribes to) with count(u) >= count(v) + 2, if any. */
function costReducingPath(
  members: readonly AssignorMember[],
  assignment: ReadonlyMap<string, readonly TopicPartition[]>,
): string | undefined {
  const count = (m: AssignorMember) => assignment.get(m.memberId)?.length ?? 0;
  for (const source of members) {
    const reached = new Set<AssignorMember>([source]);
    const stack = [source];
    while (stack.length > 0) {
      const u = stack.pop() as AssignorMember;
      const heldTopics = new Set((assignment.get(u.memberId) ?? []).map((tp) => tp.topic));
      for (const v of members) {
        if (reached.has(v) || !v.topics.some((t) => heldTopics.has(t))) continue;
        if (count(v) <= count(source) - 2) return `${source.memberId} (${count(source)}) -> ${v.memberId} (${count(v)})`;
        reached.add(v);
        stack.push(v);
      }
    }
  }
  return undefined;
}

describe("assignor properties (seeded)", () => {
  const eager: PartitionAssignor[] = [new RangeAssignor(), new RoundRobinAssignor(), new CooperativeStickyAssignor()];

  for (const assignor of eager) {
    it(`${assignor.name}: without claims, every subscribed partition goes to exactly one subscriber, whatever the member order`, () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const random = new SeededRandom(seed);
        const { partitionsPerTopic, members } = randomGroup(random, false);
        const assignment = assignor.assign(partitionsPerTopic, members);
        const given = checkContract(`seed ${seed}`, partitionsPerTopic, members, assignment);
        expect(given, `seed ${seed}: every partition is assigned`).to.deep.equal(subscribedPartitionKeys(partitionsPerTopic, members));
        expect(shape(assignor.assign(partitionsPerTopic, shuffled(random, members))), `seed ${seed}: deterministic`).to.deep.equal(
          shape(assignment),
        );
      }
    });
  }

  it("range: each topic's partitions differ by at most one among its subscribers", () => {
    const range = new RangeAssignor();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { partitionsPerTopic, members } = randomGroup(new SeededRandom(seed), false);
      const assignment = range.assign(partitionsPerTopic, members);
      for (const topic of partitionsPerTopic.keys()) {
        const sizes = members
          .filter((m) => m.topics.includes(topic))
          .map((m) => (assignment.get(m.memberId) ?? []).filter((tp) => tp.topic === topic).length);
        if (sizes.length > 0) expect(Math.max(...sizes) - Math.min(...sizes), `seed ${seed}, topic ${topic}`).to.be.at.most(1);
      }
    }
  });

  it("roundrobin: with equal subscriptions, members' totals differ by at most one", () => {
    const roundRobin = new RoundRobinAssignor();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const group = randomGroup(new SeededRandom(seed), false);
      const members = group.members.map((m) => ({ ...m, topics: [...group.partitionsPerTopic.keys()] }));
      const sizes = [...roundRobin.assign(group.partitionsPerTopic, members).values()].map((p) => p.length);
      expect(Math.max(...sizes) - Math.min(...sizes), `seed ${seed}`).to.be.at.most(1);
    }
  });

  describe("cooperative-sticky with random, conflicting claims", () => {
    const sticky = new CooperativeStickyAssignor();

    it("never gives a partition to a member while another member of the latest generation claims it", () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const random = new SeededRandom(seed);
        const { partitionsPerTopic, members } = randomGroup(random, true);
        const assignment = sticky.assign(partitionsPerTopic, members);
        checkContract(`seed ${seed}`, partitionsPerTopic, members, assignment);
        const latest = Math.max(...members.map((m) => m.generationId));
        for (const m of members) {
          for (const tp of assignment.get(m.memberId) ?? []) {
            const otherHolders = members.filter(
              (o) => o !== m && o.generationId === latest && o.ownedPartitions.some((owned) => key(owned) === key(tp)),
            );
            expect(
              otherHolders.map((o) => o.memberId),
              `seed ${seed}: ${key(tp)} given to ${m.memberId}`,
            ).to.deep.equal([]);
          }
        }
        expect(shape(sticky.assign(partitionsPerTopic, shuffled(random, members))), `seed ${seed}: deterministic`).to.deep.equal(
          shape(assignment),
        );
      }
    });

    it("converges in the second round: everything assigned, nothing taken back, optimally balanced, then stable", () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const { partitionsPerTopic, members } = randomGroup(new SeededRandom(seed), true);
        const first = sticky.assign(partitionsPerTopic, members);
        const generationId = Math.max(...members.map((m) => m.generationId)) + 1;
        const secondMembers = nextGeneration(members, first, generationId);
        const second = sticky.assign(partitionsPerTopic, secondMembers);
        const given = checkContract(`seed ${seed}, round 2`, partitionsPerTopic, secondMembers, second);
        expect(given, `seed ${seed}: every partition is assigned in round 2`).to.deep.equal(
          subscribedPartitionKeys(partitionsPerTopic, members),
        );
        for (const m of members) {
          expect((second.get(m.memberId) ?? []).map(key), `seed ${seed}: ${m.memberId} keeps its round-1 partitions`).to.include.members(
            (first.get(m.memberId) ?? []).map(key),
          );
        }
        expect(costReducingPath(members, second), `seed ${seed}: no cost-reducing path`).to.equal(undefined);
        const bySubscription = new Map<string, number[]>();
        for (const m of members) {
          const subscription = [...new Set(m.topics)].sort().join(",");
          bySubscription.set(subscription, [...(bySubscription.get(subscription) ?? []), second.get(m.memberId)?.length ?? 0]);
        }
        for (const [subscription, sizes] of bySubscription) {
          expect(Math.max(...sizes) - Math.min(...sizes), `seed ${seed}: members subscribed to [${subscription}]`).to.be.at.most(1);
        }
        const third = sticky.assign(partitionsPerTopic, nextGeneration(secondMembers, second, generationId + 1));
        expect(shape(third), `seed ${seed}: round 3 changes nothing`).to.deep.equal(shape(second));
      }
    });

    it("with equal subscriptions, revokes only as many owned partitions as balance needs", () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const random = new SeededRandom(seed);
        const group = randomGroup(random, false);
        const topics = [...group.partitionsPerTopic.keys()];
        const all = topics.flatMap((topic) =>
          Array.from({ length: group.partitionsPerTopic.get(topic) ?? 0 }, (_, partition) => ({ topic, partition })),
        );
        // A consistent previous generation: each partition owned by one random member, or by no one.
        const owned = new Map<string, TopicPartition[]>(group.members.map((m) => [m.memberId, []]));
        for (const tp of all) {
          const owner = group.members[random.int(group.members.length + 1)];
          if (owner !== undefined) owned.get(owner.memberId)?.push(tp);
        }
        const members = group.members.map((m) => ({ ...m, topics, ownedPartitions: owned.get(m.memberId) ?? [], generationId: 7 }));
        const assignment = sticky.assign(group.partitionsPerTopic, members);

        const quota = Math.floor(all.length / members.length);
        const extraSlots = all.length % members.length;
        const ownedCounts = members.map((m) => m.ownedPartitions.length);
        const revokedMin =
          ownedCounts.reduce((sum, n) => sum + Math.max(0, n - quota), 0) -
          Math.min(extraSlots, ownedCounts.filter((n) => n > quota).length);
        let revoked = 0;
        for (const m of members) {
          const kept = new Set((assignment.get(m.memberId) ?? []).map(key));
          revoked += m.ownedPartitions.filter((tp) => !kept.has(key(tp))).length;
        }
        expect(revoked, `seed ${seed}: owned partitions revoked`).to.equal(revokedMin);
      }
    });
  });
});
