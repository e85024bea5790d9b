// Group membership through the coordinator (Kafka's JoinGroup / SyncGroup / Heartbeat /
// LeaveGroup semantics) on manual time: the lifecycle with one and three members, KIP-394
// member ids, rebalances on join, leave, session expiry and rebalance timeout, static members
// (KIP-345), and bad input answered with a clear error and no change.

import { ErrorCode, type JoinGroupRequest, type JoinGroupResponseInput, protocolError } from "@castle/protocol";
import { expect } from "chai";
import { decodeGroupRecord, type GroupMetadataValue, GroupRecordKeyType } from "../../src/group/group-records.js";
import {
  advanceUntilAnswered,
  assignment,
  expectError,
  expectOk,
  type Harness,
  heartbeatRequest,
  joinRequest,
  memberIdFor,
  settle,
  stableGroup,
  startCoordinator,
  subscription,
  syncRequest,
} from "./group-test-kit.js";

/** A promise whose settlement the test can observe without awaiting it. */
function track<T>(promise: Promise<T>): { readonly done: boolean; readonly promise: Promise<T> } {
  const state = { done: false, promise };
  void promise.then(() => {
    state.done = true;
  });
  return state;
}

/** The group metadata records written for `groupId`, decoded, oldest first (null = tombstone). */
function groupRecords(h: Harness, groupId = "g"): (GroupMetadataValue | null)[] {
  return h.log
    .recordsOf(h.coordinator.partitionFor(groupId))
    .map(decodeGroupRecord)
    .filter((r) => r.type === GroupRecordKeyType.GroupMetadata && r.key.groupId === groupId)
    .map((r) => r.value as GroupMetadataValue | null);
}

async function describe1(h: Harness, groupId = "g") {
  const described = await h.coordinator.describeGroups([groupId]);
  return described.groups?.[0] ?? {};
}

const join = (h: Harness, overrides: Partial<JoinGroupRequest>): Promise<JoinGroupResponseInput> =>
  h.coordinator.joinGroup(joinRequest(overrides), "/10.0.0.1");

