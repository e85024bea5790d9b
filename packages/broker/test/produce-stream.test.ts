// ProduceStream over the wire: many requests on one stream, each answered under its own
// correlation id by the same handler as unary Produce; a bad request is answered with its
// error and the stream goes on; a message without a request ends the stream.

import {
  type CreateTopicsResponse,
  ErrorCode,
  encodeRecordBatch,
  type ProduceStreamRequestInput,
  type ProduceStreamResponse,
} from "@castle/protocol";
import type * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { type Harness, startHarness } from "./grpc-harness.js";

const batchOf = (values: string[]) =>
  encodeRecordBatch(
    values.map((v, i) => ({ key: null, value: Buffer.from(v), timestampMs: 1_700_000_000_000 + i })),
    { baseTimestampMs: 1_700_000_000_000 },
  );

const requestFor = (correlationId: number, topic: string, recordBatches: Buffer): ProduceStreamRequestInput => ({
  correlationId,
  request: { acks: 1, timeoutMs: 5000, topics: [{ name: topic, partitions: [{ partition: 0, recordBatches }] }] },
});

/** Writes `requests`, half-closes, and collects every response and the final status. */
function exchange(
  h: Harness,
  requests: ProduceStreamRequestInput[],
): Promise<{ responses: ProduceStreamResponse[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const call = h.broker.ProduceStream({ deadline: Date.now() + 15_000 });
    const responses: ProduceStreamResponse[] = [];
    call.on("data", (response: ProduceStreamResponse) => responses.push(response));
    call.on("error", () => {});
    call.on("status", (status: grpc.StatusObject) => resolve({ responses, status }));
    for (const request of requests) call.write(request);
    call.end();
  });
}

describe("ProduceStream", function () {
  this.timeout(30_000);
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ "auto.create.topics.enable": "false" });
    const created = await h.call<CreateTopicsResponse>(h.admin, "CreateTopics", {
      topics: [{ name: "s", numPartitions: 1, replicationFactor: 1, configs: {} }],
    });
    expect(created.topics[0]?.errorCode).to.equal(ErrorCode.NONE);
  });
  afterEach(async () => {
    await h.close();
  });

  it("answers each request under its correlation id; a bad one gets its error and the stream goes on", async () => {
    const { responses, status } = await exchange(h, [
      requestFor(7, "s", batchOf(["a", "b"])),
      requestFor(8, "s", batchOf(["c"])),
      requestFor(9, "missing", batchOf(["x"])),
      requestFor(10, "s", Buffer.from("not a record batch")),
      requestFor(11, "s", batchOf(["d", "e", "f"])),
    ]);
    expect(status.code, status.details).to.equal(0);
    const byId = new Map(responses.map((r) => [r.correlationId, r.response?.topics[0]?.partitions[0]]));
    expect(
      responses.map((r) => Number(r.correlationId)).sort((a, b) => a - b),
      "one response per request (in completion order)",
    ).to.deep.equal([7, 8, 9, 10, 11]);
    const cases: [number, number, number][] = [
      [7, ErrorCode.NONE, 0],
      [8, ErrorCode.NONE, 2],
      [9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1],
      [11, ErrorCode.NONE, 3],
    ];
    for (const [id, errorCode, baseOffset] of cases) {
      expect(byId.get(id), `correlation id ${id}`).to.include({ errorCode, baseOffset });
    }
    const corrupt = byId.get(10);
    expect(corrupt?.errorCode, `corrupt batch: ${corrupt?.errorMessage}`).to.not.equal(ErrorCode.NONE);
    expect(corrupt?.baseOffset).to.equal(-1);
  });

  it("ends the stream with INVALID_ARGUMENT for a message without a request", async () => {
    const { responses, status } = await exchange(h, [requestFor(1, "s", batchOf(["a"])), { correlationId: 2 }]);
    expect(status.code).to.equal(3); // INVALID_ARGUMENT
    expect(status.details).to.contain("correlation id 2");
    expect(responses.map((r) => r.correlationId)).to.deep.equal([1]);
  });

  it("keeps serving many pipelined requests past the per-stream outstanding limit", async () => {
    const count = 100;
    const requests = Array.from({ length: count }, (_, i) => requestFor(1000 + i, "s", batchOf([`v${i}`])));
    const { responses, status } = await exchange(h, requests);
    expect(status.code, status.details).to.equal(0);
    expect(responses.map((r) => r.correlationId)).to.deep.equal(requests.map((r) => r.correlationId));
    expect(responses.map((r) => r.response?.topics[0]?.partitions[0]?.baseOffset)).to.deep.equal(requests.map((_, i) => i));
  });
});
