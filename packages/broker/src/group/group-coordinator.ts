// The consumer-group coordinator (Kafka's GroupCoordinator) for the __consumer_offsets
// partitions this node leads. It is the driver around ConsumerGroup: it validates requests,
// moves groups through their states, arms the session, join and sync timers, writes group
// metadata and offsets through the OffsetsLog port, and answers the JoinGroup and SyncGroup
// calls that wait for a rebalance phase to end.
//
// Ownership: onElected(p) replays partition p's log into groups (requests for them get
// COORDINATOR_LOAD_IN_PROGRESS meanwhile); onResigned(p) drops them, answering every waiting
// call NOT_COORDINATOR. A group of a partition not led here gets NOT_COORDINATOR.
//
// Durability: memory changes only after the log took the write (offsets, assignments, a static
// member's new id, deletions), so a coordinator elected after this one rebuilds the same state.
// Every continuation after an append first checks that its group is still the one in the map
// and in the state it left it; anything that moved the group meanwhile has answered its waiters.
//
// Semantics follow Kafka's (KIP-394 member ids, KIP-345 static members, KIP-211 retention); the
// differences are noted where they occur.

import { randomUUID } from "node:crypto";
import { type Clock, invariant, type Logger } from "@castle/common";
import {
  CONSUMER_PROTOCOL_TYPE,
  type DeleteGroupsResponseInput,
  type DescribedGroupInput,
  type DescribeGroupsResponseInput,
  type HeartbeatRequest,
  type HeartbeatResponseInput,
  type JoinGroupMemberInput,
  type JoinGroupRequest,
  type JoinGroupResponseInput,
  type LeaveGroupRequest,
  type LeaveGroupResponseInput,
  type LeavingMember,
  type LeavingMemberResultInput,
  type ListGroupsResponseInput,
  type OffsetCommitRequest,
  type OffsetCommitResponseInput,
  type OffsetFetchRequest,
  type OffsetFetchResponseInput,
  type OffsetFetchTopicResponseInput,
  ProtocolError,
  protocolError,
  type SyncGroupAssignment,
  type SyncGroupRequest,
  type SyncGroupResponseInput,
} from "@castle/protocol";
import { type ErrorFields, errorFields, noError } from "../handlers/error-result.js";
import { OFFSETS_TOPIC } from "../replica/offsets-topic.js";
import { type CommittedOffset, ConsumerGroup, GROUP_STATES, type GroupState } from "./consumer-group.js";
import { assertGroupCoordinatorConfig, type GroupCoordinatorConfig } from "./group-config.js";
import { replayOffsetsPartition } from "./group-loader.js";
import { EMPTY_BYTES, GroupMember, type MemberProtocol, topicPartitionKey } from "./group-member.js";
import { offsetsPartitionFor } from "./group-partitioner.js";
import type { OffsetsLog, TimerHandle, Timers } from "./group-ports.js";
import { groupMetadataKey, groupMetadataRecord, type OffsetCommitValue, offsetCommitKey, offsetCommitRecord } from "./group-records.js";
import { failure, joinFailure, syncFailure } from "./group-responses.js";

/** How long a failed load of a partition waits before it is tried again (while still elected). */
const LOAD_RETRY_BACKOFF_MS = 1_000;

export interface GroupCoordinatorDeps {
  readonly config: GroupCoordinatorConfig;
  readonly log: OffsetsLog;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  /** Partitions of __consumer_offsets (fixed once the topic exists). */
  offsetsPartitionCount(): number;
  /** The unique part of a new member id (`${clientId}-${suffix}`); a random UUID unless a test fixes it. */
  readonly newMemberIdSuffix?: () => string;
}

export interface GroupStats {
  readonly groupId: string;
  readonly state: GroupState;
  readonly protocolType: string;
  readonly members: number;
  readonly offsets: readonly { readonly topic: string; readonly partition: number; readonly offset: number }[];
}

export interface GroupCoordinatorStats {
  readonly groupsByState: Readonly<Record<GroupState, number>>;
  /** Rebalances that ended with the leader's assignment stored (the group became Stable). */
  readonly rebalancesTotal: number;
  readonly groups: readonly GroupStats[];
}

interface PartitionOwnership {
  readonly status: "loading" | "active";
  /** Changes on every election, so a load or retry started for an earlier one stops. */
  readonly token: number;
}

interface AcceptedCommit {
  readonly topicIndex: number;
  readonly partitionIndex: number;
  readonly topic: string;
  readonly partition: number;
  readonly value: OffsetCommitValue;
}

export class GroupCoordinator {
  private readonly config: GroupCoordinatorConfig;
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly partitions = new Map<number, PartitionOwnership>();
  private nextToken = 1;
  private rebalancesTotal = 0;
  private closed = false;
  private expiring = false;
  private retentionTimer: TimerHandle | undefined;

  constructor(private readonly deps: GroupCoordinatorDeps) {
    assertGroupCoordinatorConfig(deps.config);
    this.config = deps.config;
    this.scheduleRetentionCheck();
  }

  /** The __consumer_offsets partition holding `groupId` (Kafka's rule; see group-partitioner.ts). */
  partitionFor(groupId: string): number {
    return offsetsPartitionFor(groupId, this.deps.offsetsPartitionCount());
  }

  // ---- Ownership of __consumer_offsets partitions ----

  /**
   * This node now leads `partition`: replays its log into groups and restarts every loaded
   * member's session. Resolves once loaded, or once a later onResigned/onElected made the load
   * moot. A failed read is logged and retried after a backoff while the partition stays elected.
   */
  async onElected(partition: number): Promise<void> {
    if (this.closed) return;
    if (this.partitions.has(partition)) this.onResigned(partition);
    const token = this.nextToken++;
    this.partitions.set(partition, { status: "loading", token });
    await this.loadPartition(partition, token);
  }

  /** This node no longer leads `partition`: its groups are dropped and waiting calls get NOT_COORDINATOR. */
  onResigned(partition: number): void {
    if (!this.partitions.delete(partition)) return;
    const error = failure(
      "NOT_COORDINATOR",
      `this node no longer coordinates the groups of ${OFFSETS_TOPIC}-${partition}; find the coordinator again`,
    );
    let dropped = 0;
    for (const group of [...this.groups.values()]) {
      if (group.partition !== partition) continue;
      this.dropGroup(group, error);
      dropped += 1;
    }
    this.deps.logger.info("resigned as group coordinator", { partition, groups: dropped });
  }

  /** Cancels every timer and answers every waiting call COORDINATOR_NOT_AVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer !== undefined) this.deps.timers.clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
    const error = failure("COORDINATOR_NOT_AVAILABLE", "the group coordinator is shutting down; find the coordinator again");
    for (const group of [...this.groups.values()]) this.dropGroup(group, error);
    this.partitions.clear();
  }

  // ---- Membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup ----

  /**
   * JoinGroup. Answers at once for a new dynamic member (MEMBER_ID_REQUIRED with its id), for a
   * follower rejoining a Stable group unchanged, and for errors; otherwise the answer waits for
   * the join phase to end (every member rejoined, or the rebalance timeout).
   */
  async joinGroup(request: JoinGroupRequest, clientHost: string): Promise<JoinGroupResponseInput> {
    try {
      return await this.handleJoin(request, clientHost);
    } catch (error) {
      return joinFailure(errorFields(error, this.deps.logger, "join group"), request.memberId);
    }
  }

