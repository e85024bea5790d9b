// The Raft consensus core (Ongaro 2014; section numbers below are the thesis's), shaped after
// etcd-io/raft: a synchronous state machine with one entry point for time (tick) and one for
// messages (step). It never touches a socket, a disk or a clock. Its output is a Ready batch
// (types.ts states the ordering contract); the driver persists, sends, applies and calls
// advance(). Every reply that depends on new state (a vote, an append acknowledgement) leaves
// in a Ready whose hardState/entries the driver persists first.
//
// Layout: public API, then role transitions (become*), then one handle* per message type,
// then send* helpers and small pure-ish helpers. No recursion; every queue has a named limit.

import { invariant } from "@castle/common";
import { hasMajority, majorityCommittedIndex, voteOutcome } from "../quorum/majority.js";
import { Progress } from "../tracker/progress.js";
import { decodeConfChange, encodeConfChange } from "./conf-change.js";
import { RaftLog } from "./raft-log.js";
import {
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  NO_NODE,
  type ProposeResult,
  type RaftConfig,
  type RaftCoreOptions,
  type RaftCounters,
  type RaftLogStorage,
  type RaftNodeId,
  type RaftStatus,
  type ReadIndexResult,
  type ReadState,
  type Ready,
  type Refusal,
  type RefusalReason,
  type Role,
  type Snapshot,
  type SnapshotMeta,
  type SnapshotRequest,
  type SnapshotResponse,
  type SoftState,
  type TimeoutNowRequest,
  type TransferResult,
  type VoteRequest,
  type VoteResponse,
} from "./types.js";

/** Default for RaftConfig.readRequestsMax. */
export const READ_REQUESTS_MAX_DEFAULT = 1024;
/** Default for RaftConfig.uncommittedBytesMax. */
export const UNCOMMITTED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Messages the core buffers between two Ready batches; beyond it they are dropped (Raft tolerates loss). */
export const OUTBOX_MESSAGES_MAX = 16 * 1024;
/** Entry bytes handed to the state machine in one Ready (at least one entry). */
export const COMMITTED_ENTRIES_BYTES_MAX = 8 * 1024 * 1024;
/** A snapshot a follower assembles from chunks may not exceed this. */
export const INCOMING_SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;

/** Legal role changes; a become* call outside this table is a programmer error. */
const ROLE_TRANSITIONS: Readonly<Record<Role, readonly Role[]>> = {
  follower: ["follower", "pre-candidate", "candidate", "observer"],
  "pre-candidate": ["follower", "pre-candidate", "candidate", "observer"],
  candidate: ["follower", "pre-candidate", "candidate", "leader", "observer"],
  leader: ["follower", "observer"],
  observer: ["observer", "follower"],
};

interface PendingRead {
  readonly requestId: string;
  /** Commit index recorded when the read was admitted; -1 until the leader commits in its term (§6.4 step 1). */
  index: number;
  readonly acks: Set<RaftNodeId>;
}

interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly chunks: Uint8Array[];
  bytes: number;
}

type MutableCounters = { -readonly [K in keyof RaftCounters]: RaftCounters[K] };

export class RaftCore {
  readonly id: RaftNodeId;
  private readonly log: RaftLog;
  private readonly readRequestsMax: number;
  private readonly uncommittedBytesMax: number;

  private term: number;
  private vote: RaftNodeId;
  private role: Role;
  private leaderId: RaftNodeId = NO_NODE;
  /** Membership as of the applied index (§4.1: a change takes effect when applied). */
  private conf: ConfState;
  private applied: number;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;

  // Candidate state.
  private readonly votes = new Map<RaftNodeId, boolean>();
  // Leader state.
  private readonly progress = new Map<RaftNodeId, Progress>();
  private leadTransferee: RaftNodeId = NO_NODE;
  private transferElapsed = 0;
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private pendingReads: PendingRead[] = [];
  // Follower state.
  private incomingSnapshot: IncomingSnapshot | undefined = undefined;

  // Output not yet handed out in a Ready.
  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | undefined = undefined;

  private readonly counters: MutableCounters = {
    messagesDropped: 0,
    messagesReceived: 0,
    messagesSent: 0,
    proposalsRefused: 0,
    electionsStarted: 0,
    snapshotsSent: 0,
    snapshotsRestored: 0,
  };

