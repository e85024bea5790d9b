// The partition reconciler against a real LogManager, driven by hand-built metadata images:
// it opens a log for each partition this node (1) is a replica of and no other, follows config
// changes and new partitions, deletes a removed topic's logs, starts a same-named topic with a
// new id empty even when it sees the removal and the re-creation in one image, adopts the logs
// found on disk at start, and reports (but keeps) logs whose topic the image does not have.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { JsonLogger, silentLogger, systemClock } from "@castle/common";
import { type Configs, MetadataImage, type MetadataRecord } from "@castle/metadata";
import { encodeRecordBatch, validateBatches } from "@castle/protocol";
import { defaultLogConfig, type LogConfig, LogManager } from "@castle/storage";
import { TempDir } from "@castle/testkit";
import { expect } from "chai";
import { PartitionReconciler } from "../src/replica/partition-reconciler.js";

const NODE_ID = 1;
const WAIT_MS = 5_000;

const logConfigFor = (configs: Configs): LogConfig => ({
  ...defaultLogConfig,
  retentionMs: Number(configs["retention.ms"] ?? defaultLogConfig.retentionMs),
});

const brokers: MetadataRecord[] = [1, 2, 3].map((brokerId) => ({
  type: "RegisterBroker",
  brokerId,
  incarnationId: `incarnation-${brokerId}`,
  brokerEpoch: brokerId,
  endpoints: [],
  rack: null,
  fenced: false,
}));

/** A Topic record and one Partition record per replica list, led by the first replica. */
function topic(name: string, topicId: string, replicasByPartition: number[][]): MetadataRecord[] {
  return [
    { type: "Topic", name, topicId },
    ...replicasByPartition.map(
      (replicas, partition): MetadataRecord => ({
        type: "Partition",
        topicId,
        partition,
        replicas,
        isr: replicas,
        leader: replicas[0]!,
        leaderEpoch: 0,
        partitionEpoch: 0,
      }),
    ),
  ];
}

/** Applies each batch at the next offset after `from`. */
function applied(from: MetadataImage, ...batches: MetadataRecord[][]): MetadataImage {
  return batches.reduce((image, batch) => image.apply(batch, image.offset + 1), from);
}