  /** SyncGroup. A follower's answer waits for the leader's assignment to be stored. */
  async syncGroup(request: SyncGroupRequest): Promise<SyncGroupResponseInput> {
    try {
      return await this.handleSync(request);
    } catch (error) {
      return syncFailure(errorFields(error, this.deps.logger, "sync group"));
    }
  }

  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponseInput> {
    try {
      this.requireCoordinator(request.groupId);
      const group = this.existingGroup(request.groupId);
      if (!group) throw unknownGroupMember(request.groupId, request.memberId);
      const member = this.requireMember(group, request.memberId, request.groupInstanceId, request.generationId);
      this.scheduleSession(group, member);
      if (group.is("PreparingRebalance")) {
        throw protocolError("REBALANCE_IN_PROGRESS", `group "${group.groupId}" is rebalancing; rejoin it`);
      }
      // CompletingRebalance answers NONE, as Kafka does: the member already holds the new generation.
      return noError;
    } catch (error) {
      return errorFields(error, this.deps.logger, "heartbeat");
    }
  }

  /** LeaveGroup: each member (by member id, or by instance id for static members) succeeds or fails alone. */
  async leaveGroup(request: LeaveGroupRequest): Promise<LeaveGroupResponseInput> {
    try {
      this.requireCoordinator(request.groupId);
      if (request.members.length === 0) throw protocolError("INVALID_REQUEST", "LeaveGroup names no members");
      const group = this.existingGroup(request.groupId);
      let removedMembers = 0;
      let removedPending = 0;
      const results: LeavingMemberResultInput[] = request.members.map((leaving) => {
        const base = { memberId: leaving.memberId, groupInstanceId: leaving.groupInstanceId };
        try {
          const outcome = this.removeLeavingMember(group, request.groupId, leaving);
          if (outcome === "member") removedMembers += 1;
          else removedPending += 1;
          return { ...base, ...noError };
        } catch (error) {
          return { ...base, ...errorFields(error, this.deps.logger, "leave group") };
        }
      });
      if (group && removedMembers > 0) this.afterMembersRemoved(group, `${removedMembers} member(s) left`);
      else if (group && removedPending > 0 && group.is("PreparingRebalance")) this.maybeCompleteJoin(group);
      if (group) this.maybeForgetGroup(group);
      return { ...noError, members: results };
    } catch (error) {
      return { ...errorFields(error, this.deps.logger, "leave group"), members: [] };
    }
  }

  // ---- Offsets: OffsetCommit, OffsetFetch, retention ----

  /**
   * OffsetCommit. Partitions that pass validation are written as one append and applied to
   * memory once it resolves; a partition refused alone leaves the others committed.
   */
  async commitOffsets(request: OffsetCommitRequest): Promise<OffsetCommitResponseInput> {
    const results: ErrorFields[][] = request.topics.map((t) => t.partitions.map(() => noError));
    const respond = (): OffsetCommitResponseInput => ({
      topics: request.topics.map((topic, i) => ({
        name: topic.name,
        partitions: topic.partitions.map((p, j) => ({ partition: p.partition, ...(results[i]?.[j] ?? noError) })),
      })),
    });
    let group: ConsumerGroup;
    let member: GroupMember | undefined;
    try {
      ({ group, member } = this.authorizeCommit(request));
    } catch (error) {
      const fields = errorFields(error, this.deps.logger, "commit offsets");
      for (const row of results) row.fill(fields);
      return respond();
    }
    const nowMs = this.deps.clock.nowMs();
    const checkOwnership =
      member !== undefined && group.protocolType === CONSUMER_PROTOCOL_TYPE && (group.is("Stable") || group.is("PreparingRebalance"));
    const accepted: AcceptedCommit[] = [];
    request.topics.forEach((topic, topicIndex) => {
      topic.partitions.forEach((p, partitionIndex) => {
        const problem =
          this.offsetProblem(topic.name, p.partition, p.committedOffset, p.metadata) ??
          (checkOwnership ? ownershipProblem(group, member as GroupMember, topic.name, p.partition) : undefined);
        if (problem) {
          (results[topicIndex] as ErrorFields[])[partitionIndex] = problem;
          return;
        }
        const value = { offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.metadata, commitTimestampMs: nowMs };
        accepted.push({ topicIndex, partitionIndex, topic: topic.name, partition: p.partition, value });
      });
    });
    if (accepted.length === 0) {
      this.maybeForgetGroup(group);
      return respond();
    }
    const records = accepted.map((a) => offsetCommitRecord(offsetCommitKey(group.groupId, a.topic, a.partition), a.value));
    group.beginCommit(accepted);
    try {
      await this.deps.log.append(group.partition, records);
    } catch (error) {
      group.endCommit(accepted);
      const fields = errorFields(this.appendError(error, group, "commit offsets", true), this.deps.logger, "commit offsets");
      for (const a of accepted) (results[a.topicIndex] as ErrorFields[])[a.partitionIndex] = fields;
      if (this.isCurrent(group)) this.maybeForgetGroup(group);
      return respond();
    }
    group.endCommit(accepted);
    // The log has them either way; a group that moved meanwhile is rebuilt from the log by its new coordinator.
    if (this.isCurrent(group)) for (const a of accepted) group.setOffset(a.topic, a.partition, a.value);
    return respond();
  }