  constructor(
    private readonly config: RaftConfig,
    private readonly storage: RaftLogStorage,
    options: RaftCoreOptions = {},
  ) {
    validateConfig(config);
    this.id = config.id;
    this.readRequestsMax = config.readRequestsMax ?? READ_REQUESTS_MAX_DEFAULT;
    this.uncommittedBytesMax = config.uncommittedBytesMax ?? UNCOMMITTED_BYTES_MAX_DEFAULT;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, hardState.commit);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = { voters: [...confState.voters], observers: [...confState.observers] };
    this.applied = options.applied ?? storage.firstIndex() - 1;
    invariant(this.applied >= storage.firstIndex() - 1, () => `applied ${this.applied} below the snapshot ${storage.firstIndex() - 1}`);
    invariant(this.applied <= this.log.committed, () => `applied ${this.applied} beyond commit ${this.log.committed}`);
    this.role = this.conf.observers.includes(this.id) ? "observer" : "follower";
    this.resetElectionTimer();
    this.prevHardState = hardState;
    this.prevSoftState = this.softState();
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    if (this.role === "leader") {
      this.tickLeader();
    } else {
      this.tickElection();
    }
  }

  /** One inbound message. Never throws on odd input: stale, unknown or misplaced messages are dropped and counted. */
  step(message: Message): void {
    this.counters.messagesReceived++;
    if (message.to !== this.id || message.from === NO_NODE || message.from === this.id || !wellFormed(message)) {
      this.drop();
      return;
    }
    if (!this.stepTerm(message)) return;
    switch (message.type) {
      case "vote":
        this.handleVoteRequest(message);
        return;
      case "vote-response":
        this.handleVoteResponse(message);
        return;
      case "append":
        this.handleAppend(message);
        return;
      case "append-response":
        this.handleAppendResponse(message);
        return;
      case "snapshot":
        this.handleSnapshot(message);
        return;
      case "snapshot-response":
        this.handleSnapshotResponse(message);
        return;
      case "timeout-now":
        this.handleTimeoutNow(message);
        return;
      default:
        this.drop();
    }
  }

  propose(data: Uint8Array): ProposeResult {
    const refusal = this.checkProposal(data.length);
    if (refusal !== undefined) return refusal;
    const entry = this.appendEntry(EntryType.Normal, data);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** One change at a time (§4.1): refused while an earlier one is not yet applied. */
  proposeConfChange(change: ConfChange): ProposeResult {
    const data = encodeConfChange(change);
    const refusal = this.checkProposal(data.length);
    if (refusal !== undefined) return refusal;
    if (this.pendingConfIndex > this.applied) return this.refuse("conf-change-pending");
    if (!this.isValidConfChange(change)) return this.refuse("invalid-conf-change");
    const entry = this.appendEntry(EntryType.ConfChange, data);
    this.pendingConfIndex = entry.index;
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * ReadIndex (§6.4): record the commit index, confirm leadership with a heartbeat round, then
   * emit a ReadState; the read may be served once applied >= ReadState.index.
   */
  readIndex(requestId: string): ReadIndexResult {
    if (this.role !== "leader") return this.refuse("not-leader");
    if (this.pendingReads.some((read) => read.requestId === requestId)) return this.refuse("duplicate-request");
    if (this.pendingReads.length >= this.readRequestsMax) return this.refuse("read-queue-full");
    const committedInTerm = this.committedInCurrentTerm();
    const read: PendingRead = { requestId, index: committedInTerm ? this.log.committed : -1, acks: new Set([this.id]) };
    this.pendingReads.push(read);
    if (committedInTerm) {
      this.maybeReleaseReads(read);
      if (this.pendingReads.includes(read)) this.sendHeartbeats(requestId);
    }
    return { ok: true };
  }

  /** Leadership transfer (§3.10). Proposals are refused until it completes or aborts (one election timeout). */
  transferLeadership(to: RaftNodeId): TransferResult {
    if (this.role !== "leader") return this.refuse("not-leader");
    if (to === this.id) return { ok: true };
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isObserver) return this.refuse("unknown-node");
    this.leadTransferee = to;
    this.transferElapsed = 0;
    if (pr.matchIndex === this.log.lastIndex()) {
      this.sendTimeoutNow(to);
    } else {
      this.maybeSendAppend(to, true);
    }
    return { ok: true };
  }

  /** Start an election now (pre-vote first when configured). Does nothing for leaders and non-voters. */
  campaign(): void {
    this.hup(false);
  }

  /** False while a Ready is outstanding (between ready() and advance()). */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    return (
      this.outbox.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstable().length > 0 ||
      this.log.pendingSnapshot() !== undefined ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState) ||
      this.log.committed > this.applyFloor()
    );
  }

  ready(): Ready {
    invariant(this.outstanding === undefined, "ready() called again before advance()");
    const hardState = this.hardState();
    const softState = this.softState();
    invariant(hardState.term >= this.prevHardState.term, "term decreased");
    invariant(hardState.commit >= this.prevHardState.commit, "commit decreased");
    const snapshot = this.log.pendingSnapshot();
    const ready: Ready = {
      ...(sameSoftState(softState, this.prevSoftState) ? {} : { softState }),
      ...(sameHardState(hardState, this.prevHardState) ? {} : { hardState }),
      entries: [...this.log.unstable()],
      ...(snapshot === undefined ? {} : { snapshot }),
      committedEntries: this.nextCommittedEntries(),
      messages: this.outbox,
      readStates: this.readStates,
    };
    this.outbox = [];
    this.readStates = [];
    this.prevHardState = hardState;
    this.prevSoftState = softState;
    this.counters.messagesSent += ready.messages.length;
    this.outstanding = ready;
    return ready;
  }

  /** The driver persisted, sent and applied `ready` (the very object ready() returned). */
  advance(ready: Ready): void {
    invariant(ready === this.outstanding, "advance() with a Ready this core did not hand out last");
    this.outstanding = undefined;
    if (ready.snapshot !== undefined) {
      this.log.stableSnapshotTo(ready.snapshot.meta.index);
      this.applied = Math.max(this.applied, ready.snapshot.meta.index);
    }
    const lastPersisted = ready.entries[ready.entries.length - 1];
    if (lastPersisted !== undefined) {
      invariant(
        this.storage.term(lastPersisted.index) === lastPersisted.term,
        () => `advance(): entry ${lastPersisted.index} was not persisted before advance`,
      );
      this.log.stableTo(lastPersisted.index, lastPersisted.term);
    }
    for (const entry of ready.committedEntries) {
      invariant(entry.index === this.applied + 1, () => `applied ${entry.index} after ${this.applied}`);
      this.applied = entry.index;
      if (entry.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(entry.data));
    }
    if (this.role === "leader") {
      // The leader counts itself toward commit only for entries on its own disk (§10.2.1).
      const self = this.progress.get(this.id);
      if (self?.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) this.broadcastAppend();
    }
  }

  /** The transport cannot reach `to`: stop pipelining to it and probe (etcd's ReportUnreachable). */
  reportUnreachable(to: RaftNodeId): void {
    const pr = this.progress.get(to);
    if (this.role === "leader" && pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leaderId: this.leaderId,
      commit: this.log.committed,
      applied: this.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      confState: { voters: [...this.conf.voters], observers: [...this.conf.observers] },
      progress: [...this.progress.values()].map((pr) => pr.view()),
      leadTransferee: this.leadTransferee,
      pendingReadRequests: this.pendingReads.length,
      counters: { ...this.counters },
    };
  }

  // ---------------------------------------------------------------- role transitions

  private becomeFollower(term: number, leaderId: RaftNodeId): void {
    this.transition("follower");
    this.reset(term);
    this.leaderId = leaderId;
  }

  /** A non-voting member (§4.2.1): replicates, never campaigns or votes. */
  private becomeObserver(term: number, leaderId: RaftNodeId): void {
    this.transition("observer");
    this.reset(term);
    this.leaderId = leaderId;
  }

  /** Pre-vote (§9.6): ask whether we could win before disturbing anyone's term. */
  private becomePreCandidate(): void {
    this.transition("pre-candidate");
    this.votes.clear();
    this.leaderId = NO_NODE;
    this.electionElapsed = 0;
    this.resetElectionTimer();
  }

  private becomeCandidate(): void {
    this.transition("candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
  }

  private becomeLeader(): void {
    this.transition("leader");
    this.reset(this.term);
    this.leaderId = this.id;
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.addProgress(id, next, false);
    for (const id of this.conf.observers) this.addProgress(id, next, true);
    const self = this.progress.get(this.id);
    invariant(self !== undefined, "a leader is a voter");
    self.matchIndex = this.log.stableLastIndex();
    self.becomeReplicate();
    // Conservatively: any unapplied entry might be a conf change (§4.1, one at a time).
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op that lets the leader commit entries of earlier terms (§3.6.2, §6.4).
    this.appendEntry(EntryType.Normal, new Uint8Array(0));
  }

  /** Follower or observer by our own membership. */
  private stepDown(term: number, leaderId: RaftNodeId): void {
    if (this.conf.observers.includes(this.id)) {
      this.becomeObserver(term, leaderId);
    } else {
      this.becomeFollower(term, leaderId);
    }
  }

  private transition(to: Role): void {
    invariant(ROLE_TRANSITIONS[this.role].includes(to), () => `illegal role change ${this.role} -> ${to}`);
    this.role = to;
  }

  private reset(term: number): void {
    invariant(term >= this.term, () => `term ${term} behind ${this.term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = NO_NODE;
      this.incomingSnapshot = undefined;
    }
    this.leaderId = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimer();
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = NO_NODE;
    this.transferElapsed = 0;
    this.pendingReads = [];
    this.uncommittedBytes = 0;
  }

  // ---------------------------------------------------------------- time

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTicks && this.promotable()) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.leadTransferee !== NO_NODE) {
      this.transferElapsed++;
      if (this.transferElapsed >= this.config.electionTicks) this.abortTransfer();
    }
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      // Check quorum (§6.2): a leader cut off from a majority steps down.
      if (this.config.checkQuorum && !this.quorumRecentlyActive()) {
        this.stepDown(this.term, NO_NODE);
        return;
      }
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.sendHeartbeats(this.latestReadContext());
    }
  }

  /** Start an election (etcd's MsgHup). transfer: asked by the leader (§3.10), skips pre-vote and leader stickiness. */
  private hup(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable()) return;
    // A committed but unapplied conf change could change who votes: wait until it is applied.
    if (this.hasUnappliedConfChange()) return;
    this.counters.electionsStarted++;
    if (this.config.preVote && !transfer) {
      this.becomePreCandidate();
    } else {
      this.becomeCandidate();
    }
    this.votes.set(this.id, true);
    if (this.maybeWinElection(transfer)) return;
    this.sendVoteRequests(transfer);
  }

  // ---------------------------------------------------------------- message handling

  /** Term rules common to all messages (§3.3, §9.6, §6.2 stickiness). False: the message is consumed. */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === "vote") {
        // Leader stickiness: we heard from a live leader within the minimum election timeout.
        const inLease = this.leaderId !== NO_NODE && this.electionElapsed < this.config.electionTicks;
        if (inLease && !m.transfer) {
          this.drop();
          return false;
        }
        if (m.preVote) return true; // a pre-vote never changes our term
      }
      if (m.type === "vote-response" && m.preVote && m.granted) return true; // granted at our future term
      const fromLeader = m.type === "append" || m.type === "snapshot";
      this.stepDown(m.term, fromLeader ? m.from : NO_NODE);
      return true;
    }
    if (m.term < this.term) {
      if (m.type === "append" || m.type === "snapshot") {
        // Tell a stale leader about the newer term so it steps down.
        this.sendAppendResponse(m.from, { success: false, matchIndex: 0, rejectHintIndex: 0, rejectHintTerm: 0 });
      } else if (m.type === "vote" && m.preVote) {
        this.send({ type: "vote-response", from: this.id, to: m.from, term: this.term, preVote: true, granted: false });
      } else {
        this.drop();
      }
      return false;
    }
    return true;
  }

  private handleVoteRequest(m: VoteRequest): void {
    // §3.6.1 election restriction, one vote per term; observers never vote.
    const canVote = this.vote === m.from || (this.vote === NO_NODE && this.leaderId === NO_NODE) || (m.preVote && m.term > this.term);
    const grant = this.role !== "observer" && canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (grant && !m.preVote) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    this.send({
      type: "vote-response",
      from: this.id,
      to: m.from,
      term: grant && m.preVote ? m.term : this.term,
      preVote: m.preVote,
      granted: grant,
    });
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = m.preVote ? "pre-candidate" : "candidate";
    if (this.role !== expected || !this.conf.voters.includes(m.from)) {
      this.drop();
      return;
    }
    this.votes.set(m.from, m.granted);
    if (this.maybeWinElection(false)) return;
    if (voteOutcome(this.conf.voters, this.votes) === "lost") this.stepDown(this.term, NO_NODE);
  }

  /** AppendEntries, also the heartbeat (§3.5). */
  private handleAppend(m: AppendRequest): void {
    if (!this.acceptLeader(m.from)) return;
    const context = m.readContext === undefined ? {} : { readContext: m.readContext };
    if (m.prevLogIndex < this.log.committed) {
      // Everything up to our commit matches any leader's log (Log Matching, §3.5).
      this.sendAppendResponse(m.from, { success: true, matchIndex: this.log.committed, rejectHintIndex: 0, rejectHintTerm: 0, ...context });
      return;
    }
    if (this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      const lastNewIndex = m.prevLogIndex + m.entries.length;
      const conflict = this.log.findConflict(m.entries);
      if (conflict !== 0) {
        invariant(conflict > this.log.committed, () => `leader ${m.from} conflicts with committed entry ${conflict}`);
        this.log.append(m.entries.slice(conflict - m.prevLogIndex - 1));
      }
      this.log.commitTo(Math.min(m.commit, lastNewIndex));
      this.sendAppendResponse(m.from, { success: true, matchIndex: lastNewIndex, rejectHintIndex: 0, rejectHintTerm: 0, ...context });
      return;
    }
    // Fast back-off: point the leader at the last index whose term is <= prevLogTerm.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.prevLogIndex, this.log.lastIndex()), m.prevLogTerm);
    this.sendAppendResponse(m.from, {
      success: false,
      matchIndex: m.prevLogIndex,
      rejectHintIndex: hintIndex,
      rejectHintTerm: this.log.term(hintIndex) ?? 0,
      ...context,
    });
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (this.role !== "leader" || pr === undefined) {
      this.drop();
      return;
    }
    pr.recentActive = true;
    if (m.readContext !== undefined) this.handleReadAck(m.from, m.readContext);
    if (!m.success) {
      let probeFrom = m.rejectHintIndex;
      if (m.rejectHintTerm > 0) probeFrom = this.log.findConflictByTerm(m.rejectHintIndex, m.rejectHintTerm);
      if (!pr.maybeDecreaseTo(m.matchIndex, probeFrom)) {
        this.drop();
        return;
      }
      if (pr.state === "replicate") pr.becomeProbe();
      this.maybeSendAppend(m.from, true);
      return;
    }
    if (m.matchIndex > this.log.lastIndex()) {
      this.drop();
      return;
    }
    const wasPaused = pr.paused;
    if (pr.maybeUpdate(m.matchIndex)) {
      if (pr.state === "probe") pr.becomeReplicate();
      if (pr.state === "snapshot" && pr.matchIndex >= (pr.snapshot?.meta.index ?? 0)) pr.becomeProbe();
      if (this.maybeCommit()) {
        this.broadcastAppend();
      } else if (wasPaused) {
        // It was paused, so it may have missed the commit index: tell it, even with nothing new.
        this.maybeSendAppend(m.from, true);
      }
      if (m.from === this.leadTransferee && pr.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
    this.sendAppendsWhileOpen(m.from);
  }

  /** InstallSnapshot, one chunk (§5.3 of the thesis's compaction chapter, chunked). */
  private handleSnapshot(m: SnapshotRequest): void {
    if (!this.acceptLeader(m.from)) return;
    let incoming = this.incomingSnapshot;
    if (m.offset === 0) {
      incoming = { meta: m.meta, chunks: [], bytes: 0 };
      this.incomingSnapshot = incoming;
    }
    if (incoming === undefined || !sameSnapshotMeta(incoming.meta, m.meta) || m.offset !== incoming.bytes) {
      const nextOffset = incoming !== undefined && sameSnapshotMeta(incoming.meta, m.meta) ? incoming.bytes : 0;
      this.sendSnapshotResponse(m.from, false, nextOffset, m.meta.index);
      return;
    }
    if (incoming.bytes + m.chunk.length > INCOMING_SNAPSHOT_BYTES_MAX) {
      this.incomingSnapshot = undefined;
      this.sendSnapshotResponse(m.from, false, 0, m.meta.index);
      return;
    }
    incoming.chunks.push(m.chunk.slice());
    incoming.bytes += m.chunk.length;
    if (!m.done) {
      this.sendSnapshotResponse(m.from, true, incoming.bytes, m.meta.index);
      return;
    }
    this.incomingSnapshot = undefined;
    const data = new Uint8Array(incoming.bytes);
    let offset = 0;
    for (const chunk of incoming.chunks) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
    this.restoreSnapshot({ meta: m.meta, data });
    this.sendSnapshotResponse(m.from, true, incoming.bytes, m.meta.index);
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    const pr = this.progress.get(m.from);
    if (this.role !== "leader" || pr === undefined || pr.state !== "snapshot" || pr.snapshot?.meta.index !== m.snapshotIndex) {
      this.drop();
      return;
    }
    pr.recentActive = true;
    pr.snapshotHeard = true;
    const snapshot = pr.snapshot;
    if (m.success && m.nextOffset >= snapshot.data.length) {
      pr.maybeUpdate(snapshot.meta.index);
      pr.becomeProbe();
      this.maybeSendAppend(m.from, true);
      return;
    }
    // Stop-and-wait: move forward on the acknowledgement of the chunk just sent, rewind to
    // where the follower says it is on a mismatch; anything else is a duplicate.
    const nextOffset = Math.min(m.nextOffset, snapshot.data.length);
    const forward = nextOffset > pr.snapshotOffset;
    const rewind = !m.success && nextOffset < pr.snapshotOffset;
    if (!forward && !rewind) return;
    pr.snapshotOffset = nextOffset;
    this.sendSnapshotChunk(m.from, pr);
  }

  private handleTimeoutNow(m: TimeoutNowRequest): void {
    if (this.role === "leader" || !this.promotable() || m.from !== this.leaderId) {
      this.drop();
      return;
    }
    this.hup(true);
  }

  /** An append or snapshot from the leader of our term: follow it. False if we are (oddly) a leader too. */
  private acceptLeader(from: RaftNodeId): boolean {
    if (this.role === "leader") {
      this.drop();
      return false;
    }
    if (this.role === "candidate" || this.role === "pre-candidate") {
      this.stepDown(this.term, from);
    }
    this.leaderId = from;
    this.electionElapsed = 0;
    return true;
  }

  private handleReadAck(from: RaftNodeId, requestId: string): void {
    const read = this.pendingReads.find((candidate) => candidate.requestId === requestId);
    if (read === undefined || read.index < 0 || !this.conf.voters.includes(from)) return;
    read.acks.add(from);
    this.maybeReleaseReads(read);
  }

  /** Once a majority acknowledged a heartbeat for `read`, it and every earlier read are confirmed (etcd's readOnly.advance). */
  private maybeReleaseReads(read: PendingRead): void {
    if (!hasMajority(this.conf.voters, read.acks)) return;
    const position = this.pendingReads.indexOf(read);
    invariant(position >= 0, "released read is pending");
    for (const released of this.pendingReads.slice(0, position + 1)) {
      invariant(released.index >= 0 && released.index <= read.index, "earlier reads recorded earlier commit indices");
      this.readStates.push({ requestId: released.requestId, index: released.index });
    }
    this.pendingReads = this.pendingReads.slice(position + 1);
  }

  // ---------------------------------------------------------------- leader internals

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([entry]);
    invariant(this.log.lastIndex() === entry.index, "appended entry is the last");
    this.uncommittedBytes += data.length;
    this.broadcastAppend();
    return entry;
  }

  /** Commit rule (§3.6.2, Figure 8): a majority of voters holds N and entry N is from this term. */
  private maybeCommit(): boolean {
    const quorumIndex = majorityCommittedIndex(this.conf.voters, (id) => this.progress.get(id)?.matchIndex ?? 0);
    if (quorumIndex <= this.log.committed || this.log.term(quorumIndex) !== this.term) return false;
    const firstNew = this.log.committed + 1;
    const wasCommittedInTerm = this.committedInCurrentTerm();
    this.log.commitTo(quorumIndex);
    for (const entry of this.log.entries(firstNew, quorumIndex + 1, Number.MAX_SAFE_INTEGER) ?? []) {
      if (entry.term === this.term) this.uncommittedBytes -= entry.data.length;
    }
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes);
    if (!wasCommittedInTerm) this.admitWaitingReads();
    return true;
  }

  /** §6.4 step 1: reads that arrived before the leader committed in its term take the commit index now. */
  private admitWaitingReads(): void {
    const waiting = this.pendingReads.filter((read) => read.index < 0);
    const last = waiting[waiting.length - 1];
    if (last === undefined) return;
    for (const read of waiting) read.index = this.log.committed;
    this.maybeReleaseReads(last);
    if (this.pendingReads.includes(last)) this.sendHeartbeats(last.requestId);
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, true);
    }
  }

  /** Pipelines appends to a peer until its window closes or there is nothing more to send. */
  private sendAppendsWhileOpen(to: RaftNodeId): void {
    for (let sent = 0; sent < this.config.inflightAppendsMax; sent++) {
      if (!this.maybeSendAppend(to, false)) return;
    }
  }

  /** Sends the next append to a peer (or starts a snapshot if it needs compacted entries). */
  private maybeSendAppend(to: RaftNodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.paused) return false;
    if (pr.nextIndex > this.log.lastIndex() + 1) pr.nextIndex = this.log.lastIndex() + 1;
    const prevLogIndex = pr.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    const entries = this.log.entries(pr.nextIndex, this.log.lastIndex() + 1, this.config.appendBytesMax);
    if (prevLogTerm === undefined || entries === undefined) return this.startSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: "append", from: this.id, to, term: this.term, prevLogIndex, prevLogTerm, entries, commit: this.log.committed });
    pr.sentEntries(prevLogIndex + entries.length, entries.length);
    return true;
  }

  private startSnapshot(to: RaftNodeId, pr: Progress): boolean {
    const snapshot = this.storage.snapshot();
    invariant(
      snapshot !== undefined && snapshot.meta.index >= this.log.firstIndex() - 1,
      () => `peer ${to} needs compacted entries but storage has no snapshot covering ${this.log.firstIndex() - 1}`,
    );
    pr.becomeSnapshot(snapshot);
    this.counters.snapshotsSent++;
    this.sendSnapshotChunk(to, pr);
    return true;
  }

  private sendSnapshotChunk(to: RaftNodeId, pr: Progress): void {
    const snapshot = pr.snapshot;
    invariant(snapshot !== undefined, "snapshot state holds a snapshot");
    const offset = pr.snapshotOffset;
    const chunk = snapshot.data.slice(offset, offset + this.config.snapshotChunkBytes);
    const done = offset + chunk.length >= snapshot.data.length;
    this.send({ type: "snapshot", from: this.id, to, term: this.term, meta: snapshot.meta, offset, chunk, done });
  }

  /**
   * Heartbeats are empty appends (§3.5). For a replicating peer they check the optimistic
   * nextIndex - 1, so appends lost in the pipeline surface as a rejection (back to probe);
   * for others they sit at the match point, which the peer is known to hold.
   */
  private sendHeartbeats(readContext: string | undefined): void {
    const context = readContext === undefined ? {} : { readContext };
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Resend the current chunk if nothing was heard since the last heartbeat (it may be lost).
      if (pr.state === "snapshot" && !pr.snapshotHeard) this.sendSnapshotChunk(id, pr);
      pr.snapshotHeard = false;
      let prevLogIndex = Math.min(pr.state === "replicate" ? pr.nextIndex - 1 : pr.matchIndex, this.log.lastIndex());
      let prevLogTerm = this.log.term(prevLogIndex);
      if (prevLogTerm === undefined) {
        // The peer's position was compacted away: it needs a snapshot (sent from probe).
        if (pr.state !== "snapshot") {
          pr.becomeProbe();
          this.maybeSendAppend(id, true);
        }
        prevLogIndex = 0;
        prevLogTerm = 0;
      }
      this.send({
        type: "append",
        from: this.id,
        to: id,
        term: this.term,
        prevLogIndex,
        prevLogTerm,
        entries: [],
        commit: this.log.committed,
        ...context,
      });
    }
  }

  private sendTimeoutNow(to: RaftNodeId): void {
    this.send({ type: "timeout-now", from: this.id, to, term: this.term });
  }

  private abortTransfer(): void {
    this.leadTransferee = NO_NODE;
    this.transferElapsed = 0;
  }

  /** Check quorum (§6.2): did a majority of voters (counting us) respond since the last check? Resets the window. */
  private quorumRecentlyActive(): boolean {
    const active = new Set<RaftNodeId>([this.id]);
    for (const [id, pr] of this.progress) {
      if (pr.recentActive) active.add(id);
      if (id !== this.id) pr.recentActive = false;
    }
    return hasMajority(this.conf.voters, active);
  }

  private latestReadContext(): string | undefined {
    for (let i = this.pendingReads.length - 1; i >= 0; i--) {
      const read = this.pendingReads[i];
      if (read !== undefined && read.index >= 0) return read.requestId;
    }
    return undefined;
  }

  private addProgress(id: RaftNodeId, nextIndex: number, isObserver: boolean): void {
    this.progress.set(id, new Progress(id, nextIndex, this.config.inflightAppendsMax, isObserver));
  }

  // ---------------------------------------------------------------- membership

  private isValidConfChange(change: ConfChange): boolean {
    const isVoter = this.conf.voters.includes(change.nodeId);
    const isObserver = this.conf.observers.includes(change.nodeId);
    switch (change.type) {
      case "addVoter":
        return !isVoter;
      case "addObserver":
        // Demoting a voter removes one voter (still one change); never the leader itself, nor the last voter.
        return !isObserver && change.nodeId !== this.id && !(isVoter && this.conf.voters.length === 1);
      case "removeNode":
        return (isVoter || isObserver) && !(isVoter && this.conf.voters.length === 1);
    }
  }

  /** Applies one committed membership change (§4.1: takes effect when applied here). */
  private applyConfChange(change: ConfChange): void {
    // An empty configuration here means this node never learned the cluster's initial members
    // (see bootstrap-snapshot.ts); applying "add X" would make X a quorum of one.
    invariant(
      this.conf.voters.length > 0 || this.conf.observers.length > 0,
      () =>
        `node ${this.id} is applying ${change.type} ${change.nodeId} to an empty configuration: it missed the cluster's bootstrap membership; bootstrap clusters with bootstrapSnapshot()`,
    );
    const voters = this.conf.voters.filter((id) => id !== change.nodeId);
    const observers = this.conf.observers.filter((id) => id !== change.nodeId);
    if (change.type === "addVoter") voters.push(change.nodeId);
    if (change.type === "addObserver") observers.push(change.nodeId);
    this.conf = { voters: voters.sort((a, b) => a - b), observers: observers.sort((a, b) => a - b) };
    if (this.role === "leader") {
      this.applyConfChangeAsLeader(change);
      return;
    }
    const selfObserver = this.conf.observers.includes(this.id);
    if (selfObserver && this.role !== "observer") this.becomeObserver(this.term, this.leaderId);
    if (!selfObserver && this.role === "observer") this.becomeFollower(this.term, this.leaderId);
  }

  private applyConfChangeAsLeader(change: ConfChange): void {
    if (!this.conf.voters.includes(this.id)) {
      // A removed (or demoted) leader steps down once the change is committed and applied (§4.2.2).
      this.stepDown(this.term, NO_NODE);
      return;
    }
    const id = change.nodeId;
    const member = this.conf.voters.includes(id) || this.conf.observers.includes(id);
    const pr = this.progress.get(id);
    if (!member) {
      this.progress.delete(id);
      for (const read of this.pendingReads) read.acks.delete(id);
    } else if (pr === undefined) {
      this.addProgress(id, this.log.lastIndex() + 1, this.conf.observers.includes(id));
    } else {
      pr.isObserver = this.conf.observers.includes(id);
    }
    if (this.leadTransferee !== NO_NODE && !this.conf.voters.includes(this.leadTransferee)) this.abortTransfer();
    if (this.maybeCommit()) {
      this.broadcastAppend();
    } else if (member) {
      this.maybeSendAppend(id, true);
    }
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.applyFloor()) return false;
    const pending = this.log.entries(this.applyFloor() + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER) ?? [];
    return pending.some((entry) => entry.type === EntryType.ConfChange);
  }

  // ---------------------------------------------------------------- follower internals

  /** Installs a complete snapshot unless our log already covers it. */
  private restoreSnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    if (index <= this.log.committed) return;
    if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index); // our log already holds it: just fast-forward commit
      return;
    }
    this.log.restore(snapshot);
    this.conf = { voters: [...snapshot.meta.confState.voters], observers: [...snapshot.meta.confState.observers] };
    this.counters.snapshotsRestored++;
    const selfObserver = this.conf.observers.includes(this.id);
    if (selfObserver && this.role !== "observer") this.becomeObserver(this.term, this.leaderId);
    if (!selfObserver && this.role === "observer") this.becomeFollower(this.term, this.leaderId);
  }

  // ---------------------------------------------------------------- helpers

  /** Counts votes; a won pre-vote starts the real election (§9.6), a won election makes us leader. */
  private maybeWinElection(transfer: boolean): boolean {
    if (voteOutcome(this.conf.voters, this.votes) !== "won") return false;
    if (this.role === "pre-candidate") {
      this.becomeCandidate();
      this.votes.set(this.id, true);
      if (voteOutcome(this.conf.voters, this.votes) !== "won") {
        this.sendVoteRequests(transfer);
        return true;
      }
    }
    this.becomeLeader();
    return true;
  }

  /** RequestVote to every other voter; a pre-candidate asks at the term it would campaign in. */
  private sendVoteRequests(transfer: boolean): void {
    const preVote = this.role === "pre-candidate";
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        type: "vote",
        from: this.id,
        to: id,
        term: preVote ? this.term + 1 : this.term,
        preVote,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  private checkProposal(bytes: number): Refusal | undefined {
    if (this.role !== "leader") return this.refuse("not-leader");
    if (this.leadTransferee !== NO_NODE) return this.refuse("transfer-in-progress");
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.uncommittedBytesMax) return this.refuse("proposal-bytes-full");
    return undefined;
  }

  private refuse(reason: RefusalReason): Refusal {
    this.counters.proposalsRefused++;
    return { ok: false, reason, leaderId: this.leaderId };
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Entries at or below this index are applied or covered by a snapshot being installed. */
  private applyFloor(): number {
    return Math.max(this.applied, this.log.pendingSnapshot()?.meta.index ?? 0);
  }

  private nextCommittedEntries(): Entry[] {
    const lo = this.applyFloor() + 1;
    if (lo > this.log.committed) return [];
    const entries = this.log.entries(lo, this.log.committed + 1, COMMITTED_ENTRIES_BYTES_MAX);
    invariant(entries !== undefined, () => `committed entries from ${lo} were compacted before being applied`);
    return entries;
  }

  private resetElectionTimer(): void {
    // Randomized in [electionTicks, 2*electionTicks) (§3.4).
    this.randomizedElectionTicks = this.config.electionTicks + this.config.random.int(this.config.electionTicks);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leaderId: this.leaderId, role: this.role };
  }

  private send(message: Message): void {
    if (this.outbox.length >= OUTBOX_MESSAGES_MAX) {
      this.drop();
      return;
    }
    this.outbox.push(message);
  }

  private sendAppendResponse(
    to: RaftNodeId,
    fields: Pick<AppendResponse, "success" | "matchIndex" | "rejectHintIndex" | "rejectHintTerm" | "readContext">,
  ): void {
    this.send({ type: "append-response", from: this.id, to, term: this.term, ...fields });
  }

  private sendSnapshotResponse(to: RaftNodeId, success: boolean, nextOffset: number, snapshotIndex: number): void {
    this.send({ type: "snapshot-response", from: this.id, to, term: this.term, success, nextOffset, snapshotIndex });
  }

  private drop(): void {
    this.counters.messagesDropped++;
  }
}

