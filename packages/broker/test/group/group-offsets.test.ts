// Committed offsets through the coordinator: commit and fetch with Kafka's generation checks,
// Castle's ownership rule for consumer groups, groups that only store offsets (generation -1),
// per-partition validation, failed appends that change nothing, retention, and the admin calls
// (list, describe, delete).

import { ErrorCode, type OffsetCommitRequest, type OffsetCommitResponseInput, protocolError } from "@castle/protocol";
import { expect } from "chai";
import { decodeGroupRecord, GroupRecordKeyType } from "../../src/group/group-records.js";
import {
  assignment,
  commitRequest,
  expectError,
  expectOk,
  type Harness,
  heartbeatRequest,
  joinRequest,
  memberIdFor,
  settle,
  stableGroup,
  startCoordinator,
  syncRequest,
} from "./group-test-kit.js";

/** [topic, partition, errorCode] per answered partition. */
const outcome = (answer: OffsetCommitResponseInput): [string, number, number][] =>
  (answer.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p): [string, number, number] => [t.name ?? "", p.partition ?? -1, p.errorCode ?? 0]),
  );

async function committed(h: Harness, groupId = "g"): Promise<Record<string, number>> {
  const fetched = await h.coordinator.fetchOffsets({ groupId, topics: [] });
  expectOk(fetched);
  const out: Record<string, number> = {};
  for (const t of fetched.topics ?? []) for (const p of t.partitions ?? []) out[`${t.name}-${p.partition}`] = Number(p.committedOffset);
  return out;
}

const commit = (h: Harness, offsets: Record<string, Record<number, number>>, overrides: Partial<OffsetCommitRequest> = {}) =>
  h.coordinator.commitOffsets(commitRequest(offsets, overrides));

/** Two consumers of topic t: the leader owns t-0, the other t-1. */
async function consumerGroup(h: Harness) {
  const group = await stableGroup(h, 2, [assignment({ t: [0] }), assignment({ t: [1] })]);
  const [a, b] = group.memberIds as [string, string];
  return { ...group, a, b };
}

