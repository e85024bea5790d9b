// Process-level tests: real timers, loopback gRPC and LevelDB in temp dirs. One cluster
// (voters 1-3, observer 4) goes through a scripted life, each step one `it`; every wait is
// bounded.

import { expect } from "chai";
import { RaftNodeError } from "../../src/node/raft-node.js";
import { TestCluster, waitFor } from "./raft-cluster.js";

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("RaftNode on loopback (3 voters + 1 observer)", function () {
  this.timeout(20_000);
  let cluster: TestCluster;
  let firstLeaderId = 0;

  before(async () => {
    cluster = await TestCluster.start({ voters: [1, 2, 3], observers: [4], snapshotEveryEntries: 25 });
  });
  after(async () => {
    await cluster?.close();
  });

  function machinesAgree(ids: readonly number[], count: number): boolean {
    const lists = ids.map((id) => JSON.stringify(cluster.machines.get(id)?.items));
    return lists.every((l) => l === lists[0]) && (cluster.machines.get(ids[0] ?? 0)?.items.length ?? -1) === count;
  }

  it("elects one leader among the voters", async () => {
    const leader = await cluster.waitForLeader();
    expect([1, 2, 3]).to.include(leader.id);
    firstLeaderId = leader.id;
    expect(cluster.nodes.get(4)?.status().role).to.equal("observer");
  });

  it("commits 100 proposals and applies them identically on every node", async () => {
    const leader = await cluster.waitForLeader();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => leader.propose(encode(`cmd-${i}`))));
    const indexes = results.map((r) => r.index);
    expect(new Set(indexes).size, "distinct indexes").to.equal(100);
    expect(cluster.machines.get(leader.id)?.items, "applied on the leader when propose resolves").to.have.length(100);
    await waitFor(() => machinesAgree([1, 2, 3, 4], 100), "all four state machines to hold the 100 commands");
    expect(cluster.machines.get(2)?.items.slice(0, 3)).to.deep.equal(["cmd-0", "cmd-1", "cmd-2"]);
  });

  it("refuses a proposal on a follower, naming the leader and its address", async () => {
    const leader = await cluster.waitForLeader();
    const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id && n.id !== 4);
    const error = await follower?.propose(encode("x")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(RaftNodeError);
    expect((error as RaftNodeError).code).to.equal("NOT_LEADER");
    expect((error as Error).message).to.equal(
      `node ${follower?.id} is not the leader; leader is ${leader.id} at ${cluster.peers[leader.id]}`,
    );
  });

  it("serves a linearizable read index on the leader", async () => {
    const leader = await cluster.waitForLeader();
    await leader.readIndex();
    expect(cluster.machines.get(leader.id)?.items).to.have.length(100);
  });

  it("reports per-member replication on the leader", async () => {
    const leader = await cluster.waitForLeader();
    const status = await waitFor(() => {
      const s = leader.status();
      return [...s.voters, ...s.observers].every((r) => r.lag === 0 && r.lastCaughtUpTimestampMs !== undefined) ? s : undefined;
    }, "every member caught up");
    expect(status.voters.map((v) => v.nodeId)).to.deep.equal([1, 2, 3]);
    expect(status.observers.map((o) => [o.nodeId, o.role])).to.deep.equal([[4, "observer"]]);
    expect(status.voters.find((v) => v.nodeId === leader.id)?.role).to.equal("leader");
    expect(status.commitIndex).to.equal(status.lastIndex);
    for (const replica of status.voters) expect(replica.logEndOffset, `node ${replica.nodeId}`).to.equal(status.lastIndex);
  });

  it("elects a new leader when the leader closes, and keeps committing; the stopped node shows lag", async () => {
    await cluster.stopNode(firstLeaderId);
    const leader = await cluster.waitForLeader();
    expect(leader.id).to.not.equal(firstLeaderId);
    expect(leader.id).to.not.equal(4);
    for (let batch = 0; batch < 3; batch++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => leader.propose(encode(`after-${batch * 20 + i}`))));
    }
    const running = [...cluster.nodes.keys()];
    await waitFor(() => machinesAgree(running, 160), "the surviving nodes to apply 160 commands");
    const stopped = leader.status().voters.find((v) => v.nodeId === firstLeaderId);
    expect(stopped?.lag, "the stopped voter falls behind").to.be.greaterThan(50);
    expect(leader.status().firstIndex, "the leader compacted past the stopped node's log").to.be.greaterThan(102);
  });

  it("catches a restarted node up from its data dir, through the leader's snapshot", async () => {
    const node = await cluster.startNode(firstLeaderId);
    const machine = cluster.machines.get(firstLeaderId);
    const restoredAtStart = machine?.restores ?? 0;
    expect(restoredAtStart, "restored its own snapshot at start").to.equal(1);
    expect(machine?.items.length, "state from its own snapshot").to.be.within(25, 101);
    await waitFor(() => machinesAgree([1, 2, 3, 4], 160), "the restarted node to catch up");
    expect(machine?.restores, "installed the leader's snapshot").to.be.greaterThan(restoredAtStart);
    const leader = await cluster.waitForLeader();
    await leader.propose(encode("last"));
    await waitFor(() => machinesAgree([1, 2, 3, 4], 161), "one more command everywhere");
    expect(node.status().role).to.equal("follower");
  });

  it("never lets the observer vote or lead", () => {
    const observer = cluster.nodes.get(4)?.status();
    expect(observer?.role).to.equal("observer");
    expect(observer?.votedFor).to.equal(0);
  });

  it("exports commit and append latency, elections, term and leader metrics", async () => {
    const leader = await cluster.waitForLeader();
    const text = await cluster.registries.get(leader.id)?.metrics();
    expect(text).to.match(/castle_raft_commit_latency_seconds_count [1-9]/);
    expect(text).to.match(/castle_raft_append_latency_seconds_count [1-9]/);
    expect(text).to.match(/castle_raft_elections_total [1-9]/);
    expect(text).to.match(new RegExp(`castle_raft_leader_id ${leader.id}`));
    expect(text).to.match(/castle_raft_role\{role="leader"\} 1/);
    expect(text).to.match(/castle_raft_current_term [1-9]/);
  });
});

describe("RaftNode snapshots by size", function () {
  this.timeout(20_000);
  let cluster: TestCluster | undefined;
  after(async () => {
    await cluster?.close();
  });

  it("snapshots once snapshotEveryBytes of entries were applied, however few the entries", async () => {
    cluster = await TestCluster.start({ voters: [1], snapshotEveryBytes: 4096 });
    const leader = await cluster.waitForLeader();
    const big = new Uint8Array(1024).fill(7);
    for (let i = 0; i < 3; i++) await leader.propose(big);
    expect(leader.status().firstIndex, "3 KiB applied: no snapshot yet").to.equal(2);
    for (let i = 0; i < 2; i++) await leader.propose(big);
    await waitFor(() => leader.status().firstIndex > 2, "the log compacted after a snapshot");
    expect(cluster.machines.get(1)?.items).to.have.length(5);
  });
});
