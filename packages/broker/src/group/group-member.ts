// One member of a group as the coordinator sees it: who it is, what it supports (its protocols
// in preference order), what it was assigned, and the JoinGroup or SyncGroup answer it is
// waiting for. The coordinator (the driver) owns the timer handle and resolves the waiters.

import {
  type ConsumerAssignment,
  decodeConsumerAssignment,
  type JoinGroupResponseInput,
  type SyncGroupResponseInput,
} from "@castle/protocol";
import type { TimerHandle } from "./group-ports.js";

export interface MemberProtocol {
  readonly name: string;
  readonly metadata: Buffer;
}

export type JoinWaiter = (response: JoinGroupResponseInput) => void;
export type SyncWaiter = (response: SyncGroupResponseInput) => void;

export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

export interface GroupMemberInit {
  readonly memberId: string;
  /** "" for a dynamic member. */
  readonly groupInstanceId: string;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocols: readonly MemberProtocol[];
}

export class GroupMember {
  readonly memberId: string;
  readonly groupInstanceId: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: readonly MemberProtocol[];
  /** Pending JoinGroup answer: set while the member waits for the join phase to complete. */
  joinWaiter: JoinWaiter | undefined;
  /** Pending SyncGroup answer: set while the member waits for the leader's assignment. */
  syncWaiter: SyncWaiter | undefined;
  /** The session timer; heartbeats, joins and syncs restart it. */
  sessionTimer: TimerHandle | undefined;
  private assigned: Buffer = EMPTY_BYTES;
  /** The decoded consumer assignment, computed on first use (undefined = not yet, null = undecodable). */
  private ownedCache: ReadonlySet<string> | null | undefined;

  constructor(init: GroupMemberInit) {
    this.memberId = init.memberId;
    this.groupInstanceId = init.groupInstanceId;
    this.clientId = init.clientId;
    this.clientHost = init.clientHost;
    this.sessionTimeoutMs = init.sessionTimeoutMs;
    this.rebalanceTimeoutMs = init.rebalanceTimeoutMs;
    this.protocols = init.protocols;
  }

  get isStatic(): boolean {
    return this.groupInstanceId !== "";
  }

  get assignment(): Buffer {
    return this.assigned;
  }

  set assignment(bytes: Buffer) {
    this.assigned = bytes;
    this.ownedCache = undefined;
  }

  get awaitingJoin(): boolean {
    return this.joinWaiter !== undefined;
  }

  get awaitingSync(): boolean {
    return this.syncWaiter !== undefined;
  }

  supports(protocolName: string): boolean {
    return this.protocols.some((p) => p.name === protocolName);
  }

  /** The metadata this member sent for `protocolName` (empty if it does not support it). */
  metadataFor(protocolName: string): Buffer {
    return this.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY_BYTES;
  }

  /** Same protocols, same order, same metadata bytes. */
  hasSameProtocols(protocols: readonly MemberProtocol[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every((p, i) => {
      const mine = this.protocols[i];
      return mine !== undefined && mine.name === p.name && mine.metadata.equals(p.metadata);
    });
  }

  /** Its vote: the first protocol in its own preference order among `candidates`. */
  vote(candidates: ReadonlySet<string>): string | undefined {
    return this.protocols.find((p) => candidates.has(p.name))?.name;
  }

  /**
   * The partitions ("topic\0partition") its assignment gives it, read as a consumer-protocol
   * ConsumerAssignment; null when the bytes are not one.
   */
  ownedPartitions(): ReadonlySet<string> | null {
    if (this.ownedCache !== undefined) return this.ownedCache;
    let decoded: ConsumerAssignment;
    try {
      decoded = decodeConsumerAssignment(this.assigned);
    } catch {
      this.ownedCache = null;
      return null;
    }
    const owned = new Set<string>();
    for (const tp of decoded.assignedPartitions) {
      for (const partition of tp.partitions) owned.add(topicPartitionKey(tp.topic, partition));
    }
    this.ownedCache = owned;
    return owned;
  }

  /** A copy under another member id (a static member's restart): same place, same assignment. */
  withMemberId(memberId: string, update: Omit<GroupMemberInit, "memberId" | "groupInstanceId">): GroupMember {
    const copy = new GroupMember({ ...update, memberId, groupInstanceId: this.groupInstanceId });
    copy.assignment = this.assigned;
    return copy;
  }

  /** Answers the pending JoinGroup, if any. */
  answerJoin(response: JoinGroupResponseInput): void {
    const waiter = this.joinWaiter;
    this.joinWaiter = undefined;
    waiter?.(response);
  }

  /** Answers the pending SyncGroup, if any. */
  answerSync(response: SyncGroupResponseInput): void {
    const waiter = this.syncWaiter;
    this.syncWaiter = undefined;
    waiter?.(response);
  }
}

export function topicPartitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
