// End to end against a real node started in-process on ephemeral ports.

import { type RunningNode, startInProcessNode, TempDir } from "@castle/testkit";
import { expect } from "chai";
import { Admin } from "../src/admin/admin.js";
import { Consumer, type ConsumerRecord } from "../src/consumer/consumer.js";
import { partitionForKey } from "../src/producer/murmur2.js";
import { Producer } from "../src/producer/producer.js";

describe("client against a node", function () {
  this.timeout(30_000);
  let dir: TempDir;
  let node: RunningNode;
  let bootstrap: string;
  let admin: Admin;

  before(async () => {
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"));
    bootstrap = `127.0.0.1:${node.clientPort}`;
    admin = new Admin({ bootstrap });
  });

  after(async () => {
    admin?.close();
    await node?.close();
    dir?.cleanup();
  });

  it("creates, lists, describes, alters and deletes topics", async () => {
    const [created] = await admin.createTopics([
      { name: "admin-t", numPartitions: 2, replicationFactor: 1, configs: { "retention.ms": "60000" } },
    ]);
    expect(created?.numPartitions).to.equal(2);
    expect((await admin.listTopics()).map((t) => t.name)).to.include("admin-t");
    const [described] = await admin.describeTopics(["admin-t"]);
    expect(described?.partitions.map((p) => p.leader)).to.deep.equal([1, 1]);
    expect(described?.configs["retention.ms"]).to.equal("60000");
    const duplicate = await admin.createTopics([{ name: "admin-t", numPartitions: 1 }]).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(duplicate?.code).to.equal("TOPIC_ALREADY_EXISTS");
    await admin.createPartitions([{ topic: "admin-t", count: 3 }]);
    await admin.alterConfigs([{ type: "topic", name: "admin-t", set: { "retention.bytes": "1048576" }, delete: ["retention.ms"] }]);
    const [configs] = await admin.describeConfigs([{ type: "topic", name: "admin-t" }]);
    expect(configs?.entries.find((e) => e.name === "retention.bytes")?.value).to.equal("1048576");
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => b.nodeId)).to.deep.equal([1]);
    await admin.deleteTopics(["admin-t"]);
    const missing = await admin.describeTopics(["admin-t"]).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(missing?.code).to.equal("UNKNOWN_TOPIC_OR_PARTITION");
  });

  it("produces and consumes with keys, headers and offsets intact", async () => {
    await admin.createTopics([{ name: "rt", numPartitions: 3, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap, lingerMs: 5 });
    const sends = Array.from({ length: 300 }, (_, i) =>
      producer.send({ topic: "rt", key: `key-${i % 10}`, value: `value-${i}`, headers: { i: String(i) } }),
    );
    const results = await Promise.all(sends);
    await producer.close();
    for (let i = 0; i < 300; i++) {
      expect(results[i]?.partition, `record ${i}`).to.equal(partitionForKey(Buffer.from(`key-${i % 10}`), 3));
    }
    const consumer = new Consumer({ bootstrap, autoOffsetReset: "earliest", fetchMaxWaitMs: 100 });
    consumer.assign([0, 1, 2].map((partition) => ({ topic: "rt", partition })));
    const received: ConsumerRecord[] = [];
    const deadline = Date.now() + 10_000;
    while (received.length < 300 && Date.now() < deadline) received.push(...(await consumer.poll(500)));
    expect(received).to.have.length(300);
    for (const record of received) {
      const i = Number(record.headers[0]?.value?.toString());
      expect(record.value?.toString()).to.equal(`value-${i}`);
      expect(record.key?.toString()).to.equal(`key-${i % 10}`);
      const sent = results[i];
      expect({ partition: record.partition, offset: record.offset }).to.deep.equal({ partition: sent?.partition, offset: sent?.offset });
    }
    const tp = { topic: "rt", partition: 0 };
    const end = (await consumer.endOffsets([tp])).get("rt\u00000");
    expect(await consumer.position(tp)).to.equal(end);
    consumer.seek(tp, 1);
    const again = await consumer.poll(2000);
    expect(again[0]?.offset, "seek skips records below the position").to.equal(1);
    consumer.seekToEnd([tp]);
    expect(await consumer.position(tp)).to.equal(end);
    consumer.close();
  });

  it("consumes with the async iterator", async () => {
    await admin.createTopics([{ name: "it", numPartitions: 1, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap });
    await Promise.all([0, 1, 2, 3, 4].map((i) => producer.send({ topic: "it", value: `v${i}` })));
    await producer.close();
    const consumer = new Consumer({ bootstrap, autoOffsetReset: "earliest", fetchMaxWaitMs: 50 });
    consumer.assign([{ topic: "it", partition: 0 }]);
    const values: string[] = [];
    for await (const record of consumer) {
      values.push(record.value?.toString() ?? "");
      if (values.length === 5) break;
    }
    consumer.close();
    expect(values).to.deep.equal(["v0", "v1", "v2", "v3", "v4"]);
  });

  it("reports an out-of-range offset clearly with autoOffsetReset none", async () => {
    await admin.createTopics([{ name: "oor", numPartitions: 1, replicationFactor: 1 }]);
    const consumer = new Consumer({ bootstrap, autoOffsetReset: "none", fetchMaxWaitMs: 10 });
    consumer.assign([{ topic: "oor", partition: 0 }]);
    consumer.seek({ topic: "oor", partition: 0 }, 1000);
    const error = await consumer.poll(1000).then(
      () => undefined,
      (e: Error) => e,
    );
    consumer.close();
    expect(error?.message).to.match(/offset 1000 is out of range for oor-0/);
  });

  it("sends at high rate through sendWithCallback", async () => {
    await admin.createTopics([{ name: "fast", numPartitions: 1, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap, acks: 1 });
    const value = Buffer.alloc(100, 7);
    const total = 100_000;
    let acked = 0;
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const accepted = producer.sendWithCallback({ topic: "fast", value }, (error) => {
        if (error === null) acked++;
      });
      if (accepted !== undefined) await accepted;
    }
    await producer.flush();
    const seconds = (Date.now() - started) / 1000;
    await producer.close();
    expect(acked).to.equal(total);
    console.log(`      ${Math.round(total / seconds)} records/s`);
  });

  it("fails fast with a clear message when nothing listens", async () => {
    const probe = new Admin({ bootstrap: "127.0.0.1:1" });
    const error = await probe.listTopics().then(
      () => undefined,
      (e: Error) => e,
    );
    probe.close();
    expect(error?.message).to.match(/cannot reach any bootstrap server \(127\.0\.0\.1:1\).*castle server start/);
  });
});
