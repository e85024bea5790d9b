import { ManualClock } from "@castle/common";
import { decodeRecordBatches, ProtocolError, readBatchHeader } from "@castle/protocol";
import { expect } from "chai";
import type { LogManager, PartitionLog } from "../src/index.js";
import { asStored, batchOf, config, openManager, readAll, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;

function expectOutOfRange(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ProtocolError);
    expect((error as ProtocolError).code).to.equal("OFFSET_OUT_OF_RANGE");
    return;
  }
  expect.fail("expected OFFSET_OUT_OF_RANGE");
}

describe("PartitionLog", () => {
  const temp = new TempDirs();
  let manager: LogManager | undefined;
  let clock: ManualClock;

  beforeEach(() => {
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    temp.cleanup();
  });

  async function newLog(overrides = {}): Promise<PartitionLog> {
    manager = await openManager(temp.make(), clock);
    return manager.createLog("orders", 0, config(overrides));
  }

  function append(log: PartitionLog, batch: Buffer, leaderEpoch = 1) {
    return log.append(batch, spansOf(batch), { leaderEpoch, nowMs: clock.nowMs() });
  }

  it("assigns contiguous offsets and reads batches back with rewritten base offsets", async () => {
    const log = await newLog();
    const a = batchOf(3);
    const b = batchOf(5);
    expect(append(log, Buffer.from(a))).to.include({ baseOffset: 0, lastOffset: 2, logAppendTimeMs: -1 });
    expect(append(log, Buffer.from(b))).to.include({ baseOffset: 3, lastOffset: 7 });
    expect(log.logEndOffset).to.equal(8);
    const { records, firstBatchBaseOffset } = log.read(0, 1 << 20);
    expect(firstBatchBaseOffset).to.equal(0);
    expect(records.equals(Buffer.concat([asStored(a, 0, 1), asStored(b, 3, 1)]))).to.equal(true);
    expect(decodeRecordBatches(records).map((r) => r.offset)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("reads from the batch that holds a mid-batch offset", async () => {
    const log = await newLog();
    append(log, batchOf(3));
    append(log, batchOf(5));
    const { records, firstBatchBaseOffset } = log.read(5, 1 << 20);
    expect(firstBatchBaseOffset).to.equal(3);
    expect(readBatchHeader(records).baseOffset).to.equal(3);
  });

  it("returns an empty read at logEndOffset and OFFSET_OUT_OF_RANGE outside the log", async () => {
    const log = await newLog();
    append(log, batchOf(4));
    const atEnd = log.read(4, 1000);
    expect(atEnd.records.length).to.equal(0);
    expect(atEnd.firstBatchBaseOffset).to.equal(4);
    expectOutOfRange(() => log.read(5, 1000));
    expectOutOfRange(() => log.read(-1, 1000));
  });

  it("returns one whole batch when maxBytes is smaller than it, unless minOneBatch is false", async () => {
    const log = await newLog();
    const batch = batchOf(10, T0, 100);
    append(log, Buffer.from(batch));
    append(log, batchOf(10, T0, 100));
    expect(log.read(0, 10).records.length, "minOneBatch default").to.equal(batch.length);
    expect(log.read(0, 10, { minOneBatch: true }).records.length).to.equal(batch.length);
    expect(log.read(0, 10, { minOneBatch: false }).records.length).to.equal(0);
    expect(log.read(0, batch.length + 100).records.length, "no partial second batch").to.equal(batch.length);
  });

  it("stamps LogAppendTime batches and keeps their CRC valid", async () => {
    const log = await newLog({ timestampType: "LogAppendTime" });
    clock.advance(5000);
    const result = append(log, batchOf(2, T0 - 99_000));
    expect(result.logAppendTimeMs).to.equal(T0 + 5000);
    expect(result.maxTimestamp).to.equal(T0 + 5000);
    const { records } = log.read(0, 1 << 20);
    expect(spansOf(records)[0]?.maxTimestamp).to.equal(T0 + 5000);
  });

  it("finds the first offset whose batch maxTimestamp reaches a timestamp", async () => {
    const log = await newLog({ segmentBytes: 400, indexIntervalBytes: 100 });
    for (let i = 0; i < 20; i++) append(log, batchOf(2, T0 + i * 1000));
    expect(log.segmentCount).to.be.greaterThan(2);
    const cases: Array<[number, number | null]> = [
      [0, 0],
      [T0, 0],
      [T0 + 1, 2],
      [T0 + 7000, 14],
      [T0 + 6500, 14],
      [T0 + 19_000, 38],
      [T0 + 19_001, null],
    ];
    for (const [timestamp, expected] of cases) expect(log.offsetForTimestamp(timestamp), `ts ${timestamp}`).to.equal(expected);
  });

  it("rolls a segment when segment.bytes would be exceeded", async () => {
    const batch = batchOf(5);
    const log = await newLog({ segmentBytes: batch.length * 2 });
    for (let i = 0; i < 5; i++) append(log, Buffer.from(batch));
    expect(log.segmentCount).to.equal(3);
    expect(log.segmentBaseOffsets()).to.deep.equal([0, 10, 20]);
  });

  it("rolls a segment when segment.ms has passed", async () => {
    const log = await newLog({ segmentMs: 60_000 });
    append(log, batchOf(1));
    clock.advance(59_999);
    append(log, batchOf(1));
    expect(log.segmentCount).to.equal(1);
    clock.advance(1);
    append(log, batchOf(1));
    expect(log.segmentCount).to.equal(2);
    expect(log.segmentBaseOffsets()).to.deep.equal([0, 2]);
  });

  it("flushes after flush.messages records", async () => {
    const log = await newLog({ flushMessages: 10 });
    append(log, batchOf(4));
    append(log, batchOf(4));
    await log.idle();
    expect(log.stats.flushesTotal).to.equal(0);
    append(log, batchOf(4));
    await log.idle();
    expect(log.stats.flushesTotal).to.equal(1);
    expect(log.recoveryPointOffset).to.equal(12);
  });

  it("flushes on maybeFlush once flush.ms has passed", async () => {
    const log = await newLog({ flushMs: 1000 });
    append(log, batchOf(1));
    expect(await log.maybeFlush()).to.equal(false);
    clock.advance(1000);
    expect(await log.maybeFlush()).to.equal(true);
    expect(log.stats.flushesTotal).to.equal(1);
    clock.advance(1000);
    expect(await log.maybeFlush(), "nothing new to flush").to.equal(false);
  });

  it("truncates to a batch boundary, across segments, and appends continue there", async () => {
    const batch = batchOf(5);
    const log = await newLog({ segmentBytes: batch.length * 2 });
    for (let i = 0; i < 6; i++) append(log, Buffer.from(batch));
    expect(log.segmentCount).to.equal(3);
    await log.truncateTo(17);
    expect(log.logEndOffset, "cut at the batch holding 17").to.equal(15);
    expect(log.segmentCount).to.equal(2);
    await log.truncateTo(10);
    expect(log.logEndOffset).to.equal(10);
    expect(log.segmentCount).to.equal(1);
    expect(append(log, batchOf(2)).baseOffset).to.equal(10);
    expect(decodeRecordBatches(readAll(log)).map((r) => r.offset)).to.deep.equal([...Array(12).keys()]);
  });

  it("answers OffsetsForLeaderEpoch from the epochs of appends", async () => {
    const log = await newLog();
    append(log, batchOf(3), 1);
    append(log, batchOf(3), 1);
    append(log, batchOf(2), 4);
    expect(log.endOffsetForEpoch(1)).to.deep.equal({ epoch: 1, endOffset: 6 });
    expect(log.endOffsetForEpoch(3)).to.deep.equal({ epoch: 1, endOffset: 6 });
    expect(log.endOffsetForEpoch(4)).to.deep.equal({ epoch: 4, endOffset: 8 });
    expect(log.endOffsetForEpoch(0)).to.equal(undefined);
  });

  it("appends a leader's batches as a follower: offsets, epochs and bytes kept, epochs learned, gaps refused", async () => {
    const leader = await newLog();
    append(leader, batchOf(3), 2);
    append(leader, batchOf(2), 5);
    const fetched = leader.read(0, 1 << 20).records;
    const followerManager = await openManager(temp.make(), clock);
    try {
      const follower = await followerManager.createLog("orders", 0, config());
      const copy = Buffer.from(fetched);
      expect(follower.appendAsFollower(copy, spansOf(copy), clock.nowMs())).to.include({ baseOffset: 0, lastOffset: 4 });
      expect(follower.logEndOffset).to.equal(5);
      expect(readAll(follower).equals(fetched), "byte-identical to the leader").to.equal(true);
      expect(follower.endOffsetForEpoch(2)).to.deep.equal({ epoch: 2, endOffset: 3 });
      expect(follower.endOffsetForEpoch(5)).to.deep.equal({ epoch: 5, endOffset: 5 });

      const again = Buffer.from(fetched);
      expect(() => follower.appendAsFollower(again, spansOf(again), clock.nowMs()))
        .to.throw(/replicated batch at offset 0 does not follow orders-0's log end 5/)
        .with.property("code", "OFFSET_OUT_OF_RANGE");
      expect(follower.logEndOffset, "nothing appended by the refusal").to.equal(5);
    } finally {
      await followerManager.close();
    }
  });

  it("createLog is idempotent and deleteLog removes the log, its files and its keys", async () => {
    const dataDir = temp.make();
    manager = await openManager(dataDir, clock);
    const log = await manager.createLog("orders", 3, config());
    expect(await manager.createLog("orders", 3, config({ segmentMs: 5 }))).to.equal(log);
    expect(log.config.segmentMs).to.equal(5);
    append(log, batchOf(3));
    await manager.deleteLog("orders", 3);
    expect(manager.logFor("orders", 3)).to.equal(undefined);
    const { existsSync } = await import("node:fs");
    expect(existsSync(`${dataDir}/orders-3`)).to.equal(false);
    await manager.close();
    manager = await openManager(dataDir, clock);
    expect(manager.allLogs()).to.have.length(0);
    const again = await manager.createLog("orders", 3, config());
    expect(again.logEndOffset, "no stale state survives").to.equal(0);
  });

  it("rejects invalid configs with INVALID_CONFIG", async () => {
    manager = await openManager(temp.make(), clock);
    try {
      await manager.createLog("t", 0, config({ segmentBytes: 0 }));
      expect.fail("expected INVALID_CONFIG");
    } catch (error) {
      expect((error as ProtocolError).code).to.equal("INVALID_CONFIG");
    }
  });
});
