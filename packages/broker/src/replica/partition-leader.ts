// A partition this node leads, as replication sees it (Kafka's Partition on the leader): where
// each follower's log ends, when it last caught up, the ISR as the controller last committed it
// (plus a change asked for and not answered yet), and the high watermark rule. Pure: times come
// in as arguments, the log is read through two numbers, and ISR changes are returned as
// requests for the caller to send (one at a time per partition).
//
// - A follower's fetch offset is its log end offset. It is caught up when that reaches the
//   leader's log end as of the fetch, or as of its previous fetch (Kafka's lastCaughtUpTime
//   rule), which tolerates a steady stream of appends.
// - The high watermark is the smallest log end offset over the ISR (the leader included); while
//   an expansion is in flight the joining replica counts too (Kafka's "maximal ISR"), so the
//   high watermark never moves past what a member of the next ISR lacks. It never goes back.
// - Expand: a follower outside the ISR whose log end reached the high watermark and this
//   leader epoch's start offset (so it holds everything this leader acknowledged) and that
//   caught up within replica.lag.time.max.ms. Shrink: an ISR member that has not caught up
//   for replica.lag.time.max.ms.

import type { PartitionState } from "@castle/metadata";

interface FollowerProgress {
  logEndOffset: number;
  lastFetchMs: number;
  lastCaughtUpMs: number;
  /** The leader's log end when it answered this follower's previous fetch. */
  leaderEndAtLastFetch: number;
}

/** An ISR change to ask the controller for. */
export interface IsrChange {
  readonly newIsr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly reason: "expand" | "shrink";
}

export class PartitionLeader {
  readonly leaderEpoch: number;
  private isrNow: readonly number[];
  private replicasNow: readonly number[];
  private partitionEpochNow: number;
  private pending: IsrChange | undefined;
  private readonly followers = new Map<number, FollowerProgress>();

