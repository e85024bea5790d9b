// PartitionLeader's pure rules: the high watermark over the ISR, Kafka's caught-up rule, and
// when to shrink or expand the ISR (one change in flight at a time).

import type { PartitionState } from "@castle/metadata";
import { expect } from "chai";
import { PartitionLeader } from "../src/replica/partition-leader.js";

const LAG_MS = 1000;
const state = (isr: number[], partitionEpoch = 1): PartitionState => ({
  topicId: "t-id",
  partition: 0,
  replicas: [1, 2, 3],
  isr,
  leader: 1,
  leaderEpoch: 4,
  partitionEpoch,
});
const live = () => true;

describe("PartitionLeader", () => {
  it("moves the high watermark to the smallest log end in the ISR, never back", () => {
    const leader = new PartitionLeader("t", 0, "t-id", 1, state([1, 2, 3]), 0, 0);
    expect(leader.highWatermark(10, 0), "followers unknown yet").to.equal(0);
    leader.recordFetch(2, 10, 10, 5);
    leader.recordFetch(3, 6, 10, 5);
    expect(leader.highWatermark(10, 0)).to.equal(6);
    leader.recordFetch(3, 4, 10, 6);
    expect(leader.highWatermark(10, 6), "never below the current one").to.equal(6);
  });

  it("shrinks a member that has not caught up for the lag time, then waits for the answer", () => {
    const leader = new PartitionLeader("t", 0, "t-id", 1, state([1, 2, 3]), 0, 0);
    leader.recordFetch(2, 10, 10, 900);
    leader.recordFetch(3, 3, 10, 900);
    expect(leader.nextIsrChange(3, 900, LAG_MS, live), "within the lag time").to.equal(undefined);
    const change = leader.nextIsrChange(3, 1001, LAG_MS, live);
    expect(change).to.deep.include({ newIsr: [1, 2], reason: "shrink", leaderEpoch: 4, partitionEpoch: 1 });
    expect(leader.nextIsrChange(3, 5000, LAG_MS, live), "one change in flight").to.equal(undefined);
    leader.settleChange({ isr: [1, 2], partitionEpoch: 2 });
    expect(leader.isr).to.deep.equal([1, 2]);
    expect(leader.partitionEpoch).to.equal(2);
  });

  it("expands a follower that caught up lately, but not one whose last catch-up is older than the lag time", () => {
    const leader = new PartitionLeader("t", 0, "t-id", 1, state([1, 2]), 0, 0);
    leader.recordFetch(2, 10, 10, 2000);
    // Follower 3 caught up long ago and stopped fetching: its log end still reaches the high
    // watermark, but adding it would only be undone at the next shrink check (ISR flapping).
    leader.recordFetch(3, 10, 10, 100);
    expect(leader.nextIsrChange(10, 2000, LAG_MS, live)).to.equal(undefined);
    leader.recordFetch(3, 10, 10, 2001);
    expect(leader.nextIsrChange(10, 2001, LAG_MS, live)).to.deep.include({ newIsr: [1, 2, 3], reason: "expand" });
  });

  it("expands only a live replica that holds this epoch's start", () => {
    const leader = new PartitionLeader("t", 0, "t-id", 1, state([1, 2]), 8, 0);
    leader.recordFetch(2, 10, 10, 50);
    leader.recordFetch(3, 7, 7, 50);
    expect(leader.nextIsrChange(7, 50, LAG_MS, live), "below the epoch start").to.equal(undefined);
    leader.recordFetch(3, 10, 10, 60);
    expect(
      leader.nextIsrChange(10, 60, LAG_MS, (id) => id !== 3),
      "fenced",
    ).to.equal(undefined);
    expect(leader.nextIsrChange(10, 60, LAG_MS, live)).to.deep.include({ newIsr: [1, 2, 3] });
  });

  it("follows the image's newer partition epoch and drops a change it overtook", () => {
    const leader = new PartitionLeader("t", 0, "t-id", 1, state([1, 2, 3]), 0, 0);
    leader.recordFetch(2, 0, 0, 5000);
    expect(leader.nextIsrChange(0, 5000, LAG_MS, live)?.reason).to.equal("shrink");
    leader.updateFromImage(state([1, 2], 3));
    expect(leader.pendingChange).to.equal(undefined);
    expect(leader.isr).to.deep.equal([1, 2]);
    leader.updateFromImage(state([1, 2, 3], 2));
    expect(leader.isr, "an older image changes nothing").to.deep.equal([1, 2]);
  });
});
