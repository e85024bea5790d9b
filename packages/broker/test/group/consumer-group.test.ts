// ConsumerGroup's pure rules: the protocol every member supports chosen by votes, which
// members may join, the state transition table, and static member replacement.

import { InvariantError } from "@castle/common";
import { expect } from "chai";
import { ConsumerGroup, GROUP_STATES, type GroupState } from "../../src/group/consumer-group.js";
import { GroupMember } from "../../src/group/group-member.js";

const member = (memberId: string, protocols: string[], groupInstanceId = ""): GroupMember =>
  new GroupMember({
    memberId,
    groupInstanceId,
    clientId: "c",
    clientHost: "/h",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocols: protocols.map((name) => ({ name, metadata: Buffer.from(name) })),
  });

function groupOf(...members: GroupMember[]): ConsumerGroup {
  const group = new ConsumerGroup("g", 0);
  for (const m of members) group.addMember(m, "consumer");
  return group;
}

describe("ConsumerGroup", () => {
  it("chooses the protocol every member supports with the most first-choice votes", () => {
    const cases: { members: string[][]; chosen: string }[] = [
      { members: [["range"]], chosen: "range" },
      {
        members: [
          ["range", "roundrobin"],
          ["roundrobin", "range"],
          ["roundrobin", "range"],
        ],
        chosen: "roundrobin",
      },
      // "sticky" is most preferred but not supported by everyone.
      { members: [["sticky", "range"], ["sticky", "range"], ["range"]], chosen: "range" },
      // A tie goes to the leader's (first member's) preference.
      {
        members: [
          ["range", "roundrobin"],
          ["roundrobin", "range"],
        ],
        chosen: "range",
      },
      {
        members: [
          ["roundrobin", "range"],
          ["range", "roundrobin"],
        ],
        chosen: "roundrobin",
      },
    ];
    for (const { members, chosen } of cases) {
      const group = groupOf(...members.map((protocols, i) => member(`m${i}`, protocols)));
      expect(group.selectProtocol(), JSON.stringify(members)).to.equal(chosen);
    }
  });

  it("lets a member in when its type matches and one of its protocols is supported by every other member", () => {
    const group = groupOf(member("a", ["range", "roundrobin"]), member("b", ["roundrobin"]));
    expect(group.supportsProtocols("consumer", ["roundrobin"])).to.equal(true);
    expect(group.supportsProtocols("consumer", ["range"]), "b lacks range").to.equal(false);
    expect(group.supportsProtocols("connect", ["roundrobin"]), "other type").to.equal(false);
    expect(group.supportsProtocols("consumer", []), "no protocols").to.equal(false);
    expect(group.supportsProtocols("consumer", ["range"], "b"), "b itself changing to range").to.equal(true);
    expect(new ConsumerGroup("e", 0).supportsProtocols("anything", ["x"]), "an empty group takes any type").to.equal(true);
  });

  it("moves only along Kafka's transitions", () => {
    const allowed: Record<GroupState, GroupState[]> = {
      Empty: ["PreparingRebalance", "Dead"],
      PreparingRebalance: ["Empty", "CompletingRebalance", "Dead"],
      CompletingRebalance: ["PreparingRebalance", "Stable", "Dead"],
      Stable: ["PreparingRebalance", "Dead"],
      Dead: ["Dead"],
    };
    const reach: Record<GroupState, (g: ConsumerGroup) => void> = {
      Empty: () => {},
      PreparingRebalance: (g) => g.transitionTo("PreparingRebalance", 1),
      CompletingRebalance: (g) => {
        g.transitionTo("PreparingRebalance", 1);
        g.transitionTo("CompletingRebalance", 2);
      },
      Stable: (g) => {
        reach.CompletingRebalance(g);
        g.transitionTo("Stable", 3);
      },
      Dead: (g) => g.transitionTo("Dead", 1),
    };
    for (const from of GROUP_STATES) {
      for (const to of GROUP_STATES) {
        const group = new ConsumerGroup("g", 0);
        reach[from](group);
        const move = () => group.transitionTo(to, 10);
        if (allowed[from].includes(to)) {
          move();
          expect(group.state, `${from} -> ${to}`).to.equal(to);
          expect(group.stateTimestampMs).to.equal(10);
        } else {
          expect(move, `${from} -> ${to}`).to.throw(InvariantError, `cannot go from ${from} to ${to}`);
        }
      }
    }
  });

  it("puts a restarted static member in its predecessor's place: order, leadership and fencing", () => {
    const leader = member("a-1", ["range"], "i1");
    const group = groupOf(leader, member("b-1", ["range"], "i2"));
    const restarted = leader.withMemberId("a-2", {
      clientId: "c",
      clientHost: "/h2",
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      protocols: leader.protocols,
    });
    group.replaceMember("a-1", restarted);
    expect([...group.members.keys()]).to.deep.equal(["a-2", "b-1"]);
    expect(group.leaderId).to.equal("a-2");
    expect(group.isStaticMemberFenced("a-1", "i1")).to.equal(true);
    expect(group.isStaticMemberFenced("a-2", "i1")).to.equal(false);
    expect(group.isStaticMemberFenced("x", "unknown-instance")).to.equal(false);
    group.removeMember("a-2");
    expect(group.leaderId, "leadership passes to the next member").to.equal("b-1");
    expect(group.staticMembers.has("i1")).to.equal(false);
  });
});
