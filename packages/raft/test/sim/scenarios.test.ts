// Named scenarios over the deterministic simulator, in the spirit of the Raft paper and the
// well-known course test suites (initial election, agreement, persistence, Figure 8, backup,
// churn) plus Castle's additions (snapshots, observers, leadership transfer, membership).
// Each is a short script on a fixed seed; the safety checkers run after every step, and each
// test asserts the outcome (who leads, what committed where, how many messages it took).

import { RELIABLE_NETWORK } from "@castle/testkit";
import { expect } from "chai";
import { cluster, commit, waitForLeader } from "./scenario-helpers.js";

const ALL3 = [1, 2, 3];
const ALL5 = [1, 2, 3, 4, 5];

describe("raft simulation scenarios", function () {
  this.timeout(60_000);

  describe("leader election", () => {
    it("elects one leader at start and keeps it while nothing fails", () => {
      const sim = cluster({ seed: 11 });
      const leader = waitForLeader(sim, 2000);
      const term = leader.term;
      for (const id of ALL3) expect(sim.node(id).leaderId, `n${id} knows the leader`).to.equal(leader.id);
      sim.runFor(3000);
      expect(sim.leader()?.id, "same leader after 3s of calm").to.equal(leader.id);
      expect(sim.leader()?.term, "no new term after 3s of calm").to.equal(term);
    });

    it("re-elects after losing the leader, and elects none without a majority", () => {
      const sim = cluster({ seed: 12 });
      const first = waitForLeader(sim);
      sim.isolate(first.id);
      const ok = sim.runUntil(() => {
        const l = sim.leader();
        return l !== undefined && l.id !== first.id && l.term > first.term;
      }, 3000);
      expect(ok, "a new leader among the remaining two").to.equal(true);
      const second = sim.leader()!;
      sim.heal();
      const settled = waitForLeader(sim);
      expect(settled.term, "the old leader rejoining does not roll terms back").to.be.at.least(second.term);
      expect(sim.node(first.id).role, "the old leader is a follower again").to.not.equal("leader");

      // Leave one node alone with no quorum: nobody may lead its side.
      const [x, y] = ALL3.filter((id) => id !== settled.id);
      sim.isolate(x!);
      sim.isolate(y!);
      sim.isolate(settled.id);
      sim.runFor(3000);
      for (const id of ALL3) expect(sim.node(id).role, `n${id} cannot lead without a quorum (checkQuorum)`).to.not.equal("leader");
      sim.heal();
      waitForLeader(sim);
    });

    it("survives many elections: random pairs of voters cut off, one leader per term throughout", () => {
      const sim = cluster({ seed: 13, voters: 5 });
      waitForLeader(sim);
      const terms = new Set<number>();
      for (let round = 0; round < 12; round++) {
        const a = 1 + sim.random.int(5);
        const b = 1 + sim.random.int(5);
        sim.isolate(a);
        sim.isolate(b);
        sim.runUntil(() => sim.leader() !== undefined && sim.leader()!.id !== a && sim.leader()!.id !== b, 2000);
        const leader = sim.leader();
        if (leader !== undefined) terms.add(leader.term);
        sim.heal();
      }
      const final = waitForLeader(sim);
      expect(terms.size, "several distinct leader terms").to.be.greaterThan(3);
      commit(sim, "after-elections", ALL5);
      expect(final.role).to.equal("leader");
    });
  });

  describe("agreement", () => {
    it("basic agreement: proposals commit everywhere at consecutive indexes", () => {
      const sim = cluster({ seed: 21 });
      waitForLeader(sim);
      const indexes = ["a", "b", "c"].map((v) => commit(sim, v, ALL3));
      expect(indexes[1], "consecutive").to.equal(indexes[0]! + 1);
      expect(indexes[2], "consecutive").to.equal(indexes[1]! + 1);
      for (const id of ALL3) expect(sim.applied(id), `n${id} applied`).to.deep.equal(["a", "b", "c"]);
    });

    it("agreement despite a follower failing, and the follower catches up after restart", () => {
      const sim = cluster({ seed: 22 });
      const leader = waitForLeader(sim);
      const follower = ALL3.find((id) => id !== leader.id)!;
      commit(sim, "before", ALL3);
      sim.crash(follower);
      const rest = ALL3.filter((id) => id !== follower);
      for (const v of ["x1", "x2", "x3"]) commit(sim, v, rest);
      sim.restart(follower);
      expect(
        sim.runUntil(() => sim.applied(follower).includes("x3"), 2000),
        "restarted follower catches up",
      ).to.equal(true);
      expect(sim.applied(follower)).to.deep.equal(["before", "x1", "x2", "x3"]);
    });

    it("no agreement without a majority, then agreement once it is back", () => {
      const sim = cluster({ seed: 23, voters: 5 });
      const leader = waitForLeader(sim);
      commit(sim, "first", ALL5);
      const followers = ALL5.filter((id) => id !== leader.id);
      const commitBefore = leader.commit;
      for (const id of followers.slice(0, 3)) sim.crash(id);
      const result = sim.propose("minority", leader.id);
      expect(result.ok, "a leader still accepts proposals into its log").to.equal(true);
      sim.runFor(2000);
      expect(sim.node(leader.id).commit, "commit index does not move without a majority").to.equal(commitBefore);
      for (const id of ALL5) expect(sim.applied(id), `n${id} did not apply the minority write`).to.not.include("minority");
      for (const id of followers.slice(0, 3)) sim.restart(id);
      commit(sim, "after", ALL5, 5000);
    });

    it("concurrent proposals all commit once, in the same order everywhere", () => {
      const sim = cluster({ seed: 24, voters: 5 });
      const leader = waitForLeader(sim);
      const values = Array.from({ length: 20 }, (_, i) => `c${i}`);
      const indexes = values.map((v) => {
        const r = sim.propose(v, leader.id);
        if (!r.ok) throw new Error(`refused ${v}`);
        return r.index;
      });
      expect(new Set(indexes).size, "distinct indexes").to.equal(values.length);
      expect(sim.runUntil(() => ALL5.every((id) => sim.applied(id).length === values.length), 3000)).to.equal(true);
      for (const id of ALL5) expect(sim.applied(id), `n${id} order`).to.deep.equal(values);
    });

    it("a partitioned leader rejoins: its uncommitted entries are discarded, the new leader's kept", () => {
      const sim = cluster({ seed: 25 });
      const old = waitForLeader(sim);
      commit(sim, "shared", ALL3);
      sim.isolate(old.id);
      for (const v of ["lost1", "lost2", "lost3"])
        expect(sim.propose(v, old.id).ok, "isolated leader accepts (cannot know)").to.equal(true);
      const rest = ALL3.filter((id) => id !== old.id);
      expect(sim.runUntil(() => sim.leader()?.id !== old.id && sim.leader() !== undefined, 3000)).to.equal(true);
      commit(sim, "kept", rest);
      sim.heal();
      expect(
        sim.runUntil(() => sim.applied(old.id).includes("kept"), 3000),
        "old leader catches up",
      ).to.equal(true);
      for (const id of ALL3) {
        expect(sim.applied(id), `n${id}`).to.deep.equal(["shared", "kept"]);
      }
      commit(sim, "later", ALL3);
    });
  });

  describe("log repair and message costs", () => {
    it("backs up a long divergent log quickly (bounded rejections), course test Backup", () => {
      const sim = cluster({ seed: 31, voters: 5 });
      const leader = waitForLeader(sim);
      commit(sim, "base", ALL5);
      const [f1, f2, f3, f4] = ALL5.filter((id) => id !== leader.id) as [number, number, number, number];
      // Leader and one follower in the minority take 50 writes that never commit.
      sim.partition([leader.id, f1], [f2, f3, f4]);
      for (let i = 0; i < 50; i++) sim.propose(`stale${i}`, leader.id);
      sim.runFor(500);
      // The majority elects and commits 50 of its own.
      expect(sim.runUntil(() => [f2, f3, f4].includes(sim.leader()?.id ?? 0), 3000)).to.equal(true);
      for (let i = 0; i < 50; i++) sim.propose(`fresh${i}`, sim.leader()!.id);
      expect(sim.runUntil(() => [f2, f3, f4].every((id) => sim.applied(id).length === 51), 5000)).to.equal(true);
      const rejectionsBefore = sim.network.counters.appendRejections;
      sim.heal();
      expect(
        sim.runUntil(() => ALL5.every((id) => sim.applied(id).length === 51), 5000),
        "minority repaired",
      ).to.equal(true);
      const rejections = sim.network.counters.appendRejections - rejectionsBefore;
      for (const id of ALL5)
        expect(
          sim.applied(id).some((v) => v.startsWith("stale")),
          `n${id} kept no stale entry`,
        ).to.equal(false);
      // One rejection per follower per term difference is the fast back-up bound; per-entry back-up would need ~50.
      expect(rejections, "append rejections to repair 50 divergent entries").to.be.at.most(10);
    });

    it("uses a bounded number of messages per agreement and when idle (course test Count)", () => {
      const sim = cluster({ seed: 32 });
      const leader = waitForLeader(sim);
      const term = leader.term;
      const votes = sim.network.counters.byType["vote"] ?? 0;
      expect(votes, "an election costs a few vote requests, not a storm").to.be.at.most(8);
      const sentBefore = sim.network.counters.sent;
      const appendsBefore = sim.network.counters.appendsWithEntries;
      for (let i = 0; i < 10; i++) commit(sim, `n${i}`, ALL3);
      const appends = sim.network.counters.appendsWithEntries - appendsBefore;
      expect(appends, "appends carrying entries for 10 sequential agreements, 2 followers").to.be.at.most(10 * 2 * 2);
      const elapsed = sim.nowMs;
      const sentForAgreement = sim.network.counters.sent - sentBefore;
      expect(sentForAgreement, `all messages for 10 agreements (${elapsed}ms in)`).to.be.at.most(200);
      const idleBefore = sim.network.counters.sent;
      sim.runFor(1000);
      const idle = sim.network.counters.sent - idleBefore;
      // heartbeat every 2 ticks of ~10ms to 2 followers, each answered: ~200/s, skew up to 25% faster.
      expect(idle, "messages in 1s idle").to.be.at.most(260);
      expect(sim.leader()?.term, "no elections while idle").to.equal(term);
    });
  });

  describe("persistence", () => {
    it("keeps committed entries across crashes of every node, and of the leader repeatedly", () => {
      const sim = cluster({ seed: 41 });
      waitForLeader(sim);
      for (const v of ["p1", "p2"]) commit(sim, v, ALL3);
      for (const id of ALL3) sim.crash(id);
      sim.runFor(200);
      for (const id of ALL3) sim.restart(id);
      commit(sim, "p3", ALL3);
      for (const id of ALL3) expect(sim.applied(id), `n${id} after full restart`).to.deep.equal(["p1", "p2", "p3"]);
      for (let i = 0; i < 5; i++) {
        const leader = waitForLeader(sim);
        sim.crash(leader.id);
        commit(
          sim,
          `q${i}`,
          ALL3.filter((id) => id !== leader.id),
        );
        sim.restart(leader.id);
      }
      commit(sim, "end", ALL3);
      for (const id of ALL3) expect(sim.applied(id), `n${id}`).to.deep.equal(["p1", "p2", "p3", "q0", "q1", "q2", "q3", "q4", "end"]);
    });
  });

  describe("Figure 8", () => {
    for (const unreliable of [false, true]) {
      it(`never loses a committed entry when leaders crash mid-replication (${unreliable ? "unreliable" : "reliable"} network)`, () => {
        const sim = cluster({
          seed: unreliable ? 52 : 51,
          voters: 5,
          ...(unreliable
            ? { network: { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 20, longDelayRate: 0.05, longDelayMaxMs: 300 } }
            : {}),
        });
        waitForLeader(sim, 5000);
        let up = 5;
        for (let i = 0; i < 60; i++) {
          const leader = sim.leader();
          if (leader !== undefined) sim.propose(`f${i}`, leader.id);
          sim.runFor(sim.random.next() < 0.1 ? 10 + sim.random.int(500) : 1 + sim.random.int(13));
          const now = sim.leader();
          if (now !== undefined && sim.random.next() < 0.5) {
            sim.crash(now.id);
            up--;
          }
          if (up < 3) {
            const down = ALL5.filter((id) => sim.node(id).state === "down");
            const pick = down[sim.random.int(down.length)]!;
            sim.restart(pick);
            up++;
          }
        }
        for (const id of ALL5) if (sim.node(id).state === "down") sim.restart(id);
        sim.setNetwork(RELIABLE_NETWORK);
        commit(sim, "figure8-end", ALL5, 10_000);
        const reference = sim.applied(1);
        for (const id of ALL5) expect(sim.applied(id), `n${id} same sequence`).to.deep.equal(reference);
        expect(sim.committed.size, "some entries committed").to.be.greaterThan(5);
      });
    }
  });

  describe("churn", () => {
    it("keeps every committed entry through random crashes, restarts, partitions and writes", () => {
      const sim = cluster({
        seed: 61,
        voters: 5,
        network: { dropRate: 0.05, duplicateRate: 0.02, delayMinMs: 1, delayMaxMs: 10, longDelayRate: 0.01, longDelayMaxMs: 200 },
        snapshots: { everyEntries: 10, keepEntries: 2 },
      });
      waitForLeader(sim);
      let n = 0;
      for (let round = 0; round < 100; round++) {
        const r = sim.random.int(10);
        const id = 1 + sim.random.int(5);
        if (r === 0) sim.crash(id);
        else if (r === 1) sim.restart(id);
        else if (r === 2) sim.isolate(id);
        else if (r === 3) sim.heal();
        const leader = sim.leader();
        for (let k = 0; k < 3 && leader !== undefined && leader.up; k++) sim.propose(`w${n++}`, leader.id);
        sim.runFor(20 + sim.random.int(80));
      }
      sim.heal();
      sim.setNetwork(RELIABLE_NETWORK);
      for (const id of ALL5) sim.restart(id);
      commit(sim, "churn-end", ALL5, 10_000);
      // Every value committed anywhere during the churn is applied on every node, in one order.
      const reference = sim.applied(1);
      for (const id of ALL5) expect(sim.applied(id), `n${id}`).to.deep.equal(reference);
      expect(reference.length, "a good share of writes committed").to.be.greaterThan(20);
    });
  });

  describe("snapshots", () => {
    it("installs a snapshot on a follower that fell behind the leader's compacted log", () => {
      const sim = cluster({ seed: 71, snapshots: { everyEntries: 5, keepEntries: 0 }, raft: { snapshotChunkBytes: 64 } });
      const leader = waitForLeader(sim);
      const lagging = ALL3.find((id) => id !== leader.id)!;
      sim.crash(lagging);
      const rest = ALL3.filter((id) => id !== lagging);
      for (let i = 0; i < 30; i++) commit(sim, `s${i}`, rest);
      expect(sim.node(leader.id).storage.firstIndex(), "leader compacted its log").to.be.greaterThan(2);
      const snapshotsBefore = sim.network.counters.byType["snapshot"] ?? 0;
      sim.restart(lagging);
      const caughtUp = sim.runUntil(() => sim.applied(lagging).includes("s29"), 5000);
      const progress = sim
        .leader()
        ?.status()
        .progress.map(
          (p) =>
            `n${p.id}:${p.state} match=${p.matchIndex} next=${p.nextIndex} inflight=${p.inflight} snap=${p.pendingSnapshotIndex}@${p.snapshotOffset}`,
        )
        .join(" ");
      expect(caughtUp, `lagging follower caught up (leader progress: ${progress})`).to.equal(true);
      expect((sim.network.counters.byType["snapshot"] ?? 0) - snapshotsBefore, "snapshot chunks sent").to.be.greaterThan(1);
      expect(sim.node(lagging).snapshotsRestored, "the follower restored a snapshot").to.be.greaterThan(0);
      expect(sim.applied(lagging)).to.deep.equal(sim.applied(leader.id));
      commit(sim, "after-snapshot", ALL3);
    });
  });

  describe("observers", () => {
    it("an observer catches up after isolation and never counts toward a quorum", () => {
      const sim = cluster({ seed: 81, voters: 3, observers: 1 });
      const leader = waitForLeader(sim);
      expect(leader.id, "the observer does not lead").to.not.equal(4);
      sim.isolate(4);
      for (let i = 0; i < 20; i++) commit(sim, `o${i}`, ALL3);
      expect(sim.applied(4), "isolated observer got nothing").to.deep.equal([]);
      sim.heal();
      expect(
        sim.runUntil(() => sim.applied(4).length === 20, 3000),
        "observer catches up",
      ).to.equal(true);
      expect(sim.applied(4)).to.deep.equal(sim.applied(leader.id));
      // Two voters down: leader + observer are not a quorum.
      const others = ALL3.filter((id) => id !== leader.id);
      for (const id of others) sim.crash(id);
      sim.propose("no-quorum", leader.id);
      sim.runFor(1000);
      expect(sim.applied(4), "observer ack does not commit").to.not.include("no-quorum");
      expect(sim.applied(leader.id)).to.not.include("no-quorum");
      for (const id of others) sim.restart(id);
      commit(sim, "quorum-back", [1, 2, 3, 4], 5000);
      expect(sim.node(4).role, "observer stays an observer").to.not.equal("leader");
    });
  });

  describe("leadership transfer", () => {
    it("hands leadership to the chosen voter, including one that must catch up first", () => {
      const sim = cluster({ seed: 91, voters: 5 });
      const first = waitForLeader(sim);
      const firstTerm = first.term;
      commit(sim, "t0", ALL5);
      const target = ALL5.find((id) => id !== first.id)!;
      expect(sim.transferLeadership(target, first.id).ok).to.equal(true);
      expect(
        sim.runUntil(() => sim.stableLeader()?.id === target, 1000),
        `n${target} leads after transfer`,
      ).to.equal(true);
      expect(sim.node(target).term, "transfer starts a new term").to.be.greaterThan(firstTerm);
      commit(sim, "t1", ALL5);

      // A lagging target: crash it, write, restart, transfer at once.
      const lagging = ALL5.find((id) => id !== target && id !== first.id)!;
      sim.crash(lagging);
      for (let i = 0; i < 10; i++)
        commit(
          sim,
          `lag${i}`,
          ALL5.filter((id) => id !== lagging),
        );
      sim.restart(lagging);
      expect(sim.transferLeadership(lagging, target).ok).to.equal(true);
      expect(
        sim.runUntil(() => sim.stableLeader()?.id === lagging, 3000),
        `lagging n${lagging} leads after catching up`,
      ).to.equal(true);
      commit(sim, "t2", ALL5);
      for (const id of ALL5) expect(sim.applied(id).at(-1), `n${id}`).to.equal("t2");
    });
  });

  describe("bootstrap", () => {
    it("a voter added later learns every initial member from the bootstrap snapshot", () => {
      const sim = cluster({ seed: 111 });
      const leader = waitForLeader(sim);
      commit(sim, "b0", ALL3);
      sim.addNode(4);
      expect(sim.proposeConfChange({ type: "addVoter", nodeId: 4 }, leader.id).ok).to.equal(true);
      sim.runUntil(() => sim.node(4).stateMachine.index >= sim.node(leader.id).stateMachine.index, 2000);
      expect(sim.node(4).confState.voters, "n4's view of the voters").to.deep.equal([1, 2, 3, 4]);
      sim.runFor(2000);
      commit(sim, "b1", [1, 2, 3, 4]);
    });

    // Membership in no entry and no snapshot (a bare ConfState) once let a joiner replay
    // "add me" onto an empty configuration and lead alone (seed 295). The core now stops it.
    it("a joiner that missed a bare-ConfState bootstrap stops instead of electing itself alone", () => {
      const sim = cluster({ seed: 111, bootstrap: "conf-state" });
      const leader = waitForLeader(sim);
      commit(sim, "b0", ALL3);
      sim.addNode(4);
      expect(sim.proposeConfChange({ type: "addVoter", nodeId: 4 }, leader.id).ok).to.equal(true);
      expect(() => sim.runFor(2000)).to.throw(/empty configuration: it missed the cluster's bootstrap membership/);
    });
  });

  describe("membership", () => {
    it("adds and removes voters (including the leader) while a client keeps writing", () => {
      const sim = cluster({ seed: 101, snapshots: { everyEntries: 8, keepEntries: 1 } });
      waitForLeader(sim);
      let n = 0;
      const written: string[] = [];
      const write = () => {
        const leader = sim.stableLeader();
        if (leader === undefined) return;
        const v = `m${n++}`;
        if (sim.propose(v, leader.id).ok) written.push(v);
      };
      const writeFor = (ms: number) => {
        for (let t = 0; t < ms; t += 5) {
          write();
          sim.runFor(5);
        }
      };
      writeFor(100);
      // Add n4 as a voter: it starts empty and must catch up (by snapshot or log).
      sim.addNode(4);
      const confChange = (change: Parameters<typeof sim.proposeConfChange>[0]) => {
        for (let attempt = 0; attempt < 50; attempt++) {
          const leader = waitForLeader(sim);
          if (sim.proposeConfChange(change, leader.id).ok) return;
          writeFor(20);
        }
        sim.fail(`conf change ${JSON.stringify(change)} never accepted`);
      };
      confChange({ type: "addVoter", nodeId: 4 });
      expect(
        sim.runUntil(() => sim.leader()?.confState.voters.includes(4) === true, 2000),
        "n4 is a voter",
      ).to.equal(true);
      writeFor(200);
      // Remove a follower, then the leader itself.
      const leader = waitForLeader(sim);
      const follower = [1, 2, 3].find((id) => id !== leader.id)!;
      confChange({ type: "removeNode", nodeId: follower });
      expect(
        sim.runUntil(() => sim.leader()?.confState.voters.includes(follower) === false, 2000),
        `n${follower} removed`,
      ).to.equal(true);
      sim.retire(follower);
      writeFor(100);
      const leaderNow = waitForLeader(sim);
      confChange({ type: "removeNode", nodeId: leaderNow.id });
      expect(
        sim.runUntil(() => {
          const l = sim.stableLeader();
          return l !== undefined && l.id !== leaderNow.id && !l.confState.voters.includes(leaderNow.id);
        }, 3000),
        "a remaining voter leads after the leader removed itself",
      ).to.equal(true);
      sim.retire(leaderNow.id);
      writeFor(100);
      const final = waitForLeader(sim);
      const members = final.confState.voters;
      expect(members.length, "voters: 3 + n4 - 2").to.equal(2);
      expect(members).to.include(4);
      commit(sim, "membership-end", members);
      const last = written.at(-1)!;
      for (const id of members) {
        expect(sim.applied(id), `n${id} has the last acknowledged write`).to.include(last);
        expect(sim.applied(id)).to.deep.equal(sim.applied(final.id));
      }
    });
  });
});
