// The group consumer against an in-memory coordinator (fake-group-cluster.ts): joining
// (MEMBER_ID_REQUIRED), sharing partitions, eager and cooperative rebalances, fencing errors
// (lost partitions), heartbeats independent of poll(), the max.poll.interval leave, commits,
// committed offsets as start positions, patterns, pause/resume and close. Intervals are tens of
// milliseconds; every wait is bounded.

import { decodeConsumerSubscription, ErrorCode } from "@castle/protocol";
import { expect } from "chai";
import { Consumer, type ConsumerConfig, type ConsumerRecord } from "../../src/consumer/consumer.js";
import type { ConsumerRebalanceListener } from "../../src/consumer/group/rebalance-listener.js";
import { type TopicPartition, tpKey } from "../../src/consumer/subscription-state.js";
import { FakeGroupCluster } from "./fake-group-cluster.js";

const FAST: ConsumerConfig = {
  groupId: "g",
  sessionTimeoutMs: 1000,
  heartbeatIntervalMs: 20,
  maxPollIntervalMs: 10_000,
  fetchMaxWaitMs: 20,
  retryBackoffMs: 10,
  requestTimeoutMs: 2000,
  autoOffsetReset: "earliest",
};

const WAIT_MS = 5000;

function names(tps: readonly TopicPartition[]): string {
  return tps
    .map((tp) => `${tp.topic}-${tp.partition}`)
    .sort()
    .join(",");
}

/** A listener that records "revoked:t-0,t-1" style events. */
class Events implements ConsumerRebalanceListener {
  readonly list: string[] = [];
  onPartitionsRevoked(tps: TopicPartition[]): void {
    this.list.push(`revoked:${names(tps)}`);
  }
  onPartitionsAssigned(tps: TopicPartition[]): void {
    this.list.push(`assigned:${names(tps)}`);
  }
  onPartitionsLost(tps: TopicPartition[]): void {
    this.list.push(`lost:${names(tps)}`);
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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
    const batches = await Promise.all(consumers.map((c) => c.poll(30)));
    for (const [i, records] of batches.entries()) received[i]?.push(...records);
  }
  return received;
}

function values(records: readonly ConsumerRecord[]): string[] {
  return records.map((r) => r.value?.toString() ?? "");
}

