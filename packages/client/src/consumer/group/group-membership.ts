// The driver of one member's group protocol: JoinGroup (with KIP-394's MEMBER_ID_REQUIRED
// second join), the leader's assignment, SyncGroup, heartbeats on a timer, and LeaveGroup. It
// keeps GroupMemberState (member-state.ts) and does the I/O; what the consumer does with an
// assignment (revoke, assign, callbacks) is consumer-coordinator.ts's business.
//
// Heartbeats run every heartbeatIntervalMs while the member is stable, whether or not the
// application polls; each also checks the poll timer: with no poll() for maxPollIntervalMs the
// member leaves the group (Kafka's behaviour), so its partitions move on, and the next poll()
// rejoins. Answers to requests from an older generation are ignored. Timers are unref'd and
// stopped by close().

import type { Clock, Logger } from "@castle/common";
import {
  CONSUMER_PROTOCOL_TYPE,
  ErrorCode,
  type JoinGroupResponse,
  ProtocolError,
  protocolError,
  type SyncGroupAssignmentInput,
} from "@castle/protocol";
import { errorFromWire } from "../../errors/wire-error.js";
import type { PartitionAssignor } from "../assignors/assignor.js";
import type { TopicPartition } from "../subscription-state.js";
import type { GroupTransport } from "./group-transport.js";
import {
  buildAssignments,
  chosenAssignor,
  decodeMembers,
  decodeOwnAssignment,
  encodeMemberSubscription,
  subscribedTopics,
} from "./leader-assignment.js";
import { GroupMemberState, type MemberIdentity, memberErrorAction } from "./member-state.js";

export interface MembershipOptions {
  groupId: string;
  groupInstanceId: string | undefined;
  sessionTimeoutMs: number;
  /** Also the rebalance timeout sent in JoinGroup. */
  maxPollIntervalMs: number;
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
  assignors: readonly PartitionAssignor[];
  rackId: string;
}

export interface MembershipDeps {
  transport: GroupTransport;
  logger: Logger;
  clock: Clock;
  /** What to send in JoinGroup, read at every attempt so ownedPartitions are current. */
  subscription(): { topics: readonly string[]; ownedPartitions: readonly TopicPartition[] };
  /** Partition counts of existing topics among `topics` (the leader's assignment input). */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
}

export interface GroupAssignment {
  generationId: number;
  memberId: string;
  protocolName: string;
  assigned: TopicPartition[];
  /** The leader's partition counts of every topic the group subscribes to (undefined for followers). */
  leaderPartitionCounts: ReadonlyMap<string, number> | undefined;
}

export type JoinOutcome =
  | { kind: "joined"; assignment: GroupAssignment }
  /** `error` is retriable unless the consumer should report it; `rejoinNow` skips the back-off. */
  | { kind: "failed"; error: Error; rejoinNow: boolean };

/** Rounds of JoinGroup/SyncGroup one joinAndSync() may run (MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS on sync). */
const JOIN_ROUNDS_MAX = 10;

export class GroupMembership {
  readonly state: GroupMemberState;
  /** A fatal error (FENCED_INSTANCE_ID for a static member): the consumer is done. */
  fatal: ProtocolError | undefined;
  /** An error heartbeats met that poll() should report once. */
  private reported: Error | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastPollMs: number;
  /** Bumped by leave and close: a join started before is abandoned. */
  private epoch = 0;
  private closed = false;

  constructor(
    private readonly options: MembershipOptions,
    private readonly deps: MembershipDeps,
  ) {
    this.state = new GroupMemberState(options.groupInstanceId);
    this.lastPollMs = deps.clock.monotonicMs();
  }

  /** The application called poll(): restarts the max-poll-interval timer. */
  notePoll(): void {
    this.lastPollMs = this.deps.clock.monotonicMs();
  }

  /** Reads and clears an error a heartbeat met. */
  takeReportedError(): Error | undefined {
    const error = this.reported;
    this.reported = undefined;
    return error;
  }

