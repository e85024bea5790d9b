// Coordinator failover: a coordinator elected on the same __consumer_offsets log rebuilds the
// groups, generations, assignments and offsets the previous one wrote, and members carry on
// with their generation. Resigning answers waiting calls NOT_COORDINATOR; loading answers
// COORDINATOR_LOAD_IN_PROGRESS; an election overtaken by a resignation (or by a newer election)
// installs nothing; unreadable records are skipped with a warning.

import { ErrorCode, protocolError } from "@castle/protocol";
import { expect } from "chai";
import { groupMetadataKey, groupMetadataRecord, offsetCommitKey, offsetCommitRecord } from "../../src/group/group-records.js";
import {
  assignment,
  commitRequest,
  expectError,
  expectOk,
  FakeOffsetsLog,
  type Harness,
  heartbeatRequest,
  joinRequest,
  memberIdFor,
  PARTITIONS,
  settle,
  stableGroup,
  startCoordinator,
  syncRequest,
} from "./group-test-kit.js";

const allPartitions = Array.from({ length: PARTITIONS }, (_, i) => i);

function resignAll(h: Harness): void {
  for (const partition of allPartitions) h.coordinator.onResigned(partition);
}

/** A group id that lands on `partition`. */
function groupOn(h: Harness, partition: number): string {
  for (let i = 0; ; i++) if (h.coordinator.partitionFor(`group-${i}`) === partition) return `group-${i}`;
}

