// The vocabulary of the Raft core: log entries, persistent state, messages, and the Ready
// batch the core hands its driver. Shaped after etcd-io/raft's Ready/Advance contract and
// the Raft thesis (Ongaro 2014); section numbers below refer to the thesis.
//
// The core is synchronous and does no I/O. Time advances only through tick(); randomness
// comes from an injected Random; storage is read through RaftLogStorage (synchronously)
// and written by the driver from Ready.

import type { Random } from "@castle/common";

/** A node's id. 0 means "none" (no vote, no known leader). */
export type RaftNodeId = number;
export const NO_NODE: RaftNodeId = 0;

export enum EntryType {
  /** Application data (the state machine's commands). Empty data = the leader's no-op (§8). */
  Normal = 0,
  /** A membership change (see ConfChange); takes effect when applied. */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Membership changes, one node at a time (§4.1); `data` of a ConfChange entry is encodeConfChange(). */
export type ConfChange =
  | { readonly type: "addVoter"; readonly nodeId: RaftNodeId }
  | { readonly type: "addObserver"; readonly nodeId: RaftNodeId }
  | { readonly type: "removeNode"; readonly nodeId: RaftNodeId };

/** Voters vote and count toward commit; observers (non-voting members, Raft "learners") only replicate. */
export interface ConfState {
  readonly voters: readonly RaftNodeId[];
  readonly observers: readonly RaftNodeId[];
}

/** What must be on stable storage before any message that depends on it is sent (§3.8). */
export interface HardState {
  readonly term: number;
  readonly vote: RaftNodeId;
  readonly commit: number;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader" | "observer";

/** Volatile state worth reporting; in Ready only when it changed. */
export interface SoftState {
  readonly leaderId: RaftNodeId;
  readonly role: Role;
}

/** A linearizable read may be served once the applied index reaches `index` (§6.4, ReadIndex). */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

// ---- Messages (every one carries from, to and the sender's term) ----

interface MessageBase {
  readonly from: RaftNodeId;
  readonly to: RaftNodeId;
  readonly term: number;
}

/** RequestVote, or PreVote when preVote is set (§9.6). `transfer` lets it bypass leader stickiness (§3.10). */
export interface VoteRequest extends MessageBase {
  readonly type: "vote";
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: "vote-response";
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendEntries; also the heartbeat when entries is empty (§3.5). */
export interface AppendRequest extends MessageBase {
  readonly type: "append";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  /** Set on heartbeats that confirm leadership for pending ReadIndex requests. */
  readonly readContext?: string;
}

export interface AppendResponse extends MessageBase {
  readonly type: "append-response";
  readonly success: boolean;
  /** On success: the follower's last index matching the leader. On rejection: the prevLogIndex it rejected (lets the leader drop stale rejections). */
  readonly matchIndex: number;
  /** On rejection: fast back-off hint (§5.3 optimisation): the follower's best guess of the conflict point. */
  readonly rejectHintIndex: number;
  readonly rejectHintTerm: number;
  readonly readContext?: string;
}

/** InstallSnapshot in chunks (§5); the follower acknowledges each chunk. */
export interface SnapshotRequest extends MessageBase {
  readonly type: "snapshot";
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly chunk: Uint8Array;
  readonly done: boolean;
}

export interface SnapshotResponse extends MessageBase {
  readonly type: "snapshot-response";
  readonly success: boolean;
  /** Next byte offset the follower expects (0 to restart the transfer). */
  readonly nextOffset: number;
  readonly snapshotIndex: number;
}

/** Leadership transfer: tells the target to start an election at once (§3.10). */
export interface TimeoutNowRequest extends MessageBase {
  readonly type: "timeout-now";
}

export type Message = VoteRequest | VoteResponse | AppendRequest | AppendResponse | SnapshotRequest | SnapshotResponse | TimeoutNowRequest;

/**
 * What the core asks its driver to do. Contract, in this order:
 * 1. persist `snapshot` (if any), then `entries` (truncating any stored suffix from
 *    entries[0].index), then `hardState` (if any), durably (a hard state that only moves
 *    `commit` need not be: commit is volatile in Raft, §3.8);
 * 2. only then send `messages` (they may depend on what was persisted);
 * 3. restore the state machine from `snapshot` (if any), apply `committedEntries` in order;
 * 4. call advance(ready) with this very object.
 * The driver must not call ready() again before advance().
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}

/**
 * The core's read-only view of stable storage (etcd's Storage). Synchronous: adapters keep
 * what the core reads in memory and write through to disk from Ready.
 */
export interface RaftLogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if any exist, stopping once maxBytes would be exceeded. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at index; the snapshot's term at its index; undefined if compacted away or absent. */
  term(index: number): number | undefined;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot, if any (what a lagging follower is sent). */
  snapshot(): Snapshot | undefined;
}

export interface RaftConfig {
  readonly id: RaftNodeId;
  /** Ticks without hearing from a leader before campaigning; the timeout is randomized in [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Upper bound on entry bytes in one append message. */
  readonly appendBytesMax: number;
  /** Append messages in flight to one follower before waiting for acknowledgements. */
  readonly inflightAppendsMax: number;
  readonly snapshotChunkBytes: number;
  readonly random: Random;
  /** Pending ReadIndex requests a leader holds (§6.4); more are refused with "read-queue-full". Default 1024. */
  readonly readRequestsMax?: number;
  /** Bytes of proposed-but-uncommitted entry data a leader holds; more are refused with "proposal-bytes-full". Default 64 MiB. */
  readonly uncommittedBytesMax?: number;
}

// ---- What the core's methods return (RaftCore) ----

/** Why the core refused a request. All are retriable against `leaderId` or later. */
export type RefusalReason =
  | "not-leader"
  | "transfer-in-progress"
  | "conf-change-pending"
  | "invalid-conf-change"
  | "proposal-bytes-full"
  | "read-queue-full"
  | "duplicate-request"
  | "unknown-node";

export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  /** The leader this node knows of (NO_NODE if none): where to retry. */
  readonly leaderId: RaftNodeId;
}

/** The entry was appended to the leader's log at (index, term); it is committed once it appears in committedEntries. */
export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | Refusal;

/** Accepted: a ReadState with this requestId appears in a later Ready once leadership is confirmed. */
export type ReadIndexResult = { readonly ok: true } | Refusal;

/** Accepted: the leader stops taking proposals and hands over, or aborts after an election timeout. */
export type TransferResult = { readonly ok: true } | Refusal;

export interface RaftCoreOptions {
  /** Index the state machine has applied (restored) on restart; default: storage.firstIndex() - 1 (the snapshot). */
  readonly applied?: number;
}

/** How the leader sends to one peer: probe (one append at a time), replicate (pipelined), snapshot (sending chunks). */
export type ProgressState = "probe" | "replicate" | "snapshot";

export interface PeerProgress {
  readonly id: RaftNodeId;
  readonly matchIndex: number;
  readonly nextIndex: number;
  readonly state: ProgressState;
  /** Append messages sent but not yet acknowledged. */
  readonly inflight: number;
  readonly recentActive: boolean;
  readonly isObserver: boolean;
  /** In "snapshot" state: the snapshot's index and the next byte offset to send. */
  readonly pendingSnapshotIndex: number;
  readonly snapshotOffset: number;
}

export interface RaftCounters {
  /** Inbound messages ignored: stale term, unknown sender, out-of-place type, stale response. */
  readonly messagesDropped: number;
  readonly messagesReceived: number;
  readonly messagesSent: number;
  readonly proposalsRefused: number;
  readonly electionsStarted: number;
  readonly snapshotsSent: number;
  readonly snapshotsRestored: number;
}

export interface RaftStatus {
  readonly id: RaftNodeId;
  readonly term: number;
  readonly vote: RaftNodeId;
  readonly role: Role;
  readonly leaderId: RaftNodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Membership as of the applied index. */
  readonly confState: ConfState;
  /** Leader only (empty otherwise); includes the leader itself. */
  readonly progress: readonly PeerProgress[];
  /** Leader only: the transfer target, NO_NODE if none. */
  readonly leadTransferee: RaftNodeId;
  readonly pendingReadRequests: number;
  readonly counters: RaftCounters;
}
