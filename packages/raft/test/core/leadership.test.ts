// Leadership transfer (§3.10) and ReadIndex (§6.4).

import { expect } from "chai";
import { bytes, Cluster, DEFAULT_CONFIG } from "./cluster-harness.js";

describe("raft core: leadership transfer", () => {
  it("brings a lagging target up to date, refuses proposals meanwhile, then hands over", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.isolate(2);
    for (let i = 0; i < 5; i++) cluster.core(1).propose(bytes(`v${i}`));
    cluster.stabilize();
    cluster.heal();
    expect(cluster.core(1).transferLeadership(2)).to.deep.equal({ ok: true });
    expect(cluster.core(1).propose(bytes("x"))).to.deep.include({ ok: false, reason: "transfer-in-progress" });
    cluster.stabilize();
    expect(cluster.core(2).status()).to.include({ role: "leader", term: 2 });
    expect(cluster.core(1).status()).to.include({ role: "follower", leaderId: 2 });
    expect(cluster.core(2).status().commit, "nothing lost").to.equal(7);
  });

  it("aborts after an election timeout if the target does not take over", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.isolate(3);
    expect(cluster.core(1).transferLeadership(3).ok).to.equal(true);
    cluster.tick([1, 2], DEFAULT_CONFIG.electionTicks);
    expect(cluster.core(1).status()).to.include({ role: "leader", leadTransferee: 0 });
    expect(cluster.core(1).propose(bytes("x")).ok).to.equal(true);
  });

  it("refuses unknown targets and non-leaders", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    expect(cluster.core(1).transferLeadership(9)).to.deep.include({ reason: "unknown-node" });
    expect(cluster.core(2).transferLeadership(3)).to.deep.include({ reason: "not-leader", leaderId: 1 });
  });
});

describe("raft core: ReadIndex", () => {
  it("confirms leadership with a heartbeat round before emitting the read state", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.core(1).propose(bytes("a"));
    cluster.stabilize();
    cluster.resetCounts();
    expect(cluster.core(1).readIndex("r1")).to.deep.equal({ ok: true });
    expect(cluster.core(1).readIndex("r1"), "duplicate").to.deep.include({ reason: "duplicate-request" });
    cluster.stabilize();
    expect(cluster.count("append"), "one heartbeat round").to.equal(2);
    expect(cluster.node(1).readStates).to.deep.equal([{ requestId: "r1", index: 2 }]);
  });

  it("a leader cut off from the majority never confirms the read", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.isolate(1);
    cluster.core(1).readIndex("r1");
    cluster.tick([1], DEFAULT_CONFIG.electionTicks * 2);
    expect(cluster.node(1).readStates).to.deep.equal([]);
    expect(cluster.core(1).status().role, "stepped down (check-quorum), read dropped").to.equal("follower");
  });

  it("waits for the leader's first commit in its term (§6.4 step 1), and a lone leader needs no round", () => {
    const cluster = new Cluster({ voters: [1] });
    cluster.core(1).campaign();
    expect(cluster.core(1).readIndex("early")).to.deep.equal({ ok: true });
    expect(cluster.core(1).status().pendingReadRequests).to.equal(1);
    cluster.stabilize();
    expect(cluster.node(1).readStates).to.deep.equal([{ requestId: "early", index: 1 }]);
    cluster.core(1).readIndex("late");
    cluster.stabilize();
    expect(cluster.node(1).readStates.at(-1)).to.deep.equal({ requestId: "late", index: 1 });
  });

  it("bounds pending reads and refuses them on followers", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], config: { readRequestsMax: 2 } });
    cluster.elect(1);
    cluster.isolate(1);
    expect(cluster.core(1).readIndex("a").ok).to.equal(true);
    expect(cluster.core(1).readIndex("b").ok).to.equal(true);
    expect(cluster.core(1).readIndex("c")).to.deep.include({ reason: "read-queue-full" });
    expect(cluster.core(2).readIndex("d")).to.deep.include({ reason: "not-leader", leaderId: 1 });
  });
});
