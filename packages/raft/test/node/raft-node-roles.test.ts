// Role-change notifications and what a leader does with pending proposals when it loses its
// quorum: real RaftNodes on loopback, every wait bounded.

import { expect } from "chai";
import { RaftNodeError, type RaftRoleChange } from "../../src/node/raft-node.js";
import { TestCluster, waitFor } from "./raft-cluster.js";

describe("RaftNode role changes", function () {
  this.timeout(20_000);
  let cluster: TestCluster;

  beforeEach(async () => {
    cluster = await TestCluster.start({ voters: [1, 2, 3] });
  });
  afterEach(async () => {
    await cluster?.close();
  });

  it("tells listeners when a leader is elected and when leadership moves", async () => {
    const seen = new Map<number, RaftRoleChange[]>();
    for (const [id, node] of cluster.nodes) {
      const changes: RaftRoleChange[] = [];
      seen.set(id, changes);
      node.onRoleChange((change) => changes.push(change));
    }
    const first = await cluster.waitForLeader();
    await cluster.stopNode(first.id);
    const second = await cluster.waitForLeader();
    expect(second.id).not.to.equal(first.id);
    const survivor = seen.get(second.id) ?? [];
    expect(
      survivor.some((c) => c.role === "leader" && c.leaderId === second.id),
      "the new leader heard of its own election",
    ).to.equal(true);
    const last = survivor.at(-1);
    expect(last?.term, "the change carries the new term").to.equal(second.status().term);
  });

  it("answers pending proposals at once when the leader loses its quorum, not at the request timeout", async () => {
    const leader = await cluster.waitForLeader();
    // Followers start closing (they refuse Raft traffic from the first moment) as the proposal goes in.
    const stopping = Promise.all([1, 2, 3].filter((id) => id !== leader.id).map((id) => cluster.stopNode(id)));
    const started = Date.now();
    const outcome = await leader.propose(new TextEncoder().encode("orphan")).then(
      () => undefined,
      (error: unknown) => error,
    );
    await stopping;
    const waitedMs = Date.now() - started;
    expect(outcome).to.be.instanceOf(RaftNodeError);
    expect((outcome as RaftNodeError).code).to.equal("NOT_LEADER");
    expect((outcome as RaftNodeError).message).to.match(/lost leadership before entry \d+ committed; it may still commit/);
    // check-quorum steps the leader down within about two election timeouts (10 ticks x 20 ms).
    expect(waitedMs, "well before the 5 s request timeout").to.be.lessThan(2_500);
    await waitFor(() => leader.status().role !== "leader" || undefined, "the leader to step down");
    expect(leader.status().failure).to.equal(undefined);
  });
});

describe("RaftNode membership over the wire", function () {
  this.timeout(20_000);
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ voters: [1, 2, 3] });
  });
  after(async () => {
    await cluster?.close();
  });

  it("removes a follower; the rest keep committing, and transport metrics are exported", async () => {
    const leader = await cluster.waitForLeader();
    const removed = [1, 2, 3].find((id) => id !== leader.id) as number;
    await leader.removeNode(removed);
    await waitFor(() => !leader.status().voters.some((v) => v.nodeId === removed) || undefined, "the removal to apply");
    const result = await leader.propose(new TextEncoder().encode("after-removal"));
    expect(result.index).to.be.greaterThan(0);
    const metrics = await cluster.registries.get(leader.id)?.metrics();
    expect(metrics, "the transport's counters are on the node's registry").to.match(/castle_raft_transport_sent_messages_total/);
  });
});
