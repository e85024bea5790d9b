// Log replication and commitment (§3.5, §3.6), Figure 8 safety, fast back-off, pipelining,
// persistence before acknowledgement (§3.8) and restart from storage.

import { SeededRandom } from "@castle/common";
import { expect } from "chai";
import { type AppendResponse, type Entry, EntryType, MemoryRaftStorage, type Message, RaftCore } from "../../src/index.js";
import { bytes, Cluster, DEFAULT_CONFIG, text } from "./cluster-harness.js";

const entry = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index % 256, 0]) });
const run = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));

/** A cluster whose nodes start from the given logs and hard states (crafted histories). */
function craftedCluster(
  logs: Record<number, { entries: Entry[]; term: number; commit?: number }>,
  voters: number[],
  appendBytesMax = 1024,
): Cluster {
  const cluster = new Cluster({ voters: [] });
  for (const id of voters) {
    const log = logs[id] ?? { entries: [], term: 0 };
    const storage = new MemoryRaftStorage({
      confState: { voters, observers: [] },
      hardState: { term: log.term, vote: 0, commit: log.commit ?? 0 },
      entries: log.entries,
    });
    cluster.add(
      id,
      storage,
      new RaftCore({ ...DEFAULT_CONFIG, appendBytesMax, id, random: new SeededRandom(id) }, storage, { applied: log.commit ?? 0 }),
    );
  }
  return cluster;
}