describe("PartitionReconciler", function () {
  this.timeout(10_000);
  let dir: TempDir;
  let logs: LogManager;
  let warnings: string[];
  let reconciler: PartitionReconciler;

  const openLogs = () =>
    logs
      .allLogs()
      .map((l) => `${l.topic}-${l.partition}`)
      .sort();
  const reconcile = async (image: MetadataImage) => {
    reconciler.update(image);
    await reconciler.waitFor(image.offset, WAIT_MS);
  };
  const append = (name: string, partition: number, values: string[]) => {
    const log = logs.logFor(name, partition);
    if (!log) throw new Error(`no log ${name}-${partition}`);
    const batch = encodeRecordBatch(
      values.map((v) => ({ value: Buffer.from(v) })),
      { baseTimestampMs: 1_700_000_000_000 },
    );
    log.append(batch, validateBatches(batch, { batchBytesMax: 1 << 20 }), { leaderEpoch: 0, nowMs: 1_700_000_000_000 });
  };
  const start = async () => {
    logs = await LogManager.open({ dataDir: dir.path, clock: systemClock, logger: silentLogger });
    warnings = [];
    const logger = new JsonLogger("warn", {}, (line) => warnings.push(line));
    reconciler = new PartitionReconciler({ nodeId: NODE_ID, logs, logConfigFor, logger });
  };
  const stop = async () => {
    await reconciler.idle();
    await logs.close();
  };

  beforeEach(async () => {
    dir = new TempDir();
    await start();
  });
  afterEach(async () => {
    await stop();
    dir.cleanup();
  });

  it("opens a log for every partition whose replicas include this node, and no other, with the topic's configs", async () => {
    const image = applied(MetadataImage.empty(), brokers, [
      ...topic("orders", "orders-id", [[1, 2], [2, 3], [3, 1], [2]]),
      { type: "Config", resourceType: "topic", resourceName: "orders", name: "retention.ms", value: "60000" },
      ...topic("elsewhere", "elsewhere-id", [[2, 3]]),
    ]);
    await reconcile(image);
    expect(openLogs()).to.deep.equal(["orders-0", "orders-2"]);
    expect(logs.logFor("orders", 0)!.config.retentionMs).to.equal(60_000);
    expect(reconciler.offset).to.equal(image.offset);
    expect(existsSync(join(dir.path, "elsewhere-0")), "no directory for a partition hosted elsewhere").to.equal(false);
  });

  it("applies a changed topic config to the open logs and opens partitions added to a hosted topic", async () => {
    const created = applied(MetadataImage.empty(), brokers, topic("orders", "orders-id", [[1], [2]]));
    await reconcile(created);
    const changed = applied(created, [
      { type: "Config", resourceType: "topic", resourceName: "orders", name: "retention.ms", value: "1234" },
      {
        type: "Partition",
        topicId: "orders-id",
        partition: 2,
        replicas: [3, 1],
        isr: [3, 1],
        leader: 3,
        leaderEpoch: 0,
        partitionEpoch: 0,
      },
    ]);
    await reconcile(changed);
    expect(openLogs()).to.deep.equal(["orders-0", "orders-2"]);
    for (const partition of [0, 2]) expect(logs.logFor("orders", partition)!.config.retentionMs, `orders-${partition}`).to.equal(1234);
  });

  it("deletes a removed topic's logs and their directories", async () => {
    const created = applied(MetadataImage.empty(), brokers, topic("gone", "gone-id", [[1], [1, 2]]));
    await reconcile(created);
    append("gone", 0, ["a", "b"]);
    expect(existsSync(join(dir.path, "gone-0"))).to.equal(true);
    await reconcile(applied(created, [{ type: "RemoveTopic", topicId: "gone-id" }]));
    expect(openLogs()).to.deep.equal([]);
    for (const partition of [0, 1]) expect(existsSync(join(dir.path, `gone-${partition}`)), `gone-${partition}`).to.equal(false);
  });

  it("starts a same-named topic with a new id empty, also when the removal and the re-creation arrive as one image", async () => {
    const first = applied(MetadataImage.empty(), brokers, topic("again", "id-1", [[1], [1]]));
    await reconcile(first);
    append("again", 0, ["old"]);
    append("again", 1, ["old", "older"]);
    // The image in between (topic removed) is never shown: a node that applied both batches
    // before the reconciler looked sees only the newest image, and must tell the ids apart.
    const removed = applied(first, [{ type: "RemoveTopic", topicId: "id-1" }]);
    await reconcile(applied(removed, topic("again", "id-2", [[1], [2]])));
    expect(openLogs()).to.deep.equal(["again-0"]);
    expect(logs.logFor("again", 0)!.logEndOffset, "again-0 starts empty").to.equal(0);
    expect(existsSync(join(dir.path, "again-1")), "again-1 is hosted elsewhere now").to.equal(false);
  });

  it("ends at the newest of several images queued while a pass runs", async () => {
    const base = applied(MetadataImage.empty(), brokers);
    const one = applied(base, topic("one", "one-id", [[1]]));
    const two = applied(one, [{ type: "RemoveTopic", topicId: "one-id" }], topic("two", "two-id", [[1]]));
    reconciler.update(base);
    reconciler.update(one);
    reconciler.update(two);
    await reconciler.waitFor(two.offset, WAIT_MS);
    expect(openLogs()).to.deep.equal(["two-0"]);
  });

  it("reconciles an image queued in the same tick as one it had already reconciled", async () => {
    const first = applied(MetadataImage.empty(), brokers);
    await reconcile(first);
    const second = applied(first, topic("late", "late-id", [[1]]));
    reconciler.update(first);
    reconciler.update(second);
    await reconciler.waitFor(second.offset, 1_000);
    expect(openLogs()).to.deep.equal(["late-0"]);
  });

  it("adopts the logs found on disk at start, keeping their records", async () => {
    const image = applied(MetadataImage.empty(), brokers, topic("kept", "kept-id", [[1]]));
    await reconcile(image);
    append("kept", 0, ["a", "b", "c"]);
    await stop();
    await start();
    reconciler.reportStrayLogs(image);
    await reconcile(image);
    expect(logs.logFor("kept", 0)!.logEndOffset).to.equal(3);
    expect(warnings, "nothing stray").to.deep.equal([]);
  });

  it("reports logs on disk whose topic the image does not have, and keeps them", async () => {
    await logs.createLog("ghost", 0, defaultLogConfig);
    await logs.createLog("ghost", 1, defaultLogConfig);
    const image = applied(MetadataImage.empty(), brokers, topic("real", "real-id", [[1]]));
    reconciler.reportStrayLogs(image);
    await reconcile(image);
    expect(warnings).to.have.length(1);
    const warning = JSON.parse(warnings[0]!) as { msg: string; topics: string[] };
    expect(warning.msg).to.match(/belong to no topic/);
    expect(warning.topics).to.deep.equal(["ghost"]);
    expect(openLogs()).to.deep.equal(["ghost-0", "ghost-1", "real-0"]);
  });

  it("resolves waitFor at once for an offset already reconciled, and rejects it after the timeout for one never reached", async () => {
    const image = applied(MetadataImage.empty(), brokers);
    await reconcile(image);
    await reconciler.waitFor(image.offset - 1, 1);
    let refused: Error | undefined;
    await reconciler.waitFor(image.offset + 1, 50).catch((error: Error) => {
      refused = error;
    });
    expect(refused?.message).to.match(new RegExp(`metadata offset ${image.offset + 1} within 50 ms`));
  });
});
