// The leader's view of one peer's log (etcd's tracker.Progress; thesis §3.5, §10.2.1).
// probe: one append per heartbeat interval until the match point is found;
// replicate: pipelined appends, nextIndex advanced optimistically, at most
//   inflightAppendsMax unacknowledged messages (the Inflights queue);
// snapshot: the peer needs entries the leader compacted; chunks are sent stop-and-wait.

import { invariant } from "@castle/common";
import type { PeerProgress, ProgressState, RaftNodeId, Snapshot } from "../core/types.js";

/** Last indices of unacknowledged append messages, oldest first, bounded by inflightAppendsMax. */
export class Inflights {
  private readonly lastIndices: number[] = [];
  constructor(readonly inflightAppendsMax: number) {
    invariant(inflightAppendsMax > 0, "inflightAppendsMax must be positive");
  }
  get count(): number {
    return this.lastIndices.length;
  }
  get full(): boolean {
    return this.lastIndices.length >= this.inflightAppendsMax;
  }
  add(lastIndex: number): void {
    invariant(!this.full, "inflight appends over the limit");
    const newest = this.lastIndices[this.lastIndices.length - 1];
    invariant(newest === undefined || lastIndex > newest, () => `inflight ${lastIndex} not after ${newest}`);
    this.lastIndices.push(lastIndex);
  }
  /** Acknowledges every message whose last index is ≤ index. */
  freeTo(index: number): void {
    let freed = 0;
    while (freed < this.lastIndices.length && (this.lastIndices[freed] ?? 0) <= index) freed++;
    this.lastIndices.splice(0, freed);
  }
  reset(): void {
    this.lastIndices.length = 0;
  }
}

export class Progress {
  matchIndex = 0;
  nextIndex: number;
  state: ProgressState = "probe";
  /** probe: an append is outstanding; cleared by any response or the next heartbeat. */
  probeSent = false;
  /** Heard from within the current check-quorum window (§6.2). */
  recentActive = false;
  readonly inflights: Inflights;
  /** snapshot state: what is being sent and the next byte to send. */
  snapshot: Snapshot | undefined = undefined;
  snapshotOffset = 0;
  /** snapshot state: a snapshot response arrived since the last heartbeat (else the chunk is resent). */
  snapshotHeard = false;

  constructor(
    readonly id: RaftNodeId,
    nextIndex: number,
    inflightAppendsMax: number,
    public isObserver: boolean,
  ) {
    this.nextIndex = nextIndex;
    this.inflights = new Inflights(inflightAppendsMax);
  }

  becomeProbe(): void {
    const snapshotIndex = this.state === "snapshot" ? (this.snapshot?.meta.index ?? 0) : 0;
    this.state = "probe";
    this.nextIndex = Math.max(this.matchIndex + 1, snapshotIndex + 1);
    this.resetSending();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.nextIndex = this.matchIndex + 1;
    this.resetSending();
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = "snapshot";
    this.resetSending();
    this.snapshot = snapshot;
    this.snapshotOffset = 0;
  }

  /** A successful acknowledgement up to index; false if it told us nothing new. */
  maybeUpdate(index: number): boolean {
    this.probeSent = false;
    if (index <= this.matchIndex) return false;
    this.matchIndex = index;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.inflights.freeTo(index);
    return true;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejected`, with the next index to
   * try (from the fast back-off hint). False if the rejection is stale (§5.3 optimisation).
   */
  maybeDecreaseTo(rejected: number, probeFrom: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejected) return false;
    this.nextIndex = Math.max(Math.min(rejected, probeFrom + 1), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append covering up to lastIndex as sent (optimistic in replicate state). */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.nextIndex = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** Whether the leader must hold further appends to this peer. */
  get paused(): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "replicate") return this.inflights.full;
    return true;
  }

  view(): PeerProgress {
    return {
      id: this.id,
      matchIndex: this.matchIndex,
      nextIndex: this.nextIndex,
      state: this.state,
      inflight: this.inflights.count,
      recentActive: this.recentActive,
      isObserver: this.isObserver,
      pendingSnapshotIndex: this.snapshot?.meta.index ?? 0,
      snapshotOffset: this.snapshotOffset,
    };
  }

  private resetSending(): void {
    this.probeSent = false;
    this.inflights.reset();
    this.snapshot = undefined;
    this.snapshotOffset = 0;
    this.snapshotHeard = false;
  }
}
