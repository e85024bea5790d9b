// Admin's consumer-group methods against one in-process node with quick groups: a group
// Consumer is the member, the Admin lists, describes (decoded assignment), reads and alters
// committed offsets (refused while the member is in the group), and deletes the group. Every
// wait is bounded.

import { type RunningNode, startInProcessNode, TempDir, waitUntil } from "@castle/testkit";
import { expect } from "chai";
import { Admin } from "../src/admin/admin.js";
import { Consumer } from "../src/consumer/consumer.js";
import { Producer } from "../src/producer/producer.js";

const QUICK_GROUPS = {
  "group.initial.rebalance.delay.ms": "0",
  "group.min.session.timeout.ms": "500",
  "offsets.topic.num.partitions": "3",
};
const WAIT_MS = 15_000;

describe("Admin consumer groups against a node", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let node: RunningNode;
  let bootstrap: string;
  let admin: Admin;

  before(async () => {
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"), QUICK_GROUPS);
    bootstrap = `127.0.0.1:${node.clientPort}`;
    admin = new Admin({ bootstrap });
    await admin.createTopics([{ name: "events", numPartitions: 2, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap, lingerMs: 0 });
    try {
      await Promise.all([0, 0, 0, 1].map((partition, i) => producer.send({ topic: "events", partition, value: `v${i}` })));
    } finally {
      await producer.close();
    }
  });

  after(async () => {
    admin?.close();
    await node?.close();
    dir?.cleanup();
  });

  it("reads offsets with listOffsets: log start, high watermark, and by timestamp", async () => {
    const listed = await admin.listOffsets([
      { topic: "events", partition: 0, spec: "earliest" },
      { topic: "events", partition: 1, spec: "latest" },
    ]);
    expect(listed.map((o) => [o.partition, o.offset])).to.deep.equal([
      [0, 0],
      [1, 1],
    ]);
    const [future] = await admin.listOffsets([{ topic: "events", partition: 0, spec: { timestampMs: Date.now() + 3_600_000 } }]);
    expect(future?.offset, "no record is that new").to.equal(-1);
    const missing = await admin.listOffsets([{ topic: "nope", partition: 0, spec: "latest" }]).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(missing?.code).to.equal("UNKNOWN_TOPIC_OR_PARTITION");
  });

  it("alters an empty group's offsets, sees a member's assignment, refuses to alter or delete while it is in, deletes once it left", async () => {
    await admin.alterGroupOffsets("loaders", [
      { topic: "events", partition: 0, offset: 1 },
      { topic: "events", partition: 1, offset: 0, metadata: "admin" },
    ]);
    expect((await admin.listGroupOffsets("loaders")).map((o) => [o.partition, o.offset, o.metadata])).to.deep.equal([
      [0, 1, ""],
      [1, 0, "admin"],
    ]);
    const [empty] = await admin.describeGroups(["loaders"]);
    expect(empty?.state).to.equal("Empty");
    expect(empty?.coordinator.nodeId).to.equal(1);

    const consumer = new Consumer({ bootstrap, groupId: "loaders", clientId: "loader-1", enableAutoCommit: false, fetchMaxWaitMs: 50 });
    try {
      consumer.subscribe(["events"]);
      await waitUntil(
        async () => {
          await consumer.poll(100);
          return consumer.assignment().length === 2;
        },
        "the member's assignment",
        WAIT_MS,
      );
      const [stable] = await admin.describeGroups(["loaders"]);
      expect(stable?.state).to.equal("Stable");
      expect(stable?.protocolType).to.equal("consumer");
      expect(stable?.assignor).to.be.a("string").and.not.equal("");
      expect(stable?.members.map((m) => [m.clientId, m.assignment, m.subscribedTopics])).to.deep.equal([
        [
          "loader-1",
          [
            { topic: "events", partition: 0 },
            { topic: "events", partition: 1 },
          ],
          ["events"],
        ],
      ]);
      expect((await admin.listGroups({ states: ["Stable"] })).map((g) => [g.groupId, g.protocolType, g.coordinatorId])).to.deep.include([
        "loaders",
        "consumer",
        1,
      ]);

      const refused = await admin.alterGroupOffsets("loaders", [{ topic: "events", partition: 0, offset: 0 }]).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(refused?.code).to.equal("NON_EMPTY_GROUP");
      expect(refused?.message).to.match(/it is Stable with 1 member\(s\).*Stop the group's consumers/);
      expect((await admin.listGroupOffsets("loaders", [{ topic: "events", partition: 0 }])).map((o) => o.offset)).to.deep.equal([1]);

      const [busy] = await admin.deleteGroups(["loaders"]);
      expect(busy?.error?.code).to.equal("NON_EMPTY_GROUP");
    } finally {
      await consumer.close({ timeoutMs: 5000 });
    }

    const results = await admin.deleteGroups(["loaders", "never-was"]);
    expect(results.map((r) => [r.groupId, r.error?.code ?? null])).to.deep.equal([
      ["loaders", null],
      ["never-was", "GROUP_ID_NOT_FOUND"],
    ]);
    expect(await admin.listGroupOffsets("loaders")).to.deep.equal([]);
    const [dead] = await admin.describeGroups(["loaders"]);
    expect(dead?.state).to.equal("Dead");
  });
});
