// Pure parts of the quorum driver: option validation (refused before any disk or socket is
// touched) and the describe-quorum view built from a RaftNode status.

import { describeQuorum, MetadataQuorum, type MetadataQuorumOptions, MetadataQuorumOptionsError } from "@castle/metadata";
import type { RaftNodeStatus, RaftReplicaStatus } from "@castle/raft";
import { expect } from "chai";

const base: MetadataQuorumOptions = {
  nodeId: 1,
  clusterId: "c1",
  dataDir: "/nonexistent/never-created",
  listen: { host: "127.0.0.1", port: 0 },
  peers: { 1: "127.0.0.1:1", 2: "127.0.0.1:2", 3: "127.0.0.1:3" },
  voters: [1, 2, 3],
};

describe("MetadataQuorum options", () => {
  const cases: Array<[string, Partial<MetadataQuorumOptions>, string]> = [
    [
      "a node id outside the voters and observers",
      { nodeId: 7 },
      "node.id 7 is neither in controller.quorum.voters (1,2,3) nor an observer",
    ],
    ["an empty cluster id", { clusterId: " " }, "the cluster id is empty"],
    ["no voters", { voters: [] }, "controller.quorum.voters is empty"],
    ["a zero tick interval", { controllerTickIntervalMs: 0 }, "controllerTickIntervalMs must be a positive integer, got 0"],
    ["a negative snapshot interval", { snapshotEveryEntries: -1 }, "snapshotEveryEntries must be a non-negative integer, got -1"],
  ];
  for (const [what, change, message] of cases) {
    it(`refuses ${what} before touching the disk`, async () => {
      const error = await MetadataQuorum.start({ ...base, ...change }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, what).to.be.instanceOf(MetadataQuorumOptionsError);
      expect((error as Error).message, what).to.include(message);
    });
  }
});

describe("describeQuorum", () => {
  const replica = (nodeId: number, role: RaftReplicaStatus["role"], logEndOffset: number, caughtUpMs?: number): RaftReplicaStatus => ({
    nodeId,
    role,
    logEndOffset,
    lag: logEndOffset < 0 ? -1 : 50 - logEndOffset,
    lastFetchTimestampMs: 9_990,
    lastCaughtUpTimestampMs: caughtUpMs,
  });
  const status = (role: RaftNodeStatus["role"], voters: RaftReplicaStatus[], observers: RaftReplicaStatus[]): RaftNodeStatus => ({
    nodeId: 1,
    role,
    leaderId: 1,
    leaderAddress: "127.0.0.1:1",
    term: 4,
    votedFor: 1,
    commitIndex: 48,
    appliedIndex: 48,
    firstIndex: 1,
    lastIndex: 50,
    voters,
    observers,
    failure: undefined,
  });

  it("on the leader: per-replica rows, the largest lag and how long the laggard has been behind", () => {
    const info = describeQuorum(
      status(
        "leader",
        [replica(1, "leader", 50, 10_000), replica(2, "voter", 50, 10_000), replica(3, "voter", 45, 9_000)],
        [replica(4, "observer", 40, 9_500)],
      ),
      "c1",
      10_000,
    );
    expect(info).to.deep.include({
      clusterId: "c1",
      reportedBy: 1,
      leaderId: 1,
      leaderEpoch: 4,
      highWatermark: 48,
      maxFollowerLag: 10,
      maxFollowerLagTimeMs: 1_000,
    });
    expect(info.currentVoters).to.deep.equal([1, 2, 3]);
    expect(info.currentObservers).to.deep.equal([4]);
    expect(info.replicas.map((r) => [r.nodeId, r.status, r.lag])).to.deep.equal([
      [1, "Leader", 0],
      [2, "Follower", 0],
      [3, "Follower", 5],
      [4, "Observer", 10],
    ]);
  });

  it("reports -1 for what only the leader knows, and for a replica never caught up", () => {
    const follower = describeQuorum(status("follower", [replica(1, "voter", -1)], []), "c1", 10_000);
    expect([follower.maxFollowerLag, follower.maxFollowerLagTimeMs, follower.replicas[0]?.lastCaughtUpTimestampMs]).to.deep.equal([
      -1, -1, -1,
    ]);
    const neverCaughtUp = describeQuorum(status("leader", [replica(1, "leader", 50, 10_000), replica(2, "voter", 10)], []), "c1", 10_000);
    expect([neverCaughtUp.maxFollowerLag, neverCaughtUp.maxFollowerLagTimeMs]).to.deep.equal([40, -1]);
  });
});
