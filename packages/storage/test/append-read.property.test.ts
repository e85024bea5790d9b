// Property: random batches appended with tiny segments read back byte-identical (modulo the
// rewritten base offset and leader epoch), across rolls and across close/reopen, with
// contiguous offsets. Seeded so a failure replays.

import { ManualClock } from "@castle/common";
import { decodeRecordBatches, encodeRecordBatch, type RecordInput } from "@castle/protocol";
import { expect } from "chai";
import fc from "fast-check";
import { asStored, config, openManager, readAll, spansOf, TempDirs } from "./helpers.js";

const T0 = 1_700_000_000_000;

const recordArbitrary: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    { nil: null },
  ),
  value: fc.option(
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    { nil: null },
  ),
  headers: fc.array(
    fc.record({
      key: fc.string({ maxLength: 8 }),
      value: fc.option(
        fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
        { nil: null },
      ),
    }),
    { maxLength: 3 },
  ),
  timestampMs: fc.integer({ min: T0, max: T0 + 100_000 }),
});

const batchArbitrary = fc
  .array(recordArbitrary, { minLength: 1, maxLength: 12 })
  .map((records) => encodeRecordBatch(records, { baseTimestampMs: T0 }));

describe("append and read (property)", () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  it("reads back every batch byte-identical across rolls and reopen", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(batchArbitrary, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 200, max: 3000 }),
        fc.integer({ min: 0, max: 500 }),
        async (appends, segmentBytes, indexIntervalBytes) => {
          const dataDir = temp.make();
          const clock = new ManualClock(T0);
          const logConfig = config({ segmentBytes, indexIntervalBytes });
          let manager = await openManager(dataDir, clock);
          try {
            const log = await manager.createLog("prop", 0, logConfig);
            const expected: Buffer[] = [];
            let nextOffset = 0;
            for (const batches of appends) {
              const buf = Buffer.concat(batches);
              const result = log.append(buf, spansOf(buf), { leaderEpoch: 7, nowMs: clock.nowMs() });
              expect(result.baseOffset).to.equal(nextOffset);
              for (const batch of batches) {
                expected.push(asStored(batch, nextOffset, 7));
                nextOffset += batch.readInt32BE(57);
              }
              expect(result.lastOffset).to.equal(nextOffset - 1);
            }
            const all = Buffer.concat(expected);
            expect(readAll(log).equals(all), "before reopen").to.equal(true);
            expect(decodeRecordBatches(all).map((r) => r.offset)).to.deep.equal([...Array(nextOffset).keys()]);
            await manager.close();
            manager = await openManager(dataDir, clock);
            const reopened = await manager.createLog("prop", 0, logConfig);
            expect(reopened.logEndOffset).to.equal(nextOffset);
            expect(readAll(reopened).equals(all), "after reopen").to.equal(true);
            for (let offset = 0; offset < nextOffset; offset += 7) {
              const { records, firstBatchBaseOffset } = reopened.read(offset, 1);
              const first = spansOf(records)[0];
              expect(firstBatchBaseOffset).to.be.at.most(offset);
              expect((first?.baseOffset ?? -1) + (first?.lastOffsetDelta ?? -1)).to.be.at.least(offset);
            }
          } finally {
            await manager.close();
          }
        },
      ),
      { seed: 20240601, numRuns: 40 },
    );
  });
});
