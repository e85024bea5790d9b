// Raft's safety properties (Raft paper Figure 3; thesis §3.6), checked as the simulation runs.
// Each check is incremental (fed by the driver as it persists, applies and reports status)
// so it can run after every simulated step; fullCheck() re-derives log matching from every
// node's storage and runs periodically and at the end of a run.
//
//  - election safety: at most one leader per term;
//  - log matching: an (index, term) pair always names the same entry with the same
//    predecessor term, so equal (index, term) implies equal prefixes;
//  - leader completeness: every committed entry is in the log of every later leader;
//  - state machine safety: no two nodes apply different entries at one index;
//  - durable monotonicity: a node's persisted term, vote and commit never go backwards,
//    a node never votes twice in one term, and its commit after restart is not below disk;
//  - observers never campaign or lead;
//  - ReadIndex: a read index is at least every index committed before the read was asked.

import type { Entry, HardState, Message, RaftLogStorage, RaftNodeId, ReadState, Role, Snapshot } from "@castle/raft";
import { entryKey } from "./state-machine.js";

export class SafetyViolation extends Error {
  constructor(
    readonly property: string,
    detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = "SafetyViolation";
  }
}

interface RegisteredEntry {
  readonly key: string;
  readonly prevTerm: number;
  readonly node: RaftNodeId;
}

interface AppliedEntry {
  readonly term: number;
  readonly hash: number;
  readonly node: RaftNodeId;
}

/** What the checker needs to know about a live node at the end of a step. */
export interface NodeView {
  readonly id: RaftNodeId;
  readonly role: Role;
  readonly term: number;
  readonly commit: number;
  readonly isObserver: boolean;
  readonly storage: RaftLogStorage;
}

export class SafetyChecker {
  /** term -> the node that led it. */
  private readonly leaders = new Map<number, RaftNodeId>();
  /** index -> term -> entry content and predecessor term, as first persisted anywhere. */
  private readonly entries = new Map<number, Map<number, RegisteredEntry>>();
  /** index -> term of the entry known committed there (seen under some node's persisted commit). */
  private readonly committed = new Map<number, number>();
  /**
   * Committed entries in index order with the term of the leader that committed them (the
   * lowest term of any node seen holding them under its commit: the committing leader persists
   * its commit before anyone else can learn it). Commit terms never decrease along the log.
   */
  private readonly commitTerms: Array<{ readonly index: number; readonly term: number; readonly commitTerm: number }> = [];
  private committedMax = 0;
  /** index -> what was applied there first (term and state hash after applying). */
  private readonly applied = new Map<number, AppliedEntry>();
  /** node -> last persisted hard state. */
  private readonly hardStates = new Map<RaftNodeId, HardState>();
  /** node -> the highest commit index its status ever showed (this incarnation). */
  private readonly commits = new Map<RaftNodeId, number>();
  /** read request id -> the committed index when it was asked. */
  private readonly reads = new Map<string, number>();
  readsChecked = 0;

  get committedIndexMax(): number {
    return this.committedMax;
  }

  /** The driver persisted `entries` and `hardState` of one Ready into `storage`. */
  onPersist(
    node: RaftNodeId,
    storage: RaftLogStorage,
    snapshot: Snapshot | undefined,
    entries: readonly Entry[],
    hardState: HardState | undefined,
  ): void {
    if (snapshot !== undefined) this.checkSnapshot(node, snapshot);
    for (const entry of entries) this.register(node, storage, entry);
    if (hardState !== undefined) this.checkHardState(node, hardState);
    const hs = this.hardStates.get(node);
    if (hs !== undefined && (hardState !== undefined || entries.length > 0)) this.observeCommitted(node, storage, hs.commit, hs.term);
  }

  /** A node applied `entry`; `hash` is its state machine's hash afterwards. */
  onApply(node: RaftNodeId, entry: Entry, hash: number): void {
    const first = this.applied.get(entry.index);
    if (first === undefined) {
      this.applied.set(entry.index, { term: entry.term, hash, node });
      return;
    }
    if (first.term !== entry.term || first.hash !== hash) {
      throw new SafetyViolation(
        "state machine safety",
        `n${node} applied ${entry.index}/${entry.term} (state hash ${hash}) but n${first.node} applied ${entry.index}/${first.term} (hash ${first.hash})`,
      );
    }
  }