describe("GroupCoordinator membership", () => {
  it("takes one member through MEMBER_ID_REQUIRED, the initial delay, join, sync and heartbeats", async () => {
    const h = await startCoordinator();
    const first = await join(h, {});
    expectError(first, ErrorCode.MEMBER_ID_REQUIRED, /member id/);
    expect(first.memberId).to.equal("c-1");
    const joining = track(join(h, { memberId: "c-1" }));
    h.timers.advance(2_999);
    await settle();
    expect(joining.done, "the first rebalance waits group.initial.rebalance.delay.ms").to.equal(false);
    expect((await describe1(h)).groupState).to.equal("PreparingRebalance");
    h.timers.advance(1);
    const joined = await joining.promise;
    expectOk(joined);
    expect(joined).to.deep.include({ generationId: 1, leader: "c-1", memberId: "c-1", protocolType: "consumer", protocolName: "range" });
    expect(joined.members).to.deep.equal([{ memberId: "c-1", groupInstanceId: "", metadata: subscription(["t"]) }]);

    const mine = assignment({ t: [0, 1, 2] });
    const synced = await h.coordinator.syncGroup(syncRequest({ memberId: "c-1", assignments: [{ memberId: "c-1", assignment: mine }] }));
    expectOk(synced);
    expect(synced).to.deep.include({ protocolType: "consumer", protocolName: "range" });
    expect(Buffer.from(synced.assignment as Buffer).equals(mine)).to.equal(true);

    for (let i = 0; i < 5; i++) {
      h.timers.advance(8_000);
      expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: "c-1" })), `heartbeat ${i}`);
    }
    const described = await describe1(h);
    expect(described).to.deep.include({ groupState: "Stable", generationId: 1, leader: "c-1", protocolName: "range" });
    expect(described.members?.[0]).to.deep.include({ memberId: "c-1", clientId: "c", clientHost: "/10.0.0.1" });
    expect(Buffer.from(described.members?.[0]?.memberAssignment as Buffer).equals(mine)).to.equal(true);
    const stored = groupRecords(h);
    expect(stored, "one group metadata record, written at sync").to.have.length(1);
    expect(stored[0]).to.deep.include({ generationId: 1, protocolName: "range", leader: "c-1" });
    expect(stored[0]?.members[0]?.assignment.equals(mine)).to.equal(true);
    expect(h.coordinator.stats()).to.deep.include({ rebalancesTotal: 1 });
    expect(h.coordinator.stats().groupsByState.Stable).to.equal(1);
  });

  it("takes three members through one rebalance: the leader alone sees the members, followers wait for its assignment", async () => {
    const h = await startCoordinator();
    const ids = [await memberIdFor(h, { clientId: "a" }), await memberIdFor(h, { clientId: "b" }), await memberIdFor(h, { clientId: "c" })];
    const joins = await advanceUntilAnswered(
      h,
      ids.map((memberId, i) =>
        join(h, { memberId, clientId: ["a", "b", "c"][i] as string, protocols: [{ name: "range", metadata: subscription([`t${i}`]) }] }),
      ),
      3_000,
    );
    const leader = joins[0]?.leader as string;
    expect(leader).to.equal(ids[0]);
    for (const [i, j] of joins.entries()) {
      expectOk(j, `join ${i}`);
      expect(j.generationId, `member ${i}`).to.equal(1);
      expect(j.members, `member ${i}`).to.have.length(j.memberId === leader ? 3 : 0);
    }
    expect(
      joins[0]?.members?.map((m) => Buffer.from(m.metadata as Buffer).equals(subscription([`t${ids.indexOf(m.memberId as string)}`]))),
    ).to.deep.equal([true, true, true]);

    const followers = ids.slice(1).map((memberId) => track(h.coordinator.syncGroup(syncRequest({ memberId }))));
    await settle();
    expect(
      followers.map((f) => f.done),
      "followers wait for the leader",
    ).to.deep.equal([false, false]);
    const forA = assignment({ t0: [0] });
    const forB = assignment({ t1: [0] });
    // The leader leaves member c out: it gets an empty assignment.
    const leaderSync = await h.coordinator.syncGroup(
      syncRequest({
        memberId: leader,
        assignments: [
          { memberId: ids[0] as string, assignment: forA },
          { memberId: ids[1] as string, assignment: forB },
          { memberId: "not-a-member", assignment: forB },
        ],
      }),
    );
    expect(Buffer.from(leaderSync.assignment as Buffer).equals(forA)).to.equal(true);
    const [b, c] = await Promise.all(followers.map((f) => f.promise));
    expect(Buffer.from(b?.assignment as Buffer).equals(forB)).to.equal(true);
    expect(Buffer.from(c?.assignment as Buffer)).to.have.length(0);
    expect((await describe1(h)).groupState).to.equal("Stable");
  });

  it("extends the initial delay while members arrive, up to the rebalance timeout", async () => {
    const h = await startCoordinator();
    const [a, b] = [await memberIdFor(h, { clientId: "a" }), await memberIdFor(h, { clientId: "b" })];
    const first = track(join(h, { memberId: a, rebalanceTimeoutMs: 30_000 }));
    h.timers.advance(2_000);
    const second = track(join(h, { memberId: b }));
    h.timers.advance(3_999);
    await settle();
    expect(first.done, "extended by the member that arrived").to.equal(false);
    h.timers.advance(1);
    expect((await first.promise).generationId).to.equal(1);
    expect((await second.promise).members).to.deep.equal([]);

    // A rebalance timeout of 5 s caps the waiting even while members keep arriving.
    const capped = await startCoordinator();
    const ids = await Promise.all(["p", "q", "r"].map((clientId) => memberIdFor(capped, { clientId, groupId: "h" })));
    const started = capped.clock.monotonicMs();
    const answers = [track(join(capped, { groupId: "h", memberId: ids[0] as string, rebalanceTimeoutMs: 5_000 }))];
    capped.timers.advance(2_500);
    answers.push(track(join(capped, { groupId: "h", memberId: ids[1] as string, rebalanceTimeoutMs: 5_000 })));
    capped.timers.advance(2_000);
    answers.push(track(join(capped, { groupId: "h", memberId: ids[2] as string, rebalanceTimeoutMs: 5_000 })));
    capped.timers.advance(499);
    await settle();
    expect(answers[0]?.done, "before the cap").to.equal(false);
    capped.timers.advance(1);
    await settle();
    expect(answers.every((x) => x.done)).to.equal(true);
    expect(capped.clock.monotonicMs() - started).to.equal(5_000);
  });

  it("rebalances when a member joins a Stable group: heartbeats say REBALANCE_IN_PROGRESS, members rejoin, the generation moves on", async () => {
    const h = await startCoordinator();
    const { memberIds, leader } = await stableGroup(h, 2);
    const newcomer = await memberIdFor(h, { clientId: "new" });
    const newcomerJoin = track(join(h, { memberId: newcomer, clientId: "new" }));
    for (const memberId of memberIds) {
      expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId })), ErrorCode.REBALANCE_IN_PROGRESS, /rejoin/);
    }
    expectError(await h.coordinator.syncGroup(syncRequest({ memberId: leader })), ErrorCode.REBALANCE_IN_PROGRESS);
    const rejoins = memberIds.map((memberId) => join(h, { memberId }));
    const all = await Promise.all([...rejoins, newcomerJoin.promise]);
    for (const j of all) expect(j.generationId, j.memberId).to.equal(2);
    expect(all[0]?.leader, "the leader keeps its place").to.equal(leader);
    expect(all.find((j) => j.memberId === leader)?.members).to.have.length(3);
    const syncs = [...memberIds, newcomer].map((memberId) =>
      h.coordinator.syncGroup(
        syncRequest({
          memberId,
          generationId: 2,
          assignments: memberId === leader ? [{ memberId: newcomer, assignment: assignment({ t: [5] }) }] : [],
        }),
      ),
    );
    const answers = await Promise.all(syncs);
    for (const s of answers) expectOk(s);
    expect(Buffer.from(answers[2]?.assignment as Buffer).equals(assignment({ t: [5] }))).to.equal(true);
    expectError(
      await h.coordinator.heartbeat(heartbeatRequest({ memberId: newcomer, generationId: 1 })),
      ErrorCode.ILLEGAL_GENERATION,
      /generation 2/,
    );
    expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: newcomer, generationId: 2 })));
    expect(h.coordinator.stats().rebalancesTotal).to.equal(2);
  });

  it("removes a member whose session expires and rebalances the rest", async () => {
    const h = await startCoordinator();
    const { memberIds } = await stableGroup(h, 2);
    const [alive, silent] = memberIds as [string, string];
    for (let i = 0; i < 3; i++) {
      h.timers.advance(3_000);
      expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: alive })), `heartbeat ${i}`);
    }
    h.timers.advance(1_000);
    expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: alive })), ErrorCode.REBALANCE_IN_PROGRESS);
    expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: silent })), ErrorCode.UNKNOWN_MEMBER_ID, /not in group/);
    const rejoined = await join(h, { memberId: alive });
    expect(rejoined).to.deep.include({ generationId: 2, leader: alive });
    expect(rejoined.members?.map((m) => m.memberId)).to.deep.equal([alive]);

    // The last member's expiry empties the group, which is stored as Empty.
    expectOk(await h.coordinator.syncGroup(syncRequest({ memberId: alive, generationId: 2 })));
    h.timers.advance(10_000);
    await settle();
    expect(await describe1(h)).to.deep.include({ groupState: "Empty", generationId: 3, members: [] });
    expect(groupRecords(h).at(-1)).to.deep.include({ generationId: 3, members: [], protocolName: "" });
  });

  it("ends the join phase at the rebalance timeout without the members that did not rejoin", async () => {
    const h = await startCoordinator();
    const { memberIds, leader } = await stableGroup(h, 2);
    const [first, laggard] = memberIds as [string, string];
    expect(leader).to.equal(first);
    const newcomer = await memberIdFor(h, { clientId: "new" });
    const joins = [track(join(h, { memberId: newcomer })), track(join(h, { memberId: first }))];
    // The laggard keeps heartbeating but never rejoins.
    for (let i = 0; i < 5; i++) {
      h.timers.advance(5_000);
      expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: laggard })), ErrorCode.REBALANCE_IN_PROGRESS);
    }
    await settle();
    expect(joins.some((j) => j.done)).to.equal(false);
    h.timers.advance(5_000);
    const [n, f] = await Promise.all(joins.map((j) => j.promise));
    expect(n?.generationId).to.equal(2);
    expect(f?.members?.map((m) => m.memberId).sort()).to.deep.equal([first, newcomer].sort());
    expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: laggard, generationId: 2 })), ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("removes members that never send SyncGroup within the rebalance timeout (a silent leader)", async () => {
    const h = await startCoordinator();
    const [a, b] = [await memberIdFor(h, { clientId: "a" }), await memberIdFor(h, { clientId: "b" })];
    const joins = await advanceUntilAnswered(h, [join(h, { memberId: a }), join(h, { memberId: b })], 3_000);
    const leader = joins[0]?.leader as string;
    const follower = leader === a ? b : a;
    const waiting = track(h.coordinator.syncGroup(syncRequest({ memberId: follower })));
    for (let i = 0; i < 6; i++) {
      h.timers.advance(5_000);
      if (i < 5) expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: leader })), "the leader heartbeats but never syncs");
    }
    const answer = await waiting.promise;
    expectError(answer, ErrorCode.REBALANCE_IN_PROGRESS);
    expect((await describe1(h)).members?.map((m) => m.memberId)).to.deep.equal([follower]);
  });

  it("answers a member that lost its JoinGroup answer with the same generation", async () => {
    const h = await startCoordinator();
    const id = await memberIdFor(h);
    const [first] = await advanceUntilAnswered(h, [join(h, { memberId: id })], 3_000);
    const again = await join(h, { memberId: id });
    expect(again).to.deep.equal(first);
    expect((await describe1(h)).groupState).to.equal("CompletingRebalance");
  });

  it("expires a member id handed out with MEMBER_ID_REQUIRED that is never used", async () => {
    const h = await startCoordinator();
    const { memberIds } = await stableGroup(h, 1);
    const unused = await memberIdFor(h, { clientId: "late" });
    h.timers.advance(9_999);
    expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: memberIds[0] as string })));
    h.timers.advance(1);
    expectError(await join(h, { memberId: unused }), ErrorCode.UNKNOWN_MEMBER_ID, /not in group/);
    expect((await describe1(h)).groupState, "no rebalance for an id never used").to.equal("Stable");
  });

  describe("static members (KIP-345)", () => {
    async function staticGroup(h: Harness) {
      const joins = await advanceUntilAnswered(
        h,
        [join(h, { groupInstanceId: "i1", clientId: "a" }), join(h, { groupInstanceId: "i2", clientId: "b" })],
        3_000,
      );
      const [one, two] = joins.map((j) => j.memberId as string) as [string, string];
      const leader = joins[0]?.leader as string;
      const given = { [one]: assignment({ t: [0] }), [two]: assignment({ t: [1] }) };
      const syncs = [one, two].map((memberId) =>
        h.coordinator.syncGroup(
          syncRequest({
            memberId,
            groupInstanceId: memberId === one ? "i1" : "i2",
            assignments: memberId === leader ? Object.entries(given).map(([m, a]) => ({ memberId: m, assignment: a })) : [],
          }),
        ),
      );
      for (const s of await Promise.all(syncs)) expectOk(s);
      return { one, two, leader, given };
    }

    it("join without MEMBER_ID_REQUIRED; a restart within the session keeps the generation and the assignment and fences the old id", async () => {
      const h = await startCoordinator();
      const { one, two, leader, given } = await staticGroup(h);
      expect([one, two]).to.deep.equal(["a-1", "b-2"]);
      const restarted = await join(h, { groupInstanceId: "i2", clientId: "b" });
      expectOk(restarted);
      expect(restarted).to.deep.include({ generationId: 1, leader, memberId: "b-3", members: [] });
      expect(await describe1(h)).to.deep.include({ groupState: "Stable", generationId: 1 });
      const sync = await h.coordinator.syncGroup(syncRequest({ memberId: "b-3", groupInstanceId: "i2" }));
      expect(Buffer.from(sync.assignment as Buffer).equals(given[two] as Buffer), "its assignment is kept").to.equal(true);
      expectError(
        await h.coordinator.heartbeat(heartbeatRequest({ memberId: two, groupInstanceId: "i2" })),
        ErrorCode.FENCED_INSTANCE_ID,
        /fenced/,
      );
      expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: one, groupInstanceId: "i1" })), "no rebalance for the others");
      expect(
        groupRecords(h)
          .at(-1)
          ?.members.map((m) => m.memberId),
        "the new id is stored",
      ).to.deep.equal([one, "b-3"]);
      expect(h.coordinator.stats().rebalancesTotal).to.equal(1);
    });

    it("a restart with changed protocols rebalances", async () => {
      const h = await startCoordinator();
      const { one } = await staticGroup(h);
      const restarted = track(
        join(h, { groupInstanceId: "i2", clientId: "b", protocols: [{ name: "range", metadata: subscription(["t", "u"]) }] }),
      );
      expectError(
        await h.coordinator.heartbeat(heartbeatRequest({ memberId: one, groupInstanceId: "i1" })),
        ErrorCode.REBALANCE_IN_PROGRESS,
      );
      const again = await join(h, { memberId: one, groupInstanceId: "i1", clientId: "a" });
      expect(again.generationId).to.equal(2);
      expect((await restarted.promise).generationId).to.equal(2);
    });

    it("a failed store of the new id keeps the old one valid", async () => {
      const h = await startCoordinator();
      const { two } = await staticGroup(h);
      h.log.failNextAppend();
      expectError(await join(h, { groupInstanceId: "i2", clientId: "b" }), ErrorCode.COORDINATOR_NOT_AVAILABLE, /did not take the write/);
      expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: two, groupInstanceId: "i2" })));
      expect((await describe1(h)).members?.map((m) => m.memberId)).to.include(two);
    });

    it("leave by instance id; a stale member id with the instance id is fenced", async () => {
      const h = await startCoordinator();
      const { one, two } = await staticGroup(h);
      const fenced = await h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: "b-99", groupInstanceId: "i2", reason: "" }] });
      expectOk(fenced);
      expectError(fenced.members?.[0] ?? {}, ErrorCode.FENCED_INSTANCE_ID);
      const left = await h.coordinator.leaveGroup({
        groupId: "g",
        members: [{ memberId: "", groupInstanceId: "i2", reason: "shutting down" }],
      });
      expectOk(left.members?.[0] ?? {});
      expect((await describe1(h)).groupState).to.equal("PreparingRebalance");
      const rejoined = await join(h, { memberId: one, groupInstanceId: "i1" });
      expect(rejoined.members?.map((m) => m.memberId)).to.deep.equal([one]);
      expectError(
        await h.coordinator.heartbeat(heartbeatRequest({ memberId: two, groupInstanceId: "i2", generationId: 2 })),
        ErrorCode.UNKNOWN_MEMBER_ID,
      );
    });
  });

  it("LeaveGroup: per-member results, the rest rebalance, the last one out empties the group", async () => {
    const h = await startCoordinator();
    const { memberIds } = await stableGroup(h, 2);
    const [a, b] = memberIds as [string, string];
    const answer = await h.coordinator.leaveGroup({
      groupId: "g",
      members: [
        { memberId: b, groupInstanceId: "", reason: "closing" },
        { memberId: "stranger", groupInstanceId: "", reason: "" },
      ],
    });
    expectOk(answer);
    expect(answer.members?.map((m) => [m.memberId, m.errorCode])).to.deep.equal([
      [b, ErrorCode.NONE],
      ["stranger", ErrorCode.UNKNOWN_MEMBER_ID],
    ]);
    expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: a })), ErrorCode.REBALANCE_IN_PROGRESS);
    expect((await join(h, { memberId: a })).generationId).to.equal(2);
    const last = await h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: a, groupInstanceId: "", reason: "" }] });
    expectOk(last.members?.[0] ?? {});
    expect(await describe1(h)).to.deep.include({ groupState: "Empty", generationId: 3 });
    const unknownGroup = await h.coordinator.leaveGroup({
      groupId: "nobody",
      members: [{ memberId: "x", groupInstanceId: "", reason: "" }],
    });
    expectOk(unknownGroup);
    expectError(unknownGroup.members?.[0] ?? {}, ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("a leaving member's pending JoinGroup is answered UNKNOWN_MEMBER_ID", async () => {
    const h = await startCoordinator();
    const { memberIds } = await stableGroup(h, 2);
    const [a, b] = memberIds as [string, string];
    const pending = join(h, { memberId: a });
    await h.coordinator.leaveGroup({ groupId: "g", members: [{ memberId: a, groupInstanceId: "", reason: "" }] });
    expectError(await pending, ErrorCode.UNKNOWN_MEMBER_ID, /left the group/);
    expect((await join(h, { memberId: b })).generationId).to.equal(2);
  });

  it("a failed append of the assignment answers every member, and the group rebalances", async () => {
    for (const [thrown, expected] of [
      [protocolError("NOT_ENOUGH_REPLICAS", "ISR too small"), ErrorCode.COORDINATOR_NOT_AVAILABLE],
      [protocolError("NOT_COORDINATOR", "lost leadership"), ErrorCode.NOT_COORDINATOR],
      [new Error("disk on fire"), ErrorCode.COORDINATOR_NOT_AVAILABLE],
    ] as const) {
      const h = await startCoordinator();
      const [a, b] = [await memberIdFor(h, { clientId: "a" }), await memberIdFor(h, { clientId: "b" })];
      const joins = await advanceUntilAnswered(h, [join(h, { memberId: a }), join(h, { memberId: b })], 3_000);
      const leader = joins[0]?.leader as string;
      const follower = leader === a ? b : a;
      const followerSync = h.coordinator.syncGroup(syncRequest({ memberId: follower }));
      h.log.failNextAppend(thrown);
      const leaderSync = await h.coordinator.syncGroup(
        syncRequest({ memberId: leader, assignments: [{ memberId: leader, assignment: assignment({ t: [0] }) }] }),
      );
      expectError(leaderSync, expected);
      expectError(await followerSync, expected);
      const described = await describe1(h);
      expect(described.groupState, String(thrown)).to.equal("PreparingRebalance");
      expect(described.members?.every((m) => Buffer.from(m.memberAssignment as Buffer).length === 0)).to.equal(true);
      expect(groupRecords(h), "nothing stored").to.deep.equal([]);
      const rejoins = await Promise.all([join(h, { memberId: a }), join(h, { memberId: b })]);
      expect(rejoins.map((j) => j.generationId)).to.deep.equal([2, 2]);
    }
  });

  it("sync and heartbeat refuse unknown members, stale generations and other protocols", async () => {
    const h = await startCoordinator();
    const { leader } = await stableGroup(h, 1);
    const cases: { name: string; call: () => Promise<{ errorCode?: number; errorMessage?: string }>; code: number; pattern: RegExp }[] = [
      {
        name: "sync, unknown member",
        call: () => h.coordinator.syncGroup(syncRequest({ memberId: "who" })),
        code: ErrorCode.UNKNOWN_MEMBER_ID,
        pattern: /"who"/,
      },
      {
        name: "sync, old generation",
        call: () => h.coordinator.syncGroup(syncRequest({ memberId: leader, generationId: 0 })),
        code: ErrorCode.ILLEGAL_GENERATION,
        pattern: /generation 0/,
      },
      {
        name: "sync, other protocol type",
        call: () => h.coordinator.syncGroup(syncRequest({ memberId: leader, protocolType: "connect" })),
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /"connect"/,
      },
      {
        name: "sync, other protocol name",
        call: () => h.coordinator.syncGroup(syncRequest({ memberId: leader, protocolName: "sticky" })),
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /"range"/,
      },
      {
        name: "sync, unknown group",
        call: () => h.coordinator.syncGroup(syncRequest({ groupId: "nope", memberId: leader })),
        code: ErrorCode.UNKNOWN_MEMBER_ID,
        pattern: /nope/,
      },
      {
        name: "heartbeat, unknown member",
        call: () => h.coordinator.heartbeat(heartbeatRequest({ memberId: "who" })),
        code: ErrorCode.UNKNOWN_MEMBER_ID,
        pattern: /"who"/,
      },
      {
        name: "heartbeat, future generation",
        call: () => h.coordinator.heartbeat(heartbeatRequest({ memberId: leader, generationId: 7 })),
        code: ErrorCode.ILLEGAL_GENERATION,
        pattern: /generation 7/,
      },
      {
        name: "heartbeat, empty group id",
        call: () => h.coordinator.heartbeat(heartbeatRequest({ groupId: "", memberId: leader })),
        code: ErrorCode.INVALID_GROUP_ID,
        pattern: /empty/,
      },
    ];
    for (const { name, call, code, pattern } of cases) {
      const answer = await call();
      expect(answer.errorCode, `${name}: ${answer.errorMessage}`).to.equal(code);
      expect(answer.errorMessage, name).to.match(pattern);
    }
    expect(await describe1(h)).to.deep.include({ groupState: "Stable", generationId: 1 });
  });

  it("refuses bad JoinGroup input with a clear error and changes nothing", async () => {
    const h = await startCoordinator({ config: { groupMaxSize: 2 } });
    const { memberIds } = await stableGroup(h, 1);
    const before = await describe1(h);
    const cases: { name: string; request: Partial<JoinGroupRequest>; code: number; pattern: RegExp }[] = [
      { name: "empty group id", request: { groupId: "" }, code: ErrorCode.INVALID_GROUP_ID, pattern: /empty/ },
      {
        name: "session timeout too short",
        request: { sessionTimeoutMs: 5_999 },
        code: ErrorCode.INVALID_SESSION_TIMEOUT,
        pattern: /5999 ms.*6000/,
      },
      {
        name: "session timeout too long",
        request: { sessionTimeoutMs: 1_800_001 },
        code: ErrorCode.INVALID_SESSION_TIMEOUT,
        pattern: /1800000/,
      },
      { name: "negative rebalance timeout", request: { rebalanceTimeoutMs: -1 }, code: ErrorCode.INVALID_REQUEST, pattern: /negative/ },
      {
        name: "empty protocol type",
        request: { protocolType: "" },
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /protocol type is empty/,
      },
      { name: "no protocols", request: { protocols: [] }, code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL, pattern: /no protocols/ },
      {
        name: "a protocol twice",
        request: {
          protocols: [
            { name: "range", metadata: Buffer.alloc(0) },
            { name: "range", metadata: Buffer.alloc(0) },
          ],
        },
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /twice/,
      },
      {
        name: "another protocol type",
        request: { protocolType: "connect" },
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /"connect"/,
      },
      {
        name: "no assignor in common",
        request: { protocols: [{ name: "sticky", metadata: Buffer.alloc(0) }] },
        code: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        pattern: /\[range\].*\[sticky\]/,
      },
      { name: "unknown member id", request: { memberId: "ghost" }, code: ErrorCode.UNKNOWN_MEMBER_ID, pattern: /"ghost"/ },
      {
        name: "unknown member of an unknown group",
        request: { groupId: "other", memberId: "ghost" },
        code: ErrorCode.UNKNOWN_MEMBER_ID,
        pattern: /other/,
      },
    ];
    for (const { name, request, code, pattern } of cases) {
      const answer = await join(h, request);
      expect(answer.errorCode, `${name}: ${answer.errorMessage}`).to.equal(code);
      expect(answer.errorMessage, name).to.match(pattern);
    }
    expect(await describe1(h), "unchanged").to.deep.equal(before);
    expect(
      (await h.coordinator.listGroups()).groups?.map((g) => g.groupId),
      "no group created by a refused join",
    ).to.deep.equal(["g"]);

    // group.max.size counts members and member ids handed out.
    await memberIdFor(h, { clientId: "second" });
    expectError(await join(h, { clientId: "third" }), ErrorCode.GROUP_MAX_SIZE_REACHED, /group.max.size is 2/);
    expectError(await join(h, { groupInstanceId: "s", clientId: "third" }), ErrorCode.GROUP_MAX_SIZE_REACHED);
    expectOk(await h.coordinator.heartbeat(heartbeatRequest({ memberId: memberIds[0] as string })));
  });

  it("close() answers waiting calls COORDINATOR_NOT_AVAILABLE and cancels every timer", async () => {
    const h = await startCoordinator();
    const id = await memberIdFor(h);
    const pending = join(h, { memberId: id });
    h.coordinator.close();
    expectError(await pending, ErrorCode.COORDINATOR_NOT_AVAILABLE, /shutting down/);
    expect(h.timers.pending, "no timer left").to.equal(0);
    expectError(await h.coordinator.heartbeat(heartbeatRequest({ memberId: id })), ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });
});