  /**
   * `epochStartOffset`: this log's end when this node became leader in `state.leaderEpoch`.
   * `nowMs`: followers count as caught up at this moment, so none is shrunk before it had
   * replica.lag.time.max.ms to fetch from the new leader.
   */
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly topicId: string,
    readonly leaderId: number,
    state: PartitionState,
    readonly epochStartOffset: number,
    nowMs: number,
  ) {
    this.leaderEpoch = state.leaderEpoch;
    this.isrNow = [...state.isr];
    this.replicasNow = [...state.replicas];
    this.partitionEpochNow = state.partitionEpoch;
    for (const id of state.replicas) {
      if (id !== leaderId) this.followers.set(id, { logEndOffset: -1, lastFetchMs: -1, lastCaughtUpMs: nowMs, leaderEndAtLastFetch: -1 });
    }
  }

  get isr(): readonly number[] {
    return this.isrNow;
  }

  get partitionEpoch(): number {
    return this.partitionEpochNow;
  }

  get pendingChange(): IsrChange | undefined {
    return this.pending;
  }

  /** The image's view of the same leader epoch (a committed ISR change, or the controller's own, e.g. fencing). */
  updateFromImage(state: PartitionState): void {
    if (state.partitionEpoch <= this.partitionEpochNow) return;
    this.isrNow = [...state.isr];
    this.replicasNow = [...state.replicas];
    this.partitionEpochNow = state.partitionEpoch;
    this.pending = undefined;
  }

  /** The controller's answer to the pending change (its resulting state), or undefined when it was refused. */
  settleChange(result: { isr: readonly number[]; partitionEpoch: number } | undefined): void {
    if (result && result.partitionEpoch > this.partitionEpochNow) {
      this.isrNow = [...result.isr];
      this.partitionEpochNow = result.partitionEpoch;
    }
    this.pending = undefined;
  }

  isReplica(brokerId: number): boolean {
    return this.replicasNow.includes(brokerId);
  }

  /** Records a follower's fetch at `fetchOffset` while the leader's log ends at `leaderEnd`. */
  recordFetch(followerId: number, fetchOffset: number, leaderEnd: number, nowMs: number): void {
    const progress = this.followers.get(followerId);
    if (!progress) return;
    if (fetchOffset >= leaderEnd) progress.lastCaughtUpMs = nowMs;
    else if (progress.leaderEndAtLastFetch >= 0 && fetchOffset >= progress.leaderEndAtLastFetch) {
      progress.lastCaughtUpMs = Math.max(progress.lastCaughtUpMs, progress.lastFetchMs);
    }
    progress.logEndOffset = fetchOffset;
    progress.leaderEndAtLastFetch = leaderEnd;
    progress.lastFetchMs = nowMs;
  }

  /**
   * The high watermark the ISR allows, given the leader's log end; never below `current`.
   * Runs on every follower fetch, so it allocates nothing.
   */
  highWatermark(leaderEnd: number, current: number): number {
    let hw = this.smallestEnd(this.isrNow, leaderEnd);
    if (this.pending?.reason === "expand") hw = this.smallestEnd(this.pending.newIsr, hw);
    return Math.max(current, hw);
  }

  /** A change to ask for now, if any and none is in flight; it becomes the pending one. */
  nextIsrChange(
    highWatermark: number,
    nowMs: number,
    lagTimeMaxMs: number,
    eligible: (brokerId: number) => boolean,
  ): IsrChange | undefined {
    if (this.pending) return undefined;
    // Runs on every follower fetch: arrays are built only when there is a change to propose.
    const lagging = (id: number): boolean => {
      if (id === this.leaderId) return false;
      const progress = this.followers.get(id);
      return progress === undefined || nowMs - progress.lastCaughtUpMs > lagTimeMaxMs;
    };
    if (this.isrNow.some(lagging)) {
      return this.propose(
        this.isrNow.filter((id) => !lagging(id)),
        "shrink",
      );
    }
    const joins = (id: number, p: FollowerProgress): boolean =>
      !this.isrNow.includes(id) &&
      p.logEndOffset >= highWatermark &&
      p.logEndOffset >= this.epochStartOffset &&
      // Caught up lately, not only once: a follower that stopped fetching would be shrunk
      // again at once, and the ISR would flap with every other follower's fetch.
      nowMs - p.lastCaughtUpMs <= lagTimeMaxMs &&
      eligible(id);
    let anyJoins = false;
    for (const [id, p] of this.followers) anyJoins ||= joins(id, p);
    if (anyJoins) {
      const joining = [...this.followers].filter(([id, p]) => joins(id, p)).map(([id]) => id);
      return this.propose(
        [...this.isrNow, ...joining].sort((a, b) => a - b),
        "expand",
      );
    }
    return undefined;
  }

  /** Per follower: log end offset, lag behind `leaderEnd`, and ms since it last caught up. */
  followerLag(leaderEnd: number, nowMs: number): { brokerId: number; lagRecords: number; lagMs: number; inIsr: boolean }[] {
    return [...this.followers.entries()].map(([brokerId, p]) => ({
      brokerId,
      lagRecords: p.logEndOffset < 0 ? leaderEnd : Math.max(0, leaderEnd - p.logEndOffset),
      lagMs: Math.max(0, nowMs - p.lastCaughtUpMs),
      inIsr: this.isrNow.includes(brokerId),
    }));
  }

  /** The smallest of `bound` and the log ends of `members`' followers (-1 for one never heard from). */
  private smallestEnd(members: readonly number[], bound: number): number {
    let end = bound;
    for (const id of members) {
      if (id !== this.leaderId) end = Math.min(end, this.followers.get(id)?.logEndOffset ?? -1);
    }
    return end;
  }

  private propose(newIsr: readonly number[], reason: IsrChange["reason"]): IsrChange {
    this.pending = { newIsr, leaderEpoch: this.leaderEpoch, partitionEpoch: this.partitionEpochNow, reason };
    return this.pending;
  }
}