describe("GroupCoordinator failover and partition ownership", () => {
  it("a new coordinator on the same log sees the groups, generations, assignments and offsets; members keep their generation", async () => {
    const first = await startCoordinator();
    const { memberIds, leader } = await stableGroup(first, 2, [assignment({ t: [0] }), assignment({ t: [1] })]);
    const [a, b] = memberIds as [string, string];
    expect(leader).to.equal(a);
    await first.coordinator.commitOffsets(commitRequest({ t: { 0: 40 } }, { memberId: a, generationId: 1 }));
    await first.coordinator.commitOffsets(commitRequest({ t: { 1: 41 } }, { memberId: b, generationId: 1 }));
    await first.coordinator.commitOffsets(commitRequest({ x: { 0: 7 } }, { groupId: "simple" }));
    await first.coordinator.commitOffsets(commitRequest({ x: { 0: 1 } }, { groupId: "gone" }));
    expectOk((await first.coordinator.deleteGroups(["gone"])).results?.[0] ?? {});
    const before = (await first.coordinator.describeGroups(["g", "simple"])).groups;
    resignAll(first);

    const second = await startCoordinator({ log: first.log, clock: first.clock });
    expect((await second.coordinator.describeGroups(["g", "simple"])).groups).to.deep.equal(before);
    expect((await second.coordinator.listGroups()).groups?.map((g) => g.groupId)).to.deep.equal(["g", "simple"]);
    for (const memberId of [a, b]) expectOk(await second.coordinator.heartbeat(heartbeatRequest({ memberId })), memberId);
    const fetched = await second.coordinator.fetchOffsets({ groupId: "g", topics: [] });
    expect(fetched.topics?.[0]?.partitions?.map((p) => [p.partition, p.committedOffset, p.committedLeaderEpoch])).to.deep.equal([
      [0, 40, 3],
      [1, 41, 3],
    ]);
    const sync = await second.coordinator.syncGroup(syncRequest({ memberId: b }));
    expect(Buffer.from(sync.assignment as Buffer).equals(assignment({ t: [1] })), "the follower's assignment").to.equal(true);
    // Ownership still holds after the failover: b owns t-1 only.
    const commit = await second.coordinator.commitOffsets(commitRequest({ t: { 0: 50, 1: 51 } }, { memberId: b, generationId: 1 }));
    expect(commit.topics?.[0]?.partitions?.map((p) => p.errorCode)).to.deep.equal([ErrorCode.ILLEGAL_GENERATION, ErrorCode.NONE]);
    expect(await second.coordinator.fetchOffsets({ groupId: "gone", topics: [] })).to.deep.include({ topics: [] });

    // Sessions restart on the new coordinator: a member that stops heartbeating there is removed.
    second.timers.advance(6_000);
    expectOk(await second.coordinator.heartbeat(heartbeatRequest({ memberId: a })));
    second.timers.advance(4_000);
    expectError(await second.coordinator.heartbeat(heartbeatRequest({ memberId: a })), ErrorCode.REBALANCE_IN_PROGRESS);
    const rejoined = await second.coordinator.joinGroup(joinRequest({ memberId: a }), "/h");
    expect(rejoined).to.deep.include({ generationId: 2, leader: a });
    expect(rejoined.members?.map((m) => m.memberId)).to.deep.equal([a]);
  });

  it("a group that emptied comes back Empty with its generation", async () => {
    const first = await startCoordinator();
    const { memberIds } = await stableGroup(first, 1);
    await first.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: memberIds[0] as string, groupInstanceId: "", reason: "" }] });
    await settle();
    resignAll(first);
    const second = await startCoordinator({ log: first.log, clock: first.clock });
    expect((await second.coordinator.describeGroups(["g"])).groups?.[0]).to.deep.include({
      groupState: "Empty",
      generationId: 2,
      members: [],
    });
  });

  it("onResigned answers waiting calls NOT_COORDINATOR and forgets the partition's groups", async () => {
    const h = await startCoordinator();
    const { memberIds } = await stableGroup(h, 1);
    const newcomer = await memberIdFor(h, { clientId: "new" });
    const waiting = h.coordinator.joinGroup(joinRequest({ memberId: newcomer }), "/h");
    const partition = h.coordinator.partitionFor("g");
    h.coordinator.onResigned(partition);
    expectError(await waiting, ErrorCode.NOT_COORDINATOR, /no longer coordinates/);
    expectError(
      await h.coordinator.heartbeat(heartbeatRequest({ memberId: memberIds[0] as string })),
      ErrorCode.NOT_COORDINATOR,
      /find the coordinator/,
    );
    expect((await h.coordinator.describeGroups(["g"])).groups?.[0]?.errorCode).to.equal(ErrorCode.NOT_COORDINATOR);
    expect((await h.coordinator.listGroups()).groups).to.deep.equal([]);
    expect(h.timers.pending, "only the retention check is left").to.equal(1);
  });

  it("answers NOT_COORDINATOR for groups of partitions not elected here", async () => {
    const h = await startCoordinator({ elect: [0] });
    const elsewhere = groupOn(h, 1);
    expectError(
      await h.coordinator.joinGroup(joinRequest({ groupId: elsewhere }), "/h"),
      ErrorCode.NOT_COORDINATOR,
      /__consumer_offsets-1/,
    );
    const commit = await h.coordinator.commitOffsets(commitRequest({ t: { 0: 1 } }, { groupId: elsewhere }));
    expectError(commit.topics?.[0]?.partitions?.[0] ?? {}, ErrorCode.NOT_COORDINATOR);
    expectError(await h.coordinator.fetchOffsets({ groupId: elsewhere, topics: [] }), ErrorCode.NOT_COORDINATOR);
    expectError((await h.coordinator.deleteGroups([elsewhere])).results?.[0] ?? {}, ErrorCode.NOT_COORDINATOR);
    const here = groupOn(h, 0);
    expectError(await h.coordinator.joinGroup(joinRequest({ groupId: here }), "/h"), ErrorCode.MEMBER_ID_REQUIRED);
  });

  it("answers COORDINATOR_LOAD_IN_PROGRESS while loading, then serves the loaded groups", async () => {
    const first = await startCoordinator();
    await first.coordinator.commitOffsets(commitRequest({ t: { 0: 3 } }));
    resignAll(first);
    const release = first.log.blockReads();
    const second = await startCoordinator({ log: first.log, clock: first.clock, elect: [] });
    const partition = second.coordinator.partitionFor("g");
    const loading = second.coordinator.onElected(partition);
    await settle();
    expectError(await second.coordinator.joinGroup(joinRequest(), "/h"), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, /still loading/);
    expectError(await second.coordinator.fetchOffsets({ groupId: "g", topics: [] }), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expectError(await second.coordinator.listGroups(), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, /may be incomplete/);
    release();
    await loading;
    const fetched = await second.coordinator.fetchOffsets({ groupId: "g", topics: [] });
    expect(fetched.topics?.[0]?.partitions?.[0]?.committedOffset).to.equal(3);
    expect(second.logger.at("info").find((l) => l.message === "loaded groups")?.fields).to.deep.include({
      partition,
      groups: 1,
      skipped: 0,
    });
  });

  it("a resignation during the load installs nothing; a newer election's load wins over an older one", async () => {
    const log = new FakeOffsetsLog();
    const seed = await startCoordinator({ log });
    await seed.coordinator.commitOffsets(commitRequest({ t: { 0: 3 } }));
    resignAll(seed);
    const h = await startCoordinator({ log, clock: seed.clock, elect: [] });
    const partition = h.coordinator.partitionFor("g");

    let release = log.blockReads();
    const stale = h.coordinator.onElected(partition);
    await settle();
    h.coordinator.onResigned(partition);
    release();
    await stale;
    expectError(await h.coordinator.fetchOffsets({ groupId: "g", topics: [] }), ErrorCode.NOT_COORDINATOR);

    release = log.blockReads();
    const older = h.coordinator.onElected(partition);
    await settle();
    release();
    const newer = h.coordinator.onElected(partition);
    await Promise.all([older, newer]);
    const fetched = await h.coordinator.fetchOffsets({ groupId: "g", topics: [] });
    expectOk(fetched);
    expect(fetched.topics?.[0]?.partitions?.[0]?.committedOffset).to.equal(3);
    expect(
      h.logger.at("info").filter((l) => l.message === "loaded groups"),
      "only the newer load installs",
    ).to.have.length(1);
  });

  it("skips unreadable records with a warning and loads the rest; tombstones delete", async () => {
    const log = new FakeOffsetsLog();
    const probe = await startCoordinator({ log, elect: [] });
    const partition = probe.coordinator.partitionFor("g");
    const otherGroup = groupOn(probe, (partition + 1) % PARTITIONS);
    const records = log.recordsOf(partition);
    const value = (offset: number) => ({ offset, leaderEpoch: 1, metadata: "", commitTimestampMs: 0 });
    records.push(
      { key: Buffer.from([9, 9, 9]), value: null },
      offsetCommitRecord(offsetCommitKey("g", "t", 0), value(5)),
      { key: offsetCommitRecord(offsetCommitKey("g", "t", 1), null).key, value: Buffer.from([1, 2]) },
      offsetCommitRecord(offsetCommitKey("g", "t", 2), value(6)),
      offsetCommitRecord(offsetCommitKey("g", "t", 2), null),
      offsetCommitRecord(offsetCommitKey(otherGroup, "t", 0), value(1)),
      { key: groupMetadataRecord(groupMetadataKey("g"), null).key, value: Buffer.from([1]) },
      offsetCommitRecord(offsetCommitKey("g", "t", 0), value(8)),
    );
    await probe.coordinator.onElected(partition);
    const fetched = await probe.coordinator.fetchOffsets({ groupId: "g", topics: [] });
    expect(fetched.topics?.[0]?.partitions?.map((p) => [p.partition, p.committedOffset])).to.deep.equal([[0, 8]]);
    const warnings = probe.logger.at("warn").map((l) => String(l.fields["problem"]));
    expect(warnings).to.have.length(4);
    expect(warnings[0]).to.match(/format version 9/);
    expect(warnings[1]).to.match(/offset commit value ends inside/);
    expect(warnings[2]).to.match(new RegExp(`group "${otherGroup}" belongs to partition`));
    expect(warnings[3]).to.match(/group metadata value ends inside/);
    expect(probe.logger.at("info").find((l) => l.message === "loaded groups")?.fields).to.deep.include({
      groups: 1,
      records: 8,
      skipped: 4,
    });
  });

  it("retries a load whose read fails, answering COORDINATOR_LOAD_IN_PROGRESS meanwhile", async () => {
    const log = new FakeOffsetsLog();
    const h = await startCoordinator({ log, elect: [] });
    const partition = h.coordinator.partitionFor("g");
    let failures = 1;
    const readAll = log.readAll.bind(log);
    log.readAll = (p: number) => {
      if (failures-- > 0) throw protocolError("KAFKA_STORAGE_ERROR", "disk gone");
      return readAll(p);
    };
    await h.coordinator.onElected(partition);
    expectError(await h.coordinator.heartbeat(heartbeatRequest()), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expect(h.logger.at("error").map((l) => l.message)).to.deep.equal(["cannot load groups; retrying"]);
    h.timers.advance(1_000);
    await settle();
    expectError(await h.coordinator.heartbeat(heartbeatRequest()), ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("a commit whose append outlives the coordinator's term is still answered by what the log did", async () => {
    const h = await startCoordinator();
    const release = h.log.blockAppends();
    const pending = h.coordinator.commitOffsets(commitRequest({ t: { 0: 9 } }));
    await settle();
    h.coordinator.onResigned(h.coordinator.partitionFor("g"));
    release();
    expectOk((await pending).topics?.[0]?.partitions?.[0] ?? {});
    await h.coordinator.onElected(h.coordinator.partitionFor("g"));
    const fetched = await h.coordinator.fetchOffsets({ groupId: "g", topics: [] });
    expect(fetched.topics?.[0]?.partitions?.[0]?.committedOffset, "read back from the log").to.equal(9);
  });
});
