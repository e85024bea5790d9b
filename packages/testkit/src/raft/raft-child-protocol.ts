// The IPC protocol between a test (parent) and one Raft node child process
// (raft-node-child.ts). Every request carries a number the reply repeats; replies to one
// child arrive in the order the child produced them, not necessarily in request order.
// Messages are plain JSON (the default `child_process` serialization).

import type { RaftNodeId, RaftNodeStatus } from "@castle/raft";

/** Codes a reply can fail with: RaftNodeError's codes, plus the harness's own. */
export type RaftChildErrorCode =
  | "NOT_LEADER"
  | "PROPOSAL_DROPPED"
  | "REFUSED"
  | "TIMED_OUT"
  | "CLOSED"
  | "FAILED"
  /** The child is not running, or exited before it replied (the outcome of a proposal is unknown). */
  | "UNAVAILABLE"
  /** The parent gave up waiting for the reply (the outcome of a proposal is unknown). */
  | "NO_REPLY";

export type RaftChildRequest =
  | { readonly requestId: number; readonly op: "propose"; readonly data: string }
  | { readonly requestId: number; readonly op: "status"; readonly withItems: boolean }
  | { readonly requestId: number; readonly op: "readIndex" };

/** What the state machine has applied: count and an order-sensitive hash (sha256, hex). */
export interface AppliedSummary {
  readonly count: number;
  readonly lastIndex: number;
  readonly hash: string;
  /** The applied data in order, only when asked for (`withItems`). */
  readonly items?: readonly string[];
}

export interface RaftChildFailure {
  readonly ok: false;
  readonly code: RaftChildErrorCode;
  readonly message: string;
  /** From NOT_LEADER and friends: the leader this node knows of (0: none). */
  readonly leaderId: RaftNodeId;
}

export type ProposeReply = { readonly ok: true; readonly index: number; readonly term: number } | RaftChildFailure;
export type StatusReply = { readonly ok: true; readonly status: RaftNodeStatus; readonly applied: AppliedSummary } | RaftChildFailure;
export type ReadIndexReply = { readonly ok: true } | RaftChildFailure;

export type RaftChildReply = (ProposeReply | StatusReply | ReadIndexReply) & { readonly requestId: number };

/** Sent once, when the transport is bound. Also printed on stdout as one JSON line. */
export interface RaftChildReady {
  readonly type: "ready";
  readonly nodeId: RaftNodeId;
  readonly pid: number;
  readonly port: number;
}

export type RaftChildMessage = RaftChildReady | ({ readonly type: "reply" } & RaftChildReply);
