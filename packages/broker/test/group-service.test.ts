// castle.v1.Group on three in-process nodes: FindCoordinator creates __consumer_offsets on first
// use and every node names the same coordinator (the leader of the group's partition); the
// coordinator runs Kafka's join/sync/heartbeat protocol and keeps offsets; the other nodes say
// NOT_COORDINATOR; when the coordinator's node stops, the partition's new leader rebuilds the
// group from the log, so members keep their generation and the group keeps its offsets.
// Clients cannot write, create or delete the internal topic. Every wait is bounded.

import {
  CONSUMER_PROTOCOL_TYPE,
  decodeConsumerAssignment,
  ErrorCode,
  encodeConsumerAssignment,
  encodeConsumerSubscription,
  encodeRecordBatch,
  type FindCoordinatorResponse,
} from "@castle/protocol";
import { type CastleService, grpcCall, type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import { expect } from "chai";

const OFFSETS_TOPIC = "__consumer_offsets";
const SETTLE_MS = 15_000;

const call = <Res>(port: number, service: CastleService, method: string, request: unknown) =>
  grpcCall<Res>(port, service, method, request, 20_000);

interface Answer {
  errorCode: number;
  errorMessage: string;
}

describe("consumer group coordinator service (3 in-process nodes)", function () {
  this.timeout(90_000);
  let cluster: InProcessCluster;

  const port = (id: number) => cluster.node(id).clientPort;
  const group = <Res>(id: number, method: string, request: unknown) => call<Res>(port(id), "Group", method, request);
  const findCoordinator = async (groupId: string, via: number): Promise<FindCoordinatorResponse> => {
    let last: FindCoordinatorResponse | undefined;
    await waitUntil(
      async () => {
        last = await group<FindCoordinatorResponse>(via, "FindCoordinator", { groupId });
        return last.errorCode === ErrorCode.NONE;
      },
      `a coordinator for ${groupId} via node ${via}`,
      SETTLE_MS,
    );
    return last as FindCoordinatorResponse;
  };

  before(async () => {
    cluster = await startInProcessCluster({
      size: 3,
      overrides: {
        "broker.heartbeat.interval.ms": "200",
        "broker.session.timeout.ms": "2000",
        "replica.lag.time.max.ms": "1500",
        "auto.leader.rebalance.enable": "false",
        "offsets.topic.num.partitions": "6",
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "500",
      },
    });
  });
  after(async () => {
    await cluster?.close();
  });

  it("refuses an empty group id without creating anything", async () => {
    const answer = await group<FindCoordinatorResponse>(1, "FindCoordinator", { groupId: "" });
    expect(answer.errorCode).to.equal(ErrorCode.INVALID_GROUP_ID);
    expect(answer.errorMessage).to.match(/group id is empty/);
    expect(cluster.node(1).quorum.image.topic(OFFSETS_TOPIC)).to.equal(undefined);
  });

  it("creates __consumer_offsets on first use and every node names the same coordinator", async () => {
    const first = await findCoordinator("g-find", 1);
    const topic = cluster.node(1).quorum.image.topic(OFFSETS_TOPIC);
    expect(topic?.partitions.length).to.equal(6);
    expect(topic?.partitions[0]?.replicas.length).to.equal(3);
    expect(cluster.node(1).quorum.image.topicConfigs(OFFSETS_TOPIC)["cleanup.policy"], "compacted, as Kafka's").to.equal("compact");
    for (const id of cluster.runningIds()) {
      const answer = await findCoordinator("g-find", id);
      expect([answer.nodeId, answer.port], `node ${id}'s answer`).to.deep.equal([first.nodeId, first.port]);
    }
    const partition = cluster.node(1).context?.groups.partitionFor("g-find") as number;
    expect(topic?.partitions[partition]?.leader).to.equal(first.nodeId);
  });

  it("refuses client writes to the internal topic, and its creation or deletion", async () => {
    await findCoordinator("g-internal", 1);
    const produced = await call<{ topics: { partitions: Answer[] }[] }>(port(1), "Broker", "Produce", {
      acks: 1,
      timeoutMs: 1000,
      topics: [
        {
          name: OFFSETS_TOPIC,
          partitions: [
            {
              partition: 0,
              recordBatches: encodeRecordBatch([{ key: Buffer.from("k"), value: Buffer.from("v") }], { baseTimestampMs: Date.now() }),
            },
          ],
        },
      ],
    });
    expect(produced.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.INVALID_TOPIC_EXCEPTION);
    const deleted = await call<{ topics: Answer[] }>(port(1), "Admin", "DeleteTopics", { names: [OFFSETS_TOPIC], timeoutMs: 5000 });
    expect(deleted.topics[0]?.errorCode).to.equal(ErrorCode.INVALID_REQUEST);
    const created = await call<{ topics: Answer[] }>(port(1), "Admin", "CreateTopics", {
      topics: [{ name: OFFSETS_TOPIC, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
    expect(created.topics[0]?.errorCode).to.equal(ErrorCode.INVALID_REQUEST);
    expect(cluster.node(1).quorum.image.topic(OFFSETS_TOPIC)?.partitions.length).to.equal(6);
  });

  it("answers bad group requests over the wire with clear errors and leaves the group as it was", async () => {
    const groupId = "g-bad";
    const coordinator = (await findCoordinator(groupId, 1)).nodeId;
    const join = {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 5_000,
      memberId: "",
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocols: [{ name: "range", metadata: encodeConsumerSubscription({ topics: ["t"] }) }],
      clientId: "bad",
    };
    const first = await group<Answer & { memberId: string }>(coordinator, "JoinGroup", join);
    const joined = await group<Answer & { generationId: number }>(coordinator, "JoinGroup", { ...join, memberId: first.memberId });
    expect(joined.errorCode, joined.errorMessage).to.equal(ErrorCode.NONE);
    const synced = await group<Answer>(coordinator, "SyncGroup", {
      groupId,
      generationId: joined.generationId,
      memberId: first.memberId,
      assignments: [
        { memberId: first.memberId, assignment: encodeConsumerAssignment({ assignedPartitions: [{ topic: "t", partitions: [0] }] }) },
      ],
    });
    expect(synced.errorCode, synced.errorMessage).to.equal(ErrorCode.NONE);
    const describe = () => group<{ groups: unknown[] }>(coordinator, "DescribeGroups", { groupIds: [groupId] });
    const before = JSON.stringify(await describe());

    const refusals: [string, string, unknown, number][] = [
      [
        "an assignor the group does not use",
        "JoinGroup",
        { ...join, memberId: "", protocols: [{ name: "sticky-ish", metadata: Buffer.alloc(0) }] },
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
      ],
      ["another protocol type", "JoinGroup", { ...join, protocolType: "connect" }, ErrorCode.INCONSISTENT_GROUP_PROTOCOL],
      ["a session timeout below the minimum", "JoinGroup", { ...join, sessionTimeoutMs: 10 }, ErrorCode.INVALID_SESSION_TIMEOUT],
      [
        "an unknown member id",
        "Heartbeat",
        { groupId, generationId: joined.generationId, memberId: "nobody" },
        ErrorCode.UNKNOWN_MEMBER_ID,
      ],
      [
        "a stale generation",
        "Heartbeat",
        { groupId, generationId: joined.generationId - 1, memberId: first.memberId },
        ErrorCode.ILLEGAL_GENERATION,
      ],
      [
        "a sync for another generation",
        "SyncGroup",
        { groupId, generationId: joined.generationId + 1, memberId: first.memberId },
        ErrorCode.ILLEGAL_GENERATION,
      ],
    ];
    for (const [what, method, request, code] of refusals) {
      const answer = await group<Answer>(coordinator, method, request);
      expect(answer.errorCode, `${what}: ${answer.errorMessage}`).to.equal(code);
      expect(answer.errorMessage.length, `${what} says why`).to.be.greaterThan(15);
    }
    const commit = (partitions: unknown[]) =>
      group<{ topics: { partitions: Answer[] }[] }>(coordinator, "OffsetCommit", {
        groupId,
        generationId: joined.generationId,
        memberId: first.memberId,
        topics: [{ name: "t", partitions }],
      });
    const negative = await commit([{ partition: 0, committedOffset: -5, committedLeaderEpoch: -1, metadata: "" }]);
    expect(negative.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.OFFSET_OUT_OF_RANGE);
    const oversize = await commit([{ partition: 0, committedOffset: 1, committedLeaderEpoch: -1, metadata: "x".repeat(5000) }]);
    expect(oversize.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.OFFSET_METADATA_TOO_LARGE);
    const fetched = await group<{ topics: { partitions: { committedOffset: number }[] }[] }>(coordinator, "OffsetFetch", {
      groupId,
      topics: [{ name: "t", partitions: [0] }],
    });
    expect(fetched.topics[0]?.partitions[0]?.committedOffset, "nothing was committed").to.equal(-1);
    expect(JSON.stringify(await describe()), "the group is as it was").to.equal(before);
  });

  it("reports groups by state and each group's lag on the coordinator's /metrics", async () => {
    const groupId = "g-metrics";
    const coordinator = (await findCoordinator(groupId, 1)).nodeId;
    const ctx = cluster.node(coordinator).context;
    if (!ctx) throw new Error("the coordinator is not a broker");
    const created = await ctx.controller.call("createTopics", [
      { topics: [{ name: "lagged", numPartitions: 1, replicationFactor: 3, configs: {} }], timeoutMs: 10_000, validateOnly: false },
    ]);
    expect(created.topics[0]?.errorCode).to.equal(ErrorCode.NONE);
    const leader = await waitUntil(
      () => {
        const l = cluster.node(1).quorum.image.topic("lagged")?.partitions[0]?.leader ?? -1;
        return l > 0 && cluster.node(l).context?.replicas.localLog("lagged", 0) ? l : undefined;
      },
      "lagged-0 to have a leader",
      SETTLE_MS,
    );
    const produced = await call<{ topics: { partitions: Answer[] }[] }>(port(leader), "Broker", "Produce", {
      acks: -1,
      timeoutMs: 5000,
      topics: [
        {
          name: "lagged",
          partitions: [
            {
              partition: 0,
              recordBatches: encodeRecordBatch(
                Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`) })),
                { baseTimestampMs: Date.now() },
              ),
            },
          ],
        },
      ],
    });
    expect(produced.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.NONE);
    // A group without members commits with generation -1 (what `castle group reset-offsets` does).
    const committed = await group<{ topics: { partitions: Answer[] }[] }>(coordinator, "OffsetCommit", {
      groupId,
      generationId: -1,
      memberId: "",
      topics: [{ name: "lagged", partitions: [{ partition: 0, committedOffset: 4, committedLeaderEpoch: -1, metadata: "" }] }],
    });
    expect(committed.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.NONE);
    const lagPattern = new RegExp(`castle_group_lag_records\\{group="${groupId}",topic="lagged",partition="0"[^}]*\\} (\\d+)`);
    // The coordinator's own replica of lagged-0 learns the high watermark from its leader shortly.
    const metrics = await waitUntil(
      async () => {
        const text = await ctx.metrics.registry.metrics();
        return lagPattern.exec(text)?.[1] === "6" ? text : undefined;
      },
      "the lag gauge to read 10 - 4 = 6",
      SETTLE_MS,
    );
    expect(metrics).to.match(/castle_group_count\{state="Empty"[^}]*\} [1-9]/);
    expect(metrics).to.include("castle_group_rebalances_total");
  });

  it("runs join, sync, heartbeat and offset commits on the coordinator; the new coordinator after a stop has them all", async () => {
    const groupId = "g-lifecycle";
    const coordinator = (await findCoordinator(groupId, 1)).nodeId;
    const other = cluster.runningIds().find((id) => id !== coordinator) as number;
    const join = {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 5_000,
      memberId: "",
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocols: [{ name: "range", metadata: encodeConsumerSubscription({ topics: ["t"] }) }],
      clientId: "test-client",
    };

    const elsewhere = await group<Answer>(other, "JoinGroup", join);
    expect(elsewhere.errorCode, "a node that does not coordinate the group").to.equal(ErrorCode.NOT_COORDINATOR);

    const first = await group<Answer & { memberId: string }>(coordinator, "JoinGroup", join);
    expect(first.errorCode).to.equal(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).to.match(/^test-client-/);
    const joined = await group<
      Answer & { memberId: string; leader: string; generationId: number; protocolName: string; members: unknown[] }
    >(coordinator, "JoinGroup", { ...join, memberId: first.memberId });
    expect(joined.errorCode, joined.errorMessage).to.equal(ErrorCode.NONE);
    expect(joined.leader).to.equal(first.memberId);
    expect(joined.protocolName).to.equal("range");
    expect(joined.members).to.have.length(1);
    const generationId = joined.generationId;
    const assignment = encodeConsumerAssignment({ assignedPartitions: [{ topic: "t", partitions: [0, 1] }] });
    const synced = await group<Answer & { assignment: Buffer }>(coordinator, "SyncGroup", {
      groupId,
      generationId,
      memberId: first.memberId,
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocolName: "range",
      assignments: [{ memberId: first.memberId, assignment }],
    });
    expect(synced.errorCode, synced.errorMessage).to.equal(ErrorCode.NONE);
    expect(decodeConsumerAssignment(synced.assignment).assignedPartitions).to.deep.equal([{ topic: "t", partitions: [0, 1] }]);
    const beat = await group<Answer>(coordinator, "Heartbeat", { groupId, generationId, memberId: first.memberId });
    expect(beat.errorCode, beat.errorMessage).to.equal(ErrorCode.NONE);
    const committed = await group<{ topics: { partitions: Answer[] }[] }>(coordinator, "OffsetCommit", {
      groupId,
      generationId,
      memberId: first.memberId,
      topics: [{ name: "t", partitions: [{ partition: 1, committedOffset: 42, committedLeaderEpoch: -1, metadata: "m" }] }],
    });
    expect(committed.topics[0]?.partitions[0]?.errorCode).to.equal(ErrorCode.NONE);

    await cluster.stop(coordinator);
    const next = await findCoordinator(groupId, other);
    expect(next.nodeId).to.not.equal(coordinator);
    let fetched: (Answer & { topics: { partitions: { committedOffset: number; metadata: string }[] }[] }) | undefined;
    await waitUntil(
      async () => {
        fetched = await group(next.nodeId, "OffsetFetch", { groupId, topics: [{ name: "t", partitions: [1] }] });
        return fetched?.errorCode === ErrorCode.NONE;
      },
      "the new coordinator to have loaded the group",
      SETTLE_MS,
    );
    expect(fetched?.topics[0]?.partitions[0]?.committedOffset).to.equal(42);
    expect(fetched?.topics[0]?.partitions[0]?.metadata).to.equal("m");
    const beatAfter = await group<Answer>(next.nodeId, "Heartbeat", { groupId, generationId, memberId: first.memberId });
    expect(beatAfter.errorCode, beatAfter.errorMessage).to.equal(ErrorCode.NONE);
    const described = await group<{ groups: { groupState: string; generationId: number; members: { memberAssignment: Buffer }[] }[] }>(
      next.nodeId,
      "DescribeGroups",
      { groupIds: [groupId] },
    );
    expect(described.groups[0]?.groupState).to.equal("Stable");
    expect(described.groups[0]?.generationId).to.equal(generationId);
    const stored = described.groups[0]?.members[0]?.memberAssignment as Buffer;
    expect(decodeConsumerAssignment(stored).assignedPartitions).to.deep.equal([{ topic: "t", partitions: [0, 1] }]);
    await cluster.restart(coordinator);
  });
});