  /** Applies an error code from Heartbeat, SyncGroup or OffsetCommit sent as `sent`; returns the error to raise, if any. */
  handleMemberError(what: string, code: number, message: string, sent: MemberIdentity): ProtocolError | undefined {
    const action = memberErrorAction(code);
    if (action === "none") return undefined;
    const error = errorFromWire(code, message, `${what} in group '${this.options.groupId}'`);
    if (!this.state.isCurrent(sent)) return error;
    switch (action) {
      case "rejoin":
        this.state.requestRejoin(`${what}: the group is rebalancing`);
        break;
      case "reset-generation":
      case "reset-member":
      case "fenced":
        this.deps.logger.info("group generation reset; partitions are lost", { groupId: this.options.groupId, what, error: error.message });
        this.stopHeartbeats();
        this.state.resetGeneration(error.message, { resetMemberId: action !== "reset-generation", lost: true });
        if (action === "fenced" && this.state.isStatic) {
          this.fatal = protocolError(
            "FENCED_INSTANCE_ID",
            `group '${this.options.groupId}': another consumer with groupInstanceId '${this.options.groupInstanceId}' replaced this one: give every consumer its own groupInstanceId (${error.message})`,
          );
        }
        break;
      default:
        break;
    }
    return error;
  }

  /**
   * One rebalance: JoinGroup until joined (MEMBER_ID_REQUIRED rejoins at once with the id
   * given), the leader's assignment, SyncGroup (REBALANCE_IN_PROGRESS joins again). Never
   * rejects; failures come back as outcomes with the state already updated.
   */
  async joinAndSync(): Promise<JoinOutcome> {
    const epoch = this.epoch;
    const abandoned = (): JoinOutcome | undefined =>
      this.closed || epoch !== this.epoch
        ? {
            kind: "failed",
            error: protocolError("REBALANCE_IN_PROGRESS", "the join was abandoned: the consumer left the group"),
            rejoinNow: false,
          }
        : undefined;
    for (let round = 1; round <= JOIN_ROUNDS_MAX; round++) {
      const stop = abandoned();
      if (stop) return stop;
      const reason = this.state.beginJoin();
      let join: JoinGroupResponse;
      try {
        join = await this.sendJoin(reason);
      } catch (error) {
        return this.failedJoin(epoch, error, "JoinGroup failed");
      }
      const afterJoin = abandoned();
      if (afterJoin) return afterJoin;
      if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
        this.state.handleMemberIdRequired(join.memberId);
        this.deps.logger.debug("joining again with the member id given", { groupId: this.options.groupId, memberId: join.memberId });
        continue;
      }
      if (join.errorCode !== ErrorCode.NONE) return this.failedJoinAnswer(join);
      this.state.handleJoined(join);
      this.deps.logger.info("joined group", {
        groupId: this.options.groupId,
        generationId: join.generationId,
        memberId: join.memberId,
        leader: join.leader === join.memberId,
        protocol: join.protocolName,
      });
      const sent = this.state.identity();
      let assignments: SyncGroupAssignmentInput[] = [];
      let leaderPartitionCounts: Map<string, number> | undefined;
      if (this.state.isLeader) {
        try {
          const assignor = chosenAssignor(this.options.assignors, join.protocolName);
          const members = decodeMembers(join.members);
          leaderPartitionCounts = await this.deps.partitionCounts(subscribedTopics(members));
          assignments = buildAssignments(assignor, members, leaderPartitionCounts);
        } catch (error) {
          return this.failedJoin(epoch, error, "the leader could not compute the assignment");
        }
      }
      let sync: Awaited<ReturnType<GroupTransport["syncGroup"]>>;
      try {
        sync = await this.deps.transport.syncGroup(
          {
            groupId: this.options.groupId,
            generationId: sent.generationId,
            memberId: sent.memberId,
            groupInstanceId: this.options.groupInstanceId ?? "",
            protocolType: CONSUMER_PROTOCOL_TYPE,
            protocolName: join.protocolName,
            assignments,
          },
          { timeoutMs: this.options.requestTimeoutMs, retryTimeoutMs: this.options.requestTimeoutMs },
        );
      } catch (error) {
        return this.failedJoin(epoch, error, "SyncGroup failed");
      }
      const afterSync = abandoned();
      if (afterSync) return afterSync;
      if (sync.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) {
        this.deps.logger.debug("the group rebalanced again during sync; rejoining", { groupId: this.options.groupId });
        continue;
      }
      if (sync.errorCode !== ErrorCode.NONE) {
        const error = this.handleMemberError("SyncGroup", sync.errorCode, sync.errorMessage, sent) ?? new Error("unreachable");
        if (this.state.rebalancing) this.state.abandonJoin(error.message);
        return { kind: "failed", error, rejoinNow: this.state.lostReason !== undefined };
      }
      let assigned: TopicPartition[];
      try {
        assigned = decodeOwnAssignment(sync.assignment);
      } catch (error) {
        return this.failedJoin(epoch, error, "the assignment could not be read");
      }
      this.state.handleSynced();
      this.startHeartbeats();
      return {
        kind: "joined",
        assignment: {
          generationId: sent.generationId,
          memberId: sent.memberId,
          protocolName: join.protocolName,
          assigned,
          leaderPartitionCounts,
        },
      };
    }
    this.state.abandonJoin("the group kept rebalancing");
    return {
      kind: "failed",
      error: protocolError(
        "REBALANCE_IN_PROGRESS",
        `group '${this.options.groupId}' kept rebalancing through ${JOIN_ROUNDS_MAX} rounds; retrying`,
      ),
      rejoinNow: false,
    };
  }

  private sendJoin(reason: string): Promise<JoinGroupResponse> {
    const subscription = this.deps.subscription();
    const metadata = encodeMemberSubscription({
      topics: subscription.topics,
      ownedPartitions: subscription.ownedPartitions,
      generationId: this.state.generationId,
      rackId: this.options.rackId,
    });
    return this.deps.transport.joinGroup({
      groupId: this.options.groupId,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.maxPollIntervalMs,
      memberId: this.state.memberId,
      groupInstanceId: this.options.groupInstanceId ?? "",
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocols: this.options.assignors.map((a) => ({ name: a.name, metadata })),
      reason,
    });
  }

  private failedJoin(epoch: number, error: unknown, what: string): JoinOutcome {
    const wrapped = error instanceof Error ? error : new Error(String(error));
    if (epoch === this.epoch && !this.closed) {
      this.state.abandonJoin(`${what}: ${wrapped.message}`);
      this.deps.logger.debug("group join failed", { groupId: this.options.groupId, what, error: wrapped.message });
    }
    return { kind: "failed", error: wrapped, rejoinNow: false };
  }

  private failedJoinAnswer(join: JoinGroupResponse): JoinOutcome {
    const what = `JoinGroup in group '${this.options.groupId}'`;
    switch (join.errorCode) {
      case ErrorCode.UNKNOWN_MEMBER_ID:
      case ErrorCode.ILLEGAL_GENERATION:
      case ErrorCode.FENCED_INSTANCE_ID: {
        const error = this.handleMemberError("JoinGroup", join.errorCode, join.errorMessage, this.state.identity());
        return {
          kind: "failed",
          error: error ?? errorFromWire(join.errorCode, join.errorMessage, what),
          rejoinNow: this.fatal === undefined,
        };
      }
      case ErrorCode.REBALANCE_IN_PROGRESS: {
        this.state.abandonJoin("the group is rebalancing");
        return { kind: "failed", error: errorFromWire(join.errorCode, join.errorMessage, what), rejoinNow: true };
      }
      default: {
        const error = errorFromWire(join.errorCode, join.errorMessage, what);
        this.state.abandonJoin(error.message);
        return { kind: "failed", error: explainJoinError(error, this.options), rejoinNow: false };
      }
    }
  }

  startHeartbeats(): void {
    if (this.closed || this.heartbeatTimer !== undefined) return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      void this.heartbeatTick();
    }, this.options.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  stopHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private async heartbeatTick(): Promise<void> {
    if (this.closed || this.state.phase !== "stable") return;
    const sincePollMs = this.deps.clock.monotonicMs() - this.lastPollMs;
    if (sincePollMs > this.options.maxPollIntervalMs) {
      const reason = `consumer poll timeout has expired: poll() was not called for ${Math.round(sincePollMs)} ms, more than maxPollIntervalMs=${this.options.maxPollIntervalMs}; process fewer records per poll (maxPollRecords) or raise maxPollIntervalMs`;
      this.deps.logger.warn("leaving the group: poll() not called within maxPollIntervalMs", {
        groupId: this.options.groupId,
        sincePollMs: Math.round(sincePollMs),
        maxPollIntervalMs: this.options.maxPollIntervalMs,
      });
      await this.leaveGroup(reason, { lost: true, timeoutMs: this.options.requestTimeoutMs });
      return;
    }
    const sent = this.state.identity();
    try {
      const answer = await this.deps.transport.heartbeat(
        {
          groupId: this.options.groupId,
          generationId: sent.generationId,
          memberId: sent.memberId,
          groupInstanceId: this.options.groupInstanceId ?? "",
        },
        {
          timeoutMs: Math.min(this.options.requestTimeoutMs, this.options.sessionTimeoutMs),
          retryTimeoutMs: this.options.heartbeatIntervalMs,
        },
      );
      const error = this.handleMemberError("Heartbeat", answer.errorCode, answer.errorMessage, sent);
      if (error !== undefined && memberErrorAction(answer.errorCode) === "report" && this.state.isCurrent(sent)) this.reported = error;
    } catch (error) {
      if (!(error instanceof ProtocolError && error.retriable)) this.reported ??= error instanceof Error ? error : new Error(String(error));
      this.deps.logger.debug("heartbeat failed", { groupId: this.options.groupId, error: (error as Error).message });
    }
    if (this.state.phase === "stable") this.startHeartbeats();
  }

  /**
   * Leaves the group (Kafka's maybeLeaveGroup): a dynamic member with an id sends LeaveGroup
   * (errors are logged, not thrown); a static member does not, so it keeps its place for its
   * session. Either way the generation and member id are reset and a join in flight is abandoned.
   * `lost`: the owned partitions were not revoked first, so they are to be given up as lost.
   */
  async leaveGroup(reason: string, options: { lost: boolean; timeoutMs: number }): Promise<void> {
    this.epoch++;
    this.stopHeartbeats();
    const memberId = this.state.memberId;
    this.state.resetGeneration(reason, { resetMemberId: true, lost: options.lost });
    if (this.state.isStatic || memberId === "") return;
    try {
      const answer = await this.deps.transport.leaveGroup(
        { groupId: this.options.groupId, members: [{ memberId, groupInstanceId: "", reason }] },
        { timeoutMs: options.timeoutMs, retryTimeoutMs: options.timeoutMs },
      );
      const failed = [answer, ...answer.members].find((m) => m.errorCode !== ErrorCode.NONE && m.errorCode !== ErrorCode.UNKNOWN_MEMBER_ID);
      if (failed)
        this.deps.logger.warn("LeaveGroup failed", {
          groupId: this.options.groupId,
          memberId,
          error: failed.errorMessage || failed.errorCode,
        });
      else this.deps.logger.info("left group", { groupId: this.options.groupId, memberId, reason });
    } catch (error) {
      this.deps.logger.warn("LeaveGroup failed", { groupId: this.options.groupId, memberId, error: (error as Error).message });
    }
  }

  close(): void {
    this.closed = true;
    this.epoch++;
    this.stopHeartbeats();
  }
}

/** Adds the fix to join errors that come from the consumer's configuration. */
function explainJoinError(error: ProtocolError, options: MembershipOptions): ProtocolError {
  switch (error.code) {
    case "INVALID_SESSION_TIMEOUT":
      return protocolError(
        error.code,
        `${error.message}: sessionTimeoutMs=${options.sessionTimeoutMs} is outside the broker's group.min.session.timeout.ms..group.max.session.timeout.ms`,
      );
    case "INCONSISTENT_GROUP_PROTOCOL":
      return protocolError(
        error.code,
        `${error.message}: the group's members share no assignor (this consumer offers ${options.assignors.map((a) => a.name).join(", ")}); align partitionAssignmentStrategy`,
      );
    default:
      return error;
  }
}
