// Leader epoch -> first offset written in that epoch (Kafka's leader-epoch-checkpoint,
// KIP-101/KIP-279), so a follower can find where its log diverges from the leader's. Entries
// have strictly increasing epochs and non-decreasing start offsets. Persisted as LevelDB
// keys; rebuilt from batch headers when the index is rebuilt.

import { invariant } from "@castle/common";

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

/** Epoch entries kept; older ones are dropped first (they precede any divergence point that matters). */
export const EPOCH_ENTRIES_MAX = 10_000;

export class LeaderEpochCache {
  private entries: EpochEntry[] = [];

  get latest(): EpochEntry | undefined {
    return this.entries[this.entries.length - 1];
  }

  all(): readonly EpochEntry[] {
    return this.entries;
  }

  /** Records that `epoch` starts at `startOffset`; returns true if that is a new entry. */
  assign(epoch: number, startOffset: number): boolean {
    if (epoch < 0) return false;
    const latest = this.latest;
    if (latest !== undefined && epoch <= latest.epoch) return false;
    invariant(
      latest === undefined || startOffset >= latest.startOffset,
      `epoch ${epoch} starts at ${startOffset}, before epoch ${latest?.epoch}`,
    );
    this.entries.push({ epoch, startOffset });
    if (this.entries.length > EPOCH_ENTRIES_MAX) this.entries.shift();
    return true;
  }

  /**
   * The largest epoch <= `epoch` and the offset where the next epoch starts (or logEndOffset):
   * the answer to OffsetsForLeaderEpoch. Undefined when no epoch <= `epoch` is known.
   */
  endOffsetFor(epoch: number, logEndOffset: number): { epoch: number; endOffset: number } | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i] as EpochEntry;
      if (entry.epoch <= epoch) {
        const next = this.entries[i + 1];
        return { epoch: entry.epoch, endOffset: next === undefined ? logEndOffset : next.startOffset };
      }
    }
    return undefined;
  }

  /** Drops entries starting at or after `offset` (the log was truncated there); returns the dropped epochs. */
  truncateFromEnd(offset: number): number[] {
    const dropped: number[] = [];
    while (this.entries.length > 0 && (this.latest as EpochEntry).startOffset >= offset) {
      dropped.push((this.entries.pop() as EpochEntry).epoch);
    }
    return dropped;
  }

  /** Moves the first entry's start up to `offset` after old segments were deleted; returns the dropped epochs. */
  truncateFromStart(offset: number): number[] {
    const dropped: number[] = [];
    while (this.entries.length > 1 && (this.entries[1] as EpochEntry).startOffset <= offset) {
      dropped.push((this.entries.shift() as EpochEntry).epoch);
    }
    const first = this.entries[0];
    if (first !== undefined && first.startOffset < offset) first.startOffset = offset;
    return dropped;
  }
}
