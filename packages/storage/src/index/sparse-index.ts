// The in-memory sparse index of one segment: (relative offset, position, running max
// timestamp) for one batch every index.interval.bytes. It answers both offset lookups (the
// batch to start scanning from) and timestamp lookups (Kafka's time index: the running max
// timestamp is non-decreasing). Stored as growable typed arrays: 16 bytes per entry.

import { invariant } from "@castle/common";

const INITIAL_CAPACITY = 16;

export class SparseIndex {
  private relativeOffsets = new Int32Array(INITIAL_CAPACITY);
  private positions = new Int32Array(INITIAL_CAPACITY);
  private maxTimestamps = new Float64Array(INITIAL_CAPACITY);
  private count = 0;

  constructor(readonly baseOffset: number) {}

  get length(): number {
    return this.count;
  }

  offsetAt(i: number): number {
    return this.baseOffset + (this.relativeOffsets[i] as number);
  }
  positionAt(i: number): number {
    return this.positions[i] as number;
  }
  maxTimestampAt(i: number): number {
    return this.maxTimestamps[i] as number;
  }

  /** Appends an entry; offsets and positions must strictly increase. */
  add(offset: number, position: number, maxTimestamp: number): void {
    const relative = offset - this.baseOffset;
    invariant(relative >= 0 && relative <= 0x7fffffff, `index offset ${offset} outside segment ${this.baseOffset}`);
    if (this.count > 0) {
      invariant(relative > (this.relativeOffsets[this.count - 1] as number), `index offset ${offset} does not increase`);
      invariant(position > (this.positions[this.count - 1] as number), `index position ${position} does not increase`);
    }
    if (this.count === this.relativeOffsets.length) this.grow();
    this.relativeOffsets[this.count] = relative;
    this.positions[this.count] = position;
    this.maxTimestamps[this.count] = maxTimestamp;
    this.count++;
  }

  /** Index of the last entry with offset <= `offset`, or -1. */
  floorByOffset(offset: number): number {
    const relative = offset - this.baseOffset;
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.relativeOffsets[mid] as number) <= relative) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  /** Index of the last entry whose running max timestamp is < `timestampMs`, or -1. */
  lastBeforeTimestamp(timestampMs: number): number {
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.maxTimestamps[mid] as number) < timestampMs) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  /** Drops entries with offset >= `offset`. */
  truncateFrom(offset: number): void {
    this.count = this.floorByOffset(offset - 1) + 1;
  }

  clear(): void {
    this.count = 0;
  }

  private grow(): void {
    const capacity = this.relativeOffsets.length * 2;
    const relativeOffsets = new Int32Array(capacity);
    relativeOffsets.set(this.relativeOffsets);
    const positions = new Int32Array(capacity);
    positions.set(this.positions);
    const maxTimestamps = new Float64Array(capacity);
    maxTimestamps.set(this.maxTimestamps);
    this.relativeOffsets = relativeOffsets;
    this.positions = positions;
    this.maxTimestamps = maxTimestamps;
  }
}
