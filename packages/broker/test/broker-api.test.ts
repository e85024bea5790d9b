import { connect } from "node:net";
import {
  type CreateTopicsResponse,
  decodeRecordBatches,
  ErrorCode,
  encodeRecordBatch,
  type FetchResponse,
  type ListOffsetsResponse,
  type MetadataResponse,
  type ProduceResponse,
} from "@castle/protocol";
import { expect } from "chai";
import { type Harness, startHarness } from "./grpc-harness.js";

const batchOf = (values: string[], baseTimestampMs = 1_700_000_000_000) =>
  encodeRecordBatch(
    values.map((v, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(v), timestampMs: baseTimestampMs + i })),
    { baseTimestampMs },
  );

describe("broker API over gRPC", function () {
  this.timeout(30_000);
  let h: Harness;

  const createTopic = (name: string, numPartitions = 1, configs: Record<string, string> = {}, replicationFactor = 1) =>
    h
      .call<CreateTopicsResponse>(h.admin, "CreateTopics", { topics: [{ name, numPartitions, replicationFactor, configs }] })
      .then((r) => r.topics[0]!);
  const produce = (topic: string, partition: number, recordBatches: Buffer, acks = 1) =>
    h
      .call<ProduceResponse>(h.broker, "Produce", {
        acks,
        timeoutMs: 5000,
        topics: [{ name: topic, partitions: [{ partition, recordBatches }] }],
      })
      .then((r) => r.topics[0]!.partitions[0]!);
  const fetch = (topic: string, partition: number, fetchOffset: number, extra: Record<string, unknown> = {}) =>
    h
      .call<FetchResponse>(h.broker, "Fetch", {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ name: topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
        ...extra,
      })
      .then((r) => r.topics[0]!.partitions[0]!);
  const listOffset = (topic: string, partition: number, timestamp: number) =>
    h
      .call<ListOffsetsResponse>(h.broker, "ListOffsets", { topics: [{ name: topic, partitions: [{ partition, timestamp }] }] })
      .then((r) => r.topics[0]!.partitions[0]!);

  beforeEach(async () => {
    h = await startHarness({ "auto.create.topics.enable": "false" });
  });
  afterEach(async () => {
    await h.close();
  });

  it("creates a topic, produces batches, fetches them back with offsets assigned", async () => {
    expect((await createTopic("orders", 3)).errorCode).to.equal(ErrorCode.NONE);
    const first = await produce("orders", 1, batchOf(["a", "b", "c"]));
    expect(first).to.include({ errorCode: 0, baseOffset: 0 });
    const second = await produce("orders", 1, Buffer.concat([batchOf(["d"]), batchOf(["e", "f"])]));
    expect(second).to.include({ errorCode: 0, baseOffset: 3 });
    const fetched = await fetch("orders", 1, 0);
    expect(fetched.errorCode).to.equal(0);
    expect(fetched.highWatermark).to.equal(6);
    const records = decodeRecordBatches(fetched.recordBatches);
    expect(records.map((r) => [r.offset, r.value?.toString()])).to.deep.equal([
      [0, "a"],
      [1, "b"],
      [2, "c"],
      [3, "d"],
      [4, "e"],
      [5, "f"],
    ]);
    const structured = await fetch("orders", 1, 4, { format: "RECORD_FORMAT_STRUCTURED" });
    expect(structured.records.map((r) => [r.offset, r.value?.toString(), r.key?.toString()])).to.deep.equal([
      [4, "e", "k0"],
      [5, "f", "k1"],
    ]);
  });

  it("answers list offsets: earliest, latest, by timestamp", async () => {
    await createTopic("times");
    await produce("times", 0, batchOf(["a", "b"], 1000));
    await produce("times", 0, batchOf(["c", "d"], 5000));
    expect((await listOffset("times", 0, -2)).offset).to.equal(0);
    expect((await listOffset("times", 0, -1)).offset).to.equal(4);
    expect((await listOffset("times", 0, 4000)).offset, "first batch with max timestamp >= 4000").to.equal(2);
    expect((await listOffset("times", 0, 99999)).offset, "nothing that late").to.equal(-1);
  });

  it("long-polls a fetch until data arrives", async () => {
    await createTopic("poll");
    const started = Date.now();
    const pending = fetch("poll", 0, 0, { maxWaitMs: 5000 });
    setTimeout(() => void produce("poll", 0, batchOf(["late"])), 200);
    const result = await pending;
    const waited = Date.now() - started;
    expect(decodeRecordBatches(result.recordBatches).map((r) => r.value?.toString())).to.deep.equal(["late"]);
    expect(waited, "returned on the append, not at max wait").to.be.lessThan(4000);
    const empty = await fetch("poll", 0, 1, { maxWaitMs: 150 });
    expect(empty.recordBatches.length).to.equal(0);
  });

  it("holds a fetch until min.bytes have arrived, across several appends", async () => {
    await createTopic("minbytes");
    const one = batchOf(["x".repeat(200)]);
    const pending = fetch("minbytes", 0, 0, { maxWaitMs: 5000, minBytes: one.length * 3 });
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await produce("minbytes", 0, batchOf(["x".repeat(200)]));
    }
    const result = await pending;
    expect(decodeRecordBatches(result.recordBatches), "all three appends, not just the first").to.have.length(3);
    const timedOut = await fetch("minbytes", 0, 3, { maxWaitMs: 200, minBytes: 1 << 20 });
    expect(timedOut.errorCode, "max.wait.ms answers with what there is").to.equal(0);
  });

  it("keeps topics and records across a restart", async () => {
    await createTopic("durable", 2, { "retention.ms": "3600000" });
    await produce("durable", 0, batchOf(["x", "y"]));
    await h.restart({ "auto.create.topics.enable": "false" });
    const meta = await h.call<MetadataResponse>(h.broker, "Metadata", { topics: ["durable"] });
    expect(meta.topics[0]!.partitions).to.have.length(2);
    expect(decodeRecordBatches((await fetch("durable", 0, 0)).recordBatches).map((r) => r.value?.toString())).to.deep.equal(["x", "y"]);
    expect((await produce("durable", 0, batchOf(["z"]))).baseOffset).to.equal(2);
  });

  describe("bad input: a clear error and nothing changed", () => {
    const cases: Array<[string, () => Promise<{ errorCode: number; errorMessage: string }>, number, RegExp]> = [
      ["invalid topic name", () => createTopic("bad/name"), ErrorCode.INVALID_TOPIC_EXCEPTION, /characters/],
      ["empty topic name", () => createTopic(""), ErrorCode.INVALID_TOPIC_EXCEPTION, /empty/],
      ["topic name too long", () => createTopic("x".repeat(250)), ErrorCode.INVALID_TOPIC_EXCEPTION, /249/],
      ["zero partitions", () => createTopic("zero", 0), ErrorCode.INVALID_PARTITIONS, /at least 1/],
      ["negative partitions", () => createTopic("neg", -5), ErrorCode.INVALID_PARTITIONS, /at least 1/],
      ["too many partitions", () => createTopic("huge", 1_000_000), ErrorCode.INVALID_PARTITIONS, /maximum/],
      [
        "replication factor above broker count",
        () => createTopic("rf", 1, {}, 3),
        ErrorCode.INVALID_REPLICATION_FACTOR,
        /larger than the 1 live \(registered and unfenced\) broker/,
      ],
      ["unknown config", () => createTopic("cfg", 1, { "no.such.config": "1" }), ErrorCode.INVALID_CONFIG, /unknown topic config/],
      ["out-of-range config", () => createTopic("cfg2", 1, { "segment.bytes": "12" }), ErrorCode.INVALID_CONFIG, /out of range/],
      ["non-numeric config", () => createTopic("cfg3", 1, { "retention.ms": "soon" }), ErrorCode.INVALID_CONFIG, /not an integer/],
      ["produce to an unknown topic", () => produce("missing", 0, batchOf(["a"])), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, /missing-0/],
      ["produce to an unknown partition", () => produce("t", 7, batchOf(["a"])), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, /t-7/],
      [
        "bad CRC",
        () => {
          const b = batchOf(["a", "b"]);
          b.writeUInt8(b.readUInt8(b.length - 2) ^ 0x55, b.length - 2);
          return produce("t", 0, b);
        },
        ErrorCode.CORRUPT_MESSAGE,
        /CRC/,
      ],
      ["truncated batch", () => produce("t", 0, batchOf(["abc"]).subarray(0, 65)), ErrorCode.CORRUPT_MESSAGE, /declares/],
      ["oversize batch", () => produce("small", 0, batchOf(["x".repeat(3000)])), ErrorCode.MESSAGE_TOO_LARGE, /max.message.bytes/],
      ["bad acks", () => produce("t", 0, batchOf(["a"]), 2), ErrorCode.INVALID_REQUIRED_ACKS, /acks=2/],
      ["fetch beyond the log end", () => fetch("t", 0, 99), ErrorCode.OFFSET_OUT_OF_RANGE, /outside/],
      ["fetch at a negative offset", () => fetch("t", 0, -3), ErrorCode.OFFSET_OUT_OF_RANGE, /negative/],
      ["list offsets of an unknown topic", () => listOffset("nope", 0, -1), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, /nope/],
    ];
    for (const [what, act, code, message] of cases) {
      it(what, async () => {
        await createTopic("t", 1);
        await createTopic("small", 1, { "max.message.bytes": "1000" });
        await produce("t", 0, batchOf(["keep"]));
        const result = await act();
        expect(result.errorCode, result.errorMessage).to.equal(code);
        expect(result.errorMessage).to.match(message);
        const after = await fetch("t", 0, 0);
        expect(
          decodeRecordBatches(after.recordBatches).map((r) => r.value?.toString()),
          "t unchanged",
        ).to.deep.equal(["keep"]);
        const topics = await h.call<{ topics: Array<{ name: string }> }>(h.admin, "ListTopics", {});
        expect(
          topics.topics.map((t) => t.name),
          "no topic created",
        ).to.deep.equal(["small", "t"]);
      });
    }

    it("survives random bytes on the gRPC port and keeps serving", async () => {
      await createTopic("t", 1);
      await produce("t", 0, batchOf(["keep"]));
      for (let i = 0; i < 5; i++) {
        await new Promise<void>((resolve) => {
          const socket = connect(h.node.clientPort, "127.0.0.1", () => {
            socket.write(Buffer.from(Array.from({ length: 4096 }, (_, j) => (j * 131 + i * 17) & 0xff)));
            socket.end();
          });
          // The server may answer with a GOAWAY or just hold the connection: give it a moment either way.
          socket.setTimeout(300, () => socket.destroy());
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
        });
      }
      expect((await produce("t", 0, batchOf(["more"]))).baseOffset).to.equal(1);
      expect(decodeRecordBatches((await fetch("t", 0, 0)).recordBatches).map((r) => r.value?.toString())).to.deep.equal(["keep", "more"]);
    });
  });
});
