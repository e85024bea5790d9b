// The pure parts of group membership: the error-code table, the phase transitions, and the
// leader's encode/assign/decode round trip over the consumer protocol.

import { decodeConsumerAssignment, ErrorCode, type JoinGroupResponse } from "@castle/protocol";
import { expect } from "chai";
import { RangeAssignor } from "../../src/consumer/assignors/range.js";
import {
  buildAssignments,
  chosenAssignor,
  decodeMembers,
  decodeOwnAssignment,
  encodeMemberSubscription,
  subscribedTopics,
} from "../../src/consumer/group/leader-assignment.js";
import { GroupMemberState, type MemberErrorAction, memberErrorAction } from "../../src/consumer/group/member-state.js";

function joined(memberId: string, generationId: number, leader = memberId): JoinGroupResponse {
  return { errorCode: 0, errorMessage: "", generationId, protocolType: "consumer", protocolName: "range", leader, memberId, members: [] };
}

describe("group member state", () => {
  const table: [keyof typeof ErrorCode, MemberErrorAction][] = [
    ["NONE", "none"],
    ["REBALANCE_IN_PROGRESS", "rejoin"],
    ["ILLEGAL_GENERATION", "reset-generation"],
    ["UNKNOWN_MEMBER_ID", "reset-member"],
    ["FENCED_INSTANCE_ID", "fenced"],
    ["NOT_COORDINATOR", "retry"],
    ["COORDINATOR_LOAD_IN_PROGRESS", "retry"],
    ["REQUEST_TIMED_OUT", "retry"],
    ["INVALID_GROUP_ID", "report"],
    ["UNKNOWN_SERVER_ERROR", "report"],
  ];
  for (const [name, action] of table) {
    it(`${name} means ${action}`, () => {
      expect(memberErrorAction(ErrorCode[name]), name).to.equal(action);
    });
  }

  it("moves unjoined -> joining -> syncing -> stable and keeps its generation while rejoining", () => {
    const s = new GroupMemberState(undefined);
    expect(s.needsJoin(), "a new member must join").to.equal(true);
    expect(s.beginJoin()).to.equal("the consumer subscribed");
    s.handleMemberIdRequired("m-1");
    s.handleJoined(joined("m-1", 4));
    expect([s.phase, s.isLeader, s.inGeneration]).to.deep.equal(["syncing", true, true]);
    s.handleSynced();
    expect([s.phase, s.needsJoin()]).to.deep.equal(["stable", false]);
    s.requestRejoin("the group is rebalancing");
    s.requestRejoin("a later reason does not replace the first");
    expect(s.needsJoin()).to.equal(true);
    expect(s.beginJoin()).to.equal("the group is rebalancing");
    expect(s.generationId, "kept while rejoining (cooperative members report it)").to.equal(4);
  });

  it("refuses illegal moves", () => {
    const s = new GroupMemberState(undefined);
    expect(() => s.handleSynced()).to.throw(/cannot move from unjoined to stable/);
    expect(() => s.handleJoined(joined("m", 1))).to.throw(/cannot move from unjoined to syncing/);
  });

  it("a generation reset loses the partitions; the member id goes only when asked", () => {
    const s = new GroupMemberState("static-1");
    s.beginJoin();
    s.handleJoined(joined("m-1", 2, "other"));
    s.handleSynced();
    s.resetGeneration("ILLEGAL_GENERATION", { resetMemberId: false, lost: true });
    expect([s.phase, s.generationId, s.memberId, s.isStatic]).to.deep.equal(["unjoined", -1, "m-1", true]);
    expect(s.takeLostReason()).to.equal("ILLEGAL_GENERATION");
    expect(s.takeLostReason(), "read once").to.equal(undefined);
    s.resetGeneration("UNKNOWN_MEMBER_ID", { resetMemberId: true, lost: false });
    expect([s.memberId, s.takeLostReason()]).to.deep.equal(["", undefined]);
  });

  it("tells a stale answer from a current one", () => {
    const s = new GroupMemberState(undefined);
    s.beginJoin();
    s.handleJoined(joined("m-1", 1));
    const sent = s.identity();
    s.handleSynced();
    s.beginJoin();
    s.handleJoined(joined("m-1", 2));
    expect(s.isCurrent(sent)).to.equal(false);
    expect(s.isCurrent(s.identity())).to.equal(true);
  });
});

describe("leader assignment", () => {
  it("decodes subscriptions, runs the chosen assignor and encodes every member's assignment", () => {
    const members = decodeMembers([
      {
        memberId: "b",
        groupInstanceId: "",
        metadata: encodeMemberSubscription({
          topics: ["t", "u"],
          ownedPartitions: [{ topic: "t", partition: 1 }],
          generationId: 3,
          rackId: "r1",
        }),
      },
      {
        memberId: "a",
        groupInstanceId: "static-a",
        metadata: encodeMemberSubscription({ topics: ["t"], ownedPartitions: [], generationId: -1, rackId: "" }),
      },
    ]);
    expect(members[0]).to.deep.equal({
      memberId: "b",
      topics: ["t", "u"],
      ownedPartitions: [{ topic: "t", partition: 1 }],
      generationId: 3,
      rackId: "r1",
    });
    expect(members[1]).to.deep.equal({ memberId: "a", groupInstanceId: "static-a", topics: ["t"], ownedPartitions: [], generationId: -1 });
    expect(subscribedTopics(members)).to.deep.equal(["t", "u"]);
    const assignor = chosenAssignor([new RangeAssignor()], "range");
    const assignments = buildAssignments(
      assignor,
      members,
      new Map([
        ["t", 4],
        ["u", 1],
      ]),
    );
    const byMember = new Map(assignments.map((a) => [a.memberId, decodeOwnAssignment(a.assignment as Buffer)]));
    expect(byMember.get("b"), "b sorts before the static member's instance id 'static-a'").to.deep.equal([
      { topic: "t", partition: 0 },
      { topic: "t", partition: 1 },
      { topic: "u", partition: 0 },
    ]);
    expect(byMember.get("a")).to.deep.equal([
      { topic: "t", partition: 2 },
      { topic: "t", partition: 3 },
    ]);
    expect(decodeConsumerAssignment(assignments[0]?.assignment as Buffer).assignedPartitions[0]?.topic).to.equal("t");
  });

  it("refuses an assignor the consumer does not offer", () => {
    expect(() => chosenAssignor([new RangeAssignor()], "roundrobin")).to.throw(
      /chose assignor 'roundrobin', which this consumer does not offer \(it offers 'range'\)/,
    );
  });

  it("reads an empty assignment as no partitions", () => {
    expect(decodeOwnAssignment(Buffer.alloc(0))).to.deep.equal([]);
  });
});
