// Membership changes one server at a time (§4.1), observers (§4.2.1), removing the leader (§4.2.2).

import { expect } from "chai";
import { decodeConfChange, encodeConfChange } from "../../src/index.js";
import { bytes, Cluster, DEFAULT_CONFIG, text } from "./cluster-harness.js";

describe("raft core: membership", () => {
  it("encodes conf changes in 6 fixed bytes (golden)", () => {
    const encoded = encodeConfChange({ type: "addObserver", nodeId: 258 });
    expect([...encoded]).to.deep.equal([1, 2, 0, 0, 1, 2]);
    expect(decodeConfChange(encoded)).to.deep.equal({ type: "addObserver", nodeId: 258 });
  });

  it("adds a voter while proposing; it catches up and counts toward commit", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], extra: [4] });
    cluster.elect(1);
    const leader = cluster.core(1);
    leader.propose(bytes("a"));
    expect(leader.proposeConfChange({ type: "addVoter", nodeId: 4 }).ok).to.equal(true);
    expect(leader.proposeConfChange({ type: "addVoter", nodeId: 5 }), "one change at a time").to.deep.include({
      reason: "conf-change-pending",
    });
    leader.propose(bytes("b"));
    cluster.stabilize();
    expect(leader.status().confState.voters).to.deep.equal([1, 2, 3, 4]);
    expect(cluster.core(4).status().confState.voters, "the new node learned it from the log").to.deep.equal([1, 2, 3, 4]);
    expect(cluster.node(4).applied.map(text)).to.deep.equal(["a", "b"]);
    // With 4 voters a quorum is 3: losing two stops commits.
    cluster.isolate(3);
    cluster.isolate(4);
    const proposed = leader.propose(bytes("c"));
    cluster.stabilize();
    expect(proposed.ok && leader.status().commit < proposed.index, "no quorum of 4").to.equal(true);
    cluster.heal();
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 2);
    expect(cluster.node(4).applied.map(text)).to.deep.equal(["a", "b", "c"]);
  });

  it("removes a voter; the rest keep committing without it", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    const leader = cluster.core(1);
    expect(leader.proposeConfChange({ type: "removeNode", nodeId: 3 }).ok).to.equal(true);
    cluster.stabilize();
    expect(leader.status().confState.voters).to.deep.equal([1, 2]);
    expect(leader.status().progress.map((p) => p.id)).to.deep.equal([1, 2]);
    cluster.isolate(3);
    leader.propose(bytes("x"));
    cluster.stabilize();
    expect(cluster.node(2).applied.map(text)).to.deep.equal(["x"]);
    cluster.tick([3], 10 * DEFAULT_CONFIG.electionTicks);
    expect(cluster.core(3).status().counters.electionsStarted, "a removed node never campaigns").to.equal(0);
  });

  it("a removed leader steps down once the change is applied, and the others elect a leader", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.core(1).proposeConfChange({ type: "removeNode", nodeId: 1 });
    cluster.stabilize();
    expect(cluster.core(1).status().role).to.equal("follower");
    for (let i = 0; i < 60 && cluster.leaders().length === 0; i++) cluster.tick([2, 3]);
    const [leader] = cluster.leaders();
    expect([2, 3]).to.include(leader);
    expect(cluster.core(leader ?? 0).status().confState.voters).to.deep.equal([2, 3]);
  });

  it("refuses invalid changes", () => {
    const cluster = new Cluster({ voters: [1] });
    cluster.elect(1);
    const leader = cluster.core(1);
    expect(leader.proposeConfChange({ type: "addVoter", nodeId: 1 })).to.deep.include({ reason: "invalid-conf-change" });
    expect(leader.proposeConfChange({ type: "removeNode", nodeId: 1 }), "last voter").to.deep.include({ reason: "invalid-conf-change" });
    expect(leader.proposeConfChange({ type: "removeNode", nodeId: 7 }), "not a member").to.deep.include({ reason: "invalid-conf-change" });
  });

  it("an observer catches up but never counts toward commit; addVoter promotes it", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], extra: [4] });
    cluster.elect(1);
    const leader = cluster.core(1);
    leader.proposeConfChange({ type: "addObserver", nodeId: 4 });
    leader.propose(bytes("a"));
    cluster.stabilize();
    expect(cluster.core(4).status()).to.include({ role: "observer", leaderId: 1 });
    expect(cluster.node(4).applied.map(text)).to.deep.equal(["a"]);
    expect(leader.status().progress.find((p) => p.id === 4)).to.include({ isObserver: true });
    // Leader + observer are not a quorum of {1,2,3}.
    cluster.isolate(2);
    cluster.isolate(3);
    const proposed = leader.propose(bytes("b"));
    cluster.stabilize();
    expect(cluster.core(4).status().lastIndex, "the observer has it").to.be.at.least(proposed.ok ? proposed.index : 0);
    expect(proposed.ok && leader.status().commit < proposed.index, "but it is not committed").to.equal(true);
    cluster.heal();
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 2);
    expect(leader.proposeConfChange({ type: "addVoter", nodeId: 4 }).ok).to.equal(true);
    cluster.stabilize();
    expect(cluster.core(4).status()).to.include({ role: "follower" });
    expect(leader.status().confState).to.deep.equal({ voters: [1, 2, 3, 4], observers: [] });
  });
});
