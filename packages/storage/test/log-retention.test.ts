import { ManualClock } from "@castle/common";
import type { ProtocolError } from "@castle/protocol";
import { expect } from "chai";
import type { LogManager } from "../src/index.js";
import { batchOf, config, openManager, readAll, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;
const HOUR_MS = 3_600_000;

describe("log retention", () => {
  const temp = new TempDirs();
  let manager: LogManager | undefined;

  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    temp.cleanup();
  });

  it("deletes whole segments older than retention.ms, never the active one, and persists logStartOffset", async () => {
    const clock = new ManualClock(T0);
    const dataDir = temp.make();
    manager = await openManager(dataDir, clock);
    const batch = batchOf(5);
    const log = await manager.createLog("clicks", 0, config({ segmentBytes: batch.length * 2, retentionMs: 2 * HOUR_MS }));
    // Segments hold batches stamped hour 0, hour 1, hour 2, hour 3 (two batches each).
    for (let hour = 0; hour < 4; hour++) {
      for (let i = 0; i < 2; i++) {
        const b = batchOf(5, T0 + hour * HOUR_MS);
        log.append(b, spansOf(b), { leaderEpoch: 0, nowMs: clock.nowMs() });
      }
    }
    expect(log.segmentCount).to.equal(4);
    clock.advance(2 * HOUR_MS + 1);
    expect(await manager.enforceRetention()).to.deep.equal({ deletedSegments: 1 });
    expect(log.logStartOffset).to.equal(10);
    clock.advance(10 * HOUR_MS);
    expect(await manager.enforceRetention(), "the active segment stays").to.deep.equal({ deletedSegments: 2 });
    expect(log.segmentCount).to.equal(1);
    expect(log.logStartOffset).to.equal(30);
    try {
      log.read(29, 1000);
      expect.fail("expected OFFSET_OUT_OF_RANGE");
    } catch (error) {
      expect((error as ProtocolError).code).to.equal("OFFSET_OUT_OF_RANGE");
    }
    expect(readAll(log).length).to.equal(batch.length * 2);
    await manager.close();
    manager = await openManager(dataDir, clock);
    expect(manager.logFor("clicks", 0)?.logStartOffset, "persisted").to.equal(30);
    expect(manager.logFor("clicks", 0)?.logEndOffset).to.equal(40);
  });

  it("leaves a log found on disk alone until its topic config is given (a compacted topic's old segments survive a restart)", async () => {
    const clock = new ManualClock(T0);
    const dataDir = temp.make();
    manager = await openManager(dataDir, clock);
    const batch = batchOf(5);
    const log = await manager.createLog("__consumer_offsets", 0, config({ segmentBytes: batch.length * 2, retentionMs: -1 }));
    for (let i = 0; i < 6; i++) {
      const b = batchOf(5, T0);
      log.append(b, spansOf(b), { leaderEpoch: 0, nowMs: clock.nowMs() });
    }
    await manager.close();
    clock.advance(30 * 24 * HOUR_MS);
    manager = await openManager(dataDir, clock);
    expect(await manager.enforceRetention(), "opened with the defaults, not configured yet").to.deep.equal({ deletedSegments: 0 });
    expect(manager.logFor("__consumer_offsets", 0)?.logStartOffset).to.equal(0);
    await manager.createLog("__consumer_offsets", 0, config({ segmentBytes: batch.length * 2, retentionMs: 2 * HOUR_MS }));
    expect(await manager.enforceRetention(), "configured: retention applies").to.deep.equal({ deletedSegments: 2 });
  });

  it("deletes oldest segments while the log is larger than retention.bytes", async () => {
    const clock = new ManualClock(T0);
    manager = await openManager(temp.make(), clock);
    const batch = batchOf(5);
    const log = await manager.createLog("clicks", 1, config({ segmentBytes: batch.length * 2, retentionBytes: batch.length * 5 }));
    for (let i = 0; i < 10; i++) {
      const b = batchOf(5, T0);
      log.append(b, spansOf(b), { leaderEpoch: 0, nowMs: clock.nowMs() });
    }
    expect(log.segmentCount).to.equal(5);
    expect(log.sizeBytes).to.equal(batch.length * 10);
    expect(await manager.enforceRetention()).to.deep.equal({ deletedSegments: 2 });
    expect(log.sizeBytes).to.equal(batch.length * 6);
    expect(log.logStartOffset).to.equal(20);
    expect(log.offsetForTimestamp(0), "time lookups start at logStartOffset").to.equal(20);
    expect(await manager.enforceRetention()).to.deep.equal({ deletedSegments: 0 });
  });
});
