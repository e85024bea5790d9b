// One group's state as Kafka's GroupCoordinator keeps it: the state machine (Empty,
// PreparingRebalance, CompletingRebalance, Stable, Dead), the members of the current
// generation, the members holding a member id from MEMBER_ID_REQUIRED (KIP-394), the static
// members by instance id (KIP-345), the chosen protocol, and the committed offsets.
//
// This class is synchronous and does no I/O: the GroupCoordinator drives it (timers, log
// appends, answering waiters) and asserts its moves through the transition table below.

import { invariant } from "@castle/common";
import { EMPTY_BYTES, GroupMember, topicPartitionKey } from "./group-member.js";
import type { TimerHandle } from "./group-ports.js";
import type { GroupMetadataValue, OffsetCommitValue } from "./group-records.js";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

export const GROUP_STATES: readonly GroupState[] = ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"];

/** The states each state may be entered from (Kafka's GroupState.validPreviousStates). */
const ENTERED_FROM: Readonly<Record<GroupState, readonly GroupState[]>> = {
  // The join phase completed with no member left.
  Empty: ["PreparingRebalance"],
  // A member joined, left, changed its protocols or timed out; or the first member arrived.
  PreparingRebalance: ["Empty", "Stable", "CompletingRebalance"],
  // Every member rejoined (or the rebalance timeout passed): waiting for the leader's assignment.
  CompletingRebalance: ["PreparingRebalance"],
  // The leader's assignment is stored.
  Stable: ["CompletingRebalance"],
  // Deleted, expired, or no longer coordinated here.
  Dead: ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"],
};

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly value: OffsetCommitValue;
}

interface InflightCommit {
  readonly topic: string;
  readonly partition: number;
  count: number;
}

export class ConsumerGroup {
  private currentState: GroupState = "Empty";
  /** When the group entered its current state (wall clock); undefined for a group never persisted. */
  stateTimestampMs: number | undefined;
  generationId = 0;
  /** "" until a member joins (a group used only to store offsets). Kept while Empty. */
  protocolType = "";
  /** The protocol chosen for the current generation; "" while Empty. */
  protocolName = "";
  leaderId = "";
  /** Members of the group, in the order they joined (the first is the leader when one is needed). */
  readonly members = new Map<string, GroupMember>();
  /** Member ids given out with MEMBER_ID_REQUIRED and not yet joined, with their expiry timer. */
  readonly pendingMembers = new Map<string, TimerHandle>();
  /** Static members: group instance id -> current member id. */
  readonly staticMembers = new Map<string, string>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>();
  /** Offset commits being appended, so a deletion also tombstones what lands just before it. */
  private readonly inflight = new Map<string, InflightCommit>();
  private readonly committed = new Map<string, Map<number, OffsetCommitValue>>();
  /** Set while tombstones for the whole group are being appended; requests get COORDINATOR_NOT_AVAILABLE. */
  deleting = false;
  /** Set while the leader's assignment is being appended, so a repeated SyncGroup does not store it twice. */
  assignmentInFlight = false;
  /** The join phase's timer (initial delay or rebalance timeout), owned by the coordinator. */
  joinTimer: TimerHandle | undefined;
  /** The sync phase's timer (members that never send SyncGroup), owned by the coordinator. */
  syncTimer: TimerHandle | undefined;
  /** True while the first rebalance of an Empty group waits for more members. */
  initialDelayActive = false;
  /** A member arrived during the current initial delay (which then extends). */
  newMemberAdded = false;

  constructor(
    readonly groupId: string,
    /** The __consumer_offsets partition holding this group. */
    readonly partition: number,
  ) {}

  /** A group rebuilt from its latest metadata record and offsets: Stable with members, else Empty. */
  static restore(
    groupId: string,
    partition: number,
    metadata: GroupMetadataValue | undefined,
    offsets: readonly CommittedOffset[],
  ): ConsumerGroup {
    const group = new ConsumerGroup(groupId, partition);
    for (const { topic, partition: p, value } of offsets) group.setOffset(topic, p, value);
    if (!metadata) return group;
    group.protocolType = metadata.protocolType;
    group.generationId = metadata.generationId;
    group.protocolName = metadata.protocolName;
    group.stateTimestampMs = metadata.stateTimestampMs;
    if (metadata.members.length === 0) return group;
    for (const value of metadata.members) {
      const member = new GroupMember({
        memberId: value.memberId,
        groupInstanceId: value.groupInstanceId,
        clientId: value.clientId,
        clientHost: value.clientHost,
        sessionTimeoutMs: value.sessionTimeoutMs,
        rebalanceTimeoutMs: value.rebalanceTimeoutMs,
        // The record keeps only the chosen protocol's metadata, as Kafka's does.
        protocols: [{ name: metadata.protocolName, metadata: value.subscription }],
      });
      member.assignment = value.assignment;
      group.members.set(member.memberId, member);
      if (member.isStatic) group.staticMembers.set(member.groupInstanceId, member.memberId);
    }
    group.leaderId = metadata.leader;
    group.currentState = "Stable";
    return group;
  }