describe("raft core: replication", () => {
  it("replicates and commits proposals on every node, in order", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    const results = ["a", "b", "c"].map((value) => cluster.core(1).propose(bytes(value)));
    expect(results.map((r) => r.ok && r.index)).to.deep.equal([2, 3, 4]);
    cluster.stabilize();
    for (const id of [1, 2, 3]) {
      expect(cluster.node(id).applied.map(text), `applied on ${id}`).to.deep.equal(["a", "b", "c"]);
      expect(cluster.core(id).status().commit, `commit on ${id}`).to.equal(4);
    }
  });

  it("refuses proposals on a follower and names the leader", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    expect(cluster.core(2).propose(bytes("x"))).to.deep.equal({ ok: false, reason: "not-leader", leaderId: 1 });
  });

  it("commits with a majority while a minority is down, and catches the minority up later", () => {
    const cluster = new Cluster({ voters: [1, 2, 3, 4, 5] });
    cluster.elect(1);
    cluster.isolate(4);
    cluster.isolate(5);
    for (let i = 0; i < 20; i++) cluster.core(1).propose(bytes(`v${i}`));
    cluster.stabilize();
    expect(cluster.core(1).status().commit).to.equal(21);
    expect(cluster.core(4).status().lastIndex).to.equal(1);
    cluster.heal();
    cluster.tick(undefined, DEFAULT_CONFIG.heartbeatTicks * 3);
    for (const id of [4, 5]) expect(cluster.node(id).applied.length, `node ${id} caught up`).to.equal(20);
  });

  it("the leader counts itself only after persisting: a lone leader commits on advance", () => {
    const cluster = new Cluster({ voters: [1] });
    cluster.elect(1);
    const core = cluster.core(1);
    core.propose(bytes("x"));
    const first = core.ready();
    expect(
      first.entries.map((e) => e.index),
      "entry to persist",
    ).to.deep.equal([2]);
    expect(first.committedEntries, "nothing committed before persisting").to.deep.equal([]);
    cluster.node(1).storage.append(first.entries);
    core.advance(first);
    const second = core.ready();
    expect(second.committedEntries.map((e) => e.index)).to.deep.equal([2]);
    expect(second.hardState?.commit).to.equal(2);
    core.advance(second);
  });

  it("a follower acknowledges entries only in the Ready that asks to persist them", () => {
    const cluster = new Cluster({ voters: [1, 2] });
    cluster.elect(1);
    cluster.core(1).propose(bytes("x"));
    cluster.processReady(1);
    const append = cluster.queue.find((m) => m.type === "append" && m.to === 2 && m.entries.length > 0);
    expect(append).to.not.equal(undefined);
    cluster.queue.length = 0;
    const follower = cluster.core(2);
    follower.step(append as Message);
    const ready = follower.ready();
    const ack = ready.messages.find((m): m is AppendResponse => m.type === "append-response");
    expect(ack?.matchIndex).to.equal(2);
    expect(
      ready.entries.map((e) => e.index),
      "the acknowledged entry is in the same Ready",
    ).to.deep.equal([2]);
    cluster.node(2).storage.append(ready.entries);
    follower.advance(ready);
  });

  it("pipelines at most inflightAppendsMax appends, each within appendBytesMax", () => {
    const cluster = new Cluster({ voters: [1, 2], config: { inflightAppendsMax: 3, appendBytesMax: 2 } });
    cluster.elect(1);
    const core = cluster.core(1);
    for (let i = 0; i < 20; i++) core.propose(bytes("x"));
    cluster.processReady(1);
    const appends = cluster.queue.filter((m) => m.type === "append" && m.entries.length > 0);
    expect(appends.length, "window").to.equal(3);
    for (const m of appends) if (m.type === "append") expect(m.entries.length, "bytes per message").to.be.at.most(2);
    expect(core.status().progress.find((p) => p.id === 2)).to.include({ state: "replicate", inflight: 3 });
    cluster.stabilize();
    expect(cluster.core(2).status().commit).to.equal(21);
  });

  it("reportUnreachable moves a replicating peer back to probe", () => {
    const cluster = new Cluster({ voters: [1, 2] });
    cluster.elect(1);
    cluster.core(1).reportUnreachable(2);
    expect(
      cluster
        .core(1)
        .status()
        .progress.find((p) => p.id === 2)?.state,
    ).to.equal("probe");
  });

  it("Figure 8: a leader never commits an entry of an earlier term by counting replicas", () => {
    // S1 led term 2 and wrote index 2 (term 2) to S2 only; S5 led term 3 and wrote index 2 (term 3) alone.
    const cluster = craftedCluster(
      {
        1: { entries: [entry(1, 1), entry(2, 2)], term: 3, commit: 1 },
        2: { entries: [entry(1, 1), entry(2, 2)], term: 3, commit: 1 },
        3: { entries: [entry(1, 1)], term: 3, commit: 1 },
        4: { entries: [entry(1, 1)], term: 3, commit: 1 },
        5: { entries: [entry(1, 1), entry(2, 3)], term: 3, commit: 1 },
      },
      [1, 2, 3, 4, 5],
      1, // one entry per append, so index 2 can travel without index 3
    );
    cluster.isolate(5);
    // S1 leads term 4 but its term-4 no-op (index 3) never reaches anyone: index 2 (term 2) reaches a majority.
    cluster.transform = (m) => (m.type === "append" && m.entries.some((e) => e.index >= 3) ? undefined : m);
    cluster.elect(1);
    expect(cluster.core(1).status().term).to.equal(4);
    cluster.tick([1, 2, 3, 4], 3);
    const replicas = [1, 2, 3, 4].filter((id) => cluster.core(id).status().lastIndex >= 2);
    expect(replicas.length, "index 2 is on a majority").to.be.at.least(3);
    expect(cluster.core(1).status().commit, "but it is not committed").to.equal(1);
    cluster.transform = undefined;
    cluster.tick([1, 2, 3, 4], 3);
    expect(cluster.core(1).status().commit, "committed with the term-4 entry").to.equal(3);
  });

  it("fast back-off skips a whole divergent term per round trip", () => {
    // Follower 2 led terms 3..6 alone and wrote 10 entries in each; the leader's log diverges after index 11.
    const shared = [entry(1, 1), ...run(2, 11, 2)];
    const cluster = craftedCluster(
      {
        1: { entries: [...shared, ...run(12, 15, 7)], term: 7 },
        2: { entries: [...shared, ...run(12, 21, 3), ...run(22, 31, 4), ...run(32, 41, 5), ...run(42, 51, 6)], term: 6 },
        3: { entries: [...shared, ...run(12, 15, 7)], term: 7 },
      },
      [1, 2, 3],
    );
    cluster.resetCounts();
    let rejections = 0;
    cluster.transform = (m) => {
      if (m.type === "append-response" && !m.success && m.from === 2) rejections++;
      return m;
    };
    cluster.elect(1);
    cluster.tick(undefined, 2);
    const leaderTerms = cluster.core(1).status();
    expect(rejections, "rejections (one per divergent term at most)").to.be.at.most(4);
    expect(rejections).to.be.at.least(1);
    const follower = cluster.node(2);
    expect(follower.core.status().lastIndex).to.equal(leaderTerms.lastIndex);
    expect(follower.storage.term(12), "divergent suffix replaced").to.equal(7);
    expect(follower.storage.term(leaderTerms.lastIndex)).to.equal(8);
  });

  it("restarts from storage with its term, vote and log, and re-applies from the snapshot", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    for (const value of ["a", "b"]) cluster.core(1).propose(bytes(value));
    cluster.stabilize();
    const before = cluster.core(2).status();
    const restarted = cluster.restart(2);
    const after = restarted.core.status();
    expect(after).to.include({
      term: before.term,
      vote: before.vote,
      commit: before.commit,
      lastIndex: before.lastIndex,
      role: "follower",
    });
    cluster.stabilize();
    expect(restarted.applied.map(text), "committed entries re-applied after restart").to.deep.equal(["a", "b"]);
    cluster.core(1).propose(bytes("c"));
    cluster.stabilize();
    expect(restarted.applied.map(text)).to.deep.equal(["a", "b", "c"]);
  });

  it("a restarted leader cluster keeps committed entries through a new election", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    for (let i = 0; i < 5; i++) cluster.core(1).propose(bytes(`v${i}`));
    cluster.stabilize();
    for (const id of [1, 2, 3]) cluster.restart(id);
    cluster.elect(2);
    cluster.core(2).propose(bytes("after"));
    cluster.stabilize();
    for (const id of [1, 2, 3]) {
      expect(cluster.node(id).applied.map(text), `node ${id}`).to.deep.equal(["v0", "v1", "v2", "v3", "v4", "after"]);
    }
  });
});
