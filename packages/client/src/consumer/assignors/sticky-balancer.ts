// The target assignment of the cooperative-sticky assignor: as balanced as the subscriptions allow,
// moving as few previously owned partitions as that balance needs.
//
// Balance is the semi-matching problem (Harvey, Ladner, Lovász, Tamir, "Semi-matchings for
// bipartite graphs and load balancing", 2003): an assignment has the least spread of member counts
// (least sum of squared counts, and the best sorted count vector) exactly when it has no
// cost-reducing path, a chain of members m0 -> m1 -> ... -> mk in which each mi holds a partition
// that mi+1 subscribes to and count(m0) >= count(mk) + 2. Shifting one partition along each hop
// lowers m0 by one and raises mk by one, so the sum of squares drops by at least 2; the search
// therefore ends. Among members with equal subscriptions, the optimum has counts within one.
//
// Steps:
//  1. every member keeps the partitions it owned (the caller decides which claims are valid);
//  2. partitions no one owned go, most constrained first, to their least loaded subscriber;
//  3. cost-reducing paths that move only partitions no one owned;
//  4. cost-reducing paths that may move owned partitions, preferring unowned ones on every hop.
// Step 3 before step 4 is what lets a cooperative rebalance converge: when the previous round
// withheld partitions, their previous target is reachable by moving only them, so step 3 alone
// reaches the optimum again and step 4 moves nothing owned.

import { invariant } from "@castle/common";
import { type TopicPartition, tpKey } from "../subscription-state.js";
import type { AssignorMember } from "./assignor.js";
import { type AssignorInput, compareMembers, compareTopicPartitions, partitionsOf } from "./assignor-input.js";

/** What may move in a balancing step: only partitions no one owned, or any partition. */
type Movable = "unowned" | "any";

/** The partitions of one topic a member holds, split by whether the member owned them before. */
interface TopicHolding {
  readonly notOwned: number[];
  readonly owned: number[];
}

class MemberLoad {
  count = 0;
  readonly holdings = new Map<string, TopicHolding>();
  constructor(readonly member: AssignorMember) {}
}

/**
 * The balanced, sticky target for every member of `input` (lists sorted by topic then partition).
 * `previousOwners` maps tpKey to the one member that keeps the partition if balance allows; every
 * entry must name an existing partition and a member subscribed to its topic.
 */
export function stickyBalancedAssignment(input: AssignorInput, previousOwners: ReadonlyMap<string, string>): Map<string, TopicPartition[]> {
  const balancer = new StickyBalancer(input, previousOwners);
  balancer.placeUnowned();
  balancer.balance("unowned");
  balancer.balance("any");
  return balancer.assignment();
}

class StickyBalancer {
  /** memberId -> load, in compareMembers order. */
  private readonly loads = new Map<string, MemberLoad>();
  private readonly unowned: TopicPartition[] = [];

  constructor(
    private readonly input: AssignorInput,
    private readonly previousOwners: ReadonlyMap<string, string>,
  ) {
    for (const member of input.members) this.loads.set(member.memberId, new MemberLoad(member));
    for (const [topic, partitionCount] of input.topics) {
      for (let partition = 0; partition < partitionCount; partition++) {
        const owner = previousOwners.get(tpKey({ topic, partition }));
        if (owner === undefined) {
          this.unowned.push({ topic, partition });
        } else {
          invariant(input.isSubscribed(owner, topic), () => `previous owner '${owner}' of ${topic}-${partition} is not subscribed to it`);
          this.add(this.load(owner), topic, partition);
        }
      }
    }
  }

  /** Step 2: the topics with the fewest subscribers first, each partition to its least loaded subscriber. */
  placeUnowned(): void {
    const subscriberCount = (tp: TopicPartition) => this.input.subscribersOf(tp.topic).length;
    this.unowned.sort((a, b) => subscriberCount(a) - subscriberCount(b) || compareTopicPartitions(a, b));
    for (const { topic, partition } of this.unowned) {
      let least: MemberLoad | undefined;
      for (const subscriber of this.input.subscribersOf(topic)) {
        const load = this.load(subscriber.memberId);
        if (least === undefined || load.count < least.count) least = load;
      }
      invariant(least !== undefined, () => `no member subscribes to '${topic}'`);
      this.add(least, topic, partition);
    }
  }

  /** Steps 3 and 4: shift partitions along cost-reducing paths until none is left. */
  balance(movable: Movable): void {
    // Each shift lowers the sum of squared counts by at least 2, and it never goes below 0.
    let sumOfSquares = 0;
    for (const load of this.loads.values()) sumOfSquares += load.count * load.count;
    const shiftsMax = Math.floor(sumOfSquares / 2);
    for (let shifts = 0; ; shifts++) {
      const path = this.findCostReducingPath(movable);
      if (path === undefined) return;
      invariant(shifts < shiftsMax, () => `balancing did not converge after ${shifts} shifts`);
      for (let hop = 0; hop + 1 < path.length; hop++) {
        const from = path[hop];
        const to = path[hop + 1];
        invariant(from !== undefined && to !== undefined, "a path hop has two ends");
        this.shiftOne(from, to, movable);
      }
    }
  }