  get state(): GroupState {
    return this.currentState;
  }

  is(state: GroupState): boolean {
    return this.currentState === state;
  }

  transitionTo(next: GroupState, nowMs: number): void {
    invariant(
      ENTERED_FROM[next].includes(this.currentState),
      () => `group "${this.groupId}" cannot go from ${this.currentState} to ${next}`,
    );
    this.currentState = next;
    this.stateTimestampMs = nowMs;
  }

  /** Members and pending members: what group.max.size bounds. */
  get size(): number {
    return this.members.size + this.pendingMembers.size;
  }

  addMember(member: GroupMember, protocolType: string): void {
    invariant(!this.members.has(member.memberId), () => `member ${member.memberId} is already in group "${this.groupId}"`);
    if (this.members.size === 0) this.protocolType = protocolType;
    this.members.set(member.memberId, member);
    if (member.isStatic) this.staticMembers.set(member.groupInstanceId, member.memberId);
    if (this.leaderId === "") this.leaderId = member.memberId;
  }

  removeMember(memberId: string): void {
    const member = this.members.get(memberId);
    if (!member) return;
    this.members.delete(memberId);
    if (member.isStatic && this.staticMembers.get(member.groupInstanceId) === memberId) this.staticMembers.delete(member.groupInstanceId);
    this.pendingSync.delete(memberId);
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? "";
  }

  /** Puts `next` in `previousId`'s place (a static member's new member id): leader, sync state and order kept. */
  replaceMember(previousId: string, next: GroupMember): void {
    invariant(this.members.has(previousId), () => `member ${previousId} is not in group "${this.groupId}"`);
    const entries = [...this.members.entries()].map(([id, m]): [string, GroupMember] =>
      id === previousId ? [next.memberId, next] : [id, m],
    );
    this.members.clear();
    for (const [id, m] of entries) this.members.set(id, m);
    if (next.isStatic) this.staticMembers.set(next.groupInstanceId, next.memberId);
    if (this.leaderId === previousId) this.leaderId = next.memberId;
    if (this.pendingSync.delete(previousId)) this.pendingSync.add(next.memberId);
  }

  /** True when `instanceId` belongs to a static member other than `memberId` (KIP-345 fencing). */
  isStaticMemberFenced(memberId: string, instanceId: string): boolean {
    if (instanceId === "") return false;
    const current = this.staticMembers.get(instanceId);
    return current !== undefined && current !== memberId;
  }

  /** Protocols every member other than `exceptMemberId` supports; undefined when there is no other member. */
  candidateProtocols(exceptMemberId = ""): Set<string> | undefined {
    let candidates: Set<string> | undefined;
    for (const member of this.members.values()) {
      if (member.memberId === exceptMemberId) continue;
      const names = new Set(member.protocols.map((p) => p.name));
      candidates = candidates === undefined ? names : new Set([...candidates].filter((name) => names.has(name)));
    }
    return candidates;
  }

  /**
   * Whether a member offering `protocolType` and `names` may join (or rejoin, as
   * `exceptMemberId`): with no other member anything non-empty goes; otherwise the type must
   * match and one offered protocol must be supported by every other member.
   */
  supportsProtocols(protocolType: string, names: readonly string[], exceptMemberId = ""): boolean {
    if (protocolType === "" || names.length === 0) return false;
    const candidates = this.candidateProtocols(exceptMemberId);
    if (candidates === undefined) return true;
    return protocolType === this.protocolType && names.some((name) => candidates.has(name));
  }

  /**
   * The protocol for the next generation: among those every member supports, each member votes
   * for its most preferred and the most votes win; a tie goes to the leader's preference order.
   */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    invariant(candidates !== undefined && candidates.size > 0, () => `group "${this.groupId}" has no protocol every member supports`);
    const votes = new Map<string, number>();
    for (const member of this.members.values()) {
      const choice = member.vote(candidates);
      if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    const leader = this.members.get(this.leaderId) ?? (this.members.values().next().value as GroupMember);
    let best = "";
    let bestVotes = -1;
    for (const { name } of leader.protocols) {
      if (!candidates.has(name)) continue;
      const count = votes.get(name) ?? 0;
      if (count > bestVotes) {
        best = name;
        bestVotes = count;
      }
    }
    return best;
  }