  /** A node restored its state machine from a snapshot at index/term with state hash `hash`. */
  onRestore(node: RaftNodeId, index: number, term: number, hash: number): void {
    if (index === 0) return;
    const first = this.applied.get(index);
    if (first !== undefined && (first.term !== term || first.hash !== hash)) {
      throw new SafetyViolation(
        "state machine safety",
        `n${node} restored a snapshot at ${index}/${term} (hash ${hash}) but n${first.node} applied ${index}/${first.term} (hash ${first.hash})`,
      );
    }
  }

  /** A node (re)started over its disk; its commit must not be below what the disk says. */
  onRestart(node: RaftNodeId, diskCommit: number, commit: number): void {
    if (commit < diskCommit)
      throw new SafetyViolation("commit monotonic", `n${node} restarted with commit ${commit} below its persisted ${diskCommit}`);
    this.commits.set(node, commit);
  }

  onSend(node: RaftNodeId, isObserver: boolean, message: Message): void {
    if (isObserver && message.type === "vote") {
      throw new SafetyViolation(
        "observers never vote",
        `observer n${node} sent a ${message.preVote ? "pre-vote" : "vote"} request for term ${message.term}`,
      );
    }
  }

  onReadIndexAsked(requestId: string): void {
    this.reads.set(requestId, this.committedMax);
  }

  onReadState(node: RaftNodeId, readState: ReadState): void {
    const asked = this.reads.get(readState.requestId);
    if (asked === undefined) return;
    this.readsChecked++;
    if (readState.index < asked) {
      throw new SafetyViolation(
        "linearizable read",
        `n${node} answered read ${readState.requestId} at index ${readState.index}, below ${asked} which was committed when it was asked`,
      );
    }
  }

  /**
   * After every step: roles, commit monotonicity and leader completeness. Steps are whole events
   * (a node handles a Ready from persist to advance in one), so no view has unpersisted work.
   */
  checkStep(views: readonly NodeView[]): void {
    for (const v of views) {
      const previous = this.commits.get(v.id) ?? 0;
      if (v.commit < previous) throw new SafetyViolation("commit monotonic", `n${v.id} commit went from ${previous} to ${v.commit}`);
      this.commits.set(v.id, v.commit);
      if (v.isObserver && v.role !== "follower" && v.role !== "observer") {
        throw new SafetyViolation("observers never lead", `observer n${v.id} is ${v.role} in term ${v.term}`);
      }
      if (v.role !== "leader") continue;
      const leader = this.leaders.get(v.term);
      if (leader === undefined) this.leaders.set(v.term, v.id);
      else if (leader !== v.id) throw new SafetyViolation("election safety", `n${leader} and n${v.id} both led term ${v.term}`);
      this.checkLeaderComplete(v);
    }
  }

  /** Log matching over every node's whole storage (costly: run periodically). */
  fullCheck(nodes: ReadonlyArray<{ id: RaftNodeId; storage: RaftLogStorage }>): void {
    for (const { id, storage } of nodes) {
      const first = storage.firstIndex();
      const last = storage.lastIndex();
      if (last < first) continue;
      for (const entry of storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) this.register(id, storage, entry);
    }
  }

  private register(node: RaftNodeId, storage: RaftLogStorage, entry: Entry): void {
    const prevTerm = entry.index === 1 ? 0 : storage.term(entry.index - 1);
    if (prevTerm === undefined)
      throw new SafetyViolation("log matching", `n${node} stores ${entry.index}/${entry.term} without a term for ${entry.index - 1}`);
    const stored = storage.term(entry.index);
    if (stored !== entry.term)
      throw new SafetyViolation("durability", `n${node} persisted ${entry.index}/${entry.term} but its storage says term ${stored}`);
    let byTerm = this.entries.get(entry.index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.entries.set(entry.index, byTerm);
    }
    const key = entryKey(entry);
    const first = byTerm.get(entry.term);
    if (first === undefined) {
      byTerm.set(entry.term, { key, prevTerm, node });
      return;
    }
    if (first.key !== key || first.prevTerm !== prevTerm) {
      throw new SafetyViolation(
        "log matching",
        `entry ${entry.index}/${entry.term} differs between n${first.node} (prev term ${first.prevTerm}) and n${node} (prev term ${prevTerm})`,
      );
    }
  }

