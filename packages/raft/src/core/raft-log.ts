// The core's view of its log: what storage holds (stable) followed by what the core has
// appended but the driver has not yet persisted (unstable). Entries at index >= unstableOffset
// come from the unstable part even when storage still holds an older suffix there (a
// truncation not yet persisted). A snapshot received from the leader is unstable until the
// driver persists it; meanwhile it replaces everything stored.

import { invariant } from "@castle/common";
import type { Entry, RaftLogStorage, Snapshot } from "./types.js";

export class RaftLog {
  /** Highest index known committed (§3.6); never decreases. */
  committed: number;
  private unstableOffset: number;
  private unstableEntries: Entry[] = [];
  private unstableSnapshot: Snapshot | undefined = undefined;

  constructor(
    private readonly storage: RaftLogStorage,
    committed: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = committed;
    invariant(committed <= storage.lastIndex(), () => `commit ${committed} beyond stored last index ${storage.lastIndex()}`);
  }

  firstIndex(): number {
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index;
    return this.unstableOffset - 1;
  }

  /** Term at index; undefined if compacted away or beyond the last index. */
  term(index: number): number | undefined {
    if (index > this.lastIndex() || index < 0) return undefined;
    if (index >= this.unstableOffset) return this.unstableEntries[index - this.unstableOffset]?.term;
    if (this.unstableSnapshot !== undefined) {
      return index === this.unstableSnapshot.meta.index ? this.unstableSnapshot.meta.term : undefined;
    }
    if (index === 0) return 0;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== undefined, () => `no term for last index ${this.lastIndex()}`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §3.6.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at least one if any, within maxBytes; undefined if lo was compacted. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    let result: Entry[] = [];
    let bytes = 0;
    if (lo < this.unstableOffset) {
      const storedHi = Math.min(hi, this.unstableOffset);
      result = this.storage.entries(lo, storedHi, maxBytes);
      for (const entry of result) bytes += entry.data.length;
      if (result.length < storedHi - lo) return result;
    }
    for (let index = Math.max(lo, this.unstableOffset); index < hi; index++) {
      const entry = this.unstableEntries[index - this.unstableOffset];
      invariant(entry !== undefined, () => `unstable entry ${index} missing`);
      bytes += entry.data.length;
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  /** Appends after truncating any suffix from entries[0].index; never touches committed entries. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    invariant(first.index > this.committed, () => `append at ${first.index} would overwrite committed ${this.committed}`);
    invariant(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (const [i, entry] of entries.entries()) {
      invariant(entry.index === first.index + i, "appended entries must be contiguous");
    }
    if (first.index >= this.unstableOffset) {
      this.unstableEntries.length = first.index - this.unstableOffset;
    } else {
      // Truncating into stored entries: keep the unstable tail only from first.index.
      this.unstableOffset = first.index;
      this.unstableEntries = [];
    }
    this.unstableEntries.push(...entries);
  }

  /**
   * The follower side of AppendEntries (§3.5): the index of the first entry that is absent or
   * whose term differs from ours, or 0 if we already hold them all.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index ≤ index whose term is ≤ term (or the first index whose
   * term is unknown). Skips a whole term of divergent entries per round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    index = Math.min(index, this.lastIndex());
    for (; index > 0; index--) {
      const ours = this.term(index);
      if (ours === undefined || ours <= term) return index;
    }
    return 0;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Replace the log by a leader's snapshot (the follower's log then starts at index + 1). */
  restore(snapshot: Snapshot): void {
    invariant(snapshot.meta.index > this.committed, () => `snapshot ${snapshot.meta.index} not beyond commit ${this.committed}`);
    this.unstableSnapshot = snapshot;
    this.unstableEntries = [];
    this.unstableOffset = snapshot.meta.index + 1;
    this.committed = snapshot.meta.index;
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.unstableSnapshot;
  }

  unstable(): readonly Entry[] {
    return this.unstableEntries;
  }

  /** Highest index known to be in storage (not counting entries the driver is persisting now). */
  stableLastIndex(): number {
    return this.unstableOffset - 1;
  }

  /** The driver persisted entries through (index, term): drop them from the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const entry = this.unstableEntries[index - this.unstableOffset];
    if (entry === undefined || entry.term !== term) return; // replaced meanwhile; persisted again later
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot?.meta.index === index) this.unstableSnapshot = undefined;
  }
}
