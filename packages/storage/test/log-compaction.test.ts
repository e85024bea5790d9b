// Log compaction (cleanup.policy=compact) scenarios: restart and checkpoint, the limits the
// cleaner respects (active segment, high watermark, min.compaction.lag.ms, dedupe buffer),
// crash recovery at every step of a segment swap, retention with compact,delete, null keys
// refused at produce, background passes, followers copying a compacted log.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManualClock } from "@castle/common";
import {
  ATTRIBUTE_CONTROL,
  BATCH_HEADER_BYTES,
  batchCrcIsValid,
  decodeRecordBatch,
  encodeRecordBatch,
  readBatchHeader,
  updateBatchCrc,
} from "@castle/protocol";
import { expect } from "chai";
import type { ClassicLevel } from "classic-level";
import {
  CLEANER_CHECKPOINT_FILE_NAME,
  type LogCleanerOptions,
  type LogConfig,
  type LogManager,
  type PartitionLog,
  type SwapStep,
} from "../src/index.js";
import { decodeCleanerCheckpoint, encodeCleanerCheckpoint } from "../src/log/cleaner-checkpoint.js";
import { ATTRIBUTE_DELETE_HORIZON, cleanBatch } from "../src/log/compaction.js";
import { consume, type KeyedRecord, keyedBatch, latestValues, openManagerWith, rawSpans, type StoredRecord } from "./compaction-helpers.js";
import { config, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;
const HOUR_MS = 3_600_000;
const TOPIC = "offsets";

function compacted(overrides: Partial<LogConfig> = {}): LogConfig {
  return config({ cleanupPolicy: "compact", segmentBytes: 600, indexIntervalBytes: 100, ...overrides });
}

function appendRecords(log: PartitionLog, records: readonly KeyedRecord[], leaderEpoch = 0): void {
  const batch = keyedBatch(records);
  log.append(batch, spansOf(batch), { leaderEpoch, nowMs: T0 });
}

/** `rounds` overwrites of keys k0..k<keys-1>, one record per batch; every 7th write is a tombstone. */
function writeOverwrites(log: PartitionLog, keys: number, rounds: number, timestampMs = T0): void {
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < keys; k++, n++) {
      appendRecords(log, [{ key: `k${k}`, value: n % 7 === 3 ? null : `v${n}`, timestampMs: timestampMs + n }], Math.floor(n / 25));
    }
  }
}

function segmentFiles(dataDir: string, topic = TOPIC, partition = 0): string[] {
  return readdirSync(join(dataDir, `${topic}-${partition}`)).sort();
}

/** Only the latest record per key below `limit`, everything from `limit` on. */
function expectedAfterClean(before: readonly StoredRecord[], limit: number): StoredRecord[] {
  const latest = new Map<string, number>();
  for (const r of before) if (r.offset < limit && r.key !== null) latest.set(r.key, r.offset);
  return before.filter((r) => r.offset >= limit || (r.key !== null && latest.get(r.key) === r.offset));
}

