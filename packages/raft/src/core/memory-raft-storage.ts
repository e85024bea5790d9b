// In-memory RaftLogStorage: the log the core reads, written by a driver from Ready (etcd's
// MemoryStorage). Used by tests and the simulator, and as the in-memory half of the LevelDB
// adapter. The log is [compactedIndex+1, lastIndex]; compactedIndex/compactedTerm stand in
// for the entries dropped by compact(), which a snapshot at or above them must cover.

import { invariant } from "@castle/common";
import type { ConfState, Entry, HardState, RaftLogStorage, Snapshot } from "./types.js";

const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
const EMPTY_CONF_STATE: ConfState = { voters: [], observers: [] };

export interface MemoryRaftStorageInit {
  readonly hardState?: HardState;
  /**
   * Membership when there is no snapshot (or to override the snapshot's). Only for a cluster
   * whose membership never grows (tests): a cluster that may add members must start from
   * bootstrapSnapshot(), or a joiner never learns the initial members.
   */
  readonly confState?: ConfState;
  readonly snapshot?: Snapshot;
  /** Must start at snapshot index + 1 (or 1 without a snapshot) and be contiguous. */
  readonly entries?: readonly Entry[];
}

export class MemoryRaftStorage implements RaftLogStorage {
  private hard: HardState;
  private conf: ConfState;
  private latestSnapshot: Snapshot | undefined;
  private compactedIndex: number;
  private compactedTerm: number;
  /** log[i] has index compactedIndex + 1 + i. */
  private log: Entry[];

  constructor(init: MemoryRaftStorageInit = {}) {
    this.hard = init.hardState ?? EMPTY_HARD_STATE;
    this.latestSnapshot = init.snapshot;
    this.conf = init.confState ?? init.snapshot?.meta.confState ?? EMPTY_CONF_STATE;
    this.compactedIndex = init.snapshot?.meta.index ?? 0;
    this.compactedTerm = init.snapshot?.meta.term ?? 0;
    this.log = [];
    const entries = init.entries ?? [];
    for (const [i, entry] of entries.entries()) {
      invariant(
        entry.index === this.compactedIndex + 1 + i,
        () => `initial entries must start at ${this.compactedIndex + 1} and be contiguous`,
      );
    }
    this.log = [...entries];
  }

  // ---- RaftLogStorage (read side) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hard, confState: this.conf };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    invariant(lo > this.compactedIndex, () => `entries(${lo}) compacted (first index ${this.firstIndex()})`);
    invariant(hi <= this.lastIndex() + 1 && lo <= hi, () => `entries(${lo}, ${hi}) out of range (last index ${this.lastIndex()})`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.log[index - this.compactedIndex - 1];
      invariant(entry !== undefined, () => `missing entry ${index}`);
      bytes += entry.data.length;
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.compactedIndex - 1]?.term;
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.log.length;
  }

  snapshot(): Snapshot | undefined {
    return this.latestSnapshot;
  }

  // ---- write side (the driver, from Ready) ----

  get hardState(): HardState {
    return this.hard;
  }

  /** Membership as of the latest snapshot (or bootstrap): what a restarted core starts from. */
  get confState(): ConfState {
    return this.conf;
  }

  /** Truncates any stored suffix from entries[0].index, then appends. Entries already compacted are skipped. */
  append(entries: readonly Entry[]): void {
    const fresh = entries.filter((entry) => entry.index > this.compactedIndex);
    const first = fresh[0];
    if (first === undefined) return;
    invariant(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (const [i, entry] of fresh.entries()) {
      invariant(entry.index === first.index + i, "appended entries must be contiguous");
    }
    this.log.length = first.index - this.compactedIndex - 1;
    this.log.push(...fresh);
  }

  setHardState(hardState: HardState): void {
    invariant(hardState.term >= this.hard.term, () => `term went back from ${this.hard.term} to ${hardState.term}`);
    this.hard = hardState;
  }

  /** Discards the whole log and resets it to the snapshot (a follower installing its leader's snapshot). */
  applySnapshot(snapshot: Snapshot): void {
    invariant(snapshot.meta.index >= this.compactedIndex, () => `snapshot ${snapshot.meta.index} older than ${this.compactedIndex}`);
    this.latestSnapshot = snapshot;
    this.conf = snapshot.meta.confState;
    this.compactedIndex = snapshot.meta.index;
    this.compactedTerm = snapshot.meta.term;
    this.log = [];
  }

  /** Records the state machine's snapshot at `index` (≤ applied, so ≤ commit); the log is kept until compact(). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    invariant(index <= this.hard.commit, () => `snapshot at ${index} beyond commit ${this.hard.commit}`);
    const previous = this.latestSnapshot?.meta.index ?? 0;
    invariant(index >= previous, () => `snapshot at ${index} older than ${previous}`);
    const term = this.term(index);
    invariant(term !== undefined, () => `snapshot at ${index}: entry compacted or absent`);
    const snapshot: Snapshot = { meta: { index, term, confState }, data };
    this.latestSnapshot = snapshot;
    this.conf = confState;
    return snapshot;
  }

  /** Drops entries ≤ index. The latest snapshot must cover index. */
  compact(index: number): void {
    if (index <= this.compactedIndex) return;
    const snapshotIndex = this.latestSnapshot?.meta.index ?? 0;
    invariant(index <= snapshotIndex, () => `compact(${index}) beyond snapshot ${snapshotIndex}`);
    invariant(index <= this.lastIndex(), () => `compact(${index}) beyond last index ${this.lastIndex()}`);
    const term = this.term(index);
    invariant(term !== undefined, () => `compact(${index}): no term`);
    this.log = this.log.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  /** A copy sharing no mutable state: what "survived on disk" when the simulator crashes a node. */
  clone(): MemoryRaftStorage {
    const copy = new MemoryRaftStorage({ hardState: this.hard, confState: this.conf });
    copy.latestSnapshot = this.latestSnapshot;
    copy.compactedIndex = this.compactedIndex;
    copy.compactedTerm = this.compactedTerm;
    copy.log = [...this.log];
    return copy;
  }
}
