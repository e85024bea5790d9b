import { expect } from "chai";
import { SubscriptionState } from "../src/consumer/subscription-state.js";

const tp0 = { topic: "t", partition: 0 };
const tp1 = { topic: "t", partition: 1 };

describe("SubscriptionState", () => {
  it("starts without a position and resets by autoOffsetReset", () => {
    const s = new SubscriptionState("earliest");
    s.assign([tp0, tp1]);
    expect(s.position(tp0)).to.equal(null);
    expect(s.partitionsNeedingReset().map((n) => n.strategy)).to.deep.equal(["earliest", "earliest"]);
    s.completeReset(tp0, "earliest", 5);
    expect(s.position(tp0)).to.equal(5);
    expect(s.fetchable()).to.deep.equal([{ tp: tp0, position: 5 }]);
  });

  it("prefers an explicit seekToEnd over the default", () => {
    const s = new SubscriptionState("earliest");
    s.assign([tp0]);
    s.requestReset(tp0, "latest");
    expect(s.partitionsNeedingReset()).to.deep.equal([{ tp: tp0, strategy: "latest" }]);
    s.completeReset(tp0, "earliest", 0);
    expect(s.position(tp0), "a stale answer for another strategy is ignored").to.equal(null);
    s.completeReset(tp0, "latest", 42);
    expect(s.position(tp0)).to.equal(42);
  });

  it("a seek wins over a pending reset and over an in-flight fetch", () => {
    const s = new SubscriptionState("latest");
    s.assign([tp0]);
    s.seek(tp0, 10);
    s.completeReset(tp0, "latest", 99);
    expect(s.position(tp0)).to.equal(10);
    expect(s.advance(tp0, 10, 20)).to.equal(true);
    expect(s.position(tp0)).to.equal(20);
    s.seek(tp0, 3);
    expect(s.advance(tp0, 20, 30), "fetch from before the seek").to.equal(false);
    expect(s.position(tp0)).to.equal(3);
  });

  it("refuses to guess with autoOffsetReset none", () => {
    const s = new SubscriptionState("none");
    s.assign([tp0]);
    expect(() => s.partitionsNeedingReset()).to.throw(/autoOffsetReset is "none".*seek\(\)/);
    s.seek(tp0, 7);
    expect(() => s.handleOutOfRange(tp0, 7, "log starts at 9")).to.throw(/offset 7 is out of range for t-0 \(log starts at 9\)/);
  });

  it("resets on OFFSET_OUT_OF_RANGE by policy", () => {
    const s = new SubscriptionState("earliest");
    s.assign([tp0]);
    s.seek(tp0, 1000);
    s.handleOutOfRange(tp0, 1000, "");
    expect(s.position(tp0)).to.equal(null);
    expect(s.partitionsNeedingReset()).to.deep.equal([{ tp: tp0, strategy: "earliest" }]);
  });

  it("keeps positions of partitions that stay assigned", () => {
    const s = new SubscriptionState("earliest");
    s.assign([tp0, tp1]);
    s.seek(tp0, 4);
    s.assign([tp0]);
    expect(s.position(tp0)).to.equal(4);
    expect(() => s.position(tp1)).to.throw(/not assigned/);
  });

  it("rejects bad offsets and partitions", () => {
    const s = new SubscriptionState("earliest");
    expect(() => s.assign([{ topic: "t", partition: -1 }])).to.throw(/partitions are integers/);
    s.assign([tp0]);
    expect(() => s.seek(tp0, -5)).to.throw(/offsets are integers >= 0/);
  });
});
