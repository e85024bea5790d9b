import { encodeRecordBatch, type FetchResponse } from "@castle/protocol";
import { expect } from "chai";
import { type Harness, startHarness } from "./grpc-harness.js";

describe("HTTP endpoints", function () {
  this.timeout(20_000);
  let h: Harness;
  const get = (path: string, method = "GET") => fetch(`http://127.0.0.1:${h.node.httpPort}${path}`, { method });

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it("answers /healthz and /readyz", async () => {
    expect((await get("/healthz")).status).to.equal(200);
    const ready = await get("/readyz");
    expect(ready.status).to.equal(200);
    expect(await ready.text()).to.equal("ready\n");
  });

  it("refuses other paths and methods clearly", async () => {
    const missing = await get("/nope");
    expect(missing.status).to.equal(404);
    expect(await missing.text()).to.match(/\/metrics/);
    expect((await get("/metrics", "POST")).status).to.equal(405);
  });

  it("exports per-topic traffic, per-API latency, per-partition offsets, replication health and event-loop utilization", async () => {
    await h.call(h.admin, "CreateTopics", { topics: [{ name: "m", numPartitions: 1, replicationFactor: 1 }] });
    const batch = encodeRecordBatch([{ value: Buffer.from("a") }, { value: Buffer.from("b") }], { baseTimestampMs: Date.now() });
    await h.call(h.broker, "Produce", {
      acks: 1,
      timeoutMs: 1000,
      topics: [{ name: "m", partitions: [{ partition: 0, recordBatches: batch }] }],
    });
    // A long-poll that reads once, waits for more, and reads again counts its bytes once.
    await h.call<FetchResponse>(h.broker, "Fetch", {
      maxWaitMs: 150,
      minBytes: 1 << 20,
      maxBytes: 1 << 20,
      topics: [{ name: "m", partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    });
    await h.call<FetchResponse>(h.broker, "Fetch", {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ name: "m", partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    });
    const text = await (await get("/metrics")).text();
    // One sample's value, whatever order prom-client prints the labels in.
    const value = (name: string, labels: Record<string, string>) => {
      const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
      return Number(line?.split(" ").pop());
    };
    const partition0 = { topic: "m", partition: "0" };
    expect(value("castle_topic_messages_in_total", { topic: "m" })).to.equal(2);
    expect(value("castle_topic_bytes_in_total", { topic: "m" })).to.equal(batch.length);
    expect(value("castle_topic_bytes_out_total", { topic: "m" }), "two fetches, each counted once").to.equal(2 * batch.length);
    expect(value("castle_topic_messages_out_total", { topic: "m" })).to.equal(4);
    expect(value("castle_log_end_offset", partition0)).to.equal(2);
    expect(value("castle_log_start_offset", partition0)).to.equal(0);
    expect(value("castle_log_size_bytes", partition0)).to.equal(batch.length);
    expect(value("castle_request_duration_seconds_count", { api: "produce", outcome: "ok" })).to.equal(1);
    expect(text).to.match(/castle_event_loop_utilization_ratio\{node_id="1"\} [0-9.]+/);
    // Replication health (a single node leads every partition, with no followers: nothing to lag).
    expect(text).to.match(/^castle_replica_under_replicated_partition_count\{node_id="1"\} 0$/m);
    expect(text).to.match(/^castle_replica_under_min_isr_partition_count\{node_id="1"\} 0$/m);
    expect(text).to.match(/^castle_replica_isr_shrinks_total\{node_id="1"\} 0$/m);
    expect(text).to.match(/^castle_replica_isr_expands_total\{node_id="1"\} 0$/m);
    expect(text).to.match(/^castle_controller_unclean_leader_elections_total\{node_id="1"\} 0$/m);
    expect(text, "no follower lag samples").to.not.match(/^castle_replica_follower_lag_records\{/m);
  });
});
