// Property: random keyed records (overwrites, tombstones, a few null keys written before the
// topic became compacted, some gzip batches, several leader epochs) appended across many
// segment rolls, then cleaned, appended to, cleaned, and cleaned again past
// delete.retention.ms, match a naive model of compaction after every clean and after a
// restart: the same records at the same offsets with the same timestamps and epochs, the log
// end offset unchanged, reads from any offset consistent. Seeded so a failure replays.

import { ManualClock } from "@castle/common";
import { expect } from "chai";
import fc from "fast-check";
import type { LogConfig, LogManager, PartitionLog } from "../src/index.js";
import { consume, type KeyedRecord, keyedBatch, latestValues, openManagerWith, type StoredRecord } from "./compaction-helpers.js";
import { config, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;

interface RecordSpec {
  key: number;
  tombstone: boolean;
  nullKey: boolean;
  valueBytes: number;
}
interface BatchSpec {
  records: RecordSpec[];
  gzip: boolean;
  newEpoch: boolean;
}

const recordSpec = (keys: number, allowNullKey: boolean): fc.Arbitrary<RecordSpec> =>
  fc.record({
    key: fc.integer({ min: 0, max: keys - 1 }),
    tombstone: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    nullKey: allowNullKey ? fc.integer({ min: 0, max: 19 }).map((n) => n === 0) : fc.constant(false),
    valueBytes: fc.integer({ min: 0, max: 40 }),
  });

const batchSpecs = (keys: number, allowNullKey: boolean, max: number): fc.Arbitrary<BatchSpec[]> =>
  fc.array(
    fc.record({
      records: fc.array(recordSpec(keys, allowNullKey), { minLength: 1, maxLength: 6 }),
      gzip: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      newEpoch: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    }),
    { minLength: 0, maxLength: max },
  );

interface ModelRecord extends StoredRecord {
  batch: number;
}

/** Naive compaction: what survives cleaning everything below `limit` at `nowMs`. */
class CompactionModel {
  survivors: ModelRecord[] = [];
  private readonly stampedAtMs = new Map<number, number>();
  private batchesAppended = 0;
  private epoch = 0;
  private nextTimestampMs = T0;

  append(log: PartitionLog, spec: BatchSpec): void {
    if (spec.newEpoch) this.epoch++;
    const records: KeyedRecord[] = spec.records.map((r) => ({
      key: r.nullKey ? null : `key-${r.key}`,
      value: r.tombstone ? null : `v${this.nextTimestampMs}-${"x".repeat(r.valueBytes)}`,
      timestampMs: this.nextTimestampMs++,
    }));
    const batch = keyedBatch(records, { gzip: spec.gzip });
    const { baseOffset } = log.append(batch, spansOf(batch), { leaderEpoch: this.epoch, nowMs: T0 });
    records.forEach((r, i) => {
      this.survivors.push({ ...r, offset: baseOffset + i, epoch: this.epoch, batch: this.batchesAppended });
    });
    this.batchesAppended++;
  }

  clean(limit: number, nowMs: number, deleteRetentionMs: number): void {
    const latest = new Map<string, number>();
    for (const r of this.survivors) if (r.offset < limit && r.key !== null) latest.set(r.key, r.offset);
    this.survivors = this.survivors.filter((r) => {
      if (r.offset >= limit) return true;
      if (r.key === null || (latest.get(r.key) as number) > r.offset) return false;
      const stamped = this.stampedAtMs.get(r.batch);
      return !(r.value === null && stamped !== undefined && nowMs >= stamped + deleteRetentionMs);
    });
    for (const r of this.survivors) {
      if (r.offset < limit && r.value === null && !this.stampedAtMs.has(r.batch)) this.stampedAtMs.set(r.batch, nowMs);
    }
  }
}

function strip(records: readonly ModelRecord[]): StoredRecord[] {
  return records.map(({ offset, key, value, timestampMs, epoch }) => ({ offset, key, value, timestampMs, epoch }));
}

function epochEnds(log: PartitionLog, maxEpoch: number): string {
  const ends: string[] = [];
  for (let e = 0; e <= maxEpoch; e++) ends.push(JSON.stringify(log.endOffsetForEpoch(e) ?? null));
  return ends.join(" ");
}

function checkAgainstModel(log: PartitionLog, model: CompactionModel, logEndOffset: number, what: string): void {
  expect(log.logEndOffset, `${what}: log end offset`).to.equal(logEndOffset);
  const expected = strip(model.survivors);
  const actual = consume(log);
  expect(actual, `${what}: records`).to.deep.equal(expected);
  for (let from = log.logStartOffset; from <= logEndOffset; from += 3) {
    expect(consume(log, from), `${what}: read from ${from}`).to.deep.equal(expected.filter((r) => r.offset >= from));
  }
}

describe("log compaction (property)", () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  it("keeps exactly the latest record per key, at its offset, across cleans, appends, restarts and delete.retention.ms", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 12 })
          .chain((keys) => fc.tuple(fc.constant(keys), batchSpecs(keys, true, 40), batchSpecs(keys, false, 20))),
        fc.integer({ min: 250, max: 1500 }),
        fc.integer({ min: 0, max: 400 }),
        fc.constantFrom(0, 1000),
        async ([, first, second], segmentBytes, indexIntervalBytes, deleteRetentionMs) => {
          const dataDir = temp.make();
          const clock = new ManualClock(T0);
          const compacted: LogConfig = config({
            cleanupPolicy: "compact",
            segmentBytes,
            indexIntervalBytes,
            deleteRetentionMs,
          });
          let manager: LogManager = await openManagerWith(dataDir, clock);
          try {
            // Written while the topic was cleanup.policy=delete (so null keys got in), then compacted.
            let log = await manager.createLog("prop", 0, config({ segmentBytes, indexIntervalBytes, retentionMs: -1 }));
            const model = new CompactionModel();
            for (const spec of first) model.append(log, spec);
            log.updateConfig(compacted);
            const maxEpoch = log.latestEpoch ?? 0;
            const epochsBefore = epochEnds(log, maxEpoch);
            const end = log.logEndOffset;

            const clean = async (what: string): Promise<number> => {
              log.updateHighWatermark(log.logEndOffset);
              const bases = log.segmentBaseOffsets();
              const limit = bases[bases.length - 1] as number;
              const summary = await manager.cleanLog("prop", 0);
              expect(summary?.cleanOffset, `${what}: clean offset`).to.equal(limit > 0 ? limit : undefined);
              model.clean(limit, clock.nowMs(), deleteRetentionMs);
              return limit;
            };

            const firstLimit = await clean("first clean");
            checkAgainstModel(log, model, end, "first clean");
            expect(epochEnds(log, maxEpoch), "epoch cache unchanged").to.equal(epochsBefore);

            await manager.close();
            manager = await openManagerWith(dataDir, clock);
            log = await manager.createLog("prop", 0, compacted);
            checkAgainstModel(log, model, end, "after restart");
            expect(log.cleanOffset, "clean offset from the checkpoint").to.equal(firstLimit);
            expect(epochEnds(log, maxEpoch), "epoch cache after restart").to.equal(epochsBefore);

            for (const spec of second) model.append(log, spec);
            const secondEnd = log.logEndOffset;
            const secondLimit = await clean("second clean");
            checkAgainstModel(log, model, secondEnd, "second clean");

            clock.advance(deleteRetentionMs + 1);
            await clean("clean past delete.retention.ms");
            checkAgainstModel(log, model, secondEnd, "past delete.retention.ms");
            const tombstones = consume(log).filter((r) => r.value === null && r.offset < secondLimit);
            expect(tombstones, "no tombstone below the clean offset outlives delete.retention.ms").to.deep.equal([]);
            expect(latestValues(consume(log)), "a consumer's view").to.deep.equal(latestValues(strip(model.survivors)));
          } finally {
            await manager.close();
          }
        },
      ),
      { seed: 20250611, numRuns: 25 },
    );
  });
});
