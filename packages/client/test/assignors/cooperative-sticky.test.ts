import { SeededRandom } from "@castle/common";
import { expect } from "chai";
import { CooperativeStickyAssignor } from "../../src/consumer/assignors/index.js";
import { counts, member, rebalanceRounds, shape } from "./assignor-fixtures.js";

describe("CooperativeStickyAssignor", () => {
  const sticky = new CooperativeStickyAssignor();

  it("advertises 'cooperative-sticky' for both protocols, cooperative first", () => {
    expect(sticky.name).to.equal("cooperative-sticky");
    expect(sticky.supportedProtocols).to.deep.equal(["COOPERATIVE", "EAGER"]);
  });

  it("balances a new group at once, since no one owns anything", () => {
    const members = [member("a", ["t"]), member("b", ["t"]), member("c", ["t"])];
    expect(shape(sticky.assign(counts({ t: 7 }), members))).to.deep.equal({ a: "t-0 t-3 t-6", b: "t-1 t-4", c: "t-2 t-5" });
  });

  it("a joining member: each old member keeps 2 of its 3, the moved ones are withheld, then handed over", () => {
    const members = [
      member("a", ["t"], { owned: "t-0 t-1 t-2", generationId: 1 }),
      member("b", ["t"], { owned: "t-3 t-4 t-5", generationId: 1 }),
      member("c", ["t"]),
    ];
    const [first, second, third] = rebalanceRounds(sticky, counts({ t: 6 }), members, 3);
    expect(shape(first ?? new Map()), "round 1 revokes t-2 and t-5 and gives them to no one").to.deep.equal({
      a: "t-0 t-1",
      b: "t-3 t-4",
      c: "",
    });
    expect(shape(second ?? new Map()), "round 2 hands the revoked partitions to the new member").to.deep.equal({
      a: "t-0 t-1",
      b: "t-3 t-4",
      c: "t-2 t-5",
    });
    expect(shape(third ?? new Map()), "round 3 changes nothing").to.deep.equal(shape(second ?? new Map()));
  });

  it("a leaving member: its partitions go out at once, since no one owns them any more", () => {
    const members = [member("a", ["t"], { owned: "t-0 t-1", generationId: 4 }), member("b", ["t"], { owned: "t-2 t-3", generationId: 4 })];
    expect(shape(sticky.assign(counts({ t: 6 }), members))).to.deep.equal({ a: "t-0 t-1 t-4", b: "t-2 t-3 t-5" });
  });

  it("new partitions go out at once, each to the least loaded member (the first in sort order on a tie)", () => {
    const members = [member("a", ["t"], { owned: "t-0 t-1", generationId: 2 }), member("b", ["t"], { owned: "t-2", generationId: 2 })];
    expect(shape(sticky.assign(counts({ t: 5 }), members))).to.deep.equal({ a: "t-0 t-1 t-4", b: "t-2 t-3" });
  });

  it("of two claims, the member with the higher generation keeps the partition, and gets it at once", () => {
    const members = [member("a", ["t"], { owned: "t-0 t-1", generationId: 3 }), member("b", ["t"], { owned: "t-0 t-2", generationId: 2 })];
    expect(
      shape(sticky.assign(counts({ t: 4 }), members)),
      "b's claims are a generation old: it keeps nothing, and nothing waits for it",
    ).to.deep.equal({ a: "t-0 t-1", b: "t-2 t-3" });
  });

  it("two claims in the same generation: the partition is withheld from both, then handed out", () => {
    const members = [member("a", ["t"], { owned: "t-0 t-1", generationId: 3 }), member("b", ["t"], { owned: "t-0 t-2", generationId: 3 })];
    const [first, second] = rebalanceRounds(sticky, counts({ t: 4 }), members, 2);
    expect(shape(first ?? new Map()), "round 1").to.deep.equal({ a: "t-1", b: "t-2 t-3" });
    expect(shape(second ?? new Map()), "round 2").to.deep.equal({ a: "t-0 t-1", b: "t-2 t-3" });
  });

  it("drops claims on nonexistent partitions, and on unsubscribed topics until their holder revokes them", () => {
    const members = [member("a", ["t"], { owned: "t-0 t-9 u-0", generationId: 1 }), member("b", ["t", "u"])];
    const [first, second] = rebalanceRounds(sticky, counts({ t: 2, u: 1 }), members, 2);
    expect(shape(first ?? new Map()), "round 1: a still holds u-0").to.deep.equal({ a: "t-0 t-1", b: "" });
    expect(shape(second ?? new Map()), "round 2").to.deep.equal({ a: "t-0 t-1", b: "u-0" });
  });

  it("balances unequal subscriptions as far as they allow, shifting along a chain of members", () => {
    // a can only take t1 and c only t2, so 3-2-1 becomes 2-2-2 only by a -> b (t1) and b -> c (t2).
    const members = [
      member("a", ["t1"], { owned: "t1-0 t1-1 t1-2", generationId: 1 }),
      member("b", ["t1", "t2"], { owned: "t1-3 t2-0", generationId: 1 }),
      member("c", ["t2"]),
    ];
    const [first, second] = rebalanceRounds(sticky, counts({ t1: 4, t2: 2 }), members, 2);
    expect(shape(first ?? new Map()), "round 1").to.deep.equal({ a: "t1-0 t1-1", b: "t1-3", c: "t2-1" });
    expect(shape(second ?? new Map()), "round 2").to.deep.equal({ a: "t1-0 t1-1", b: "t1-2 t1-3", c: "t2-0 t2-1" });
  });

  it("gives a static member back what it owned, whatever its new member id", () => {
    const members = [
      member("a-restarted", ["t"], { owned: "t-2 t-3", generationId: 5, groupInstanceId: "a" }),
      member("b", ["t"], { owned: "t-0 t-1", generationId: 5, groupInstanceId: "b" }),
    ];
    expect(shape(sticky.assign(counts({ t: 4 }), members))).to.deep.equal({ "a-restarted": "t-2 t-3", b: "t-0 t-1" });
  });

  it("converges within two rounds and stays balanced as members join and leave (seeded)", () => {
    const random = new SeededRandom(429);
    const partitionsPerTopic = counts({ t0: 7, t1: 5 });
    let members = [member("m0", ["t0", "t1"])];
    let generationId = 0;
    for (let step = 0; step < 60; step++) {
      if (members.length === 1 || (members.length < 9 && random.int(2) === 0)) {
        members = [...members, member(`m${step + 1}`, ["t0", "t1"])];
      } else {
        const leaving = random.int(members.length);
        members = members.filter((_, i) => i !== leaving);
      }
      const rounds = rebalanceRounds(sticky, partitionsPerTopic, members, 2);
      generationId += 2;
      const settled = rounds[1] ?? new Map();
      const sizes = [...settled.values()].map((p) => p.length);
      expect(
        sizes.reduce((a, b) => a + b, 0),
        `step ${step}: every partition is assigned after the second round`,
      ).to.equal(12);
      expect(Math.max(...sizes) - Math.min(...sizes), `step ${step}: balanced`).to.be.at.most(1);
      members = members.map((m) => ({ ...m, ownedPartitions: settled.get(m.memberId) ?? [], generationId }));
    }
  });
});
