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
  /** On success: the follower's last index matching the leader. */
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
 *    entries[0].index), then `hardState` (if any), durably;
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
}