describe("GroupCoordinator offsets", () => {
  it("commits and fetches for a member of the current generation; stale generations and strangers change nothing", async () => {
    const h = await startCoordinator();
    const { a } = await consumerGroup(h);
    const ok = await commit(h, { t: { 0: 10 } }, { memberId: a, generationId: 1 });
    expect(outcome(ok)).to.deep.equal([["t", 0, ErrorCode.NONE]]);
    const refused: [Partial<OffsetCommitRequest>, number, RegExp][] = [
      [{ memberId: a, generationId: 0 }, ErrorCode.ILLEGAL_GENERATION, /generation 0/],
      [{ memberId: "stranger", generationId: 1 }, ErrorCode.UNKNOWN_MEMBER_ID, /"stranger"/],
      [{ memberId: "", generationId: -1 }, ErrorCode.UNKNOWN_MEMBER_ID, /only accepted while a group has no members/],
    ];
    for (const [overrides, code, pattern] of refused) {
      const answer = await commit(h, { t: { 0: 99 } }, overrides);
      const partition = answer.topics?.[0]?.partitions?.[0] ?? {};
      expect(partition.errorCode, JSON.stringify(overrides)).to.equal(code);
      expect(partition.errorMessage).to.match(pattern);
    }
    expect(await committed(h)).to.deep.equal({ "t-0": 10 });
    const fetched = await h.coordinator.fetchOffsets({
      groupId: "g",
      topics: [
        { name: "t", partitions: [0, 1] },
        { name: "u", partitions: [3] },
      ],
    });
    expectOk(fetched);
    expect(fetched.topics).to.deep.equal([
      {
        name: "t",
        partitions: [
          { partition: 0, committedOffset: 10, committedLeaderEpoch: 3, metadata: "", errorCode: 0, errorMessage: "" },
          { partition: 1, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: 0, errorMessage: "" },
        ],
      },
      {
        name: "u",
        partitions: [{ partition: 3, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: 0, errorMessage: "" }],
      },
    ]);
    const unknown = await h.coordinator.fetchOffsets({ groupId: "never", topics: [] });
    expect(unknown).to.deep.include({ errorCode: ErrorCode.NONE, topics: [] });
  });

  it("refuses commits for partitions another member owns, naming the owner, and keeps the rest", async () => {
    const h = await startCoordinator();
    const { a, b } = await consumerGroup(h);
    const answer = await commit(h, { t: { 0: 5, 1: 6, 2: 7 } }, { memberId: a, generationId: 1 });
    expect(
      outcome(answer),
      "t-2 is assigned to no one: a cooperative rebalance withholds such partitions, and their last owner commits them",
    ).to.deep.equal([
      ["t", 0, ErrorCode.NONE],
      ["t", 1, ErrorCode.ILLEGAL_GENERATION],
      ["t", 2, ErrorCode.NONE],
    ]);
    const message = answer.topics?.[0]?.partitions?.[1]?.errorMessage ?? "";
    expect(message).to.include("t-1").and.include(`assigned to member ${b}, not to member ${a}`);
    expect(await committed(h)).to.deep.equal({ "t-0": 5, "t-2": 7 });

    // A leader that sends bytes no consumer can read leaves its members owning nothing: no one
    // owns a partition, so commits of the generation's members are taken.
    const junk = await startCoordinator();
    const { memberIds } = await stableGroup(junk, 1, [Buffer.from([0xff, 0xff, 0xff])]);
    const taken = await commit(junk, { t: { 0: 1 } }, { memberId: memberIds[0] as string, generationId: 1 });
    expect(outcome(taken)).to.deep.equal([["t", 0, ErrorCode.NONE]]);
  });

  it("accepts commits of the current generation during PreparingRebalance and refuses them during CompletingRebalance", async () => {
    const h = await startCoordinator();
    const { a, b } = await consumerGroup(h);
    const newcomer = await memberIdFor(h, { clientId: "new" });
    const joins = [h.coordinator.joinGroup(joinRequest({ memberId: newcomer }), "/h")];
    expect(outcome(await commit(h, { t: { 0: 20 } }, { memberId: a, generationId: 1 }))).to.deep.equal([["t", 0, ErrorCode.NONE]]);
    joins.push(h.coordinator.joinGroup(joinRequest({ memberId: a }), "/h"), h.coordinator.joinGroup(joinRequest({ memberId: b }), "/h"));
    await Promise.all(joins);
    const during = await commit(h, { t: { 0: 21 } }, { memberId: a, generationId: 2 });
    expect(outcome(during)).to.deep.equal([["t", 0, ErrorCode.REBALANCE_IN_PROGRESS]]);
    expect(await committed(h)).to.deep.equal({ "t-0": 20 });
  });

  it("lets a group without members commit with generation -1 (a simple group), and refuses it once members join", async () => {
    const h = await startCoordinator();
    expect(outcome(await commit(h, { t: { 0: 1, 1: 2 } }))).to.deep.equal([
      ["t", 0, ErrorCode.NONE],
      ["t", 1, ErrorCode.NONE],
    ]);
    expect((await h.coordinator.listGroups()).groups).to.deep.equal([{ groupId: "g", protocolType: "", groupState: "Empty" }]);
    expect(await committed(h)).to.deep.equal({ "t-0": 1, "t-1": 2 });
    // Members join; the admin's commit without a member id is now refused.
    await stableGroup(h, 1);
    const refused = await commit(h, { t: { 0: 100 } });
    expectError(refused.topics?.[0]?.partitions?.[0] ?? {}, ErrorCode.UNKNOWN_MEMBER_ID, /1 member\(s\) and is Stable/);
    // Once the group is empty again, the admin may reset offsets.
    const { groups } = await h.coordinator.describeGroups(["g"]);
    const member = groups?.[0]?.members?.[0]?.memberId as string;
    await h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: member, groupInstanceId: "", reason: "" }] });
    expect(outcome(await commit(h, { t: { 0: 0 } }))).to.deep.equal([["t", 0, ErrorCode.NONE]]);
    expect(await committed(h)).to.deep.equal({ "t-0": 0, "t-1": 2 });
    const unknownGroup = await commit(h, { t: { 0: 1 } }, { groupId: "fresh", memberId: "m", generationId: 4 });
    expectError(unknownGroup.topics?.[0]?.partitions?.[0] ?? {}, ErrorCode.ILLEGAL_GENERATION, /generation 4/);
  });

  it("validates each partition alone: negative offsets, oversize metadata, bad names", async () => {
    const h = await startCoordinator({ config: { offsetMetadataMaxBytes: 8 } });
    const request = commitRequest({ t: { 0: 1, 1: -1, 2: 3 } });
    (request.topics[0]?.partitions[2] as { metadata: string }).metadata = "ü".repeat(5);
    request.topics.push({ name: "", partitions: [{ partition: 0, committedOffset: 1, committedLeaderEpoch: -1, metadata: "" }] });
    request.topics.push({ name: "u", partitions: [{ partition: -2, committedOffset: 1, committedLeaderEpoch: -1, metadata: "" }] });
    const answer = await h.coordinator.commitOffsets(request);
    expect(outcome(answer)).to.deep.equal([
      ["t", 0, ErrorCode.NONE],
      ["t", 1, ErrorCode.OFFSET_OUT_OF_RANGE],
      ["t", 2, ErrorCode.OFFSET_METADATA_TOO_LARGE],
      ["", 0, ErrorCode.INVALID_TOPIC_EXCEPTION],
      ["u", -2, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    const messages = answer.topics?.flatMap((t) => t.partitions?.map((p) => p.errorMessage) ?? []);
    expect(messages?.[1]).to.match(/committed offset -1 for t-1/);
    expect(messages?.[2]).to.match(/10 bytes; offset.metadata.max.bytes is 8/);
    expect(await committed(h)).to.deep.equal({ "t-0": 1 });
    const noGroup = await commit(h, { t: { 0: 1 } }, { groupId: "" });
    expectError(noGroup.topics?.[0]?.partitions?.[0] ?? {}, ErrorCode.INVALID_GROUP_ID);
    expectError(await h.coordinator.fetchOffsets({ groupId: "", topics: [] }), ErrorCode.INVALID_GROUP_ID);
  });

  it("a failed append commits nothing: every partition gets the error, and memory keeps the old offsets", async () => {
    const h = await startCoordinator();
    expect(outcome(await commit(h, { t: { 0: 1 } }))).to.deep.equal([["t", 0, 0]]);
    for (const [thrown, code] of [
      [protocolError("REQUEST_TIMED_OUT", "slow ISR"), ErrorCode.COORDINATOR_NOT_AVAILABLE],
      [protocolError("NOT_COORDINATOR", "moved"), ErrorCode.NOT_COORDINATOR],
      [protocolError("MESSAGE_TOO_LARGE", "too big"), ErrorCode.INVALID_COMMIT_OFFSET_SIZE],
    ] as const) {
      h.log.failNextAppend(thrown);
      const answer = await commit(h, { t: { 0: 50, 1: 51 } });
      expect(outcome(answer), thrown.message).to.deep.equal([
        ["t", 0, code],
        ["t", 1, code],
      ]);
      expect(await committed(h)).to.deep.equal({ "t-0": 1 });
    }
    h.log.failNextAppend();
    await commit(h, { t: { 0: 1 } }, { groupId: "brand-new" });
    expect(
      (await h.coordinator.listGroups()).groups?.map((g) => g.groupId),
      "no group left behind",
    ).to.deep.equal(["g"]);
  });

  it("shows a commit only once the log has it", async () => {
    const h = await startCoordinator();
    const release = h.log.blockAppends();
    const pending = commit(h, { t: { 0: 7 } });
    await settle();
    expect(await committed(h)).to.deep.equal({});
    release();
    expect(outcome(await pending)).to.deep.equal([["t", 0, 0]]);
    expect(await committed(h)).to.deep.equal({ "t-0": 7 });
  });

  describe("retention (offsets.retention.minutes)", () => {
    const WEEK_MS = 10_080 * 60_000;

    it("expires a simple group's offsets by commit time, then the group itself, with tombstones", async () => {
      const h = await startCoordinator();
      await commit(h, { t: { 0: 1 } });
      h.clock.advance(WEEK_MS / 2);
      await commit(h, { t: { 1: 2 } });
      h.clock.advance(WEEK_MS / 2);
      expect(await h.coordinator.expireOffsets()).to.equal(1);
      expect(await committed(h)).to.deep.equal({ "t-1": 2 });
      h.clock.advance(WEEK_MS / 2);
      expect(await h.coordinator.expireOffsets()).to.equal(1);
      expect((await h.coordinator.listGroups()).groups).to.deep.equal([]);
      const records = h.log.recordsOf(h.coordinator.partitionFor("g")).map(decodeGroupRecord);
      expect(records.map((r) => [r.type, r.value === null])).to.deep.equal([
        [GroupRecordKeyType.OffsetCommit, false],
        [GroupRecordKeyType.OffsetCommit, false],
        [GroupRecordKeyType.OffsetCommit, true],
        [GroupRecordKeyType.OffsetCommit, true],
        [GroupRecordKeyType.GroupMetadata, true],
      ]);
    });

    it("keeps a consumer group's offsets while it has members and for the retention after it empties", async () => {
      const h = await startCoordinator();
      const { memberIds } = await stableGroup(h, 1, [assignment({ t: [0] })]);
      const a = memberIds[0] as string;
      await commit(h, { t: { 0: 9 } }, { memberId: a, generationId: 1 });
      // Days pass on the clock alone (no timer fires); the member's heartbeat keeps its session.
      for (let day = 0; day < 8; day++) {
        h.clock.advance(86_400_000);
        expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: a })), `day ${day}`);
      }
      expect(await h.coordinator.expireOffsets(), "a member keeps them").to.equal(0);
      await h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: a, groupInstanceId: "", reason: "" }] });
      h.clock.advance(WEEK_MS - 1);
      expect(await h.coordinator.expireOffsets()).to.equal(0);
      h.clock.advance(1);
      expect(await h.coordinator.expireOffsets()).to.equal(1);
      expect((await h.coordinator.describeGroups(["g"])).groups?.[0]?.groupState).to.equal("Dead");
    });

    it("runs by itself every offsets.retention.check.interval.ms, and a failed append expires nothing", async () => {
      const h = await startCoordinator({ config: { offsetsRetentionMinutes: 1, offsetsRetentionCheckIntervalMs: 30_000 } });
      await commit(h, { t: { 0: 1 } });
      h.timers.advance(30_000);
      await settle();
      expect(await committed(h), "not yet a minute").to.deep.equal({ "t-0": 1 });
      h.log.failNextAppend();
      h.timers.advance(30_000);
      await settle();
      expect(await committed(h), "the append failed").to.deep.equal({ "t-0": 1 });
      expect(h.logger.at("warn").map((l) => l.message)).to.include("cannot expire offsets; will retry at the next check");
      h.timers.advance(30_000);
      await settle();
      expect(await committed(h)).to.deep.equal({});
    });
  });

  describe("admin calls", () => {
    it("deletes an empty group with tombstones for it and its offsets; refuses non-empty and unknown groups", async () => {
      const h = await startCoordinator();
      await commit(h, { t: { 0: 1, 1: 2 }, u: { 0: 3 } }, { groupId: "old" });
      await stableGroup(h, 1);
      const answer = await h.coordinator.deleteGroups(["old", "g", "missing", "", "old"]);
      expect(answer.results?.map((r) => [r.groupId, r.errorCode])).to.deep.equal([
        ["old", ErrorCode.NONE],
        ["g", ErrorCode.NON_EMPTY_GROUP],
        ["missing", ErrorCode.GROUP_ID_NOT_FOUND],
        ["", ErrorCode.INVALID_GROUP_ID],
        ["old", ErrorCode.NONE],
      ]);
      expect(answer.results?.[1]?.errorMessage).to.match(/Stable with 1 member/);
      expect(await committed(h, "old")).to.deep.equal({});
      expect((await h.coordinator.describeGroups(["old"])).groups?.[0]).to.deep.include({ groupState: "Dead", errorCode: 0 });
      const tombstones = h.log
        .recordsOf(h.coordinator.partitionFor("old"))
        .map(decodeGroupRecord)
        .filter((r) => r.key.groupId === "old" && r.value === null);
      expect(
        tombstones.map((r) => (r.type === GroupRecordKeyType.OffsetCommit ? `${r.key.topic}-${r.key.partition}` : "group")),
      ).to.deep.equal(["t-0", "t-1", "u-0", "group"]);
    });

    it("a failed deletion keeps the group; calls during the deletion are told to retry", async () => {
      const h = await startCoordinator();
      await commit(h, { t: { 0: 1 } });
      h.log.failNextAppend();
      const failed = await h.coordinator.deleteGroups(["g"]);
      expectError(failed.results?.[0] ?? {}, ErrorCode.COORDINATOR_NOT_AVAILABLE);
      expect(await committed(h)).to.deep.equal({ "t-0": 1 });
      const release = h.log.blockAppends();
      const deleting = h.coordinator.deleteGroups(["g"]);
      await settle();
      expectError(await h.coordinator.joinGroup(joinRequest(), "/h"), ErrorCode.COORDINATOR_NOT_AVAILABLE, /being deleted/);
      expectError((await commit(h, { t: { 0: 5 } })).topics?.[0]?.partitions?.[0] ?? {}, ErrorCode.COORDINATOR_NOT_AVAILABLE);
      release();
      expectOk((await deleting).results?.[0] ?? {});
      expect((await h.coordinator.listGroups()).groups).to.deep.equal([]);
    });

    it("lists groups by state (any case) and refuses unknown state names", async () => {
      const h = await startCoordinator();
      await commit(h, { t: { 0: 1 } }, { groupId: "simple" });
      await stableGroup(h, 1);
      expect((await h.coordinator.listGroups()).groups).to.deep.equal([
        { groupId: "g", protocolType: "consumer", groupState: "Stable" },
        { groupId: "simple", protocolType: "", groupState: "Empty" },
      ]);
      expect((await h.coordinator.listGroups(["stable"])).groups?.map((g) => g.groupId)).to.deep.equal(["g"]);
      expect((await h.coordinator.listGroups(["Dead"])).groups).to.deep.equal([]);
      expectError(await h.coordinator.listGroups(["Sleeping"]), ErrorCode.INVALID_REQUEST, /"Sleeping".*Empty, PreparingRebalance/);
    });

    it("describes members with their subscription and assignment once Stable", async () => {
      const h = await startCoordinator();
      const mine = assignment({ t: [0, 1] });
      const { memberIds } = await stableGroup(h, 1, [mine]);
      const described = (await h.coordinator.describeGroups(["g", "ghost"])).groups ?? [];
      expect(described[0]).to.deep.include({
        groupState: "Stable",
        protocolType: "consumer",
        protocolName: "range",
        generationId: 1,
        leader: memberIds[0],
      });
      expect(Buffer.from(described[0]?.members?.[0]?.memberAssignment as Buffer).equals(mine)).to.equal(true);
      expect(described[1]).to.deep.include({ groupId: "ghost", groupState: "Dead", errorCode: 0, members: [] });
    });

    it("reports groups by state, completed rebalances and every group's offsets", async () => {
      const h = await startCoordinator();
      await commit(h, { t: { 0: 4 } }, { groupId: "simple" });
      const { memberIds } = await stableGroup(h, 1, [assignment({ t: [0] })]);
      await commit(h, { t: { 0: 8 } }, { memberId: memberIds[0] as string, generationId: 1 });
      const stats = h.coordinator.stats();
      expect(stats.groupsByState).to.deep.equal({ Empty: 1, PreparingRebalance: 0, CompletingRebalance: 0, Stable: 1, Dead: 0 });
      expect(stats.rebalancesTotal).to.equal(1);
      expect(stats.groups.map((g) => [g.groupId, g.offsets])).to.deep.equal([
        ["simple", [{ topic: "t", partition: 0, offset: 4 }]],
        ["g", [{ topic: "t", partition: 0, offset: 8 }]],
      ]);
      // The sync in stableGroup used the generation the join gave; check a stale one is still refused.
      expectError(
        await h.coordinator.syncGroup(syncRequest({ memberId: memberIds[0] as string, generationId: 2 })),
        ErrorCode.ILLEGAL_GENERATION,
      );
    });
  });
});
