// Leader election (§3.4), the election restriction (§3.6.1), pre-vote (§9.6), check-quorum
// and leader stickiness (§6.2), observers (§4.2.1).

import { SeededRandom } from "@castle/common";
import { expect } from "chai";
import { type Entry, EntryType, MemoryRaftStorage, type Message, RaftCore, type VoteRequest, type VoteResponse } from "../../src/index.js";
import { Cluster, DEFAULT_CONFIG } from "./cluster-harness.js";

const entry = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });

function voteRequest(fields: Partial<VoteRequest>): VoteRequest {
  return { type: "vote", from: 2, to: 1, term: 2, preVote: false, lastLogIndex: 0, lastLogTerm: 0, transfer: false, ...fields };
}

/** A lone follower with a given log, answering votes. */
function follower(entries: Entry[], term: number, vote = 0): RaftCore {
  const storage = new MemoryRaftStorage({ confState: { voters: [1, 2, 3], observers: [] }, hardState: { term, vote, commit: 0 }, entries });
  return new RaftCore({ ...DEFAULT_CONFIG, id: 1, random: new SeededRandom(7) }, storage);
}

function responses(core: RaftCore): VoteResponse[] {
  const ready = core.ready();
  core.advance(ready);
  return ready.messages.filter((m: Message): m is VoteResponse => m.type === "vote-response");
}

