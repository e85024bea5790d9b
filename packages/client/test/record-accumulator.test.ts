import { BATCH_HEADER_BYTES } from "@castle/protocol";
import { expect } from "chai";
import { estimateRecordBytes } from "../src/producer/producer-batch.js";
import { type DrainContext, RecordAccumulator } from "../src/producer/record-accumulator.js";

const leaderOne: DrainContext = { leaderFor: () => 1, canSendTo: () => true, isMuted: () => false };

function record(bytes: number) {
  const r = { key: null, value: Buffer.alloc(bytes, 1) };
  return { record: r, size: estimateRecordBytes(r) };
}

describe("RecordAccumulator", () => {
  it("closes a batch when the next record would pass batchSize", () => {
    const { record: r, size } = record(100);
    const perBatch = Math.floor((1000 - BATCH_HEADER_BYTES) / size);
    const acc = new RecordAccumulator({ batchSizeBytes: 1000, lingerMs: 1000, requestBytesMax: 1 << 20 });
    let newBatches = 0;
    for (let i = 0; i < perBatch * 3; i++) if (acc.append("t", 0, r, size, undefined, 0).newBatch) newBatches++;
    expect(newBatches, "one batch per batchSize worth of records").to.equal(3);
    const drained = acc.drain(0, leaderOne).get(1) ?? [];
    expect(
      drained.map((b) => b.recordCount),
      "full batches drain before linger",
    ).to.deep.equal([perBatch, perBatch]);
    expect(acc.queuedBatches).to.equal(1);
  });

  it("holds a non-full batch for lingerMs", () => {
    const { record: r, size } = record(10);
    const acc = new RecordAccumulator({ batchSizeBytes: 16384, lingerMs: 50, requestBytesMax: 1 << 20 });
    acc.append("t", 0, r, size, undefined, 100);
    expect(acc.drain(120, leaderOne).size, "not yet").to.equal(0);
    expect(acc.nextReadyDelayMs(120)).to.equal(30);
    expect(acc.drain(150, leaderOne).get(1)?.length, "after lingerMs").to.equal(1);
    expect(acc.nextReadyDelayMs(150)).to.equal(Number.POSITIVE_INFINITY);
  });

  it("sends lingering batches at once during a flush", () => {
    const { record: r, size } = record(10);
    const acc = new RecordAccumulator({ batchSizeBytes: 16384, lingerMs: 10_000, requestBytesMax: 1 << 20 });
    acc.append("t", 0, r, size, undefined, 0);
    acc.beginFlush();
    expect(acc.drain(1, leaderOne).get(1)?.length).to.equal(1);
  });

  it("gives a record larger than batchSize its own batch", () => {
    const { record: big, size } = record(5000);
    const acc = new RecordAccumulator({ batchSizeBytes: 1000, lingerMs: 0, requestBytesMax: 1 << 20 });
    expect(acc.append("t", 0, big, size, undefined, 0)).to.deep.equal({ newBatch: true, batchFull: true });
    expect(acc.append("t", 0, big, size, undefined, 0).newBatch).to.equal(true);
  });

  it("bounds one request by requestBytesMax but always sends one batch", () => {
    const { record: r, size } = record(400);
    const acc = new RecordAccumulator({ batchSizeBytes: 500, lingerMs: 0, requestBytesMax: 1200 });
    for (let i = 0; i < 5; i++) acc.append("t", 0, r, size, undefined, 0);
    const first = acc.drain(0, leaderOne).get(1) ?? [];
    expect(first.length, "two batches of ~480 bytes fit 1200").to.equal(2);
    expect(acc.queuedBatches).to.equal(3);
  });

  it("skips partitions whose leader is unknown or whose node is saturated", () => {
    const { record: r, size } = record(10);
    const acc = new RecordAccumulator({ batchSizeBytes: 16384, lingerMs: 0, requestBytesMax: 1 << 20 });
    acc.append("t", 0, r, size, undefined, 0);
    acc.append("t", 1, r, size, undefined, 0);
    const drained = acc.drain(0, { leaderFor: (_t, p) => (p === 0 ? -1 : 2), canSendTo: () => true, isMuted: () => false });
    expect([...drained.keys()]).to.deep.equal([2]);
    expect(acc.topicsWithoutLeader((_t, p) => (p === 0 ? -1 : 2))).to.deep.equal(["t"]);
    expect(acc.drain(0, { leaderFor: () => 1, canSendTo: () => false, isMuted: () => false }).size).to.equal(0);
  });

  it("puts retried batches back in creation order, after their back-off", () => {
    const { record: r, size } = record(10);
    const acc = new RecordAccumulator({ batchSizeBytes: 16384, lingerMs: 0, requestBytesMax: 1 << 20 });
    acc.append("t", 0, r, size, undefined, 0);
    const [a] = acc.drain(0, leaderOne).get(1) ?? [];
    acc.append("t", 0, r, size, undefined, 1);
    if (a === undefined) throw new Error("no batch");
    acc.reenqueue(a, 100);
    expect(acc.drain(50, leaderOne).size, "the head is backing off").to.equal(0);
    const again = acc.drain(100, leaderOne).get(1) ?? [];
    expect(again[0]).to.equal(a);
    expect(again.length).to.equal(2);
  });

  it("expires batches older than the delivery timeout", () => {
    const { record: r, size } = record(10);
    const acc = new RecordAccumulator({ batchSizeBytes: 16384, lingerMs: 0, requestBytesMax: 1 << 20 });
    acc.append("t", 0, r, size, undefined, 0);
    expect(acc.expire(99, 100)).to.have.length(0);
    expect(acc.expire(100, 100)).to.have.length(1);
    expect(acc.queuedBatches).to.equal(0);
  });
});