describe("log compaction", () => {
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

  async function open(dataDir: string, cleaner: Partial<LogCleanerOptions> = {}): Promise<LogManager> {
    manager = await openManagerWith(dataDir, clock, cleaner);
    return manager;
  }

  /** A crash: the manager is dropped without closing (LevelDB is closed so it can reopen in-process). */
  async function crash(): Promise<void> {
    const current = manager as LogManager;
    manager = undefined;
    const store = (current as unknown as { indexStore: { db: ClassicLevel<Buffer, Buffer>; drain(): Promise<void> } }).indexStore;
    await store.drain();
    await store.db.close();
  }

  it("keeps the latest record per key, checkpoints the clean offset and picks up from it after a restart", async () => {
    const dataDir = temp.make();
    const log = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 5, 12);
    log.updateHighWatermark(log.logEndOffset);
    const before = consume(log);
    const end = log.logEndOffset;
    const limit = log.segmentBaseOffsets().at(-1) as number;
    expect(log.segmentCount, "several segments").to.be.greaterThan(4);

    const summary = await manager?.cleanLog(TOPIC, 0);
    expect(summary).to.include({ firstDirtyOffset: 0, cleanOffset: limit, keys: 5 });
    expect(summary?.bytesAfter).to.be.lessThan(summary?.bytesBefore as number);
    const after = consume(log);
    expect(after, "latest per key below the clean offset, untouched above").to.deep.equal(expectedAfterClean(before, limit));
    expect(latestValues(after), "a consumer's view is unchanged").to.deep.equal(latestValues(before));
    expect(log.logEndOffset).to.equal(end);
    expect(readFileSync(join(dataDir, CLEANER_CHECKPOINT_FILE_NAME), "utf8"), "checkpoint file").to.equal(`0\n1\n${TOPIC} 0 ${limit}\n`);

    await manager?.close();
    const reopened = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    expect(reopened.cleanOffset, "from the checkpoint").to.equal(limit);
    expect(consume(reopened)).to.deep.equal(after);
    expect(manager?.cleaner.planFor(reopened)).to.include({ firstDirtyOffset: limit, dirtyBytes: 0 });
    expect(await manager?.maybeCleanLogs(), "nothing dirty: no pass").to.deep.equal([]);
    expect(
      segmentFiles(dataDir).every((name) => name.endsWith(".log")),
      "no temporary files left",
    ).to.equal(true);
  });

  it("never touches the active segment or anything at or above the high watermark", async () => {
    const dataDir = temp.make();
    const log = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 4, 12);
    const bases = log.segmentBaseOffsets();
    const hwSegment = bases[Math.floor(bases.length / 2)] as number;
    log.updateHighWatermark(hwSegment + 1); // inside that segment: it and all after it are uncleanable
    const dir = join(dataDir, `${TOPIC}-0`);
    const bytesOf = (base: number) => readFileSync(join(dir, `${String(base).padStart(20, "0")}.log`));
    const untouched = bases.filter((base) => base >= hwSegment).map(bytesOf);
    const before = consume(log);

    const summary = await manager?.cleanLog(TOPIC, 0);
    expect(summary?.cleanOffset, "stops at the segment holding the high watermark").to.equal(hwSegment);
    const after = bases.filter((base) => base >= hwSegment).map(bytesOf);
    for (const [i, bytes] of after.entries()) {
      expect(bytes.equals(untouched[i] as Buffer), `segment ${i} from the high watermark on`).to.equal(true);
    }
    expect(consume(log)).to.deep.equal(expectedAfterClean(before, hwSegment));

    log.updateHighWatermark(log.logEndOffset);
    const active = bytesOf(bases.at(-1) as number);
    await manager?.cleanLog(TOPIC, 0);
    expect(bytesOf(bases.at(-1) as number).equals(active), "the active segment").to.equal(true);
    expect(manager?.cleaner.planFor(log)?.uncleanableOffset).to.equal(bases.at(-1));
  });

  describe("a crash during a segment swap loses nothing", () => {
    // The crash hits the first run's swap: before the commit the old segments stay; from the
    // commit on, that run is swapped and the later runs are not cleaned yet.
    const steps: Array<[SwapStep, "old segments" | "first run swapped"]> = [
      ["before-commit", "old segments"],
      ["committed", "first run swapped"],
      ["old-segments-deleted", "first run swapped"],
      ["renamed", "first run swapped"],
    ];

    async function build(dataDir: string): Promise<PartitionLog> {
      const log = await (await open(dataDir)).createLog(TOPIC, 0, compacted({ segmentBytes: 2000 }));
      // Small segments first (segment.bytes raised afterwards), so the cleaner merges runs of them.
      log.updateConfig(compacted({ segmentBytes: 300 }));
      writeOverwrites(log, 6, 10);
      log.updateConfig(compacted({ segmentBytes: 2000 }));
      log.updateHighWatermark(log.logEndOffset);
      return log;
    }

    let oldContent: StoredRecord[];
    let cleanedContent: StoredRecord[];
    before(async () => {
      clock = new ManualClock(T0);
      const log = await build(temp.make());
      oldContent = consume(log);
      const summary = await manager?.cleanLog(TOPIC, 0);
      expect(summary?.segmentsCleaned, "runs of segments are merged").to.be.greaterThan(summary?.segmentsWritten as number);
      cleanedContent = consume(log);
      expect(cleanedContent.length).to.be.lessThan(oldContent.length);
      await manager?.close();
      manager = undefined;
    });

    for (const [step, survivor] of steps) {
      it(`at ${step}: restart finds the ${survivor}`, async () => {
        const dataDir = temp.make();
        const log = await build(dataDir);
        const end = log.logEndOffset;
        const crashAt = (at: SwapStep) => {
          if (at === step) throw new Error(`simulated crash at ${at}`);
        };
        let thrown: unknown;
        await manager?.cleanLog(TOPIC, 0, { onSwapStep: crashAt }).catch((error: unknown) => {
          thrown = error;
        });
        expect(String(thrown)).to.contain("simulated crash");
        await crash();
        // A half-written cleaned file from an earlier crash is garbage too.
        writeFileSync(join(dataDir, `${TOPIC}-0`, "00000000000000000000-00000000000000000042.log.cleaned"), "torn");

        const reopened = await (await open(dataDir)).createLog(TOPIC, 0, compacted({ segmentBytes: 2000 }));
        expect(
          segmentFiles(dataDir).filter((name) => !name.endsWith(".log")),
          "leftovers removed",
        ).to.deep.equal([]);
        expect(reopened.logEndOffset).to.equal(end);
        const content = consume(reopened);
        const key = (r: StoredRecord) => JSON.stringify(r);
        const old = new Set(oldContent.map(key));
        const present = new Set(content.map(key));
        expect(latestValues(content), "every key's latest value").to.deep.equal(latestValues(oldContent));
        expect(
          content.filter((r) => !old.has(key(r))),
          "no record made up",
        ).to.deep.equal([]);
        expect(
          cleanedContent.filter((r) => !present.has(key(r))),
          "no record that a clean keeps is lost",
        ).to.deep.equal([]);
        if (survivor === "old segments") expect(content).to.deep.equal(oldContent);
        else expect(content.length, "the first run was swapped").to.be.lessThan(oldContent.length);
        for (let from = 0; from < end; from += 5) {
          expect(consume(reopened, from), `read from ${from}`).to.deep.equal(content.filter((r) => r.offset >= from));
        }
        reopened.updateHighWatermark(end);
        await manager?.cleanLog(TOPIC, 0);
        expect(consume(reopened), "a clean after recovery").to.deep.equal(cleanedContent);
        await manager?.close();
        const again = await (await open(dataDir)).createLog(TOPIC, 0, compacted({ segmentBytes: 2000 }));
        expect(consume(again), "and after another restart").to.deep.equal(cleanedContent);
      });
    }
  });

  it("serves reads and appends while it cleans: whole batches, old or new segments, nothing lost", async () => {
    const m = await open(temp.make(), { yieldEveryBytes: 1 });
    const log = await m.createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 5, 8);
    log.updateHighWatermark(log.logEndOffset);
    const oldContent = consume(log);
    const known = new Set(oldContent.map((r) => JSON.stringify(r)));
    let done = false;
    const cleaning = m.cleanLog(TOPIC, 0).finally(() => {
      done = true;
    });
    let reads = 0;
    let appended = 0;
    while (!done) {
      const seen = consume(log);
      reads++;
      const made = seen.filter((r) => !known.has(JSON.stringify(r)));
      expect(
        made.every((r) => r.key === "late"),
        "only records appended meanwhile are new",
      ).to.equal(true);
      expect(latestValues(seen.filter((r) => r.key !== "late")), "every key's latest value").to.deep.equal(latestValues(oldContent));
      appendRecords(log, [{ key: "late", value: `l${appended}`, timestampMs: T0 }]);
      for (const r of consume(log).filter((r) => r.key === "late")) known.add(JSON.stringify(r));
      appended++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const summary = await cleaning;
    expect(reads, "reads interleaved with the pass").to.be.greaterThan(5);
    expect(summary?.segmentsWritten).to.be.greaterThan(0);
    expect(consume(log).filter((r) => r.key === "late").length, "appends during the pass").to.equal(appended);
  });

  it("gives up a pass cleanly when the manager closes mid-pass", async () => {
    const dataDir = temp.make();
    const m = await open(dataDir, { yieldEveryBytes: 1 });
    const log = await m.createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 5, 12);
    log.updateHighWatermark(log.logEndOffset);
    const before = consume(log);
    const cleaning = m.cleanLog(TOPIC, 0);
    await new Promise((resolve) => setImmediate(resolve));
    await m.close();
    manager = undefined;
    expect(await cleaning, "abandoned").to.equal(undefined);
    expect(
      segmentFiles(dataDir).filter((name) => !name.endsWith(".log")),
      "no temporary file",
    ).to.deep.equal([]);
    const reopened = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    const content = consume(reopened);
    expect(latestValues(content)).to.deep.equal(latestValues(before));
    expect(reopened.logEndOffset).to.equal(log.logEndOffset);
  });

  it("applies retention only when cleanup.policy includes delete", async () => {
    const log = await (await open(temp.make())).createLog(TOPIC, 0, compacted({ retentionMs: HOUR_MS }));
    writeOverwrites(log, 3, 10, T0 - 10 * HOUR_MS);
    const segments = log.segmentCount;
    expect(await manager?.enforceRetention(), "compact: retention.ms does not apply").to.deep.equal({ deletedSegments: 0 });
    log.updateConfig(compacted({ cleanupPolicy: "compact,delete", retentionMs: HOUR_MS }));
    expect(await manager?.enforceRetention(), "compact,delete: it does").to.deep.equal({ deletedSegments: segments - 1 });
    log.updateHighWatermark(log.logEndOffset);
    writeOverwrites(log, 3, 10);
    log.updateHighWatermark(log.logEndOffset);
    const before = consume(log);
    const summary = await manager?.cleanLog(TOPIC, 0);
    expect(consume(log), "and compaction too").to.deep.equal(expectedAfterClean(before, summary?.cleanOffset as number));
  });

  it("refuses records without a key on a compacted topic (INVALID_RECORD), appending nothing", async () => {
    const m = await open(temp.make());
    const log = await m.createLog(TOPIC, 0, compacted());
    appendRecords(log, [{ key: "a", value: "1", timestampMs: T0 }]);
    for (const gzip of [false, true]) {
      const batch = keyedBatch(
        [
          { key: "b", value: "2", timestampMs: T0 },
          { key: null, value: "3", timestampMs: T0 },
        ],
        { gzip },
      );
      expect(() => log.append(batch, spansOf(batch), { leaderEpoch: 0, nowMs: T0 }), gzip ? "gzip" : "uncompressed")
        .to.throw(/Compacted topic cannot accept message without key: record 1 .* offsets-0/)
        .with.property("code", "INVALID_RECORD");
    }
    expect(log.logEndOffset, "nothing appended").to.equal(1);
    const plain = await m.createLog("plain", 0, config());
    appendRecords(plain, [{ key: null, value: "x", timestampMs: T0 }]);
    expect(plain.logEndOffset, "a delete-policy topic takes null keys").to.equal(1);
  });

  it("refuses a malformed batch at produce and never cleans one: the log is skipped, not the node stopped", async () => {
    // Two records whose offset deltas are both 0, with a valid CRC.
    const malformed = encodeRecordBatch(
      [
        { key: Buffer.from("a"), value: Buffer.from("1") },
        { key: Buffer.from("b"), value: Buffer.from("2") },
      ],
      { baseTimestampMs: T0 },
    );
    expect(malformed[BATCH_HEADER_BYTES + 9 + 3], "the second record's offset delta (zig-zag 1)").to.equal(2);
    malformed[BATCH_HEADER_BYTES + 9 + 3] = 0;
    updateBatchCrc(malformed, 0);
    const m = await open(temp.make());
    const log = await m.createLog(TOPIC, 0, compacted());
    expect(() => log.append(malformed, spansOf(malformed), { leaderEpoch: 0, nowMs: T0 }))
      .to.throw(/offset delta 0/)
      .with.property("code", "CORRUPT_MESSAGE");
    const lax = await m.createLog(TOPIC, 1, compacted({ cleanupPolicy: "delete" }));
    lax.append(malformed, spansOf(malformed), { leaderEpoch: 0, nowMs: T0 });
    writeOverwrites(lax, 3, 10);
    lax.updateConfig(compacted());
    lax.updateHighWatermark(lax.logEndOffset);
    expect(await m.maybeCleanLogs(), "the failure is logged, not thrown").to.deep.equal([]);
    let thrown: unknown;
    await m.cleanLog(TOPIC, 1).catch((error: unknown) => {
      thrown = error;
    });
    expect(thrown).to.have.property("code", "CORRUPT_MESSAGE");
  });

  it("cleans in several passes when the keys do not fit log.cleaner.dedupe.buffer.size", async () => {
    // About 20 keys of 3-4 bytes fit the map (each key is charged its bytes + 80).
    const log = await (await open(temp.make(), { dedupeBufferBytes: 20 * 84 })).createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 45, 2);
    log.updateHighWatermark(log.logEndOffset);
    const before = consume(log);
    const limit = log.segmentBaseOffsets().at(-1) as number;
    const cleanOffsets: number[] = [];
    for (let pass = 0; pass < 20 && log.cleanOffset < limit; pass++) {
      const summary = await manager?.cleanLog(TOPIC, 0);
      expect(summary?.keys, `pass ${pass}: keys in the map`).to.be.at.most(21);
      cleanOffsets.push(log.cleanOffset);
    }
    expect(cleanOffsets.length, "passes").to.be.greaterThan(3);
    expect(
      [...cleanOffsets].sort((a, b) => a - b),
      "the clean offset only moves up",
    ).to.deep.equal(cleanOffsets);
    expect(log.cleanOffset).to.equal(limit);
    expect(consume(log)).to.deep.equal(expectedAfterClean(before, limit));
  });

  it("runs background passes by min.cleanable.dirty.ratio and by tombstone delete horizons", async () => {
    const m = await open(temp.make());
    const log = await m.createLog(TOPIC, 0, compacted({ minCleanableDirtyRatio: 0.5, deleteRetentionMs: HOUR_MS }));
    for (let i = 0; i < 40; i++) appendRecords(log, [{ key: `k${i % 4}`, value: `v${i}`, timestampMs: T0 + i }]);
    appendRecords(log, [{ key: "gone", value: "x", timestampMs: T0 }]);
    appendRecords(log, [{ key: "gone", value: null, timestampMs: T0 }]);
    for (let i = 0; i < 10; i++) appendRecords(log, [{ key: `pad${i}`, value: "p".repeat(40), timestampMs: T0 }]);
    log.updateHighWatermark(log.logEndOffset);
    const first = await m.maybeCleanLogs();
    expect(
      first.map((s) => s.topic),
      "all dirty: cleaned",
    ).to.deep.equal([TOPIC]);
    const tombstone = consume(log).find((r) => r.key === "gone");
    expect(tombstone?.value, "the tombstone is kept for delete.retention.ms").to.equal(null);

    appendRecords(log, [{ key: "k0", value: "late", timestampMs: T0 }]);
    log.updateHighWatermark(log.logEndOffset);
    const plan = m.cleaner.planFor(log);
    expect(plan?.dirtyRatio, "a little dirt").to.be.lessThan(0.5);
    expect(await m.maybeCleanLogs(), "below the ratio: no pass").to.deep.equal([]);

    clock.advance(HOUR_MS);
    const second = await m.maybeCleanLogs();
    expect(
      second.map((s) => s.tombstonesRemoved),
      "the delete horizon passed: a pass drops the tombstone",
    ).to.deep.equal([1]);
    expect(consume(log).some((r) => r.key === "gone")).to.equal(false);

    const disabled = await open(temp.make(), { enable: false });
    const other = await disabled.createLog(TOPIC, 1, compacted());
    writeOverwrites(other, 3, 20);
    other.updateHighWatermark(other.logEndOffset);
    expect(await disabled.maybeCleanLogs(), "log.cleaner.enable=false").to.deep.equal([]);
    await disabled.close();
    await m.close();
  });

  it("holds segments younger than min.compaction.lag.ms back", async () => {
    const log = await (await open(temp.make())).createLog(TOPIC, 0, compacted({ minCompactionLagMs: HOUR_MS }));
    writeOverwrites(log, 3, 8, T0 - 2 * HOUR_MS);
    const oldEnd = log.logEndOffset;
    writeOverwrites(log, 3, 8, T0 - HOUR_MS / 2);
    log.updateHighWatermark(log.logEndOffset);
    const plan = manager?.cleaner.planFor(log);
    expect(plan?.uncleanableOffset, "the first segment with a young record").to.be.at.most(oldEnd);
    const before = consume(log);
    const summary = await manager?.cleanLog(TOPIC, 0);
    expect(summary?.cleanOffset).to.equal(plan?.uncleanableOffset);
    expect(
      consume(log).filter((r) => r.offset >= oldEnd),
      "young records untouched",
    ).to.deep.equal(before.filter((r) => r.offset >= oldEnd));
  });

  it("lowers the clean offset when the log is truncated below it", async () => {
    const log = await (await open(temp.make())).createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 4, 10);
    log.updateHighWatermark(log.logEndOffset);
    await manager?.cleanLog(TOPIC, 0);
    const cleanOffset = log.cleanOffset;
    await log.truncateTo(cleanOffset - 3);
    expect(log.cleanOffset).to.be.at.most(cleanOffset - 3);
    writeOverwrites(log, 4, 10);
    log.updateHighWatermark(log.logEndOffset);
    const before = consume(log);
    const summary = await manager?.cleanLog(TOPIC, 0);
    expect(consume(log)).to.deep.equal(expectedAfterClean(before, summary?.cleanOffset as number));
  });

  it("lets a follower copy a compacted leader's log, gaps included", async () => {
    const m = await open(temp.make());
    const leader = await m.createLog(TOPIC, 0, compacted());
    writeOverwrites(leader, 5, 10);
    leader.updateHighWatermark(leader.logEndOffset);
    await m.cleanLog(TOPIC, 0);
    const follower = await m.createLog(TOPIC, 1, compacted());
    while (follower.logEndOffset < leader.logEndOffset) {
      const { records } = leader.read(follower.logEndOffset, 700);
      follower.appendAsFollower(Buffer.from(records), rawSpans(records), T0);
    }
    expect(follower.logEndOffset).to.equal(leader.logEndOffset);
    expect(consume(follower)).to.deep.equal(consume(leader));
    // A follower learns the epochs of the batches that survived, like Kafka's.
    const latest = leader.latestEpoch as number;
    expect(follower.latestEpoch).to.equal(latest);
    expect(follower.endOffsetForEpoch(latest)).to.deep.equal(leader.endOffsetForEpoch(latest));
  });

  describe("cleanBatch", () => {
    const context = (latest: Record<string, number>) => ({
      latestOffsetOf: (key: string) => latest[key],
      nowMs: T0 + 500,
      deleteRetentionMs: 1000,
    });

    it("drops superseded records, keeps offsets, epoch and record timestamps, and stamps a delete horizon on kept tombstones", () => {
      const batch = keyedBatch([
        { key: "a", value: "1", timestampMs: T0 },
        { key: "b", value: null, timestampMs: T0 + 7 },
        { key: "a", value: "2", timestampMs: T0 + 9 },
        { key: "c", value: "3", timestampMs: T0 + 3 },
      ]);
      batch.writeInt32BE(0, 0);
      batch.writeUInt32BE(100, 4);
      batch.writeInt32BE(6, 12);
      const result = cleanBatch(batch, context({ a: 102, b: 101, c: 110 }));
      if (result.kind !== "rewritten") throw new Error(`expected a rewrite, got ${result.kind}`);
      expect(result).to.include({ removedRecords: 2, removedTombstones: 0, tombstoneHorizonMs: T0 + 1500 });
      const header = readBatchHeader(result.batch, 0);
      expect(header).to.include({ baseOffset: 100, lastOffsetDelta: 3, partitionLeaderEpoch: 6, recordCount: 2, baseTimestamp: T0 + 1500 });
      expect(header.attributes & ATTRIBUTE_DELETE_HORIZON, "KIP-534 delete horizon flag").to.equal(ATTRIBUTE_DELETE_HORIZON);
      expect(header.maxTimestamp, "max of the kept records").to.equal(T0 + 9);
      expect(batchCrcIsValid(result.batch, 0)).to.equal(true);
      const records = decodeRecordBatch(result.batch).records.map((r) => [
        r.offset,
        r.key?.toString(),
        r.value?.toString() ?? null,
        r.timestampMs,
      ]);
      expect(records).to.deep.equal([
        [101, "b", null, T0 + 7],
        [102, "a", "2", T0 + 9],
      ]);
      const later = cleanBatch(result.batch, { ...context({}), nowMs: T0 + 1500 });
      if (later.kind !== "rewritten") throw new Error(`expected a rewrite, got ${later.kind}`);
      expect(later.removedTombstones, "past the horizon").to.equal(1);
      expect(decodeRecordBatch(later.batch).records.map((r) => [r.offset, r.timestampMs])).to.deep.equal([[102, T0 + 9]]);
    });

    it("leaves unchanged batches and control batches alone, and drops a batch with nothing left", () => {
      const batch = keyedBatch([{ key: "a", value: "1", timestampMs: T0 }]);
      expect(cleanBatch(batch, context({ a: 0 })).kind).to.equal("unchanged");
      expect(cleanBatch(batch, context({ a: 5 }))).to.deep.equal({ kind: "dropped", removedRecords: 1, removedTombstones: 0 });
      const control = Buffer.from(batch);
      control.writeInt16BE(control.readInt16BE(21) | ATTRIBUTE_CONTROL, 21);
      updateBatchCrc(control, 0);
      expect(cleanBatch(control, context({ a: 5 })).kind).to.equal("unchanged");
    });
  });

  it("encodes the cleaner checkpoint in Kafka's layout and refuses a garbled one", () => {
    const text = encodeCleanerCheckpoint([
      { topic: "__consumer_offsets", partition: 7, offset: 1234 },
      { topic: "t", partition: 0, offset: 5 },
    ]);
    expect(text).to.equal("0\n2\n__consumer_offsets 7 1234\nt 0 5\n");
    expect(decodeCleanerCheckpoint(text)).to.deep.equal([
      { topic: "__consumer_offsets", partition: 7, offset: 1234 },
      { topic: "t", partition: 0, offset: 5 },
    ]);
    expect(() => decodeCleanerCheckpoint("0\n2\nt 0 5\n")).to.throw(/declares 2 entries but has 1/);
    expect(() => decodeCleanerCheckpoint("1\n0\n")).to.throw(/unknown version/);
    expect(() => decodeCleanerCheckpoint("0\n1\nt zero 5\n")).to.throw(/entry 1/);
  });

  it("ignores an unreadable checkpoint file (the log is cleaned from its start)", async () => {
    const dataDir = temp.make();
    const log = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    writeOverwrites(log, 3, 10);
    await manager?.close();
    writeFileSync(join(dataDir, CLEANER_CHECKPOINT_FILE_NAME), "garbage");
    const reopened = await (await open(dataDir)).createLog(TOPIC, 0, compacted());
    expect(reopened.cleanOffset).to.equal(0);
  });
});
