import {
  BATCH_HEADER_BYTES,
  CompressionType,
  crc32c,
  decodeRecordBatch,
  decodeRecordBatches,
  encodeRecordBatch,
  encodeRecordBatches,
  errorInfoForCode,
  ProtocolError,
  type RecordInput,
  readBatchHeader,
  readZigzag,
  setBatchBaseOffset,
  updateBatchCrc,
  validateBatches,
  wholeBatchesLength,
  writeZigzag,
  zigzagSize,
} from "@castle/protocol";
import { expect } from "chai";
import fc from "fast-check";

const limits = { batchBytesMax: 1 << 20 };

function expectProtocolError(fn: () => unknown, code: string): ProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(ProtocolError);
    expect((error as ProtocolError).code).to.equal(code);
    return error as ProtocolError;
  }
  expect.fail(`expected ${code}`);
}

describe("CRC32C", () => {
  it("matches the standard check value for '123456789'", () => {
    expect(crc32c(Buffer.from("123456789"))).to.equal(0xe3069283);
  });
});

describe("zig-zag varints", () => {
  it("round-trip values across the 32-bit and 53-bit ranges", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.integer({ min: -(2 ** 52), max: 2 ** 52 })), (value) => {
        const buf = Buffer.alloc(10);
        const end = writeZigzag(buf, 0, value);
        expect(end).to.equal(zigzagSize(value));
        const cursor = { value: 0, pos: 0 };
        readZigzag(buf, cursor, end);
        expect(cursor.value).to.equal(value);
        expect(cursor.pos).to.equal(end);
      }),
    );
  });

  it("encodes like protobuf's sint: 0, -1, 1, -2 -> 0, 1, 2, 3", () => {
    for (const [value, byte] of [
      [0, 0],
      [-1, 1],
      [1, 2],
      [-2, 3],
    ] as const) {
      const buf = Buffer.alloc(1);
      writeZigzag(buf, 0, value);
      expect(buf[0], `zigzag(${value})`).to.equal(byte);
    }
  });

  it("refuses a varint that runs past its bound", () => {
    expectProtocolError(() => readZigzag(Buffer.from([0x80, 0x80]), { value: 0, pos: 0 }, 2), "CORRUPT_MESSAGE");
  });
});

