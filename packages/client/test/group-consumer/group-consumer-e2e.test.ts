// The group consumer end to end against a real node (in-process, ephemeral ports) and its
// group coordinator: two members share a topic and one takes over when the other closes; a
// commit survives into a new member; autoOffsetReset "none" refuses to guess. The broker's
// initial rebalance delay is 0 and its minimum session timeout small, so each test takes a few
// seconds; every wait is bounded.

import { type RunningNode, startInProcessNode, TempDir } from "@castle/testkit";
import { expect } from "chai";
import { Admin } from "../../src/admin/admin.js";
import { Consumer, type ConsumerConfig, type ConsumerRecord } from "../../src/consumer/consumer.js";
import { type TopicPartition, tpKey } from "../../src/consumer/subscription-state.js";
import { Producer } from "../../src/producer/producer.js";

const BROKER_GROUP_FLAGS = {
  "offsets.topic.num.partitions": "3",
  "offsets.topic.replication.factor": "1",
  "group.initial.rebalance.delay.ms": "0",
  "group.min.session.timeout.ms": "500",
};

const WAIT_MS = 15_000;

function names(tps: readonly TopicPartition[]): string {
  return tps
    .map((tp) => `${tp.topic}-${tp.partition}`)
    .sort()
    .join(",");
}

