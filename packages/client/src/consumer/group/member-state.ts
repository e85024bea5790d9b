// One member's view of its group: phase, member id, generation, and what must happen next
// (rejoin, give partitions up as lost, stop for good). Pure: the membership driver feeds it
// answers and reads its decisions; it never does I/O or reads a clock.
//
// Phases (Kafka's MemberState) and their moves, checked on every change:
//   unjoined --join sent--> joining --joined--> syncing --synced--> stable
//   joining/syncing --retry or rejoin--> joining | unjoined;  stable --rejoin--> joining
//   any --generation reset or left--> unjoined
// The member keeps its generation while it rejoins (cooperative members report the generation
// their owned partitions come from); only fencing errors and leaving reset it.

import { invariant } from "@castle/common";
import { ErrorCode, isRetriableCode, type JoinGroupResponse } from "@castle/protocol";

export type MemberPhase = "unjoined" | "joining" | "syncing" | "stable";

const TRANSITIONS: Readonly<Record<MemberPhase, readonly MemberPhase[]>> = {
  unjoined: ["unjoined", "joining"],
  joining: ["joining", "syncing", "unjoined"],
  syncing: ["joining", "stable", "unjoined"],
  stable: ["joining", "unjoined", "stable"],
};

/** Kafka's NO_GENERATION. */
export const NO_GENERATION_ID = -1;

/** What a member does about an error code from Heartbeat, SyncGroup or OffsetCommit. */
export type MemberErrorAction =
  /** Success. */
  | "none"
  /** REBALANCE_IN_PROGRESS: keep everything, rejoin on the next poll(). */
  | "rejoin"
  /** ILLEGAL_GENERATION: the partitions are lost; rejoin with the same member id. */
  | "reset-generation"
  /** UNKNOWN_MEMBER_ID: the partitions are lost; rejoin as a new member. */
  | "reset-member"
  /** FENCED_INSTANCE_ID: the partitions are lost; a static member must stop, a dynamic one rejoins. */
  | "fenced"
  /** A retriable error (coordinator moved, timeout): try again later, change nothing. */
  | "retry"
  /** Anything else: report it, change nothing. */
  | "report";

export function memberErrorAction(code: number): MemberErrorAction {
  switch (code) {
    case ErrorCode.NONE:
      return "none";
    case ErrorCode.REBALANCE_IN_PROGRESS:
      return "rejoin";
    case ErrorCode.ILLEGAL_GENERATION:
      return "reset-generation";
    case ErrorCode.UNKNOWN_MEMBER_ID:
      return "reset-member";
    case ErrorCode.FENCED_INSTANCE_ID:
      return "fenced";
    default:
      return isRetriableCode(code) ? "retry" : "report";
  }
}

/** The identity a request was sent with, to tell a stale answer from a current one. */
export interface MemberIdentity {
  readonly generationId: number;
  readonly memberId: string;
}

export class GroupMemberState {
  phase: MemberPhase = "unjoined";
  memberId = "";
  generationId = NO_GENERATION_ID;
  protocolName = "";
  leaderId = "";
  /** Why the member must (re)join; undefined while it need not. A new member must join. */
  rejoinReason: string | undefined = "the consumer subscribed";
  /** Set when the generation was reset: owned partitions must be given up as lost before rejoining. */
  lostReason: string | undefined;

  constructor(readonly groupInstanceId: string | undefined) {}

  get isStatic(): boolean {
    return this.groupInstanceId !== undefined;
  }

  get isLeader(): boolean {
    return this.memberId !== "" && this.memberId === this.leaderId;
  }

  /** In a generation the coordinator gave it (commits may carry it). */
  get inGeneration(): boolean {
    return this.generationId !== NO_GENERATION_ID && this.memberId !== "";
  }

  get rebalancing(): boolean {
    return this.phase === "joining" || this.phase === "syncing";
  }

  identity(): MemberIdentity {
    return { generationId: this.generationId, memberId: this.memberId };
  }

  /** True when `sent` is still the member's identity (an answer to it may change the state). */
  isCurrent(sent: MemberIdentity): boolean {
    return sent.generationId === this.generationId && sent.memberId === this.memberId;
  }

  needsJoin(): boolean {
    return !this.rebalancing && (this.phase === "unjoined" || this.rejoinReason !== undefined);
  }

  private become(next: MemberPhase): void {
    invariant(TRANSITIONS[this.phase].includes(next), () => `group member cannot move from ${this.phase} to ${next}`);
    this.phase = next;
  }

  /** Starts a join; returns why (for JoinGroup's reason). */
  beginJoin(): string {
    this.become("joining");
    const reason = this.rejoinReason ?? "rejoining";
    this.rejoinReason = undefined;
    return reason;
  }

  /** MEMBER_ID_REQUIRED (KIP-394): join again at once with the id the coordinator gave. */
  handleMemberIdRequired(memberId: string): void {
    invariant(this.phase === "joining", "MEMBER_ID_REQUIRED outside a join");
    this.memberId = memberId;
  }

  handleJoined(response: JoinGroupResponse): void {
    this.become("syncing");
    this.generationId = response.generationId;
    this.memberId = response.memberId;
    this.protocolName = response.protocolName;
    this.leaderId = response.leader;
  }

  handleSynced(): void {
    this.become("stable");
  }

  /** A join or sync that failed without news about the generation: try again later. */
  abandonJoin(reason: string): void {
    if (this.rebalancing) this.become("unjoined");
    this.rejoinReason ??= reason;
  }

  requestRejoin(reason: string): void {
    this.rejoinReason ??= reason;
  }

  /**
   * The coordinator no longer knows this generation (or member): the member's partitions are
   * lost, and it rejoins from scratch (keeping its member id unless `resetMemberId`).
   */
  resetGeneration(reason: string, options: { resetMemberId: boolean; lost: boolean }): void {
    this.become("unjoined");
    this.generationId = NO_GENERATION_ID;
    this.protocolName = "";
    this.leaderId = "";
    if (options.resetMemberId) this.memberId = "";
    if (options.lost) this.lostReason ??= reason;
    this.rejoinReason ??= reason;
  }

  /** Reads and clears the lost-partitions flag. */
  takeLostReason(): string | undefined {
    const reason = this.lostReason;
    this.lostReason = undefined;
    return reason;
  }
}
