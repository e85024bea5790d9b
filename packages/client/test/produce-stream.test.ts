// The producer's ProduceStream under failure: a broker killed (kill -9) with requests in flight
// on the stream fails them with a retriable error, the producer retries, and the records land
// once the broker is back on the same port; with no broker, they fail at deliveryTimeoutMs.
// Plus the fallback to unary Produce for a broker without ProduceStream.

import { type Logger, silentLogger } from "@castle/common";
import { type BrokerHandlers, loadCastleProto, type ProduceRequest, type ProduceResponseInput } from "@castle/protocol";
import { type NodeProcess, startNodeProcess, TempDir } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { Admin } from "../src/admin/admin.js";
import { ClusterClient } from "../src/connection/cluster-client.js";
import { Producer } from "../src/producer/producer.js";
import type { RecordMetadata } from "../src/producer/producer-batch.js";

const settle = (promise: Promise<RecordMetadata>) =>
  promise.then(
    (metadata) => ({ ok: true as const, metadata }),
    (error: unknown) => ({ ok: false as const, error: error as Error }),
  );

describe("producer over ProduceStream", function () {
  this.timeout(60_000);
  let dir: TempDir;
  const stops: Array<() => Promise<unknown>> = [];

  beforeEach(() => {
    dir = new TempDir();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    dir.cleanup();
  });

  async function startWithTopic(): Promise<NodeProcess> {
    const node = await startNodeProcess({ dataDir: dir.join("data") });
    stops.push(() => node.kill());
    const admin = new Admin({ bootstrap: node.bootstrap });
    await admin.createTopics([{ name: "ps", numPartitions: 1, replicationFactor: 1 }]);
    admin.close();
    return node;
  }

  it("retries requests in flight on a stream whose broker was killed, and delivers them after a restart", async () => {
    const first = await startWithTopic();
    const retryErrors: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      debug: (message, fields) => {
        if (message === "retrying batch") retryErrors.push(String(fields?.error));
      },
      child: () => logger,
    };
    const producer = new Producer(
      {
        bootstrap: first.bootstrap,
        acks: -1,
        lingerMs: 1,
        batchSize: 1024,
        requestTimeoutMs: 2000,
        deliveryTimeoutMs: 20_000,
        retryBackoffMs: 50,
        retryBackoffMaxMs: 200,
      },
      { logger },
    );
    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ topic: "ps", value: `before-${i}` })));
    expect(before.map((m) => m.offset)).to.deep.equal(before.map((_, i) => i));

    // Requests are on the stream when the broker dies; they and the ones after fail and retry.
    const started = Date.now();
    const during = Array.from({ length: 2000 }, (_, i) => settle(producer.send({ topic: "ps", value: `during-${i}`.padEnd(200) })));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await first.kill();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await startNodeProcess({ dataDir: dir.join("data"), overrides: { "client.port": String(first.clientPort) } });
    stops.push(() => second.kill());

    const results = await Promise.all(during);
    const failures = results.flatMap((r) => (r.ok ? [] : [r.error.message]));
    expect(failures, "every record sent around the kill").to.deep.equal([]);
    const offsets = results.flatMap((r) => (r.ok ? [r.metadata.offset] : []));
    expect(new Set(offsets).size, "distinct offsets").to.equal(offsets.length);
    expect(Math.min(...offsets), "after the records acknowledged before the kill").to.be.at.least(20);
    expect(retryErrors.length, "the kill caused retries").to.be.greaterThan(0);
    expect(
      retryErrors.some((e) => e.includes("ProduceStream")),
      `a stream failure among the retry causes: ${retryErrors.slice(0, 3).join(" | ")}`,
    ).to.equal(true);
    expect(Date.now() - started, "delivered well within deliveryTimeoutMs").to.be.lessThan(15_000);
    await producer.close({ timeoutMs: 5000 });
  });

  it("fails records at deliveryTimeoutMs when the broker does not come back", async () => {
    const node = await startWithTopic();
    const producer = new Producer({
      bootstrap: node.bootstrap,
      lingerMs: 1,
      requestTimeoutMs: 500,
      deliveryTimeoutMs: 1500,
      retryBackoffMs: 50,
      retryBackoffMaxMs: 200,
    });
    await producer.send({ topic: "ps", value: "first" });
    await node.kill();
    const started = Date.now();
    const result = await settle(producer.send({ topic: "ps", value: "lost" }));
    const elapsedMs = Date.now() - started;
    expect(result.ok, "no broker: the record fails").to.equal(false);
    expect(elapsedMs, "within deliveryTimeoutMs plus a request timeout").to.be.lessThan(1500 + 500 + 1000);
    await producer.close({ timeoutMs: 1000 });
  });

  it("falls back to unary Produce when the broker has no ProduceStream", async () => {
    const server = new grpc.Server();
    const seen: ProduceRequest[] = [];
    const handlers: Partial<BrokerHandlers> = {
      Produce: (call, callback) => {
        seen.push(call.request);
        const response: ProduceResponseInput = {
          topics: call.request.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: 42 })),
          })),
        };
        callback(null, response);
      },
    };
    server.addService(loadCastleProto().castle.v1.Broker.service, handlers as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    stops.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
    const client = new ClusterClient({ bootstrap: `127.0.0.1:${port}` });
    client.metadata.update({
      clusterId: "c",
      controllerId: 1,
      brokers: [{ nodeId: 1, host: "127.0.0.1", port, rack: "" }],
      topics: [],
    });
    const request = { acks: 1, timeoutMs: 1000, topics: [{ name: "t", partitions: [{ partition: 0, recordBatches: Buffer.from("x") }] }] };
    for (const attempt of [1, 2]) {
      const response = await client.produce(1, request, 1000);
      expect(response.topics[0]?.partitions[0]?.baseOffset, `attempt ${attempt}`).to.equal(42);
    }
    expect(seen.length, "both requests arrived as unary calls").to.equal(2);
    client.close();
  });
});
