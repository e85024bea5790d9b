import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ManualClock } from "@castle/common";
import { decodeRecordBatches } from "@castle/protocol";
import { expect } from "chai";
import { ClassicLevel } from "classic-level";
import { KeyPrefix, type LogManager, type PartitionLog } from "../src/index.js";
import { batchOf, config, openManager, readAll, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;

describe("log recovery", () => {
  const temp = new TempDirs();
  let manager: LogManager | undefined;
  const clock = new ManualClock(T0);

  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    temp.cleanup();
  });

  /** A log of `batches` batches of 5 records with small segments; returns its dir and the batch bytes. */
  async function writeLog(dataDir: string, batches: number, overrides = {}): Promise<{ log: PartitionLog; batchBytes: number }> {
    manager = await openManager(dataDir, clock);
    const log = await manager.createLog("events", 2, config({ segmentBytes: 1000, indexIntervalBytes: 150, ...overrides }));
    let batchBytes = 0;
    for (let i = 0; i < batches; i++) {
      const batch = batchOf(5, T0 + i);
      batchBytes = batch.length;
      log.append(batch, spansOf(batch), { leaderEpoch: 3, nowMs: clock.nowMs() });
    }
    return { log, batchBytes };
  }

  async function reopen(dataDir: string): Promise<PartitionLog> {
    await manager?.close();
    manager = await openManager(dataDir, clock);
    const log = manager.logFor("events", 2);
    if (log === undefined) throw new Error("log not recovered");
    await manager.createLog("events", 2, config({ segmentBytes: 1000, indexIntervalBytes: 150 }));
    return log;
  }

  function lastSegmentPath(dataDir: string): string {
    const dir = join(dataDir, "events-2");
    const names = readdirSync(dir).sort();
    return join(dir, names[names.length - 1] as string);
  }

  /** Simulates a crash: drop the in-memory manager without closing (files stay as written). */
  async function crash(): Promise<void> {
    // Closing LevelDB is needed to reopen it in-process; the recovery point stays where the last flush put it.
    const current = manager as LogManager;
    manager = undefined;
    const db = (current as unknown as { indexStore: { db: ClassicLevel<Buffer, Buffer>; drain(): Promise<void> } }).indexStore;
    await db.drain();
    await db.db.close();
  }

  it("restarts cleanly without rebuilding or cutting anything", async () => {
    const dataDir = temp.make();
    const { log } = await writeLog(dataDir, 30);
    const before = readAll(log);
    const segments = log.segmentCount;
    const reopened = await reopen(dataDir);
    expect(reopened.logEndOffset).to.equal(150);
    expect(reopened.segmentCount).to.equal(segments);
    expect(reopened.stats.indexRebuildsTotal).to.equal(0);
    expect(readAll(reopened).equals(before)).to.equal(true);
  });

  it("cuts a torn tail and continues at the right offset", async () => {
    const dataDir = temp.make();
    const { log, batchBytes } = await writeLog(dataDir, 12);
    const before = readAll(log);
    await crash();
    const path = lastSegmentPath(dataDir);
    const size = statSync(path).size;
    truncateSync(path, size - Math.floor(batchBytes / 2));
    const recovered = await reopen(dataDir);
    expect(recovered.logEndOffset).to.equal(55);
    expect(statSync(path).size).to.equal(size - batchBytes);
    expect(readAll(recovered).equals(before.subarray(0, before.length - batchBytes))).to.equal(true);
    const next = batchOf(2);
    expect(recovered.append(next, spansOf(next), { leaderEpoch: 3, nowMs: clock.nowMs() }).baseOffset).to.equal(55);
    expect(decodeRecordBatches(readAll(recovered)).map((r) => r.offset)).to.deep.equal([...Array(57).keys()]);
  });

  it("cuts the last batch when a byte in it is flipped", async () => {
    const dataDir = temp.make();
    const { log, batchBytes } = await writeLog(dataDir, 12);
    const before = readAll(log);
    await crash();
    const path = lastSegmentPath(dataDir);
    const size = statSync(path).size;
    const fd = openSync(path, "r+");
    const flipAt = size - 5;
    const original = readFileSync(path)[flipAt] as number;
    writeSync(fd, Buffer.from([original ^ 0xff]), 0, 1, flipAt);
    closeSync(fd);
    const recovered = await reopen(dataDir);
    expect(recovered.logEndOffset).to.equal(55);
    expect(readAll(recovered).equals(before.subarray(0, before.length - batchBytes))).to.equal(true);
    const next = batchOf(1);
    expect(recovered.append(next, spansOf(next), { leaderEpoch: 3, nowMs: clock.nowMs() }).baseOffset).to.equal(55);
  });

  it("validates only past the recovery point: data flushed before a crash is kept", async () => {
    const dataDir = temp.make();
    const { log } = await writeLog(dataDir, 10);
    await log.flush();
    const batch = batchOf(5);
    log.append(batch, spansOf(batch), { leaderEpoch: 3, nowMs: clock.nowMs() });
    const before = readAll(log);
    await crash();
    const recovered = await reopen(dataDir);
    expect(recovered.logEndOffset).to.equal(55);
    expect(readAll(recovered).equals(before)).to.equal(true);
  });

  it("relearns the epochs of batches past the recovery point when a crash lost their queued index writes", async () => {
    const dataDir = temp.make();
    const { log } = await writeLog(dataDir, 10);
    await log.flush();
    const batch = batchOf(5);
    log.append(batch, spansOf(batch), { leaderEpoch: 5, nowMs: clock.nowMs() });
    expect(log.latestEpoch).to.equal(5);
    // The crash takes the queued writes (the epoch-5 entry among them) with it; the bytes stay.
    const current = manager as LogManager;
    manager = undefined;
    const store = (current as unknown as { indexStore: { db: ClassicLevel<Buffer, Buffer>; queued: unknown[] } }).indexStore;
    store.queued.length = 0;
    await store.db.close();
    const recovered = await reopen(dataDir);
    expect(recovered.logEndOffset).to.equal(55);
    expect(recovered.latestEpoch, "the newest epoch read back from the batches").to.equal(5);
    expect(recovered.endOffsetForEpoch(3)).to.deep.equal({ epoch: 3, endOffset: 50 });
    expect(recovered.endOffsetForEpoch(5)).to.deep.equal({ epoch: 5, endOffset: 55 });
  });

  it("loses nothing when the whole index directory is deleted", async () => {
    const dataDir = temp.make();
    const { log } = await writeLog(dataDir, 40);
    const before = readAll(log);
    const segments = log.segmentCount;
    const offsets = [0, 7, 33, 99, 150, 199];
    const reads = offsets.map((offset) => log.read(offset, 700));
    const byTime = log.offsetForTimestamp(T0 + 17);
    await manager?.close();
    manager = undefined;
    rmSync(join(dataDir, "__index"), { recursive: true });
    const rebuilt = await reopen(dataDir);
    expect(rebuilt.logEndOffset).to.equal(200);
    expect(rebuilt.segmentCount).to.equal(segments);
    expect(readAll(rebuilt).equals(before)).to.equal(true);
    offsets.forEach((offset, i) => {
      expect(rebuilt.read(offset, 700).records.equals((reads[i] as { records: Buffer }).records), `read at ${offset}`).to.equal(true);
    });
    expect(rebuilt.offsetForTimestamp(T0 + 17)).to.equal(byTime);
    expect(rebuilt.endOffsetForEpoch(3)).to.deep.equal({ epoch: 3, endOffset: 200 });
  });

  for (const which of ["middle", "last"] as const) {
    it(`detects a corrupted ${which} index entry and rebuilds the segment index`, async () => {
      const dataDir = temp.make();
      const { log } = await writeLog(dataDir, 12, { segmentBytes: 1 << 20 });
      const before = readAll(log);
      const reads = [...Array(60).keys()].map((offset) => log.read(offset, 300).records);
      await manager?.close();
      manager = undefined;
      const db = new ClassicLevel<Buffer, Buffer>(join(dataDir, "__index"), { keyEncoding: "buffer", valueEncoding: "buffer" });
      const entries = await db.iterator().all();
      const indexEntries = entries.filter(([key]) => key[0] === KeyPrefix.OffsetIndex);
      expect(indexEntries.length).to.be.greaterThan(3);
      const [key, value] = indexEntries[which === "middle" ? 2 : indexEntries.length - 1] as [Buffer, Buffer];
      const corrupted = Buffer.from(value);
      corrupted.writeUInt32BE(value.readUInt32BE(0) + 7, 0);
      await db.put(key, corrupted);
      await db.close();
      const recovered = await reopen(dataDir);
      expect(readAll(recovered).equals(before)).to.equal(true);
      for (let offset = 0; offset < 60; offset++) {
        expect(recovered.read(offset, 300).records.equals(reads[offset] as Buffer), `read at ${offset}`).to.equal(true);
      }
      expect(recovered.stats.indexRebuildsTotal).to.be.greaterThan(0);
    });
  }
});