  /** Every member is waiting in JoinGroup and no member id from MEMBER_ID_REQUIRED is outstanding. */
  hasAllMembersJoined(): boolean {
    if (this.pendingMembers.size > 0) return false;
    for (const member of this.members.values()) if (!member.awaitingJoin) return false;
    return true;
  }

  /** The largest rebalance timeout of the members: how long a join phase may last. */
  rebalanceTimeoutMs(): number {
    let max = 0;
    for (const member of this.members.values()) max = Math.max(max, member.rebalanceTimeoutMs);
    return max;
  }

  /** Makes a member that is waiting in JoinGroup the leader if the current one is not; false if none waits. */
  maybeElectJoinedLeader(): boolean {
    if (this.members.get(this.leaderId)?.awaitingJoin) return true;
    for (const member of this.members.values()) {
      if (member.awaitingJoin) {
        this.leaderId = member.memberId;
        return true;
      }
    }
    return false;
  }

  /** Ends the join phase: the next generation, with a protocol (CompletingRebalance) or none (Empty). */
  initNextGeneration(nowMs: number): void {
    this.generationId += 1;
    this.pendingSync.clear();
    if (this.members.size > 0) {
      this.protocolName = this.selectProtocol();
      for (const id of this.members.keys()) this.pendingSync.add(id);
      this.transitionTo("CompletingRebalance", nowMs);
    } else {
      this.protocolName = "";
      this.leaderId = "";
      this.transitionTo("Empty", nowMs);
    }
  }

  /** What the group metadata record stores; `assignmentOf` overrides the members' current assignments. */
  toMetadataValue(assignmentOf: (member: GroupMember) => Buffer = (m) => m.assignment): GroupMetadataValue {
    return {
      protocolType: this.protocolType,
      generationId: this.generationId,
      protocolName: this.protocolName,
      leader: this.leaderId,
      stateTimestampMs: this.stateTimestampMs ?? 0,
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        subscription: m.metadataFor(this.protocolName),
        assignment: assignmentOf(m),
      })),
    };
  }

  resetAssignments(): void {
    for (const member of this.members.values()) member.assignment = EMPTY_BYTES;
  }

  offset(topic: string, partition: number): OffsetCommitValue | undefined {
    return this.committed.get(topic)?.get(partition);
  }

  setOffset(topic: string, partition: number, value: OffsetCommitValue): void {
    let byPartition = this.committed.get(topic);
    if (!byPartition) {
      byPartition = new Map();
      this.committed.set(topic, byPartition);
    }
    byPartition.set(partition, value);
  }

  deleteOffset(topic: string, partition: number): void {
    const byPartition = this.committed.get(topic);
    if (!byPartition) return;
    byPartition.delete(partition);
    if (byPartition.size === 0) this.committed.delete(topic);
  }

  hasOffsets(): boolean {
    return this.committed.size > 0;
  }

  /** Committed offsets ordered by topic, then partition. */
  offsets(): CommittedOffset[] {
    const out: CommittedOffset[] = [];
    for (const topic of [...this.committed.keys()].sort()) {
      const byPartition = this.committed.get(topic) as Map<number, OffsetCommitValue>;
      for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) {
        out.push({ topic, partition, value: byPartition.get(partition) as OffsetCommitValue });
      }
    }
    return out;
  }

  offsetsOfTopic(topic: string): CommittedOffset[] {
    return this.offsets().filter((o) => o.topic === topic);
  }

  beginCommit(partitions: readonly { topic: string; partition: number }[]): void {
    for (const { topic, partition } of partitions) {
      const key = topicPartitionKey(topic, partition);
      const entry = this.inflight.get(key);
      if (entry) entry.count += 1;
      else this.inflight.set(key, { topic, partition, count: 1 });
    }
  }

  endCommit(partitions: readonly { topic: string; partition: number }[]): void {
    for (const { topic, partition } of partitions) {
      const key = topicPartitionKey(topic, partition);
      const entry = this.inflight.get(key);
      if (!entry) continue;
      entry.count -= 1;
      if (entry.count <= 0) this.inflight.delete(key);
    }
  }

  hasInflightCommits(): boolean {
    return this.inflight.size > 0;
  }

  /** Every partition with a committed offset or a commit being appended (what a deletion tombstones). */
  partitionsToTombstone(): { topic: string; partition: number }[] {
    const keys = new Map<string, { topic: string; partition: number }>();
    for (const { topic, partition } of this.offsets()) keys.set(topicPartitionKey(topic, partition), { topic, partition });
    for (const [key, { topic, partition }] of this.inflight) keys.set(key, { topic, partition });
    return [...keys.values()];
  }

  /** No members, no member ids outstanding, no offsets, nothing being written. */
  isForgettable(): boolean {
    return this.is("Empty") && this.size === 0 && !this.hasOffsets() && !this.hasInflightCommits() && !this.deleting;
  }
}