  assignment(): Map<string, TopicPartition[]> {
    const result = this.input.emptyAssignment();
    for (const [memberId, load] of this.loads) {
      const partitions = partitionsOf(result, memberId);
      for (const [topic, holding] of load.holdings) {
        for (const partition of [...holding.owned, ...holding.notOwned]) partitions.push({ topic, partition });
      }
      partitions.sort(compareTopicPartitions);
    }
    return result;
  }

  /**
   * From the most loaded members first, a path to the least loaded member reachable (the first
   * found breadth-first on a tie, so by a shortest path). Going to the least loaded, not merely to
   * one two below, keeps the members that will end one above the rest to those that owned the
   * most: with equal subscriptions only as many owned partitions move as balance needs.
   */
  private findCostReducingPath(movable: Movable): MemberLoad[] | undefined {
    const loads = [...this.loads.values()];
    const countMin = Math.min(...loads.map((l) => l.count));
    const sources = loads.filter((l) => l.count >= countMin + 2).sort((a, b) => b.count - a.count || compareMembers(a.member, b.member));
    for (const source of sources) {
      const path = this.searchFrom(source, movable);
      if (path !== undefined) return path;
    }
    return undefined;
  }

  private searchFrom(source: MemberLoad, movable: Movable): MemberLoad[] | undefined {
    const predecessor = new Map<MemberLoad, MemberLoad>();
    const queue: MemberLoad[] = [source];
    const visited = new Set<MemberLoad>(queue);
    // Once one member's hop over a topic has reached all its subscribers, no later hop over it reaches anyone new.
    const expandedTopics = new Set<string>();
    let end: MemberLoad | undefined;
    for (let head = 0; head < queue.length; head++) {
      const from = queue[head];
      invariant(from !== undefined, "the queue head is inside the queue");
      for (const topic of this.input.topicsOf(from.member.memberId)) {
        if (expandedTopics.has(topic) || this.movableCount(from, topic, movable) === 0) continue;
        expandedTopics.add(topic);
        for (const subscriber of this.input.subscribersOf(topic)) {
          const to = this.load(subscriber.memberId);
          if (visited.has(to)) continue;
          visited.add(to);
          predecessor.set(to, from);
          queue.push(to);
          if (to.count <= source.count - 2 && (end === undefined || to.count < end.count)) end = to;
        }
      }
    }
    return end === undefined ? undefined : pathTo(end, predecessor);
  }

  /** Moves one partition `to` subscribes to: one its holder did not own if there is one, else (if allowed) an owned one. */
  private shiftOne(from: MemberLoad, to: MemberLoad, movable: Movable): void {
    const kinds: readonly (keyof TopicHolding)[] = movable === "any" ? ["notOwned", "owned"] : ["notOwned"];
    for (const kind of kinds) {
      for (const topic of this.input.topicsOf(to.member.memberId)) {
        const partitions = from.holdings.get(topic)?.[kind];
        if (partitions === undefined || partitions.length === 0) continue;
        // The highest partition number moves, so a member keeps the low end of what it owned.
        let index = 0;
        for (let i = 1; i < partitions.length; i++) if ((partitions[i] ?? -1) > (partitions[index] ?? -1)) index = i;
        const [partition] = partitions.splice(index, 1);
        invariant(partition !== undefined, "the highest partition is in the list");
        from.count--;
        this.add(to, topic, partition);
        return;
      }
    }
    invariant(false, () => `'${from.member.memberId}' holds nothing movable that '${to.member.memberId}' subscribes to`);
  }

  private movableCount(load: MemberLoad, topic: string, movable: Movable): number {
    const holding = load.holdings.get(topic);
    if (holding === undefined) return 0;
    return holding.notOwned.length + (movable === "any" ? holding.owned.length : 0);
  }

  private add(load: MemberLoad, topic: string, partition: number): void {
    let holding = load.holdings.get(topic);
    if (holding === undefined) {
      holding = { notOwned: [], owned: [] };
      load.holdings.set(topic, holding);
    }
    const owned = this.previousOwners.get(tpKey({ topic, partition })) === load.member.memberId;
    (owned ? holding.owned : holding.notOwned).push(partition);
    load.count++;
  }

  private load(memberId: string): MemberLoad {
    const load = this.loads.get(memberId);
    invariant(load !== undefined, () => `unknown member '${memberId}'`);
    return load;
  }
}

function pathTo(end: MemberLoad, predecessor: ReadonlyMap<MemberLoad, MemberLoad>): MemberLoad[] {
  const path = [end];
  // A path visits each member at most once.
  for (let step = predecessor.get(end); step !== undefined; step = predecessor.get(step)) {
    path.unshift(step);
    invariant(path.length <= predecessor.size + 1, "the predecessor chain has no cycle");
  }
  return path;
}