describe("raft core: election", () => {
  for (const size of [1, 3, 5]) {
    it(`elects the node that campaigns in a ${size}-node cluster, and everyone follows it`, () => {
      const ids = Array.from({ length: size }, (_, i) => i + 1);
      const cluster = new Cluster({ voters: ids });
      cluster.elect(1);
      for (const id of ids) {
        const status = cluster.core(id).status();
        expect(status.leaderId, `leader seen by node ${id}`).to.equal(1);
        expect(status.term, `term of node ${id}`).to.equal(1);
        expect(status.commit, `node ${id} committed the leader's no-op`).to.equal(1);
      }
    });
  }

  it("elects exactly one leader by ticking alone, for several seeds", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const cluster = new Cluster({ voters: [1, 2, 3, 4, 5], seed });
      for (let i = 0; i < 40 && cluster.leaders().length === 0; i++) cluster.tick();
      expect(cluster.leaders(), `leaders with seed ${seed}`).to.have.length(1);
    }
  });

  describe("vote rules", () => {
    const cases: { name: string; log: Entry[]; request: Partial<VoteRequest>; granted: boolean }[] = [
      { name: "empty logs", log: [], request: {}, granted: true },
      {
        name: "candidate's last term is higher",
        log: [entry(1, 1), entry(2, 1)],
        request: { lastLogIndex: 1, lastLogTerm: 2 },
        granted: true,
      },
      { name: "same last term, longer log", log: [entry(1, 1)], request: { lastLogIndex: 2, lastLogTerm: 1 }, granted: true },
      { name: "same last term, same length", log: [entry(1, 1)], request: { lastLogIndex: 1, lastLogTerm: 1 }, granted: true },
      {
        name: "same last term, shorter log",
        log: [entry(1, 1), entry(2, 1)],
        request: { lastLogIndex: 1, lastLogTerm: 1 },
        granted: false,
      },
      { name: "candidate's last term is lower", log: [entry(1, 2)], request: { lastLogIndex: 5, lastLogTerm: 1, term: 3 }, granted: false },
    ];
    for (const c of cases) {
      it(`${c.granted ? "grants" : "rejects"} a vote: ${c.name}`, () => {
        const core = follower(c.log, 1);
        core.step(voteRequest(c.request));
        const [response] = responses(core);
        expect(response?.granted, c.name).to.equal(c.granted);
      });
    }

    it("votes once per term, and the vote leaves in the same Ready as the hard state recording it", () => {
      const core = follower([], 1);
      core.step(voteRequest({ from: 2, term: 2 }));
      const ready = core.ready();
      core.advance(ready);
      expect(ready.hardState, "vote persisted with the response").to.deep.include({ term: 2, vote: 2 });
      expect(ready.messages).to.deep.include({ type: "vote-response", from: 1, to: 2, term: 2, preVote: false, granted: true });
      core.step(voteRequest({ from: 3, term: 2 }));
      expect(responses(core)[0]?.granted, "second candidate in the same term").to.equal(false);
      core.step(voteRequest({ from: 2, term: 2 }));
      expect(responses(core)[0]?.granted, "same candidate again").to.equal(true);
    });

    it("grants a pre-vote without changing its term or vote", () => {
      const core = follower([], 1);
      core.step(voteRequest({ preVote: true, term: 2 }));
      const ready = core.ready();
      core.advance(ready);
      expect(ready.hardState, "no hard state change").to.equal(undefined);
      expect(ready.messages).to.deep.equal([{ type: "vote-response", from: 1, to: 2, term: 2, preVote: true, granted: true }]);
      expect(core.status()).to.include({ term: 1, vote: 0 });
    });

    it("answers a stale-term append with its own term and changes nothing (the old leader then steps down)", () => {
      const core = follower([entry(1, 1), entry(2, 3)], 3);
      core.step({ type: "append", from: 2, to: 1, term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2)], commit: 2 });
      const ready = core.ready();
      core.advance(ready);
      expect(ready.entries, "nothing appended").to.deep.equal([]);
      expect(ready.hardState, "term and commit untouched").to.equal(undefined);
      const answer = ready.messages.find((m) => m.type === "append-response");
      expect(answer, "a reply carrying the newer term").to.include({ to: 2, term: 3, success: false });
      expect(core.status()).to.include({ term: 3, commit: 0, lastIndex: 2 });
    });

    it("ignores odd input instead of throwing", () => {
      const core = follower([], 1);
      core.step(voteRequest({ to: 9 }));
      core.step(voteRequest({ from: 1 }));
      core.step(voteRequest({ lastLogIndex: -1 }));
      core.step({ type: "append-response", from: 2, to: 1, term: 1, success: true, matchIndex: 40, rejectHintIndex: 0, rejectHintTerm: 0 });
      core.step({ type: "snapshot-response", from: 2, to: 1, term: 1, success: true, nextOffset: 1, snapshotIndex: 3 });
      expect(core.status().counters.messagesDropped).to.equal(5);
    });
  });

  it("pre-vote: a partitioned node does not bump its term, and rejoining does not disrupt the leader", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.isolate(3);
    for (let i = 0; i < 60; i++) cluster.tick();
    expect(cluster.core(3).status().term, "isolated node's term").to.equal(1);
    expect(cluster.core(3).status().counters.electionsStarted, "it did try").to.be.greaterThan(0);
    cluster.heal();
    cluster.tick(undefined, 30);
    expect(cluster.core(1).status(), "leader undisturbed").to.include({ role: "leader", term: 1 });
    expect(cluster.core(3).status(), "rejoined as follower").to.include({ leaderId: 1, term: 1 });
  });

  it("without pre-vote, a partitioned node does bump its term", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
    cluster.elect(1);
    cluster.isolate(3);
    for (let i = 0; i < 60; i++) cluster.tick();
    expect(cluster.core(3).status().term).to.be.greaterThan(1);
  });

  it("check-quorum: a leader cut off from a majority steps down within two election timeouts", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.isolate(1);
    cluster.tick([1], 2 * DEFAULT_CONFIG.electionTicks);
    expect(cluster.core(1).status().role).to.equal("follower");
  });

  it("check-quorum off: an isolated leader stays leader", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], config: { checkQuorum: false } });
    cluster.elect(1);
    cluster.isolate(1);
    cluster.tick([1], 4 * DEFAULT_CONFIG.electionTicks);
    expect(cluster.core(1).status().role).to.equal("leader");
  });

  it("leader stickiness: a follower that heard from its leader ignores a (pre)vote at a higher term", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    const core = cluster.core(2);
    for (const preVote of [true, false]) {
      core.step(voteRequest({ from: 3, to: 2, term: 5, preVote, lastLogIndex: 10, lastLogTerm: 4 }));
      expect(core.hasReady(), `no reply (preVote ${preVote})`).to.equal(false);
      expect(core.status().term).to.equal(1);
    }
    core.step(voteRequest({ from: 3, to: 2, term: 5, lastLogIndex: 10, lastLogTerm: 4, transfer: true }));
    expect(core.status(), "a transfer vote bypasses stickiness").to.include({ term: 5, vote: 3 });
  });

  it("a candidate that loses the vote steps back and a later candidate with the longer log wins", () => {
    const cluster = new Cluster({ voters: [1, 2, 3] });
    cluster.elect(1);
    cluster.core(1).propose(new Uint8Array([1]));
    cluster.isolate(3); // 3 misses the second entry
    cluster.core(1).propose(new Uint8Array([2]));
    cluster.stabilize();
    cluster.heal();
    cluster.isolate(1);
    cluster.tick([2, 3], 2 * DEFAULT_CONFIG.electionTicks);
    cluster.core(3).campaign();
    cluster.stabilize();
    expect(cluster.core(3).status().role, "3 lacks a committed entry").to.not.equal("leader");
    for (let i = 0; i < 60 && cluster.leaders().filter((id) => id !== 1).length === 0; i++) cluster.tick([2, 3]);
    expect(cluster.leaders().filter((id) => id !== 1)).to.deep.equal([2]);
  });

  it("observers never campaign and never vote", () => {
    const cluster = new Cluster({ voters: [1, 2, 3], observers: [4] });
    cluster.tick([4], 10 * DEFAULT_CONFIG.electionTicks);
    expect(cluster.core(4).status()).to.include({ role: "observer", term: 0 });
    const observer = cluster.core(4);
    observer.step(voteRequest({ from: 2, to: 4, term: 3 }));
    const reply = observer.ready().messages[0];
    expect(reply).to.deep.include({ type: "vote-response", granted: false });
  });
});