describe("group consumer (fake coordinator)", function () {
  this.timeout(20_000);
  let cluster: FakeGroupCluster;
  const open: Consumer[] = [];

  function consumer(client: string, config: ConsumerConfig = {}): Consumer {
    const c = new Consumer({ ...FAST, clientId: client, ...config }, { transport: cluster.transport(client) });
    open.push(c);
    return c;
  }

  beforeEach(() => {
    cluster = new FakeGroupCluster({ t: 4 });
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close({ timeoutMs: 500 })));
    cluster.close();
  });

  it("joins with the member id the coordinator asks for, gets every partition and reads them", async () => {
    for (let p = 0; p < 4; p++) cluster.produce("t", p, [`p${p}-a`, `p${p}-b`]);
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    const [received] = await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    const all = [...(received ?? [])];
    const deadline = Date.now() + WAIT_MS;
    while (all.length < 8 && Date.now() < deadline) all.push(...(await c1.poll(100)));
    expect(values(all).sort()).to.deep.equal(["p0-a", "p0-b", "p1-a", "p1-b", "p2-a", "p2-b", "p3-a", "p3-b"]);
    expect(events.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3"]);
    const joins = cluster.callsOf("JoinGroup", "c1");
    expect(
      joins.map((j) => j.request.memberId),
      "KIP-394: join again with the id given",
    ).to.deep.equal(["", "c1-1"]);
    const join = joins[1]?.request as Record<string, unknown> & { protocols: { name: string; metadata: Buffer }[] };
    expect(join.protocolType).to.equal("consumer");
    expect(join.rebalanceTimeoutMs, "maxPollIntervalMs is the rebalance timeout").to.equal(10_000);
    expect(join.sessionTimeoutMs).to.equal(1000);
    expect(join.protocols.map((p) => p.name)).to.deep.equal(["range", "cooperative-sticky"]);
    expect(decodeConsumerSubscription(join.protocols[0]?.metadata as Buffer).topics).to.deep.equal(["t"]);
    expect(c1.groupMetadata()).to.deep.include({ groupId: "g", generationId: 1, memberId: "c1-1" });
  });

  it("heartbeats on a timer whether or not the application polls, and stops when closed", async () => {
    const c1 = consumer("c1");
    c1.subscribe(["t"]);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    const before = cluster.callsOf("Heartbeat", "c1").length;
    await waitFor(() => cluster.callsOf("Heartbeat", "c1").length >= before + 5, "five heartbeats without poll()");
    await c1.close();
    const atClose = cluster.callsOf("Heartbeat", "c1").length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cluster.callsOf("Heartbeat", "c1").length, "no heartbeats after close()").to.equal(atClose);
  });

  it("eager: a new member makes the first commit, revoke everything, and the two share the partitions", async () => {
    for (let p = 0; p < 4; p++) cluster.produce("t", p, ["x"]);
    const e1 = new Events();
    const e2 = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], e1);
    const [got] = await pollUntil([c1], () => c1.assignment().length === 4, "c1's assignment");
    while ((got?.length ?? 0) < 4) got?.push(...(await c1.poll(50)));
    const c2 = consumer("c2");
    c2.subscribe(["t"], e2);
    await pollUntil([c1, c2], () => c1.assignment().length === 2 && c2.assignment().length === 2, "two partitions each");
    expect(e1.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3", "revoked:t-0,t-1,t-2,t-3", "assigned:t-0,t-1"]);
    expect(e2.list).to.deep.equal(["assigned:t-2,t-3"]);
    const c1Calls = cluster.calls.filter((c) => c.client === "c1" && (c.method === "OffsetCommit" || c.method === "JoinGroup"));
    const commitIndex = c1Calls.findIndex((c) => c.method === "OffsetCommit");
    expect(commitIndex, "auto-commit before rejoining").to.be.greaterThan(0);
    expect(c1Calls[commitIndex + 1]?.method).to.equal("JoinGroup");
    expect(
      [0, 1, 2, 3].map((p) => cluster.committedOffset("g", "t", p)),
      "consumed positions committed",
    ).to.deep.equal([1, 1, 1, 1]);
  });

  it("cooperative: keeps fetching while rejoining, revokes only what moves, then rejoins at once", async () => {
    const cooperative: ConsumerConfig = { partitionAssignmentStrategy: ["cooperative-sticky"] };
    const e1 = new Events();
    const e2 = new Events();
    const c1 = consumer("c1", cooperative);
    c1.subscribe(["t"], e1);
    await pollUntil([c1], () => c1.assignment().length === 4, "c1's assignment");
    cluster.group("g").hold = true;
    const c2 = consumer("c2", cooperative);
    c2.subscribe(["t"], e2);
    const c2Polling = pollUntil([c2], () => c1.assignment().length === 2 && c2.assignment().length === 2, "c2's partitions", 8000);
    await waitFor(() => cluster.group("g").state === "PreparingRebalance", "the rebalance to start");
    // c1 learns of the rebalance by heartbeat, rejoins on its next poll(), and keeps reading meanwhile.
    await waitFor(() => cluster.callsOf("Heartbeat", "c1").some((h) => h.atMs > 0) && c1.groupMetadata() !== undefined, "c1 heartbeats");
    await pollUntil([c1], () => cluster.callsOf("JoinGroup", "c1").length >= 3, "c1's rejoin");
    for (let p = 0; p < 4; p++) cluster.produce("t", p, [`during-${p}`]);
    const during: ConsumerRecord[] = [];
    const deadline = Date.now() + WAIT_MS;
    while (during.length < 4 && Date.now() < deadline) during.push(...(await c1.poll(50)));
    expect(values(during).sort(), "owned partitions are fetched during the rebalance").to.deep.equal([
      "during-0",
      "during-1",
      "during-2",
      "during-3",
    ]);
    expect(c1.assignment()).to.have.length(4);
    const rejoin = cluster.callsOf("JoinGroup", "c1")[2]?.request as { protocols: { metadata: Buffer }[] };
    const subscription = decodeConsumerSubscription(rejoin.protocols[0]?.metadata as Buffer);
    expect(subscription.generationId, "the generation owned partitions come from").to.equal(1);
    expect(subscription.ownedPartitions).to.deep.equal([{ topic: "t", partitions: [0, 1, 2, 3] }]);
    cluster.group("g").release();
    const shared = () => c1.assignment().length === 2 && c2.assignment().length === 2;
    await Promise.all([c2Polling, pollUntil([c1], shared, "c1 to give two up and c2 to get them", 8000)]);
    await pollUntil([c1, c2], () => cluster.group("g").generationId >= 3 && cluster.group("g").state === "Stable", "the second rebalance");
    expect(e1.list[0]).to.equal("assigned:t-0,t-1,t-2,t-3");
    expect(
      e1.list.filter((e) => e.startsWith("revoked")),
      "only the moving partitions are revoked",
    ).to.have.length(1);
    expect(e1.list.find((e) => e.startsWith("revoked"))?.split(",").length).to.equal(2);
    expect(e2.list.at(-1)?.split(",").length, "the withheld partitions go to c2 in the next rebalance").to.equal(2);
    expect(names([...c1.assignment(), ...c2.assignment()])).to.equal("t-0,t-1,t-2,t-3");
    const commits = cluster
      .callsOf("OffsetCommit", "c1")
      .map((c) => c.request as { generationId: number; topics: { partitions: unknown[] }[] });
    expect(
      commits.map((c) => [c.generationId, c.topics[0]?.partitions.length]),
      "all four before rejoining; after sync the progress on the two revoked (refused: no longer c1's); the two kept before the next rejoin",
    ).to.deep.equal([
      [1, 4],
      [2, 2],
      [2, 2],
    ]);
    expect(
      e1.list.filter((e) => e.startsWith("lost")),
      "a refused commit of revoked partitions does not fence the member",
    ).to.deep.equal([]);
    expect(
      c1.assignment().map((tp) => cluster.committedOffset("g", "t", tp.partition)),
      "the kept partitions' progress during the rebalance is committed",
    ).to.deep.equal([1, 1]);
  });

  it("ILLEGAL_GENERATION from a heartbeat: partitions are lost (no commit) and the member rejoins with its id", async () => {
    cluster.produce("t", 0, ["a"]);
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    const commitsBefore = cluster.callsOf("OffsetCommit").length;
    const heartbeatsBefore = cluster.callsOf("Heartbeat").length;
    cluster.inject("Heartbeat", ErrorCode.ILLEGAL_GENERATION);
    await waitFor(() => cluster.callsOf("Heartbeat").length > heartbeatsBefore, "the fenced heartbeat");
    await waitFor(() => c1.groupMetadata()?.generationId === -1, "the generation reset");
    await pollUntil([c1], () => events.list.length >= 3, "the rejoin");
    expect(events.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3", "lost:t-0,t-1,t-2,t-3", "assigned:t-0,t-1,t-2,t-3"]);
    expect(cluster.callsOf("OffsetCommit").length, "lost partitions are not committed").to.equal(commitsBefore);
    expect(cluster.callsOf("JoinGroup").at(-1)?.request.memberId, "same member id").to.equal("c1-1");
  });

  it("UNKNOWN_MEMBER_ID from a heartbeat: partitions are lost and the member rejoins as a new one", async () => {
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    const joinsBefore = cluster.callsOf("JoinGroup").length;
    cluster.group("g").remove("c1-1"); // as when its session expired: heartbeats now get UNKNOWN_MEMBER_ID
    await waitFor(() => c1.groupMetadata()?.memberId === "", "the member id reset");
    await pollUntil([c1], () => events.list.length >= 3, "the rejoin");
    expect(events.list.slice(1)).to.deep.equal(["lost:t-0,t-1,t-2,t-3", "assigned:t-0,t-1,t-2,t-3"]);
    expect(
      cluster
        .callsOf("JoinGroup")
        .slice(joinsBefore)
        .map((j) => j.request.memberId),
    ).to.deep.equal(["", "c1-2"]);
  });

  it("FENCED_INSTANCE_ID is fatal for a static member, which does not send LeaveGroup", async () => {
    const events = new Events();
    const c1 = consumer("c1", { groupInstanceId: "instance-1" });
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    expect(cluster.callsOf("JoinGroup", "c1")[0]?.request.groupInstanceId).to.equal("instance-1");
    cluster.inject("Heartbeat", ErrorCode.FENCED_INSTANCE_ID);
    await waitFor(() => c1.groupMetadata()?.generationId === -1, "the fencing");
    for (const attempt of [1, 2]) {
      const error = await c1.poll(50).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(error?.code, `poll ${attempt}`).to.equal("FENCED_INSTANCE_ID");
      expect(error?.message, `poll ${attempt}`).to.match(/another consumer with groupInstanceId 'instance-1' replaced this one/);
    }
    expect(events.list.at(-1)).to.equal("lost:t-0,t-1,t-2,t-3");
    await c1.close();
    expect(cluster.callsOf("LeaveGroup"), "static members keep their place").to.have.length(0);
  });

  it("REBALANCE_IN_PROGRESS from a heartbeat makes the next poll() rejoin", async () => {
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    cluster.inject("Heartbeat", ErrorCode.REBALANCE_IN_PROGRESS);
    const joinsBefore = cluster.callsOf("JoinGroup").length;
    await waitFor(() => cluster.injected.get("Heartbeat")?.length === 0, "the heartbeat answered");
    expect(cluster.callsOf("JoinGroup").length, "no rejoin until poll()").to.equal(joinsBefore);
    await pollUntil([c1], () => c1.groupMetadata()?.generationId === 2 && c1.assignment().length === 4, "the rejoin");
    expect(cluster.callsOf("JoinGroup").at(-1)?.request.reason).to.match(/Heartbeat: the group is rebalancing/);
    expect(events.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3", "revoked:t-0,t-1,t-2,t-3", "assigned:t-0,t-1,t-2,t-3"]);
  });

  it("leaves the group when poll() is not called within maxPollIntervalMs, and rejoins on the next poll()", async () => {
    const events = new Events();
    const c1 = consumer("c1", { maxPollIntervalMs: 150 });
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    await waitFor(() => cluster.callsOf("LeaveGroup", "c1").length === 1, "the proactive LeaveGroup");
    const leave = cluster.callsOf("LeaveGroup", "c1")[0]?.request as { members: { memberId: string; reason: string }[] };
    expect(leave.members[0]?.memberId).to.equal("c1-1");
    expect(leave.members[0]?.reason).to.match(/consumer poll timeout has expired.*maxPollIntervalMs=150/);
    expect(cluster.group("g").members.size, "the coordinator let it go").to.equal(0);
    await pollUntil([c1], () => events.list.length >= 3, "the rejoin");
    expect(events.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3", "lost:t-0,t-1,t-2,t-3", "assigned:t-0,t-1,t-2,t-3"]);
    expect(c1.groupMetadata()?.memberId, "a new member").to.equal("c1-2");
  });

  it("close() commits, revokes, and leaves the group", async () => {
    for (let p = 0; p < 4; p++) cluster.produce("t", p, ["a", "b"]);
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    const [got] = await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    while ((got?.length ?? 0) < 8) got?.push(...(await c1.poll(50)));
    await c1.close();
    expect(events.list).to.deep.equal(["assigned:t-0,t-1,t-2,t-3", "revoked:t-0,t-1,t-2,t-3"]);
    const order = cluster.calls
      .filter((c) => c.client === "c1" && (c.method === "OffsetCommit" || c.method === "LeaveGroup"))
      .map((c) => c.method);
    expect(order.slice(-2)).to.deep.equal(["OffsetCommit", "LeaveGroup"]);
    expect([0, 1, 2, 3].map((p) => cluster.committedOffset("g", "t", p))).to.deep.equal([2, 2, 2, 2]);
    expect(cluster.group("g").members.size).to.equal(0);
    const error = await c1.poll(10).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/the consumer is closed/);
  });

  it("commitSync() commits consumed positions, and a new member continues from them", async () => {
    cluster.produce("t", 0, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    const c1 = consumer("c1", { enableAutoCommit: false, maxPollRecords: 5 });
    c1.subscribe(["t"]);
    const [got] = await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    while ((got?.length ?? 0) < 5) got?.push(...(await c1.poll(50)));
    expect(values(got ?? [])).to.deep.equal(["0", "1", "2", "3", "4"]);
    await c1.commitSync();
    const committed = await c1.committed([
      { topic: "t", partition: 0 },
      { topic: "t", partition: 1 },
    ]);
    expect(committed.get(tpKey({ topic: "t", partition: 0 }))?.offset, "the next record to read").to.equal(5);
    expect(committed.get(tpKey({ topic: "t", partition: 1 })), "partitions without records have position 0").to.deep.include({ offset: 0 });
    const commit = cluster.callsOf("OffsetCommit").at(-1)?.request;
    expect([commit?.generationId, commit?.memberId], "commits carry the generation").to.deep.equal([1, "c1-1"]);
    await c1.close();
    const c2 = consumer("c2", { enableAutoCommit: false });
    c2.subscribe(["t"]);
    const [next] = await pollUntil([c2], () => c2.assignment().length === 4, "c2's assignment");
    while ((next?.length ?? 0) < 5) next?.push(...(await c2.poll(50)));
    expect(values(next ?? [])).to.deep.equal(["5", "6", "7", "8", "9"]);
  });

  it("commitSync() with explicit offsets and metadata, and a clear error while the group rebalances", async () => {
    const c1 = consumer("c1", { enableAutoCommit: false });
    c1.subscribe(["t"]);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    await c1.commitSync(new Map([[tpKey({ topic: "t", partition: 2 }), { offset: 42, metadata: "checkpoint-7" }]]));
    expect(cluster.offsets.get("g/t-2")).to.deep.equal({ offset: 42, metadata: "checkpoint-7" });
    expect((await c1.committed([{ topic: "t", partition: 2 }])).get(tpKey({ topic: "t", partition: 2 }))?.metadata).to.equal(
      "checkpoint-7",
    );
    cluster.inject("OffsetCommit", ErrorCode.REBALANCE_IN_PROGRESS);
    const error = await c1.commitSync([{ topic: "t", partition: 0, offset: 1 }]).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(error?.code).to.equal("REBALANCE_IN_PROGRESS");
    expect(error?.message).to.match(/while it rebalances: call poll\(\) to complete the rebalance, then commit again/);
    cluster.inject("OffsetCommit", ErrorCode.REQUEST_TIMED_OUT, ErrorCode.REQUEST_TIMED_OUT);
    await c1.commitSync([{ topic: "t", partition: 0, offset: 3 }]);
    expect(cluster.committedOffset("g", "t", 0), "retriable errors are retried").to.equal(3);
  });

  it("commitAsync() reports to its callback", async () => {
    const c1 = consumer("c1", { enableAutoCommit: false });
    c1.subscribe(["t"]);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    const outcomes: (string | undefined)[] = [];
    c1.commitAsync([{ topic: "t", partition: 1, offset: 7 }], (error) => outcomes.push(error?.message));
    cluster.inject("OffsetCommit", ErrorCode.ILLEGAL_GENERATION);
    c1.commitAsync([{ topic: "t", partition: 1, offset: 8 }], (error) => outcomes.push(error?.message));
    await waitFor(() => outcomes.length === 2, "both callbacks");
    expect(outcomes[0]).to.equal(undefined);
    expect(outcomes[1]).to.match(/ILLEGAL_GENERATION.*the group rebalanced and the partitions may be assigned to another member/);
    expect(cluster.committedOffset("g", "t", 1)).to.equal(7);
  });

  it("auto-commits consumed positions every autoCommitIntervalMs from poll()", async () => {
    cluster.produce("t", 3, ["a", "b", "c"]);
    const c1 = consumer("c1", { autoCommitIntervalMs: 50 });
    c1.subscribe(["t"]);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    await pollUntil([c1], () => cluster.committedOffset("g", "t", 3) === 3, "the auto-commit");
    expect(cluster.callsOf("OffsetCommit").length).to.be.greaterThan(0);
  });

  it('autoOffsetReset "none" without a committed offset names the partitions', async () => {
    cluster.offsets.set("g/t-1", { offset: 0, metadata: "" });
    const c1 = consumer("c1", { autoOffsetReset: "none" });
    c1.subscribe(["t"]);
    let error: (Error & { code?: string }) | undefined;
    const deadline = Date.now() + WAIT_MS;
    while (error === undefined && Date.now() < deadline)
      error = await c1.poll(30).then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).to.match(/no committed offset in group 'g' for t-0, t-2, t-3 and autoOffsetReset is "none"/);
    expect(error?.message).to.match(/seek\(\) them.*or set autoOffsetReset to "earliest" or "latest"/);
    expect(c1.assignment(), "the partitions stay assigned").to.have.length(4);
  });

  it("a pattern subscription follows the topics that match it", async () => {
    cluster.createTopic("orders-a", 1);
    cluster.createTopic("payments", 1);
    const c1 = consumer("c1", { metadataMaxAgeMs: 50 });
    c1.subscribe(/^orders-/);
    await pollUntil([c1], () => names(c1.assignment()) === "orders-a-0", "orders-a");
    expect(c1.subscription()).to.deep.equal(["orders-a"]);
    cluster.createTopic("orders-b", 2);
    await pollUntil([c1], () => names(c1.assignment()) === "orders-a-0,orders-b-0,orders-b-1", "orders-b after a metadata refresh");
  });

  it("pause() keeps a partition assigned but stops fetching it until resume()", async () => {
    const c1 = consumer("c1");
    c1.subscribe(["t"]);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    c1.pause([{ topic: "t", partition: 0 }]);
    cluster.produce("t", 0, ["paused"]);
    cluster.produce("t", 1, ["live"]);
    const got: ConsumerRecord[] = [];
    const until = Date.now() + 300;
    while (Date.now() < until) got.push(...(await c1.poll(30)));
    expect(values(got)).to.deep.equal(["live"]);
    expect(c1.assignment()).to.have.length(4);
    c1.resume([{ topic: "t", partition: 0 }]);
    const resumed: ConsumerRecord[] = [];
    const deadline = Date.now() + WAIT_MS;
    while (resumed.length === 0 && Date.now() < deadline) resumed.push(...(await c1.poll(30)));
    expect(values(resumed)).to.deep.equal(["paused"]);
  });

  it("assign() with a groupId starts from committed offsets and commits outside the membership", async () => {
    cluster.produce("t", 0, ["0", "1", "2", "3"]);
    cluster.offsets.set("g/t-0", { offset: 2, metadata: "" });
    const c1 = consumer("c1");
    c1.assign([{ topic: "t", partition: 0 }]);
    const got: ConsumerRecord[] = [];
    const deadline = Date.now() + WAIT_MS;
    while (got.length < 2 && Date.now() < deadline) got.push(...(await c1.poll(30)));
    expect(values(got)).to.deep.equal(["2", "3"]);
    await c1.commitSync();
    const commit = cluster.callsOf("OffsetCommit").at(-1)?.request;
    expect([commit?.generationId, commit?.memberId]).to.deep.equal([-1, ""]);
    expect(cluster.committedOffset("g", "t", 0)).to.equal(4);
    expect(cluster.callsOf("JoinGroup"), "no membership").to.have.length(0);
  });

  it("unsubscribe() revokes and leaves; subscribe() again rejoins", async () => {
    const events = new Events();
    const c1 = consumer("c1");
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the assignment");
    await c1.unsubscribe();
    expect(c1.assignment()).to.deep.equal([]);
    expect(events.list.at(-1)).to.equal("revoked:t-0,t-1,t-2,t-3");
    expect(cluster.callsOf("LeaveGroup")).to.have.length(1);
    c1.subscribe(["t"], events);
    await pollUntil([c1], () => c1.assignment().length === 4, "the new assignment");
  });

  it("a listener that throws does not stop the rebalance; poll() reports it once", async () => {
    const c1 = consumer("c1");
    c1.subscribe(["t"], {
      onPartitionsAssigned: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new Error("listener exploded");
      },
    });
    let error: Error | undefined;
    const deadline = Date.now() + WAIT_MS;
    while (error === undefined && Date.now() < deadline)
      error = await c1.poll(30).then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).to.equal("listener exploded");
    expect(c1.assignment()).to.have.length(4);
    expect(await c1.poll(10)).to.deep.equal([]);
  });
});