  private checkSnapshot(node: RaftNodeId, snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const committedTerm = this.committed.get(index);
    if (committedTerm !== undefined && committedTerm !== term) {
      throw new SafetyViolation(
        "leader completeness",
        `n${node} installed a snapshot at ${index}/${term} but ${index}/${committedTerm} is committed`,
      );
    }
    if (index > this.committedMax) this.markCommitted(index, term, this.hardStates.get(node)?.term ?? term);
  }

  private checkHardState(node: RaftNodeId, hs: HardState): void {
    const previous = this.hardStates.get(node);
    if (previous !== undefined) {
      if (hs.term < previous.term) throw new SafetyViolation("durable term", `n${node} persisted term ${hs.term} after ${previous.term}`);
      if (hs.term === previous.term && previous.vote !== 0 && hs.vote !== previous.vote) {
        throw new SafetyViolation("one vote per term", `n${node} voted for n${previous.vote} and then n${hs.vote} in term ${hs.term}`);
      }
      if (hs.commit < previous.commit)
        throw new SafetyViolation("commit monotonic", `n${node} persisted commit ${hs.commit} after ${previous.commit}`);
    }
    this.hardStates.set(node, hs);
  }

  private observeCommitted(node: RaftNodeId, storage: RaftLogStorage, commit: number, observerTerm: number): void {
    if (commit <= 0) return;
    const from = Math.max(storage.firstIndex(), 1);
    const to = Math.min(commit, storage.lastIndex());
    // Only the newest entries can be news; older ones were seen by an earlier call.
    let lowest = to + 1;
    for (let index = to; index >= from; index--) {
      const term = storage.term(index);
      if (term === undefined) break;
      const known = this.committed.get(index);
      if (known !== undefined) {
        if (known !== term)
          throw new SafetyViolation(
            "leader completeness",
            `n${node} has ${index}/${term} under its commit ${commit} but ${index}/${known} was committed`,
          );
        break;
      }
      lowest = index;
    }
    for (let index = lowest; index <= to; index++) this.markCommitted(index, storage.term(index)!, observerTerm);
  }

  private markCommitted(index: number, term: number, commitTerm: number): void {
    this.committed.set(index, term);
    if (index > this.committedMax) {
      this.committedMax = index;
      const last = this.commitTerms[this.commitTerms.length - 1];
      this.commitTerms.push({ index, term, commitTerm: Math.max(commitTerm, last?.commitTerm ?? 0) });
    }
  }

  /** The highest committed entry that was committed in a term before `term` (so every leader of `term` must hold it). */
  private committedBefore(term: number): { index: number; term: number } | undefined {
    let lo = 0;
    let hi = this.commitTerms.length - 1;
    let found: { index: number; term: number } | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const record = this.commitTerms[mid]!;
      if (record.commitTerm < term) {
        found = record;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private checkLeaderComplete(v: NodeView): void {
    const required = this.committedBefore(v.term);
    if (required === undefined) return;
    const storage = v.storage;
    const c = required.index;
    if (storage.lastIndex() < c) {
      throw new SafetyViolation(
        "leader completeness",
        `n${v.id} leads term ${v.term} with last index ${storage.lastIndex()} but ${c}/${required.term} was committed in an earlier term`,
      );
    }
    const snapshotIndex = storage.firstIndex() - 1;
    // Log matching (checked separately) makes equal terms at the committed tip mean equal prefixes.
    const probe = c > snapshotIndex ? c : snapshotIndex;
    const probeTerm = storage.term(probe);
    const committedTerm = probe === c ? required.term : this.committed.get(probe);
    if (committedTerm !== undefined && probeTerm !== committedTerm) {
      throw new SafetyViolation(
        "leader completeness",
        `n${v.id} leads term ${v.term} with ${probe}/${probeTerm} but ${probe}/${committedTerm} was committed in an earlier term`,
      );
    }
  }
}
