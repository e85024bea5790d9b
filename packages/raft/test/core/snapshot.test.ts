// Log compaction and InstallSnapshot in chunks (chapter 5).

import { expect } from "chai";
import { bytes, Cluster, DEFAULT_CONFIG, text } from "./cluster-harness.js";

const SNAPSHOT_BYTES = 5000;

function laggingFollowerAfterCompaction(): Cluster {
  const cluster = new Cluster({ voters: [1, 2, 3] });
  cluster.elect(1);
  cluster.isolate(3);
  for (let i = 0; i < 30; i++) cluster.core(1).propose(bytes(`v${i}`));
  cluster.stabilize();
  cluster.compact(1, new Uint8Array(SNAPSHOT_BYTES).fill(7));
  cluster.compact(2, new Uint8Array(SNAPSHOT_BYTES).fill(7));
  expect(cluster.core(1).status().firstIndex, "leader compacted").to.equal(32);
  return cluster;
}

describe("raft core: snapshots", () => {
  it("sends a compacted-away prefix as a snapshot in chunks; the follower then continues from it", () => {
    const cluster = laggingFollowerAfterCompaction();
    cluster.heal();
    cluster.resetCounts();
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 2);
    const follower = cluster.node(3);
    const chunks = Math.ceil(SNAPSHOT_BYTES / DEFAULT_CONFIG.snapshotChunkBytes);
    expect(cluster.count("snapshot"), "chunk messages").to.be.at.least(chunks);
    expect(follower.core.status().counters.snapshotsRestored).to.equal(1);
    expect(follower.storage.firstIndex(), "log starts after the snapshot").to.equal(32);
    expect(follower.storage.snapshot()?.data.length).to.equal(SNAPSHOT_BYTES);
    expect(follower.appliedIndex).to.equal(31);
    cluster.core(1).propose(bytes("after"));
    cluster.stabilize();
    expect(follower.applied.map(text)).to.deep.equal(["after"]);
    const progress = cluster
      .core(1)
      .status()
      .progress.find((p) => p.id === 3);
    expect(progress).to.include({ matchIndex: 32, state: "replicate" });
  });

  it("recovers from a lost chunk (resent on heartbeat) and a follower restart mid-transfer (restart from 0)", () => {
    const cluster = laggingFollowerAfterCompaction();
    cluster.heal();
    let dropped = 0;
    cluster.transform = (m) => {
      if (m.type === "snapshot" && m.offset === 2 * DEFAULT_CONFIG.snapshotChunkBytes && dropped === 0) {
        dropped++;
        return undefined;
      }
      return m;
    };
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks);
    expect(dropped).to.equal(1);
    expect(
      cluster
        .core(1)
        .status()
        .progress.find((p) => p.id === 3)?.state,
      "still sending",
    ).to.equal("snapshot");
    cluster.restart(3); // loses the partially assembled chunks
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 6);
    expect(cluster.core(3).status().counters.snapshotsRestored).to.equal(1);
    expect(cluster.core(3).status().commit).to.equal(31);
  });

  it("keeps working after compaction on every node, across a restart", () => {
    const cluster = laggingFollowerAfterCompaction();
    cluster.heal();
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 2);
    cluster.compact(3, new Uint8Array([1]));
    const restarted = cluster.restart(1);
    expect(restarted.core.status()).to.include({ firstIndex: 32, lastIndex: 31, commit: 31, applied: 31 });
    for (let i = 0; i < 60 && cluster.leaders().length === 0; i++) cluster.tick();
    const [leader] = cluster.leaders();
    expect(leader).to.not.equal(undefined);
    cluster.core(leader ?? 0).propose(bytes("x"));
    cluster.stabilize();
    for (const id of [1, 2, 3]) expect(cluster.node(id).applied.map(text).at(-1), `node ${id}`).to.equal("x");
  });
});