describe("RecordBatch v2", () => {
  const sample: RecordInput[] = [
    { key: Buffer.from("k"), value: Buffer.from("v1"), headers: [{ key: "h", value: Buffer.from("x") }], timestampMs: 1_700_000_000_100 },
    { key: null, value: null, timestampMs: 1_700_000_000_050 },
  ];

  it("has golden bytes for a fixed batch (format changes are never accidental)", () => {
    const batch = encodeRecordBatch(sample, { baseTimestampMs: 1_700_000_000_000, baseOffset: 5, partitionLeaderEpoch: 0 });
    // Decoded by hand from Kafka's RecordBatch v2 layout: header (base offset 5, length 71, epoch 0,
    // magic 2, crc, attributes 0, last delta 1, timestamps, producer -1/-1/-1, count 2), then record 0
    // (len 14, ts delta +100, key "k", value "v1", header h=x) and record 1 (len 6, null key and value).
    expect(batch.toString("hex")).to.equal(
      "0000000000000005000000470000000002aa4c2e4e000000000001" +
        "0000018bcfe568000000018bcfe56864ffffffffffffffffffffffffffff00000002" +
        "1c00c80100026b04763102026802780c006402010100",
    );
    expect(batch.readUInt32BE(17), "crc").to.equal(crc32c(batch.subarray(21)));
  });

  it("round-trips random records, with and without gzip", () => {
    const header = fc.record({
      key: fc.string({ maxLength: 8 }),
      value: fc.option(fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a))),
    });
    const record = fc.record({
      key: fc.option(fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a))),
      value: fc.option(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))),
      headers: fc.array(header, { maxLength: 3 }),
      timestampMs: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (records, gzip, base) => {
          const batch = encodeRecordBatch(records, {
            baseTimestampMs: 1_700_000_000_000,
            compression: gzip ? CompressionType.Gzip : CompressionType.None,
          });
          setBatchBaseOffset(batch, 0, base);
          expect(validateBatches(batch, limits)).to.have.length(1);
          const decoded = decodeRecordBatch(batch).records;
          expect(decoded.map((r) => r.offset)).to.deep.equal(records.map((_, i) => base + i));
          decoded.forEach((r, i) => {
            const want = records[i] as (typeof records)[number];
            expect(r.key, `key ${i}`).to.deep.equal(want.key);
            expect(r.value, `value ${i}`).to.deep.equal(want.value);
            expect(r.timestampMs).to.equal(want.timestampMs);
            expect(r.headers).to.deep.equal(want.headers);
          });
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });

  it("encodes several batches into one buffer byte-identical to encoding them one by one", () => {
    const record = fc.record({
      key: fc.option(fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a))),
      value: fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))),
      timestampMs: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
    });
    const batch = fc.record({ records: fc.array(record, { minLength: 1, maxLength: 8 }), gzip: fc.boolean() });
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 5 }), (batches) => {
        const inputs = batches.map(({ records, gzip }, i) => ({
          records,
          options: { baseTimestampMs: 1_700_000_000_000 + i, compression: gzip ? CompressionType.Gzip : CompressionType.None },
        }));
        const { bytes, views } = encodeRecordBatches(inputs);
        const separately = inputs.map((b) => encodeRecordBatch(b.records, b.options));
        expect(bytes.equals(Buffer.concat(separately))).to.equal(true);
        expect(views.map((v) => v.toString("hex"))).to.deep.equal(separately.map((b) => b.toString("hex")));
        // Views share the one buffer: no copies were made.
        for (const view of views) expect(view.buffer).to.equal(bytes.buffer);
        expect(validateBatches(bytes, limits)).to.have.length(batches.length);
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  it("refuses an empty batch among several before encoding any", () => {
    expectProtocolError(
      () =>
        encodeRecordBatches([
          { records: sample, options: { baseTimestampMs: 1 } },
          { records: [], options: { baseTimestampMs: 2 } },
        ]),
      "INVALID_RECORD",
    );
  });

  it("keeps the CRC valid when the base offset is rewritten", () => {
    const batch = encodeRecordBatch(sample, { baseTimestampMs: 1_700_000_000_000 });
    setBatchBaseOffset(batch, 0, 123456789012);
    expect(readBatchHeader(batch).baseOffset).to.equal(123456789012);
    expect(() => validateBatches(batch, limits)).not.to.throw();
  });

  it("splits concatenated batches", () => {
    const a = encodeRecordBatch(sample, { baseTimestampMs: 1 });
    const b = encodeRecordBatch([{ value: Buffer.from("z") }], { baseTimestampMs: 2, baseOffset: 2 });
    const spans = validateBatches(Buffer.concat([a, b]), limits);
    expect(spans.map((s) => [s.position, s.sizeBytes, s.recordCount])).to.deep.equal([
      [0, a.length, 2],
      [a.length, b.length, 1],
    ]);
    expect(decodeRecordBatches(Buffer.concat([a, b])).map((r) => r.offset)).to.deep.equal([0, 1, 2]);
  });

  describe("refuses bad input with a clear error", () => {
    const good = () => encodeRecordBatch(sample, { baseTimestampMs: 1_700_000_000_000 });
    const cases: Array<[string, () => Buffer, string]> = [
      [
        "a flipped byte in a record",
        () => {
          const b = good();
          b[b.length - 3] = (b[b.length - 3] as number) ^ 0xff;
          return b;
        },
        "CORRUPT_MESSAGE",
      ],
      ["a truncated batch", () => good().subarray(0, 70), "CORRUPT_MESSAGE"],
      ["a header shorter than 61 bytes", () => good().subarray(0, 30), "CORRUPT_MESSAGE"],
      [
        "a length below the header size",
        () => {
          const b = good();
          b.writeInt32BE(10, 8);
          return b;
        },
        "CORRUPT_MESSAGE",
      ],
      [
        "magic 1",
        () => {
          const b = good();
          b.writeInt8(1, 16);
          return b;
        },
        "UNSUPPORTED_VERSION",
      ],
      ["an empty buffer", () => Buffer.alloc(0), "INVALID_RECORD"],
      ["random bytes", () => Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff)), "CORRUPT_MESSAGE"],
    ];
    for (const [what, make, code] of cases) {
      it(what, () => {
        const error = expectProtocolError(() => validateBatches(make(), limits), code);
        expect(error.message.length, "message is readable").to.be.greaterThan(10);
      });
    }
    it("a compacted batch (fewer records than its offset range) only where gaps are allowed", () => {
      const batch = encodeRecordBatch([{ value: Buffer.from("a") }, { value: Buffer.from("b") }], { baseTimestampMs: 1 });
      batch.writeInt32BE(4, 23); // lastOffsetDelta 4: offsets 0..4 of which 2 records survived
      updateBatchCrc(batch, 0);
      expectProtocolError(() => validateBatches(batch, limits), "INVALID_RECORD");
      const [span] = validateBatches(batch, { ...limits, allowOffsetGaps: true });
      expect([span?.recordCount, span?.lastOffsetDelta]).to.deep.equal([2, 4]);
      batch.writeInt32BE(0, 23); // more records than offsets: never valid
      updateBatchCrc(batch, 0);
      expectProtocolError(() => validateBatches(batch, { ...limits, allowOffsetGaps: true }), "INVALID_RECORD");
    });
    it("an oversize batch -> MESSAGE_TOO_LARGE", () => {
      const big = encodeRecordBatch([{ value: Buffer.alloc(2000) }], { baseTimestampMs: 1 });
      expectProtocolError(() => validateBatches(big, { batchBytesMax: 1000 }), "MESSAGE_TOO_LARGE");
    });
    it("a record whose length runs past the batch -> CORRUPT_MESSAGE on decode", () => {
      const b = good();
      b[BATCH_HEADER_BYTES] = 0x7e; // first record's length varint: 63, beyond the body
      expectProtocolError(() => decodeRecordBatch(b), "CORRUPT_MESSAGE");
    });
  });
});

describe("error table", () => {
  it("uses Kafka's numbers and retriable flags", () => {
    expect(errorInfoForCode(2)).to.include({ name: "CORRUPT_MESSAGE", retriable: true });
    expect(errorInfoForCode(6)).to.include({ name: "NOT_LEADER_OR_FOLLOWER", retriable: true });
    expect(errorInfoForCode(10)).to.include({ name: "MESSAGE_TOO_LARGE", retriable: false });
    expect(errorInfoForCode(36)).to.include({ name: "TOPIC_ALREADY_EXISTS", retriable: false });
    expect(errorInfoForCode(9999).name).to.equal("UNKNOWN_SERVER_ERROR");
  });
});

describe("walking concatenated batches", () => {
  it("stops at a batch whose length field is below the framing instead of looping", () => {
    const good = encodeRecordBatch([{ value: Buffer.from("ok") }], { baseTimestampMs: 1 });
    const bad = Buffer.alloc(61);
    bad.writeInt32BE(-12, 8); // declares a total size of 0 bytes
    const buf = Buffer.concat([good, bad]);
    expect(wholeBatchesLength(buf)).to.equal(good.length);
    expect(decodeRecordBatches(buf).map((r) => r.value?.toString())).to.deep.equal(["ok"]);
  });
});