  /** OffsetFetch: -1 (no error) for partitions without a committed offset; an unknown group has none. */
  async fetchOffsets(request: OffsetFetchRequest): Promise<OffsetFetchResponseInput> {
    try {
      this.requireCoordinator(request.groupId);
      const group = this.groups.get(request.groupId);
      const asPartition = (o: CommittedOffset) => ({
        partition: o.partition,
        committedOffset: o.value.offset,
        committedLeaderEpoch: o.value.leaderEpoch,
        metadata: o.value.metadata,
        ...noError,
      });
      if (request.topics.length === 0) {
        const byTopic = new Map<string, CommittedOffset[]>();
        for (const o of group?.offsets() ?? []) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o]);
        return { ...noError, topics: [...byTopic].map(([name, offsets]) => ({ name, partitions: offsets.map(asPartition) })) };
      }
      const topics: OffsetFetchTopicResponseInput[] = request.topics.map((topic) => {
        if (topic.partitions.length === 0)
          return { name: topic.name, partitions: (group?.offsetsOfTopic(topic.name) ?? []).map(asPartition) };
        return {
          name: topic.name,
          partitions: topic.partitions.map((partition) => {
            const value = group?.offset(topic.name, partition);
            if (value) return asPartition({ topic: topic.name, partition, value });
            return { partition, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", ...noError };
          }),
        };
      });
      return { ...noError, topics };
    } catch (error) {
      return { ...errorFields(error, this.deps.logger, "fetch offsets"), topics: [] };
    }
  }

  /**
   * Deletes committed offsets of Empty groups kept past offsets.retention.minutes, counted from
   * the later of the group becoming empty and the offset's commit (Kafka counts from the
   * emptying alone, which would expire an admin's fresh reset at once), and removes groups left
   * with nothing. Tombstones go out as one append per partition. Resolves to the offsets deleted.
   */
  async expireOffsets(): Promise<number> {
    if (this.expiring || this.closed) return 0;
    this.expiring = true;
    try {
      const nowMs = this.deps.clock.nowMs();
      const retentionMs = this.config.offsetsRetentionMinutes * 60_000;
      const plans = new Map<number, { group: ConsumerGroup; stale: CommittedOffset[]; removeGroup: boolean }[]>();
      for (const group of this.groups.values()) {
        if (group.deleting || !group.is("Empty") || group.size > 0 || group.hasInflightCommits()) continue;
        if (this.partitions.get(group.partition)?.status !== "active") continue;
        const offsets = group.offsets();
        const emptySinceMs = group.stateTimestampMs ?? 0;
        const stale = offsets.filter((o) => Math.max(o.value.commitTimestampMs, emptySinceMs) + retentionMs <= nowMs);
        const removeGroup = stale.length === offsets.length;
        if (stale.length === 0 && !removeGroup) continue;
        plans.set(group.partition, [...(plans.get(group.partition) ?? []), { group, stale, removeGroup }]);
      }
      let expired = 0;
      await Promise.all(
        [...plans].map(async ([partition, plan]) => {
          const records = plan.flatMap(({ group, stale, removeGroup }) => [
            ...stale.map((o) => offsetCommitRecord(offsetCommitKey(group.groupId, o.topic, o.partition), null)),
            ...(removeGroup ? [groupMetadataRecord(groupMetadataKey(group.groupId), null)] : []),
          ]);
          for (const { group, removeGroup } of plan) if (removeGroup) group.deleting = true;
          try {
            await this.deps.log.append(partition, records);
          } catch (error) {
            for (const { group } of plan) group.deleting = false;
            this.deps.logger.warn("cannot expire offsets; will retry at the next check", { partition, error });
            return;
          }
          for (const { group, stale, removeGroup } of plan) {
            group.deleting = false;
            if (!this.isCurrent(group)) continue;
            for (const o of stale) {
              // A commit that landed after the tombstone keeps its offset.
              if (group.offset(o.topic, o.partition) === o.value) group.deleteOffset(o.topic, o.partition);
            }
            expired += stale.length;
            if (removeGroup) this.forgetGroup(group);
          }
        }),
      );
      if (expired > 0)
        this.deps.logger.info("expired committed offsets", { offsets: expired, retentionMinutes: this.config.offsetsRetentionMinutes });
      return expired;
    } finally {
      this.expiring = false;
    }
  }

  // ---- Admin: ListGroups, DescribeGroups, DeleteGroups ----

  /**
   * The groups coordinated here, by id; `statesFilter` (Kafka's state names, any case) narrows
   * them. COORDINATOR_LOAD_IN_PROGRESS comes with the groups loaded so far while a partition loads.
   */
  async listGroups(statesFilter: readonly string[] = []): Promise<ListGroupsResponseInput> {
    if (this.closed) return { ...failure("COORDINATOR_NOT_AVAILABLE", "the group coordinator is shutting down"), groups: [] };
    const wanted = new Set<GroupState>();
    for (const name of statesFilter) {
      const state = GROUP_STATES.find((s) => s.toLowerCase() === name.toLowerCase());
      if (!state)
        return { ...failure("INVALID_REQUEST", `unknown group state "${name}"; the states are ${GROUP_STATES.join(", ")}`), groups: [] };
      wanted.add(state);
    }
    const loading = [...this.partitions].filter(([, ownership]) => ownership.status === "loading").map(([partition]) => partition);
    const groups = [...this.groups.values()]
      .filter((g) => wanted.size === 0 || wanted.has(g.state))
      .sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state }));
    const status =
      loading.length > 0
        ? failure(
            "COORDINATOR_LOAD_IN_PROGRESS",
            `${OFFSETS_TOPIC} partitions ${loading.join(", ")} are still loading; the list may be incomplete`,
          )
        : noError;
    return { ...status, groups };
  }

  /** DescribeGroups: an unknown group is "Dead" without an error, as in Kafka. */
  async describeGroups(groupIds: readonly string[]): Promise<DescribeGroupsResponseInput> {
    return {
      groups: groupIds.map((groupId): DescribedGroupInput => {
        try {
          this.requireCoordinator(groupId);
          const group = this.groups.get(groupId);
          if (!group) return { ...noError, ...describedGroupDefaults(groupId), groupState: "Dead" };
          return describeGroup(group);
        } catch (error) {
          return { ...errorFields(error, this.deps.logger, "describe groups"), ...describedGroupDefaults(groupId) };
        }
      }),
    };
  }

  /** DeleteGroups: tombstones for the group and each of its offsets are appended before it is forgotten. */
  async deleteGroups(groupIds: readonly string[]): Promise<DeleteGroupsResponseInput> {
    const unique = [...new Set(groupIds)];
    const outcomes = new Map(await Promise.all(unique.map(async (id) => [id, await this.deleteGroup(id)] as const)));
    return { results: groupIds.map((groupId) => ({ groupId, ...(outcomes.get(groupId) ?? noError) })) };
  }

  stats(): GroupCoordinatorStats {
    const groupsByState = Object.fromEntries(GROUP_STATES.map((s) => [s, 0])) as Record<GroupState, number>;
    const groups: GroupStats[] = [];
    for (const group of this.groups.values()) {
      groupsByState[group.state] += 1;
      groups.push({
        groupId: group.groupId,
        state: group.state,
        protocolType: group.protocolType,
        members: group.members.size,
        offsets: group.offsets().map((o) => ({ topic: o.topic, partition: o.partition, offset: o.value.offset })),
      });
    }
    return { groupsByState, rebalancesTotal: this.rebalancesTotal, groups };
  }

  // ---- JoinGroup internals ----

  private handleJoin(request: JoinGroupRequest, clientHost: string): Promise<JoinGroupResponseInput> | JoinGroupResponseInput {
    this.requireCoordinator(request.groupId);
    this.validateJoin(request);
    const { groupId, memberId, groupInstanceId } = request;
    let group = this.existingGroup(groupId);
    if (!group) {
      if (memberId !== "") throw unknownGroupMember(groupId, memberId);
      group = this.createGroup(groupId);
    }
    const names = request.protocols.map((p) => p.name);
    const rejoining = memberId !== "" ? memberId : (group.staticMembers.get(groupInstanceId) ?? "");
    if (!group.supportsProtocols(request.protocolType, names, rejoining)) {
      const candidates = [...(group.candidateProtocols(rejoining) ?? [])].join(", ");
      throw protocolError(
        "INCONSISTENT_GROUP_PROTOCOL",
        `group "${groupId}" uses protocol type "${group.protocolType}" with assignors every member supports [${candidates}]; ` +
          `this member offers type "${request.protocolType}" with [${names.join(", ")}]`,
        { groupId },
      );
    }
    const protocols: MemberProtocol[] = request.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }));
    return memberId === ""
      ? this.joinUnknownMember(group, request, clientHost, protocols)
      : this.joinKnownMember(group, request, clientHost, protocols);
  }

  private validateJoin(request: JoinGroupRequest): void {
    const { groupMinSessionTimeoutMs: min, groupMaxSessionTimeoutMs: max } = this.config;
    if (!(request.sessionTimeoutMs >= min && request.sessionTimeoutMs <= max)) {
      throw protocolError(
        "INVALID_SESSION_TIMEOUT",
        `session timeout ${request.sessionTimeoutMs} ms is outside [${min}, ${max}] ms (group.min.session.timeout.ms, group.max.session.timeout.ms)`,
      );
    }
    if (request.rebalanceTimeoutMs < 0) {
      throw protocolError("INVALID_REQUEST", `rebalance timeout ${request.rebalanceTimeoutMs} ms is negative`);
    }
    if (request.protocolType === "")
      throw protocolError("INCONSISTENT_GROUP_PROTOCOL", 'the protocol type is empty (consumers use "consumer")');
    if (request.protocols.length === 0) throw protocolError("INCONSISTENT_GROUP_PROTOCOL", "the member offers no protocols (assignors)");
    const seen = new Set<string>();
    for (const { name } of request.protocols) {
      if (name === "") throw protocolError("INCONSISTENT_GROUP_PROTOCOL", "a protocol (assignor) name is empty");
      if (seen.has(name)) throw protocolError("INCONSISTENT_GROUP_PROTOCOL", `protocol "${name}" is offered twice`);
      seen.add(name);
    }
  }

  private joinUnknownMember(
    group: ConsumerGroup,
    request: JoinGroupRequest,
    clientHost: string,
    protocols: readonly MemberProtocol[],
  ): Promise<JoinGroupResponseInput> | JoinGroupResponseInput {
    const instanceId = request.groupInstanceId;
    if (instanceId !== "") {
      const previousId = group.staticMembers.get(instanceId);
      if (previousId !== undefined) return this.rejoinStaticMember(group, previousId, request, clientHost, protocols);
      this.requireRoom(group);
      const member = this.newMember(this.newMemberId(request.clientId), request, clientHost, protocols);
      return this.addMemberAndRebalance(group, member, request.protocolType, `static member ${instanceId} joined`);
    }
    // KIP-394: a dynamic member first gets its id, and joins with it; the id's session starts now.
    this.requireRoom(group);
    const memberId = this.newMemberId(request.clientId);
    const timer = this.deps.timers.setTimeout(() => this.onPendingMemberExpired(group, memberId), request.sessionTimeoutMs);
    group.pendingMembers.set(memberId, timer);
    return joinFailure(failure("MEMBER_ID_REQUIRED", "join again with the member id in this answer (KIP-394)"), memberId);
  }

  private joinKnownMember(
    group: ConsumerGroup,
    request: JoinGroupRequest,
    clientHost: string,
    protocols: readonly MemberProtocol[],
  ): Promise<JoinGroupResponseInput> | JoinGroupResponseInput {
    const { memberId, groupInstanceId } = request;
    const pendingTimer = group.pendingMembers.get(memberId);
    if (pendingTimer !== undefined) {
      if (groupInstanceId !== "" && group.staticMembers.has(groupInstanceId)) throw fencedInstance(group, memberId, groupInstanceId);
      this.deps.timers.clearTimeout(pendingTimer);
      group.pendingMembers.delete(memberId);
      const member = this.newMember(memberId, request, clientHost, protocols);
      return this.addMemberAndRebalance(group, member, request.protocolType, `member ${memberId} joined`);
    }
    if (group.isStaticMemberFenced(memberId, groupInstanceId)) throw fencedInstance(group, memberId, groupInstanceId);
    const member = group.members.get(memberId);
    if (!member) throw unknownGroupMember(group.groupId, memberId);
    switch (group.state) {
      case "PreparingRebalance":
        return this.updateMemberAndRebalance(group, member, request, clientHost, protocols, `member ${memberId} rejoined`);
      case "CompletingRebalance":
        if (member.hasSameProtocols(protocols)) {
          // It lost its JoinGroup answer: the same one again.
          this.scheduleSession(group, member);
          return this.joinResult(group, member);
        }
        return this.updateMemberAndRebalance(group, member, request, clientHost, protocols, `member ${memberId} changed its protocols`);
      case "Stable":
        if (member.memberId === group.leaderId || !member.hasSameProtocols(protocols)) {
          const reason =
            member.memberId === group.leaderId ? `the leader ${memberId} rejoined` : `member ${memberId} changed its protocols`;
          return this.updateMemberAndRebalance(group, member, request, clientHost, protocols, reason);
        }
        // A follower rejoining unchanged gets the current generation without a rebalance.
        this.scheduleSession(group, member);
        return this.joinResult(group, member);
      default:
        throw unknownGroupMember(group.groupId, memberId);
    }
  }

  /**
   * KIP-345: a static member restarting (empty member id, known instance id) takes its old
   * member's place under a new member id; the old id is fenced. In a Stable group with unchanged
   * protocols there is no rebalance: the new id is stored, then the member gets the current
   * generation (with no member list, so a leader keeps the current assignment). Otherwise the
   * group rebalances.
   */
  private rejoinStaticMember(
    group: ConsumerGroup,
    previousId: string,
    request: JoinGroupRequest,
    clientHost: string,
    protocols: readonly MemberProtocol[],
  ): Promise<JoinGroupResponseInput> {
    const previous = group.members.get(previousId);
    invariant(previous, () => `static member ${request.groupInstanceId} maps to ${previousId}, which is not in group "${group.groupId}"`);
    const next = previous.withMemberId(this.newMemberId(request.clientId), {
      clientId: request.clientId,
      clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: rebalanceTimeoutOf(request),
      protocols,
    });
    const keepsGeneration = group.is("Stable") && previous.hasSameProtocols(protocols);
    this.swapStaticMember(group, previous, next);
    if (keepsGeneration) return this.storeStaticReplacement(group, previous, next);
    const answer = this.awaitJoin(next);
    this.maybePrepareRebalance(group, `static member ${request.groupInstanceId} rejoined`);
    return answer;
  }

  private swapStaticMember(group: ConsumerGroup, previous: GroupMember, next: GroupMember): void {
    const fenced = failure(
      "FENCED_INSTANCE_ID",
      `static member ${previous.groupInstanceId} of group "${group.groupId}" rejoined as ${next.memberId}; member id ${previous.memberId} is fenced`,
    );
    this.cancelSession(previous);
    previous.answerJoin(joinFailure(fenced, previous.memberId));
    previous.answerSync(syncFailure(fenced));
    group.replaceMember(previous.memberId, next);
    this.scheduleSession(group, next);
    this.deps.logger.info("static member rejoined", {
      groupId: group.groupId,
      groupInstanceId: next.groupInstanceId,
      previousMemberId: previous.memberId,
      memberId: next.memberId,
    });
  }

  private async storeStaticReplacement(group: ConsumerGroup, previous: GroupMember, next: GroupMember): Promise<JoinGroupResponseInput> {
    const record = groupMetadataRecord(groupMetadataKey(group.groupId), group.toMetadataValue());
    try {
      await this.deps.log.append(group.partition, [record]);
    } catch (error) {
      const cause = this.appendError(error, group, "store a static member's new member id");
      if (this.isCurrent(group) && group.members.get(next.memberId) === next) {
        // Undo, so memory matches the log: the previous member id stays the valid one.
        this.cancelSession(next);
        group.replaceMember(next.memberId, previous);
        this.scheduleSession(group, previous);
      }
      return joinFailure(errorFields(cause, this.deps.logger, "join group"), "");
    }
    if (!this.isCurrent(group)) return joinFailure(this.movedAway(group), "");
    if (group.members.get(next.memberId) !== next) {
      return joinFailure(failure("UNKNOWN_MEMBER_ID", `member ${next.memberId} left group "${group.groupId}" while joining; rejoin`), "");
    }
    // A rebalance that started meanwhile reaches the member through its next heartbeat.
    return { ...noError, ...this.generationFields(group), memberId: next.memberId, members: [] };
  }

  private addMemberAndRebalance(
    group: ConsumerGroup,
    member: GroupMember,
    protocolType: string,
    reason: string,
  ): Promise<JoinGroupResponseInput> {
    group.addMember(member, protocolType);
    if (group.initialDelayActive) group.newMemberAdded = true;
    const answer = this.awaitJoin(member);
    this.scheduleSession(group, member);
    this.maybePrepareRebalance(group, reason);
    return answer;
  }

  private updateMemberAndRebalance(
    group: ConsumerGroup,
    member: GroupMember,
    request: JoinGroupRequest,
    clientHost: string,
    protocols: readonly MemberProtocol[],
    reason: string,
  ): Promise<JoinGroupResponseInput> {
    member.protocols = protocols;
    member.clientId = request.clientId;
    member.clientHost = clientHost;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.rebalanceTimeoutMs = rebalanceTimeoutOf(request);
    const answer = this.awaitJoin(member);
    this.scheduleSession(group, member);
    this.maybePrepareRebalance(group, reason);
    return answer;
  }

  private awaitJoin(member: GroupMember): Promise<JoinGroupResponseInput> {
    const superseded = failure("REBALANCE_IN_PROGRESS", "a newer JoinGroup from the same member replaced this one");
    member.answerJoin(joinFailure(superseded, member.memberId));
    return new Promise((resolve) => {
      member.joinWaiter = resolve;
    });
  }

  private maybePrepareRebalance(group: ConsumerGroup, reason: string): void {
    if (group.is("PreparingRebalance")) this.maybeCompleteJoin(group);
    else if (group.is("Empty") || group.is("Stable") || group.is("CompletingRebalance")) this.prepareRebalance(group, reason);
  }

  private prepareRebalance(group: ConsumerGroup, reason: string): void {
    if (group.is("CompletingRebalance")) {
      // The assignment being computed is for a generation that will not be.
      group.resetAssignments();
      const error = failure("REBALANCE_IN_PROGRESS", `group "${group.groupId}" is rebalancing again (${reason}); rejoin`);
      for (const member of group.members.values()) this.answerSyncAndRestartSession(group, member, syncFailure(error));
    }
    this.cancelSyncTimer(group);
    group.pendingSync.clear();
    group.assignmentInFlight = false;
    const wasEmpty = group.is("Empty");
    group.transitionTo("PreparingRebalance", this.deps.clock.nowMs());
    this.deps.logger.info("preparing to rebalance group", { groupId: group.groupId, generationId: group.generationId, reason });
    const rebalanceTimeoutMs = group.rebalanceTimeoutMs();
    const initialDelayMs = this.config.groupInitialRebalanceDelayMs;
    if (wasEmpty && initialDelayMs > 0) {
      this.scheduleInitialDelay(group, initialDelayMs, Math.max(rebalanceTimeoutMs - initialDelayMs, 0));
      return;
    }
    this.scheduleJoinTimeout(group, rebalanceTimeoutMs);
    this.maybeCompleteJoin(group);
  }

  /** The first rebalance of an Empty group waits `delayMs`, again while members keep arriving, for at most `remainingMs` more. */
  private scheduleInitialDelay(group: ConsumerGroup, delayMs: number, remainingMs: number): void {
    group.initialDelayActive = true;
    group.newMemberAdded = false;
    this.cancelJoinTimer(group);
    group.joinTimer = this.deps.timers.setTimeout(() => {
      group.joinTimer = undefined;
      if (!this.isCurrent(group) || !group.is("PreparingRebalance")) return;
      if (group.newMemberAdded && remainingMs > 0) {
        const nextDelayMs = Math.min(this.config.groupInitialRebalanceDelayMs, remainingMs);
        this.scheduleInitialDelay(group, nextDelayMs, remainingMs - nextDelayMs);
        return;
      }
      group.initialDelayActive = false;
      this.completeJoin(group);
    }, delayMs);
  }

  private scheduleJoinTimeout(group: ConsumerGroup, timeoutMs: number): void {
    this.cancelJoinTimer(group);
    group.joinTimer = this.deps.timers.setTimeout(() => {
      group.joinTimer = undefined;
      if (this.isCurrent(group) && group.is("PreparingRebalance")) this.completeJoin(group);
    }, timeoutMs);
  }

  private maybeCompleteJoin(group: ConsumerGroup): void {
    if (group.is("PreparingRebalance") && !group.initialDelayActive && group.hasAllMembersJoined()) this.completeJoin(group);
  }

  /** Ends the join phase: members that did not rejoin leave, the next generation starts, every joined member gets its answer. */
  private completeJoin(group: ConsumerGroup): void {
    this.cancelJoinTimer(group);
    group.initialDelayActive = false;
    // Static members that did not rejoin keep their place until their session expires (KIP-345).
    for (const member of [...group.members.values()]) {
      if (member.awaitingJoin || member.isStatic) continue;
      this.removeMember(group, member, "it did not rejoin within the rebalance timeout");
    }
    if (group.members.size > 0 && !group.maybeElectJoinedLeader()) {
      // Only static members that have not rejoined remain: wait for them, or for their sessions to end.
      this.deps.logger.warn("no member of the group rejoined; waiting for static members", { groupId: group.groupId });
      this.scheduleJoinTimeout(group, group.rebalanceTimeoutMs());
      return;
    }
    const nowMs = this.deps.clock.nowMs();
    group.initNextGeneration(nowMs);
    if (group.is("Empty")) {
      this.deps.logger.info("group is empty", { groupId: group.groupId, generationId: group.generationId });
      this.storeEmptyGroup(group);
      return;
    }
    this.deps.logger.info("group joined", {
      groupId: group.groupId,
      generationId: group.generationId,
      protocolName: group.protocolName,
      leader: group.leaderId,
      members: group.members.size,
    });
    for (const member of group.members.values()) {
      member.answerJoin(this.joinResult(group, member));
      this.scheduleSession(group, member);
    }
    this.scheduleSyncTimeout(group);
  }

  /** Kafka stores a group when it empties, so a new coordinator knows when its offsets' retention started. */
  private storeEmptyGroup(group: ConsumerGroup): void {
    const record = groupMetadataRecord(groupMetadataKey(group.groupId), group.toMetadataValue());
    this.deps.log.append(group.partition, [record]).catch((error: unknown) => {
      this.deps.logger.warn("cannot store the empty group; a new coordinator will expire its members again", {
        groupId: group.groupId,
        error,
      });
    });
  }

  private joinResult(group: ConsumerGroup, member: GroupMember): JoinGroupResponseInput {
    const isLeader = member.memberId === group.leaderId;
    const members: JoinGroupMemberInput[] = isLeader
      ? [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          metadata: m.metadataFor(group.protocolName),
        }))
      : [];
    return { ...noError, ...this.generationFields(group), memberId: member.memberId, members };
  }

  private generationFields(group: ConsumerGroup) {
    return { generationId: group.generationId, protocolType: group.protocolType, protocolName: group.protocolName, leader: group.leaderId };
  }

  // ---- SyncGroup internals ----

  private handleSync(request: SyncGroupRequest): Promise<SyncGroupResponseInput> | SyncGroupResponseInput {
    this.requireCoordinator(request.groupId);
    const group = this.existingGroup(request.groupId);
    if (!group) throw unknownGroupMember(request.groupId, request.memberId);
    const member = this.requireMember(group, request.memberId, request.groupInstanceId, request.generationId);
    if (request.protocolType !== "" && request.protocolType !== group.protocolType) {
      throw protocolError(
        "INCONSISTENT_GROUP_PROTOCOL",
        `group "${group.groupId}" has protocol type "${group.protocolType}", not "${request.protocolType}"`,
      );
    }
    if (request.protocolName !== "" && request.protocolName !== group.protocolName) {
      throw protocolError(
        "INCONSISTENT_GROUP_PROTOCOL",
        `group "${group.groupId}" chose protocol "${group.protocolName}" for generation ${group.generationId}, not "${request.protocolName}"`,
      );
    }
    switch (group.state) {
      case "PreparingRebalance":
        throw protocolError("REBALANCE_IN_PROGRESS", `group "${group.groupId}" is rebalancing; rejoin it`);
      case "CompletingRebalance": {
        this.markSynced(group, member);
        this.scheduleSession(group, member);
        const answer = this.awaitSync(member);
        if (member.memberId === group.leaderId && !group.assignmentInFlight) void this.storeAssignment(group, request.assignments);
        return answer;
      }
      case "Stable":
        this.markSynced(group, member);
        this.scheduleSession(group, member);
        return { ...noError, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment };
      default:
        throw unknownGroupMember(group.groupId, member.memberId);
    }
  }

  private awaitSync(member: GroupMember): Promise<SyncGroupResponseInput> {
    member.answerSync(syncFailure(failure("REBALANCE_IN_PROGRESS", "a newer SyncGroup from the same member replaced this one")));
    return new Promise((resolve) => {
      member.syncWaiter = resolve;
    });
  }

  /** A member that waited in SyncGroup gets a full session from its answer on (Kafka does the same). */
  private answerSyncAndRestartSession(group: ConsumerGroup, member: GroupMember, answer: SyncGroupResponseInput): void {
    if (!member.awaitingSync) return;
    member.answerSync(answer);
    this.scheduleSession(group, member);
  }

  private markSynced(group: ConsumerGroup, member: GroupMember): void {
    group.pendingSync.delete(member.memberId);
    if (group.pendingSync.size === 0) this.cancelSyncTimer(group);
  }

  /** Stores the leader's assignment, then answers every waiting member and makes the group Stable. */
  private async storeAssignment(group: ConsumerGroup, assignments: readonly SyncGroupAssignment[]): Promise<void> {
    const generationId = group.generationId;
    const byMember = new Map<string, Buffer>();
    for (const a of assignments) if (group.members.has(a.memberId)) byMember.set(a.memberId, Buffer.from(a.assignment));
    const assignmentOf = (m: GroupMember): Buffer => byMember.get(m.memberId) ?? EMPTY_BYTES;
    const record = groupMetadataRecord(groupMetadataKey(group.groupId), group.toMetadataValue(assignmentOf));
    group.assignmentInFlight = true;
    let cause: ProtocolError | undefined;
    try {
      await this.deps.log.append(group.partition, [record]);
    } catch (error) {
      cause = this.appendError(error, group, "store the group's assignment");
    }
    // Whatever moved the group meanwhile (a rebalance, a resignation) has answered the waiters.
    if (!this.isCurrent(group) || group.generationId !== generationId || !group.is("CompletingRebalance")) return;
    group.assignmentInFlight = false;
    if (cause) {
      const fields = errorFields(cause, this.deps.logger, "sync group");
      for (const member of group.members.values()) this.answerSyncAndRestartSession(group, member, syncFailure(fields));
      this.prepareRebalance(group, "its assignment could not be stored");
      return;
    }
    for (const member of group.members.values()) {
      member.assignment = assignmentOf(member);
      const answer = { ...noError, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment };
      this.answerSyncAndRestartSession(group, member, answer);
    }
    group.transitionTo("Stable", this.deps.clock.nowMs());
    this.rebalancesTotal += 1;
    this.deps.logger.info("group is stable", { groupId: group.groupId, generationId, members: group.members.size });
  }

  private scheduleSyncTimeout(group: ConsumerGroup): void {
    this.cancelSyncTimer(group);
    const generationId = group.generationId;
    group.syncTimer = this.deps.timers.setTimeout(() => {
      group.syncTimer = undefined;
      if (!this.isCurrent(group) || group.generationId !== generationId) return;
      if (!group.is("CompletingRebalance") && !group.is("Stable")) return;
      const late = [...group.pendingSync].flatMap((id) => group.members.get(id) ?? []);
      if (late.length === 0) return;
      // Kafka's pending-sync timeout: a leader that never sends the assignment would stall the group.
      for (const member of late) this.removeMember(group, member, "it did not send SyncGroup within the rebalance timeout");
      this.afterMembersRemoved(group, `${late.length} member(s) did not sync`);
    }, group.rebalanceTimeoutMs());
  }

  // ---- Members leaving ----

  /** Which kind of entry `leaving` named ("member" or "pending"); throws UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID. */
  private removeLeavingMember(group: ConsumerGroup | undefined, groupId: string, leaving: LeavingMember): "member" | "pending" {
    if (!group) throw unknownGroupMember(groupId, leaving.memberId || leaving.groupInstanceId);
    let member: GroupMember | undefined;
    if (leaving.groupInstanceId !== "") {
      const currentId = group.staticMembers.get(leaving.groupInstanceId);
      if (currentId === undefined) {
        throw protocolError("UNKNOWN_MEMBER_ID", `group "${groupId}" has no static member with instance id ${leaving.groupInstanceId}`);
      }
      if (leaving.memberId !== "" && leaving.memberId !== currentId) throw fencedInstance(group, leaving.memberId, leaving.groupInstanceId);
      member = group.members.get(currentId);
    } else {
      const pendingTimer = group.pendingMembers.get(leaving.memberId);
      if (pendingTimer !== undefined) {
        this.deps.timers.clearTimeout(pendingTimer);
        group.pendingMembers.delete(leaving.memberId);
        return "pending";
      }
      member = group.members.get(leaving.memberId);
    }
    if (!member) throw unknownGroupMember(groupId, leaving.memberId);
    const reason = leaving.reason === "" ? "it left the group" : `it left the group: ${leaving.reason}`;
    this.deps.logger.info("member left group", { groupId, memberId: member.memberId, reason: leaving.reason });
    this.removeMember(group, member, reason);
    return "member";
  }

  /** Takes a member out (its waiting calls get UNKNOWN_MEMBER_ID); the caller then updates the group. */
  private removeMember(group: ConsumerGroup, member: GroupMember, reason: string): void {
    this.cancelSession(member);
    const error = failure("UNKNOWN_MEMBER_ID", `member ${member.memberId} was removed from group "${group.groupId}": ${reason}`);
    member.answerJoin(joinFailure(error, member.memberId));
    member.answerSync(syncFailure(error));
    group.removeMember(member.memberId);
  }

  private afterMembersRemoved(group: ConsumerGroup, reason: string): void {
    if (group.is("Stable") || group.is("CompletingRebalance")) this.prepareRebalance(group, reason);
    else if (group.is("PreparingRebalance")) this.maybeCompleteJoin(group);
  }

  private scheduleSession(group: ConsumerGroup, member: GroupMember): void {
    this.cancelSession(member);
    member.sessionTimer = this.deps.timers.setTimeout(() => this.onSessionExpired(group, member), member.sessionTimeoutMs);
  }

  private cancelSession(member: GroupMember): void {
    if (member.sessionTimer !== undefined) this.deps.timers.clearTimeout(member.sessionTimer);
    member.sessionTimer = undefined;
  }

  private onSessionExpired(group: ConsumerGroup, member: GroupMember): void {
    member.sessionTimer = undefined;
    if (!this.isCurrent(group) || group.members.get(member.memberId) !== member) return;
    // A member waiting on the coordinator (in JoinGroup, or in SyncGroup for the leader) is not
    // gone; the rebalance and sync timeouts bound those waits.
    if (member.awaitingJoin || member.awaitingSync) {
      this.scheduleSession(group, member);
      return;
    }
    this.deps.logger.info("member session expired", {
      groupId: group.groupId,
      memberId: member.memberId,
      sessionTimeoutMs: member.sessionTimeoutMs,
    });
    this.removeMember(group, member, `no heartbeat within its session timeout of ${member.sessionTimeoutMs} ms`);
    this.afterMembersRemoved(group, `member ${member.memberId}'s session expired`);
  }

  private onPendingMemberExpired(group: ConsumerGroup, memberId: string): void {
    if (!this.isCurrent(group) || !group.pendingMembers.delete(memberId)) return;
    this.deps.logger.debug("member id expired before its join", { groupId: group.groupId, memberId });
    if (group.is("PreparingRebalance")) this.maybeCompleteJoin(group);
    this.maybeForgetGroup(group);
  }

  // ---- OffsetCommit internals ----

  /** The group a commit goes to and the member making it (none for a group without members). */
  private authorizeCommit(request: OffsetCommitRequest): { group: ConsumerGroup; member: GroupMember | undefined } {
    const { groupId, generationId, memberId } = request;
    this.requireCoordinator(groupId);
    const existing = this.existingGroup(groupId);
    if (generationId < 0 && (!existing || existing.is("Empty"))) {
      // A group that only stores offsets (assign() consumers, admin tools).
      return { group: existing ?? this.createGroup(groupId), member: undefined };
    }
    if (!existing) {
      throw protocolError(
        "ILLEGAL_GENERATION",
        `group "${groupId}" has no members here, so generation ${generationId} is not current; rejoin the group (a group without members takes commits with generation -1)`,
      );
    }
    if (generationId < 0 && memberId === "") {
      throw protocolError(
        "UNKNOWN_MEMBER_ID",
        `group "${groupId}" has ${existing.members.size} member(s) and is ${existing.state}; a commit without a member id (generation -1) is only accepted while a group has no members`,
      );
    }
    const member = this.requireMember(existing, memberId, request.groupInstanceId, generationId);
    if (existing.is("CompletingRebalance")) {
      throw protocolError("REBALANCE_IN_PROGRESS", `group "${groupId}" is completing a rebalance; send SyncGroup, then commit`);
    }
    return { group: existing, member };
  }

  private offsetProblem(topic: string, partition: number, offset: number, metadata: string): ErrorFields | undefined {
    if (topic === "") return failure("INVALID_TOPIC_EXCEPTION", "the topic name is empty");
    if (!Number.isInteger(partition) || partition < 0)
      return failure("UNKNOWN_TOPIC_OR_PARTITION", `${topic}-${partition}: partition numbers start at 0`);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return failure(
        "OFFSET_OUT_OF_RANGE",
        `committed offset ${offset} for ${topic}-${partition} is invalid; it is the next offset to consume, 0 or more`,
      );
    }
    const metadataBytes = Buffer.byteLength(metadata, "utf8");
    if (metadataBytes > this.config.offsetMetadataMaxBytes) {
      return failure(
        "OFFSET_METADATA_TOO_LARGE",
        `the metadata for ${topic}-${partition} is ${metadataBytes} bytes; offset.metadata.max.bytes is ${this.config.offsetMetadataMaxBytes}`,
      );
    }
    return undefined;
  }

  // ---- DeleteGroups internals ----

  private async deleteGroup(groupId: string): Promise<ErrorFields> {
    try {
      this.requireCoordinator(groupId);
      const group = this.existingGroup(groupId);
      if (!group) throw protocolError("GROUP_ID_NOT_FOUND", `group "${groupId}" does not exist`);
      if (!group.is("Empty") || group.size > 0) {
        throw protocolError(
          "NON_EMPTY_GROUP",
          `group "${groupId}" is ${group.state} with ${group.members.size} member(s); they must leave (or their sessions end) before it can be deleted`,
        );
      }
      const partitions = group.partitionsToTombstone();
      const records = [
        ...partitions.map(({ topic, partition }) => offsetCommitRecord(offsetCommitKey(groupId, topic, partition), null)),
        groupMetadataRecord(groupMetadataKey(groupId), null),
      ];
      group.deleting = true;
      try {
        await this.deps.log.append(group.partition, records);
      } catch (error) {
        group.deleting = false;
        throw this.appendError(error, group, "delete the group");
      }
      group.deleting = false;
      if (this.isCurrent(group)) this.forgetGroup(group);
      this.deps.logger.info("deleted group", { groupId, offsets: partitions.length });
      return noError;
    } catch (error) {
      return errorFields(error, this.deps.logger, "delete groups");
    }
  }

  // ---- Shared helpers ----

  private requireCoordinator(groupId: string): void {
    if (groupId === "") throw protocolError("INVALID_GROUP_ID", "the group id is empty; consumers in a group need a non-empty group.id");
    if (this.closed) throw protocolError("COORDINATOR_NOT_AVAILABLE", "the group coordinator is shutting down; find the coordinator again");
    const partition = this.partitionFor(groupId);
    const ownership = this.partitions.get(partition);
    if (!ownership) {
      throw protocolError(
        "NOT_COORDINATOR",
        `this node does not coordinate group "${groupId}": it does not lead ${OFFSETS_TOPIC}-${partition}; find the coordinator again`,
        { groupId, partition },
      );
    }
    if (ownership.status === "loading") {
      throw protocolError(
        "COORDINATOR_LOAD_IN_PROGRESS",
        `this node is still loading ${OFFSETS_TOPIC}-${partition}, which holds group "${groupId}"; retry shortly`,
        {
          groupId,
          partition,
        },
      );
    }
  }

  /** The group, unless it is being deleted (then COORDINATOR_NOT_AVAILABLE: retry, and find it gone). */
  private existingGroup(groupId: string): ConsumerGroup | undefined {
    const group = this.groups.get(groupId);
    if (group?.deleting) throw protocolError("COORDINATOR_NOT_AVAILABLE", `group "${groupId}" is being deleted; retry shortly`);
    return group;
  }

  /** Kafka's member checks in order: fenced static member, unknown member, wrong generation. */
  private requireMember(group: ConsumerGroup, memberId: string, instanceId: string, generationId: number): GroupMember {
    if (group.isStaticMemberFenced(memberId, instanceId)) throw fencedInstance(group, memberId, instanceId);
    const member = group.members.get(memberId);
    if (!member) throw unknownGroupMember(group.groupId, memberId);
    if (generationId !== group.generationId) {
      throw protocolError(
        "ILLEGAL_GENERATION",
        `generation ${generationId} of group "${group.groupId}" is not current (the group is at generation ${group.generationId}); rejoin`,
      );
    }
    return member;
  }

  private requireRoom(group: ConsumerGroup): void {
    if (group.size < this.config.groupMaxSize) return;
    throw protocolError(
      "GROUP_MAX_SIZE_REACHED",
      `group "${group.groupId}" has ${group.members.size} member(s) and ${group.pendingMembers.size} joining; group.max.size is ${this.config.groupMaxSize}`,
    );
  }

  private newMember(memberId: string, request: JoinGroupRequest, clientHost: string, protocols: readonly MemberProtocol[]): GroupMember {
    return new GroupMember({
      memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: request.clientId,
      clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: rebalanceTimeoutOf(request),
      protocols,
    });
  }

  private newMemberId(clientId: string): string {
    return `${clientId}-${(this.deps.newMemberIdSuffix ?? randomUUID)()}`;
  }

  private createGroup(groupId: string): ConsumerGroup {
    const group = new ConsumerGroup(groupId, this.partitionFor(groupId));
    this.groups.set(groupId, group);
    return group;
  }

  /** Still the live object for its id (not dropped, deleted or replaced since a continuation began). */
  private isCurrent(group: ConsumerGroup): boolean {
    return !this.closed && this.groups.get(group.groupId) === group && !group.is("Dead");
  }

  /** Forgets a group that was never written to the log and holds nothing (no tombstone needed). */
  private maybeForgetGroup(group: ConsumerGroup): void {
    if (this.isCurrent(group) && group.isForgettable() && group.generationId === 0 && group.stateTimestampMs === undefined)
      this.forgetGroup(group);
  }

  private forgetGroup(group: ConsumerGroup): void {
    this.cancelJoinTimer(group);
    this.cancelSyncTimer(group);
    group.transitionTo("Dead", this.deps.clock.nowMs());
    this.groups.delete(group.groupId);
  }

  /** Drops a group this node stops coordinating: timers cancelled, waiting calls answered with `error`. */
  private dropGroup(group: ConsumerGroup, error: ErrorFields): void {
    this.cancelJoinTimer(group);
    this.cancelSyncTimer(group);
    for (const timer of group.pendingMembers.values()) this.deps.timers.clearTimeout(timer);
    group.pendingMembers.clear();
    for (const member of group.members.values()) {
      this.cancelSession(member);
      member.answerJoin(joinFailure(error, member.memberId));
      member.answerSync(syncFailure(error));
    }
    group.transitionTo("Dead", this.deps.clock.nowMs());
    this.groups.delete(group.groupId);
  }

  private cancelJoinTimer(group: ConsumerGroup): void {
    if (group.joinTimer !== undefined) this.deps.timers.clearTimeout(group.joinTimer);
    group.joinTimer = undefined;
  }

  private cancelSyncTimer(group: ConsumerGroup): void {
    if (group.syncTimer !== undefined) this.deps.timers.clearTimeout(group.syncTimer);
    group.syncTimer = undefined;
  }

  /** Why a continuation's group is gone: this node closed, or no longer coordinates it. */
  private movedAway(group: ConsumerGroup): ErrorFields {
    if (this.closed) return failure("COORDINATOR_NOT_AVAILABLE", "the group coordinator is shutting down; find the coordinator again");
    return failure("NOT_COORDINATOR", `group "${group.groupId}" is no longer coordinated by this node; find the coordinator again`);
  }

  /**
   * What a failed append means to the client: NOT_COORDINATOR when this node lost the
   * partition (look the coordinator up again), INVALID_COMMIT_OFFSET_SIZE for an offset commit
   * too large to store, else COORDINATOR_NOT_AVAILABLE (retriable).
   */
  private appendError(error: unknown, group: ConsumerGroup, what: string, isCommit = false): ProtocolError {
    const context = { groupId: group.groupId, partition: group.partition };
    const where = `${OFFSETS_TOPIC}-${group.partition}`;
    if (error instanceof ProtocolError) {
      if (error.code === "NOT_COORDINATOR" || error.code === "NOT_LEADER_OR_FOLLOWER") {
        return protocolError("NOT_COORDINATOR", `cannot ${what}: this node no longer leads ${where}; find the coordinator again`, context);
      }
      if (isCommit && (error.code === "MESSAGE_TOO_LARGE" || error.code === "RECORD_LIST_TOO_LARGE")) {
        return protocolError(
          "INVALID_COMMIT_OFFSET_SIZE",
          `cannot ${what}: the commit is too large for ${where} (${error.message})`,
          context,
        );
      }
      this.deps.logger.warn("append to the offsets log failed", { ...context, what, error: error.message, code: error.code });
      return protocolError(
        "COORDINATOR_NOT_AVAILABLE",
        `cannot ${what}: ${where} did not take the write (${error.code}: ${error.message}); retry`,
        context,
      );
    }
    this.deps.logger.error("unexpected error from the offsets log", { ...context, what, error });
    return protocolError("COORDINATOR_NOT_AVAILABLE", `cannot ${what}: unexpected error writing ${where}; see the server log`, context);
  }

  private async loadPartition(partition: number, token: number): Promise<void> {
    const stillWanted = (): boolean => !this.closed && this.partitions.get(partition)?.token === token;
    const startedMs = this.deps.clock.monotonicMs();
    let replayed: Awaited<ReturnType<typeof replayOffsetsPartition>>;
    try {
      replayed = await replayOffsetsPartition(this.deps.log.readAll(partition), {
        partition,
        partitionFor: (groupId) => this.partitionFor(groupId),
        logger: this.deps.logger,
        stillWanted,
      });
    } catch (error) {
      if (!stillWanted()) return;
      this.deps.logger.error("cannot load groups; retrying", { partition, error, retryInMs: LOAD_RETRY_BACKOFF_MS });
      this.deps.timers.setTimeout(() => {
        if (stillWanted()) void this.loadPartition(partition, token);
      }, LOAD_RETRY_BACKOFF_MS);
      return;
    }
    if (!replayed || !stillWanted()) return;
    for (const group of replayed.groups) {
      invariant(!this.groups.has(group.groupId), () => `group "${group.groupId}" of a loading partition is already in memory`);
      this.groups.set(group.groupId, group);
      for (const member of group.members.values()) this.scheduleSession(group, member);
    }
    this.partitions.set(partition, { status: "active", token });
    this.deps.logger.info("loaded groups", {
      partition,
      groups: replayed.groups.length,
      records: replayed.records,
      skipped: replayed.skipped,
      ms: Math.round(this.deps.clock.monotonicMs() - startedMs),
    });
  }

  private scheduleRetentionCheck(): void {
    if (this.closed) return;
    this.retentionTimer = this.deps.timers.setTimeout(() => {
      this.retentionTimer = undefined;
      this.expireOffsets()
        .catch((error: unknown) => this.deps.logger.error("offset retention check failed", { error }))
        .finally(() => this.scheduleRetentionCheck());
    }, this.config.offsetsRetentionCheckIntervalMs);
  }
}