function validateConfig(config: RaftConfig): void {
  const positive = (name: keyof RaftConfig, value: number): void =>
    invariant(Number.isInteger(value) && value > 0, () => `raft config ${name} must be a positive integer, got ${value}`);
  positive("id", config.id);
  positive("electionTicks", config.electionTicks);
  positive("heartbeatTicks", config.heartbeatTicks);
  positive("appendBytesMax", config.appendBytesMax);
  positive("inflightAppendsMax", config.inflightAppendsMax);
  positive("snapshotChunkBytes", config.snapshotChunkBytes);
  invariant(config.heartbeatTicks < config.electionTicks, "raft config heartbeatTicks must be below electionTicks");
}

const isIndex = (value: number): boolean => Number.isInteger(value) && value >= 0;

/** Shape checks on network input, so a malformed message is dropped instead of tripping an invariant. */
function wellFormed(m: Message): boolean {
  if (!isIndex(m.term)) return false;
  switch (m.type) {
    case "vote":
      return isIndex(m.lastLogIndex) && isIndex(m.lastLogTerm);
    case "append":
      return (
        isIndex(m.prevLogIndex) &&
        isIndex(m.prevLogTerm) &&
        isIndex(m.commit) &&
        m.entries.every((entry, i) => entry.index === m.prevLogIndex + 1 + i && entry.term <= m.term && entry.term >= m.prevLogTerm)
      );
    case "append-response":
      return isIndex(m.matchIndex) && isIndex(m.rejectHintIndex) && isIndex(m.rejectHintTerm);
    case "snapshot":
      return isIndex(m.offset) && isIndex(m.meta.index) && isIndex(m.meta.term);
    case "snapshot-response":
      return isIndex(m.nextOffset) && isIndex(m.snapshotIndex);
    default:
      return true;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}

function sameSnapshotMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}
