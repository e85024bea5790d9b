// Golden bytes: the on-disk segment format (a batch as it travels, with the assigned base
// offset and leader epoch) and the LevelDB key layout must never change by accident.
// Regenerate with CASTLE_UPDATE_GOLDEN=1 and review the diff like code.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManualClock } from "@castle/common";
import { encodeRecordBatch } from "@castle/protocol";
import { expect } from "chai";
import { encodePartitionKey, KeyPrefix, suffixedKey } from "../src/index/key-prefix.js";
import { type LogManager, readSegmentFile, segmentFileName } from "../src/index.js";
import { config, openManager, spansOf, TempDirs } from "./helpers.js";

const FIXTURE = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "segment-golden.hex");
const T0 = 1_700_000_000_000;

function goldenBatch(): Buffer {
  return encodeRecordBatch(
    [
      { key: Buffer.from("k1"), value: Buffer.from("hello"), headers: [{ key: "h", value: Buffer.from("x") }] },
      { key: null, value: Buffer.from("world"), timestampMs: T0 + 5 },
    ],
    { baseTimestampMs: T0 },
  );
}

describe("segment format (golden bytes)", () => {
  const temp = new TempDirs();
  let manager: LogManager | undefined;
  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    temp.cleanup();
  });

  it("writes a fixed batch as the committed bytes", async () => {
    const dataDir = temp.make();
    manager = await openManager(dataDir, new ManualClock(T0));
    const log = await manager.createLog("golden", 0, config());
    const filler = goldenBatch();
    log.append(filler, spansOf(filler), { leaderEpoch: 5, nowMs: T0 });
    const batch = goldenBatch();
    log.append(batch, spansOf(batch), { leaderEpoch: 5, nowMs: T0 });
    await manager.close();
    manager = undefined;
    const path = join(dataDir, "golden-0", segmentFileName(0));
    const hex = readFileSync(path).toString("hex");
    if (process.env.CASTLE_UPDATE_GOLDEN === "1") writeFileSync(FIXTURE, `${hex.replace(/(.{64})/g, "$1\n").trim()}\n`);
    const expected = readFileSync(FIXTURE, "utf8").replace(/\s+/g, "");
    expect(hex).to.equal(expected);

    const entries = [...readSegmentFile(path)];
    expect(
      entries.map((e) => (e.kind === "batch" ? [e.position, e.header.baseOffset, e.header.partitionLeaderEpoch, e.crcValid] : e.kind)),
    ).to.deep.equal([
      [0, 0, 5, true],
      [batch.length, 2, 5, true],
    ]);
  });

  it("reports a torn tail in readSegmentFile", () => {
    const dir = temp.make();
    const path = join(dir, segmentFileName(0));
    const batch = goldenBatch();
    writeFileSync(path, Buffer.concat([batch, batch.subarray(0, 30)]));
    const entries = [...readSegmentFile(path)];
    expect(entries.map((e) => e.kind)).to.deep.equal(["batch", "torn"]);
    expect(entries[1]).to.include({ position: batch.length, bytesRemaining: 30 });
  });

  it("lays out index keys as prefix, partition key, big-endian suffix", () => {
    const key = suffixedKey(KeyPrefix.OffsetIndex, encodePartitionKey("ab", 3), 258);
    expect(key.toString("hex")).to.equal("02" + "02" + "6162" + "00000003" + "0000000000000102");
    expect(segmentFileName(42)).to.equal("00000000000000000042.log");
  });
});