/** JoinGroup v0 had no rebalance timeout; 0 means "the session timeout", as it did. */
function rebalanceTimeoutOf(request: JoinGroupRequest): number {
  return request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs;
}

function unknownGroupMember(groupId: string, memberId: string): ProtocolError {
  return protocolError("UNKNOWN_MEMBER_ID", `member "${memberId}" is not in group "${groupId}"; rejoin with an empty member id`, {
    groupId,
  });
}

function fencedInstance(group: ConsumerGroup, memberId: string, instanceId: string): ProtocolError {
  return protocolError(
    "FENCED_INSTANCE_ID",
    `static member ${instanceId} of group "${group.groupId}" is now member ${group.staticMembers.get(instanceId) ?? "(none)"}; member id ${memberId} is fenced`,
    { groupId: group.groupId },
  );
}

/**
 * Castle's rule for consumer groups: a member may not commit a partition the current generation
 * assigns to another member (it would move that member's position). A partition assigned to no
 * one may be committed by any member of the generation: cooperative rebalancing withholds a
 * moving partition for a generation, and its previous owner commits it after revoking it
 * (Kafka's coordinator checks only generation and member id, so that commit works there too).
 */
function ownershipProblem(group: ConsumerGroup, member: GroupMember, topic: string, partition: number): ErrorFields | undefined {
  const key = topicPartitionKey(topic, partition);
  if (member.ownedPartitions()?.has(key)) return undefined;
  for (const other of group.members.values()) {
    if (other === member || !other.ownedPartitions()?.has(key)) continue;
    return failure(
      "ILLEGAL_GENERATION",
      `${topic}-${partition} is assigned to member ${other.memberId}, not to member ${member.memberId}, in generation ${group.generationId} of group "${group.groupId}"; rejoin the group`,
    );
  }
  return undefined;
}

function describedGroupDefaults(groupId: string) {
  return { groupId, groupState: "", protocolType: "", protocolName: "", generationId: -1, leader: "", members: [] };
}

function describeGroup(group: ConsumerGroup): DescribedGroupInput {
  const showsProtocol = group.is("Stable") || group.is("CompletingRebalance");
  return {
    ...noError,
    groupId: group.groupId,
    groupState: group.state,
    protocolType: group.protocolType,
    protocolName: showsProtocol ? group.protocolName : "",
    generationId: group.generationId,
    leader: group.leaderId,
    members: [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: showsProtocol ? m.metadataFor(group.protocolName) : EMPTY_BYTES,
      memberAssignment: group.is("Stable") ? m.assignment : EMPTY_BYTES,
    })),
  };
}
