// OffsetCommit and OffsetFetch for one group: builds the requests, reads the answers into
// per-partition results. What a failed partition means for the membership (rebalance, lost
// generation) is decided by the caller (consumer-coordinator.ts); this file only talks.

import { ErrorCode, type OffsetCommitRequestInput } from "@castle/protocol";
import { errorFromWire } from "../../errors/wire-error.js";
import { type TopicPartition, tpKey } from "../subscription-state.js";
import type { GroupTransport } from "./group-transport.js";

/** An offset to commit: the offset of the next record to consume, with optional metadata. */
export interface OffsetToCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
  /** The leader epoch of the last record consumed; -1 or absent if unknown. */
  leaderEpoch?: number;
}

/** A committed offset as OffsetFetch returns it. */
export interface CommittedOffset {
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
  /** -1 when unknown. */
  leaderEpoch: number;
}

/** Who commits: a member's generation, or (-1, "") for a consumer outside the group's membership (assign()). */
export interface CommitIdentity {
  generationId: number;
  memberId: string;
  groupInstanceId: string;
}

export interface PartitionCommitError {
  tp: TopicPartition;
  errorCode: number;
  errorMessage: string;
}

function groupByTopic<T>(items: readonly T[], topicOf: (item: T) => string): Map<string, T[]> {
  const byTopic = new Map<string, T[]>();
  for (const item of items) {
    const list = byTopic.get(topicOf(item)) ?? [];
    list.push(item);
    byTopic.set(topicOf(item), list);
  }
  return byTopic;
}

export class OffsetCommitter {
  constructor(
    private readonly groupId: string,
    private readonly transport: GroupTransport,
  ) {}

  /** One OffsetCommit; returns the partitions that failed (coordinator errors are retried by the transport, then thrown). */
  async commit(offsets: readonly OffsetToCommit[], identity: CommitIdentity, timeoutMs: number): Promise<PartitionCommitError[]> {
    const request: OffsetCommitRequestInput & { groupId: string } = {
      groupId: this.groupId,
      generationId: identity.generationId,
      memberId: identity.memberId,
      groupInstanceId: identity.groupInstanceId,
      topics: [...groupByTopic(offsets, (o) => o.topic)].map(([name, list]) => ({
        name,
        partitions: list.map((o) => ({
          partition: o.partition,
          committedOffset: o.offset,
          committedLeaderEpoch: o.leaderEpoch ?? -1,
          metadata: o.metadata ?? "",
        })),
      })),
    };
    const answer = await this.transport.offsetCommit(request, { timeoutMs, retryTimeoutMs: timeoutMs });
    const failed: PartitionCommitError[] = [];
    for (const topic of answer.topics) {
      for (const p of topic.partitions) {
        if (p.errorCode !== ErrorCode.NONE) {
          failed.push({ tp: { topic: topic.name, partition: p.partition }, errorCode: p.errorCode, errorMessage: p.errorMessage });
        }
      }
    }
    return failed;
  }

  /**
   * The group's committed offsets of `tps`, keyed by tpKey; null where none is committed.
   * A per-partition error is thrown (retriable ones as retriable errors: the caller may retry).
   */
  async fetch(tps: readonly TopicPartition[], timeoutMs: number): Promise<Map<string, CommittedOffset | null>> {
    const out = new Map<string, CommittedOffset | null>();
    if (tps.length === 0) return out;
    const answer = await this.transport.offsetFetch(
      {
        groupId: this.groupId,
        topics: [...groupByTopic(tps, (tp) => tp.topic)].map(([name, list]) => ({ name, partitions: list.map((tp) => tp.partition) })),
      },
      { timeoutMs, retryTimeoutMs: timeoutMs },
    );
    if (answer.errorCode !== ErrorCode.NONE)
      throw errorFromWire(answer.errorCode, answer.errorMessage, `fetch committed offsets of group '${this.groupId}'`);
    const wanted = new Set(tps.map(tpKey));
    for (const topic of answer.topics) {
      for (const p of topic.partitions) {
        const tp = { topic: topic.name, partition: p.partition };
        if (!wanted.has(tpKey(tp))) continue;
        if (p.errorCode !== ErrorCode.NONE) {
          throw errorFromWire(
            p.errorCode,
            p.errorMessage,
            `fetch the committed offset of ${topic.name}-${p.partition} in group '${this.groupId}'`,
          );
        }
        out.set(
          tpKey(tp),
          p.committedOffset < 0
            ? null
            : {
                topic: tp.topic,
                partition: tp.partition,
                offset: p.committedOffset,
                metadata: p.metadata,
                leaderEpoch: p.committedLeaderEpoch,
              },
        );
      }
    }
    for (const tp of tps) if (!out.has(tpKey(tp))) out.set(tpKey(tp), null);
    return out;
  }
}
