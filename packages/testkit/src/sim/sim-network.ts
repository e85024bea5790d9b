// The simulated network: every message gets seeded decisions (drop, delay, duplicate), so
// reordering falls out of random delays. Partitions are a set of blocked directed links,
// checked when a message would be delivered, so a partition also catches what is in flight.
// Nothing here reads a clock or Math.random: time is the event queue's, chance is `random`'s.

import type { Random } from "@castle/common";
import type { Message, RaftNodeId } from "@castle/raft";
import type { EventQueue } from "./event-queue.js";
import type { Trace } from "./trace.js";

export interface NetworkFaults {
  /** Probability a message is lost. */
  readonly dropRate: number;
  /** Probability a message is delivered twice (each copy with its own delay). */
  readonly duplicateRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Probability a message is held much longer than usual (up to longDelayMaxMs): reorders across rounds. */
  readonly longDelayRate: number;
  readonly longDelayMaxMs: number;
}

export const RELIABLE_NETWORK: NetworkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayMinMs: 1,
  delayMaxMs: 3,
  longDelayRate: 0,
  longDelayMaxMs: 0,
};

export interface NetworkCounters {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Messages sent, by message type. */
  byType: Record<string, number>;
  /** Append messages that carried entries (not heartbeats or commit-only). */
  appendsWithEntries: number;
  /** Append responses that rejected (log mismatch): the back-up cost of a divergent log. */
  appendRejections: number;
}

export interface NetworkDeps {
  readonly queue: EventQueue;
  readonly random: Random;
  readonly trace: Trace;
  readonly now: () => number;
  /** Why the destination cannot take a message now ("down", "paused"...), or "" when it can. */
  readonly refusal: (message: Message) => string;
  /** Hand a message to its destination (after refusal() said ""). */
  readonly deliver: (message: Message) => void;
}

export class SimNetwork {
  faults: NetworkFaults;
  readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    byType: {},
    appendsWithEntries: 0,
    appendRejections: 0,
  };
  /** Blocked directed links, keyed `from * LINK_KEY + to`. */
  private readonly blocked = new Set<number>();

  constructor(
    private readonly deps: NetworkDeps,
    faults: NetworkFaults = RELIABLE_NETWORK,
  ) {
    this.faults = faults;
  }

  send(message: Message): void {
    const { random } = this.deps;
    const faults = this.faults;
    this.counters.sent++;
    this.counters.byType[message.type] = (this.counters.byType[message.type] ?? 0) + 1;
    if (message.type === "append" && message.entries.length > 0) this.counters.appendsWithEntries++;
    if (message.type === "append-response" && !message.success) this.counters.appendRejections++;
    if (faults.dropRate > 0 && random.next() < faults.dropRate) {
      this.counters.dropped++;
      this.deps.trace.message(this.deps.now(), message, "dropped");
      return;
    }
    this.schedule(message);
    if (faults.duplicateRate > 0 && random.next() < faults.duplicateRate) {
      this.counters.duplicated++;
      this.schedule(message);
    }
  }

  /** Block from -> to (one way). */
  block(from: RaftNodeId, to: RaftNodeId): void {
    this.blocked.add(from * LINK_KEY + to);
  }

  /** Block both directions between every node of `a` and every node of `b`. */
  partition(a: readonly RaftNodeId[], b: readonly RaftNodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.block(x, y);
        this.block(y, x);
      }
    }
  }

  /** Cut `node` off from everyone in `others`, both ways. */
  isolate(node: RaftNodeId, others: readonly RaftNodeId[]): void {
    this.partition([node], others);
  }

  isBlocked(from: RaftNodeId, to: RaftNodeId): boolean {
    return this.blocked.has(from * LINK_KEY + to);
  }

  healPartitions(): void {
    this.blocked.clear();
  }

  private schedule(message: Message): void {
    const { random, queue } = this.deps;
    const faults = this.faults;
    let delay = faults.delayMinMs + random.int(faults.delayMaxMs - faults.delayMinMs + 1);
    if (faults.longDelayRate > 0 && random.next() < faults.longDelayRate) delay += random.int(faults.longDelayMaxMs + 1);
    queue.push(this.deps.now() + delay, () => this.arrive(message));
  }

  private arrive(message: Message): void {
    if (this.blocked.has(message.from * LINK_KEY + message.to)) {
      this.counters.dropped++;
      this.deps.trace.message(this.deps.now(), message, "partitioned");
      return;
    }
    const refused = this.deps.refusal(message);
    if (refused !== "") {
      this.counters.dropped++;
      this.deps.trace.message(this.deps.now(), message, refused);
      return;
    }
    this.counters.delivered++;
    this.deps.trace.message(this.deps.now(), message);
    this.deps.deliver(message);
  }
}

const LINK_KEY = 1 << 16;
