import type { ProduceResponse } from "@castle/protocol";
import { expect } from "chai";
import { Producer } from "../src/producer/producer.js";
import { FakeTransport } from "./fake-transport.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Producer (fake transport)", () => {
  it("batches records by size, assigns offsets and round-trips keys, values and headers", async () => {
    const transport = new FakeTransport({ t: 1 });
    const producer = new Producer({ batchSize: 2000, lingerMs: 10_000 }, { transport });
    const sends = Array.from({ length: 50 }, (_, i) =>
      producer.send({ topic: "t", key: `k${i}`, value: Buffer.alloc(100, i), headers: { h: `v${i}`, n: null } }),
    );
    const results = await Promise.all(sends.slice(0, 10));
    expect(results.map((r) => r.offset)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await producer.flush();
    const all = await Promise.all(sends);
    expect(all.map((r) => r.offset)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    const records = transport.requests.flat().flatMap((s) => s.records);
    expect(records).to.have.length(50);
    expect(records[7]?.key?.toString()).to.equal("k7");
    expect(records[7]?.headers).to.deep.equal([
      { key: "h", value: Buffer.from("v7") },
      { key: "n", value: null },
    ]);
    const batchSizes = transport.requests.flat().flatMap((s) => s.batchSizes);
    expect(batchSizes.length, "50 records of ~120 bytes in 2000-byte batches").to.be.within(3, 5);
    for (const size of batchSizes) expect(size, "each batch within batchSize").to.be.at.most(2000);
    await producer.close();
    expect(transport.closed).to.equal(true);
  });

  it("sends a non-full batch after lingerMs", async () => {
    const transport = new FakeTransport({ t: 1 });
    const producer = new Producer({ lingerMs: 30 }, { transport });
    const started = Date.now();
    const result = await producer.send({ topic: "t", value: "x" });
    expect(Date.now() - started).to.be.at.least(25);
    expect(result).to.include({ topic: "t", partition: 0, offset: 0 });
    await producer.close();
  });

  it("uses one request per broker for several partitions", async () => {
    const transport = new FakeTransport({ t: 4 });
    const producer = new Producer({ lingerMs: 20 }, { transport });
    await Promise.all([0, 1, 2, 3].map((partition) => producer.send({ topic: "t", value: "x", partition })));
    expect(transport.requests).to.have.length(1);
    expect(transport.requests[0]?.map((s) => s.partition).sort()).to.deep.equal([0, 1, 2, 3]);
    await producer.close();
  });

  it("never holds more than bufferMemory and rejects after maxBlockMs", async () => {
    const transport = new FakeTransport({ t: 1 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    transport.handler = async (_request, sent) => {
      await gate;
      return transport.succeed(sent);
    };
    const producer = new Producer({ bufferMemory: 1000, batchSize: 300, lingerMs: 0, maxBlockMs: 100 }, { transport });
    const outcomes: string[] = [];
    const sends = Array.from({ length: 20 }, (_, i) =>
      producer.send({ topic: "t", value: Buffer.alloc(100, i) }).then(
        () => outcomes.push("ok"),
        (e: Error) => outcomes.push(e.message),
      ),
    );
    let maxHeld = 0;
    for (let i = 0; i < 15; i++) {
      maxHeld = Math.max(maxHeld, producer.bufferedBytes);
      await sleep(10);
    }
    expect(maxHeld, "buffer bound").to.be.at.most(1000);
    expect(outcomes.filter((o) => o.includes("maxBlockMs")).length, "blocked sends time out").to.be.greaterThan(0);
    release();
    await Promise.all(sends);
    expect(outcomes.filter((o) => o === "ok").length).to.be.greaterThan(0);
    expect(outcomes.length).to.equal(20);
    await producer.close();
  });

  it("rejects a record larger than bufferMemory at once", async () => {
    const producer = new Producer({ bufferMemory: 100 }, { transport: new FakeTransport({ t: 1 }) });
    let error: Error | undefined;
    await producer.send({ topic: "t", value: Buffer.alloc(200) }).catch((e: Error) => {
      error = e;
    });
    expect(error?.message).to.match(/bufferMemory=100/);
    await producer.close();
  });

  it("retries retriable errors with back-off and fails fast on others", async () => {
    const transport = new FakeTransport({ t: 2 });
    let calls = 0;
    transport.handler = (_request, sent): ProduceResponse => {
      calls++;
      const p = sent[0]?.partition ?? 0;
      if (p === 0 && calls < 3) {
        return {
          topics: [
            {
              name: "t",
              partitions: [
                { partition: 0, errorCode: 6, errorMessage: "not the leader", baseOffset: -1, logAppendTimeMs: -1, logStartOffset: 0 },
              ],
            },
          ],
        };
      }
      if (p === 1) {
        return {
          topics: [
            {
              name: "t",
              partitions: [
                { partition: 1, errorCode: 10, errorMessage: "batch too big", baseOffset: -1, logAppendTimeMs: -1, logStartOffset: 0 },
              ],
            },
          ],
        };
      }
      return transport.succeed(sent);
    };
    const producer = new Producer({ lingerMs: 0, retryBackoffMs: 5, retryBackoffMaxMs: 10 }, { transport });
    const ok = await producer.send({ topic: "t", value: "a", partition: 0 });
    expect(ok.offset).to.equal(0);
    expect(calls).to.equal(3);
    const error = await producer.send({ topic: "t", value: "b", partition: 1 }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(error?.code).to.equal("MESSAGE_TOO_LARGE");
    expect(error?.message).to.match(/batch too big/);
    await producer.close();
  });

  it("gives up on retriable errors after deliveryTimeoutMs", async () => {
    const transport = new FakeTransport({ t: 1 });
    transport.handler = () => ({
      topics: [
        {
          name: "t",
          partitions: [
            { partition: 0, errorCode: 19, errorMessage: "isr too small", baseOffset: -1, logAppendTimeMs: -1, logStartOffset: 0 },
          ],
        },
      ],
    });
    const producer = new Producer({ lingerMs: 0, retryBackoffMs: 10, requestTimeoutMs: 50, deliveryTimeoutMs: 100 }, { transport });
    const error = await producer.send({ topic: "t", value: "a" }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(error?.code).to.be.oneOf(["NOT_ENOUGH_REPLICAS", "REQUEST_TIMED_OUT"]);
    await producer.close();
  });

  it("resolves acks=0 sends with offset -1", async () => {
    const producer = new Producer({ acks: 0, lingerMs: 0 }, { transport: new FakeTransport({ t: 1 }) });
    const result = await producer.send({ topic: "t", value: "a" });
    expect(result.offset).to.equal(-1);
    await producer.close();
  });

  it("rejects a partition out of range naming the valid ones", async () => {
    const producer = new Producer({}, { transport: new FakeTransport({ t: 2 }) });
    const error = await producer.send({ topic: "t", value: "a", partition: 5 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/partitions 0\.\.1/);
    await producer.close();
  });

  it("validates options with a readable message", () => {
    expect(() => new Producer({ acks: 2 as 1 }, { transport: new FakeTransport({}) })).to.throw(/acks=2 is invalid/);
    expect(() => new Producer({ batchSize: 0 }, { transport: new FakeTransport({}) })).to.throw(/batchSize=0/);
  });

  it("sendWithCallback returns undefined on the fast path", async () => {
    const producer = new Producer({ lingerMs: 0 }, { transport: new FakeTransport({ t: 1 }) });
    const offsets: number[] = [];
    for (let i = 0; i < 100; i++) {
      const accepted = producer.sendWithCallback({ topic: "t", value: "v" }, (error, metadata) => {
        if (error === null && metadata !== null) offsets.push(metadata.offset);
      });
      expect(accepted, `record ${i}`).to.equal(undefined);
    }
    await producer.flush();
    expect(offsets).to.have.length(100);
    await producer.close();
  });
});
