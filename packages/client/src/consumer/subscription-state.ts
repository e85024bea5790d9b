// Which partitions the consumer reads and where: the fetch position of each assigned
// partition, and pending offset resets. Pure: no I/O, no timers; the Consumer drives it.
//
// Transitions per partition: assigned (no position) --reset/seek--> positioned --fetch--> advanced.
// A partition without a position resets with its requested strategy, else autoOffsetReset;
// "none" refuses and names the fix (Kafka's NoOffsetForPartitionException).

import { protocolError } from "@castle/protocol";

export interface TopicPartition {
  topic: string;
  partition: number;
}

export type OffsetResetStrategy = "earliest" | "latest" | "none";

interface PartitionState {
  tp: TopicPartition;
  /** The offset of the next record to fetch; null until seeked or reset. */
  position: number | null;
  /** An explicit seekToBeginning/seekToEnd waiting for ListOffsets. */
  resetRequested: "earliest" | "latest" | null;
}

export function tpKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

export function formatTp(tp: TopicPartition): string {
  return `${tp.topic}-${tp.partition}`;
}

export class SubscriptionState {
  private readonly partitions = new Map<string, PartitionState>();

  constructor(readonly defaultReset: OffsetResetStrategy) {}

  /** Replaces the assignment; partitions that stay keep their positions. */
  assign(tps: readonly TopicPartition[]): void {
    const next = new Map<string, PartitionState>();
    for (const tp of tps) {
      if (!Number.isInteger(tp.partition) || tp.partition < 0) {
        throw protocolError(
          "UNKNOWN_TOPIC_OR_PARTITION",
          `cannot assign partition ${tp.partition} of '${tp.topic}': partitions are integers >= 0`,
        );
      }
      const key = tpKey(tp);
      next.set(key, this.partitions.get(key) ?? { tp: { topic: tp.topic, partition: tp.partition }, position: null, resetRequested: null });
    }
    this.partitions.clear();
    for (const [key, state] of next) this.partitions.set(key, state);
  }

  assigned(): TopicPartition[] {
    return [...this.partitions.values()].map((s) => s.tp);
  }

  isAssigned(tp: TopicPartition): boolean {
    return this.partitions.has(tpKey(tp));
  }

  private state(tp: TopicPartition): PartitionState {
    const state = this.partitions.get(tpKey(tp));
    if (state === undefined) {
      throw protocolError("INVALID_REQUEST", `partition ${formatTp(tp)} is not assigned to this consumer: call assign() first`);
    }
    return state;
  }

  seek(tp: TopicPartition, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw protocolError("INVALID_REQUEST", `cannot seek ${formatTp(tp)} to ${offset}: offsets are integers >= 0`);
    }
    const state = this.state(tp);
    state.position = offset;
    state.resetRequested = null;
  }

  requestReset(tp: TopicPartition, strategy: "earliest" | "latest"): void {
    const state = this.state(tp);
    state.position = null;
    state.resetRequested = strategy;
  }

  /** The next offset to fetch, or null while a reset is pending. */
  position(tp: TopicPartition): number | null {
    return this.state(tp).position;
  }

  /**
   * Partitions that need a ListOffsets lookup, with the strategy to use. Throws for a
   * partition with no position when autoOffsetReset is "none".
   */
  partitionsNeedingReset(): { tp: TopicPartition; strategy: "earliest" | "latest" }[] {
    const out: { tp: TopicPartition; strategy: "earliest" | "latest" }[] = [];
    for (const state of this.partitions.values()) {
      if (state.position !== null) continue;
      const strategy = state.resetRequested ?? this.defaultReset;
      if (strategy === "none") {
        throw protocolError(
          "OFFSET_OUT_OF_RANGE",
          `no position for ${formatTp(state.tp)} and autoOffsetReset is "none": call seek(), seekToBeginning() or seekToEnd(), or set autoOffsetReset to "earliest" or "latest"`,
        );
      }
      out.push({ tp: state.tp, strategy });
    }
    return out;
  }

  /** Applies a ListOffsets answer, unless a seek overtook it. */
  completeReset(tp: TopicPartition, strategy: "earliest" | "latest", offset: number): void {
    const state = this.partitions.get(tpKey(tp));
    if (state === undefined || state.position !== null) return;
    if ((state.resetRequested ?? this.defaultReset) !== strategy) return;
    state.position = offset;
    state.resetRequested = null;
  }

  /** Partitions with a position, ready to fetch. */
  fetchable(): { tp: TopicPartition; position: number }[] {
    const out: { tp: TopicPartition; position: number }[] = [];
    for (const state of this.partitions.values()) if (state.position !== null) out.push({ tp: state.tp, position: state.position });
    return out;
  }

  /** Moves the position forward after a fetch from `fetchedFrom`; ignored if the position moved meanwhile (a seek). */
  advance(tp: TopicPartition, fetchedFrom: number, nextOffset: number): boolean {
    const state = this.partitions.get(tpKey(tp));
    if (state === undefined || state.position !== fetchedFrom) return false;
    if (nextOffset > state.position) state.position = nextOffset;
    return true;
  }

  /** OFFSET_OUT_OF_RANGE for a fetch from `fetchedFrom`: reset by policy, or throw when it is "none". */
  handleOutOfRange(tp: TopicPartition, fetchedFrom: number, serverMessage: string): void {
    const state = this.partitions.get(tpKey(tp));
    if (state === undefined || state.position !== fetchedFrom) return;
    if (this.defaultReset === "none") {
      throw protocolError(
        "OFFSET_OUT_OF_RANGE",
        `offset ${fetchedFrom} is out of range for ${formatTp(tp)}${serverMessage ? ` (${serverMessage})` : ""}: seek to a valid offset, or set autoOffsetReset to "earliest" or "latest"`,
      );
    }
    state.position = null;
    state.resetRequested = this.defaultReset;
  }
}