/** Polls every consumer side by side (a rebalance needs every member to poll) until `done`. */
async function pollUntil(
  consumers: readonly Consumer[],
  done: () => boolean,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<ConsumerRecord[][]> {
  const received: ConsumerRecord[][] = consumers.map(() => []);
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; assignments: ${consumers.map((c) => names(c.assignment())).join(" | ")}`,
      );
    }
    const batches = await Promise.all(consumers.map((c) => c.poll(100)));
    for (const [i, records] of batches.entries()) received[i]?.push(...records);
  }
  return received;
}

describe("group consumer against a node", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let node: RunningNode;
  let bootstrap: string;
  let admin: Admin;
  const open: Consumer[] = [];

  const consumerConfig = (): ConsumerConfig => ({
    bootstrap,
    sessionTimeoutMs: 3000,
    heartbeatIntervalMs: 100,
    maxPollIntervalMs: 10_000,
    fetchMaxWaitMs: 50,
    autoOffsetReset: "earliest",
    requestTimeoutMs: 10_000,
  });

  function consumer(config: ConsumerConfig): Consumer {
    const c = new Consumer({ ...consumerConfig(), ...config });
    open.push(c);
    return c;
  }

  before(async () => {
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"), BROKER_GROUP_FLAGS);
    bootstrap = `127.0.0.1:${node.clientPort}`;
    admin = new Admin({ bootstrap });
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close({ timeoutMs: 5000 })));
  });

  after(async () => {
    admin?.close();
    await node?.close();
    dir?.cleanup();
  });

  it("two members share a 4-partition topic; when one closes the other gets all 4", async () => {
    await admin.createTopics([{ name: "shared", numPartitions: 4, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap });
    await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send({ topic: "shared", partition: i % 4, value: `v${i}` })));
    await producer.close();
    const c1 = consumer({ groupId: "e2e-share", clientId: "c1" });
    const c2 = consumer({ groupId: "e2e-share", clientId: "c2" });
    c1.subscribe(["shared"]);
    c2.subscribe(["shared"]);
    const received = await pollUntil([c1, c2], () => c1.assignment().length === 2 && c2.assignment().length === 2, "two partitions each");
    expect(names([...c1.assignment(), ...c2.assignment()])).to.equal("shared-0,shared-1,shared-2,shared-3");
    expect(c1.groupMetadata()?.generationId).to.equal(c2.groupMetadata()?.generationId);
    await c1.close();
    const [more] = await pollUntil([c2], () => c2.assignment().length === 4, "c2 to take all four");
    // Whatever c1 read was committed when it closed, so between them every record arrives.
    const all = [...(received[0] ?? []), ...(received[1] ?? []), ...(more ?? [])];
    const deadline = Date.now() + WAIT_MS;
    const seen = () => new Set(all.map((r) => r.value?.toString()));
    while (seen().size < 40 && Date.now() < deadline) all.push(...(await c2.poll(100)));
    expect(seen().size, "every record read by one of the members").to.equal(40);
  });

  it("cooperative-sticky: the first member gives up only the two partitions that move", async () => {
    await admin.createTopics([{ name: "coop", numPartitions: 4, replicationFactor: 1 }]);
    const revoked: string[] = [];
    const cooperative: ConsumerConfig = { groupId: "e2e-coop", partitionAssignmentStrategy: ["cooperative-sticky"] };
    const c1 = consumer({ ...cooperative, clientId: "c1" });
    c1.subscribe(["coop"], { onPartitionsRevoked: (tps) => void revoked.push(names(tps)) });
    await pollUntil([c1], () => c1.assignment().length === 4, "c1 to own all four");
    const c2 = consumer({ ...cooperative, clientId: "c2" });
    c2.subscribe(["coop"]);
    await pollUntil([c1, c2], () => c1.assignment().length === 2 && c2.assignment().length === 2, "two partitions each");
    expect(names([...c1.assignment(), ...c2.assignment()])).to.equal("coop-0,coop-1,coop-2,coop-3");
    expect(revoked, `one revocation of the two partitions that moved; got ${JSON.stringify(revoked)}`).to.have.length(1);
    expect(revoked[0]?.split(",")).to.have.length(2);
  });

  it("commitSync() then a new member of the group continues from the committed offsets", async () => {
    await admin.createTopics([{ name: "resume", numPartitions: 1, replicationFactor: 1 }]);
    const producer = new Producer({ bootstrap });
    await Promise.all(Array.from({ length: 10 }, (_, i) => producer.send({ topic: "resume", partition: 0, value: `r${i}` })));
    await producer.close();
    const tp = { topic: "resume", partition: 0 };
    const c1 = consumer({ groupId: "e2e-resume", enableAutoCommit: false, maxPollRecords: 4 });
    c1.subscribe(["resume"]);
    const [first] = await pollUntil([c1], () => c1.assignment().length === 1, "the assignment");
    const got = [...(first ?? [])];
    const deadline = Date.now() + WAIT_MS;
    while (got.length < 4 && Date.now() < deadline) got.push(...(await c1.poll(100)));
    expect(got.slice(0, 4).map((r) => r.offset)).to.deep.equal([0, 1, 2, 3]);
    await c1.commitSync([{ ...tp, offset: 4, metadata: "four done" }]);
    const committed = (await c1.committed([tp])).get(tpKey(tp));
    expect(committed).to.deep.include({ offset: 4, metadata: "four done" });
    await c1.close();
    const c2 = consumer({ groupId: "e2e-resume", enableAutoCommit: false });
    c2.subscribe(["resume"]);
    const [next] = await pollUntil([c2], () => c2.assignment().length === 1, "c2's assignment");
    const rest = [...(next ?? [])];
    while (rest.length < 6 && Date.now() < deadline + WAIT_MS) rest.push(...(await c2.poll(100)));
    expect(rest.map((r) => r.value?.toString())).to.deep.equal(["r4", "r5", "r6", "r7", "r8", "r9"]);
  });

  it("a pattern subscription picks up a matching topic created later", async () => {
    await admin.createTopics([{ name: "pat-a", numPartitions: 1, replicationFactor: 1 }]);
    const c1 = consumer({ groupId: "e2e-pattern", metadataMaxAgeMs: 200 });
    c1.subscribe(/^pat-/);
    await pollUntil([c1], () => names(c1.assignment()) === "pat-a-0", "pat-a");
    await admin.createTopics([{ name: "pat-b", numPartitions: 2, replicationFactor: 1 }]);
    await pollUntil([c1], () => names(c1.assignment()) === "pat-a-0,pat-b-0,pat-b-1", "pat-b after a metadata refresh");
    expect(c1.subscription()).to.deep.equal(["pat-a", "pat-b"]);
  });

  it('autoOffsetReset "none" with no committed offset names the partitions', async () => {
    await admin.createTopics([{ name: "no-offsets", numPartitions: 2, replicationFactor: 1 }]);
    const c1 = consumer({ groupId: "e2e-none", autoOffsetReset: "none" });
    c1.subscribe(["no-offsets"]);
    let error: Error | undefined;
    const deadline = Date.now() + WAIT_MS;
    while (error === undefined && Date.now() < deadline) {
      error = await c1.poll(100).then(
        () => undefined,
        (e: Error) => e,
      );
    }
    expect(error?.message).to.match(/no committed offset in group 'e2e-none' for no-offsets-0, no-offsets-1 and autoOffsetReset is "none"/);
  });
});
