// Process-level durability on one node: records acknowledged before a kill -9 are all there,
// at the offsets they were acknowledged with, after the node restarts on the same data dir;
// and a torn tail left by the crash is cut so new appends continue cleanly.

import { appendFileSync, readdirSync } from "node:fs";
import { Admin, Consumer, Producer, tpKey } from "@castle/client";
import { startNodeProcess, TempDir } from "@castle/testkit";
import { expect } from "chai";

const RECORDS_MAX = 200_000;
const PRODUCE_MS = 1500;

describe("crash recovery (real node process, kill -9)", function () {
  this.timeout(90_000);
  let dir: TempDir;
  const stops: Array<() => Promise<unknown>> = [];

  beforeEach(() => {
    dir = new TempDir();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    dir.cleanup();
  });

  it("keeps every acknowledged record across kill -9 and a torn tail", async () => {
    const dataDir = dir.join("data");
    const first = await startNodeProcess({ dataDir });
    stops.push(() => first.kill());
    const admin = new Admin({ bootstrap: first.bootstrap });
    await admin.createTopics([{ name: "crash", numPartitions: 2, replicationFactor: 1 }]);
    admin.close();

    // Produce unique values until the node is killed mid-stream; remember what was acknowledged.
    const producer = new Producer({
      bootstrap: first.bootstrap,
      acks: -1,
      lingerMs: 1,
      deliveryTimeoutMs: 3000,
      requestTimeoutMs: 1000,
      retryBackoffMs: 50,
    });
    const acked = new Map<string, { partition: number; offset: number }>();
    let failed = 0;
    const started = Date.now();
    let sent = 0;
    const killer = setTimeout(() => void first.kill(), PRODUCE_MS);
    while (sent < RECORDS_MAX && Date.now() - started < PRODUCE_MS + 200) {
      const value = `v-${sent++}`;
      const wait = producer.sendWithCallback({ topic: "crash", key: Buffer.from(value), value: Buffer.from(value) }, (error, meta) => {
        if (error) failed++;
        else if (meta) acked.set(value, { partition: meta.partition, offset: meta.offset });
      });
      if (wait) await wait;
      if ((sent & 255) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    clearTimeout(killer);
    await first.kill();
    await producer.close({ timeoutMs: 5000 });
    expect(acked.size, "some records were acknowledged before the kill").to.be.greaterThan(1000);
    expect(failed, "sends in flight at the kill fail (after retries) instead of hanging").to.be.greaterThan(0);

    // A crash can leave half a batch at the end of a segment: simulate the worst case.
    const segmentDir = dir.join("data", "crash-0");
    const segment = readdirSync(segmentDir)
      .filter((f) => f.endsWith(".log"))
      .sort()
      .pop() as string;
    appendFileSync(`${segmentDir}/${segment}`, Buffer.from("00000000000000ff0000ffff00", "hex"));

    const second = await startNodeProcess({ dataDir });
    stops.push(() => second.stop());
    const consumer = new Consumer({ bootstrap: second.bootstrap, fetchMaxWaitMs: 50 });
    consumer.assign([
      { topic: "crash", partition: 0 },
      { topic: "crash", partition: 1 },
    ]);
    await consumer.seekToBeginning();
    const found = new Map<string, { partition: number; offset: number }>();
    const deadline = Date.now() + 30_000;
    const ends = await consumer.endOffsets([
      { topic: "crash", partition: 0 },
      { topic: "crash", partition: 1 },
    ]);
    const total = [...ends.values()].reduce((a, b) => a + b, 0);
    while (found.size < total && Date.now() < deadline) {
      for (const record of await consumer.poll(500))
        found.set(record.value?.toString() ?? "", { partition: record.partition, offset: record.offset });
    }
    expect(found.size, "every record in the log was read").to.equal(total);
    for (const [value, where] of acked) {
      expect(found.get(value), `acknowledged ${value} at ${where.partition}/${where.offset}`).to.deep.equal(where);
    }

    // The log continues after the cut tail.
    const after = new Producer({ bootstrap: second.bootstrap, acks: -1 });
    const meta = await after.send({ topic: "crash", partition: 0, value: Buffer.from("after") });
    expect(meta.offset, "partition 0 continues at its end offset from before").to.equal(ends.get(tpKey({ topic: "crash", partition: 0 })));
    await after.close();
    await consumer.close();
  });
});
