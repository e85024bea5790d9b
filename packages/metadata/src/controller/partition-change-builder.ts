// Pure helpers that turn a leadership decision into the PartitionChange record that states it
// (or nothing, when the partition already looks like that). Leader and ISR rules follow KRaft's
// PartitionChangeBuilder:
// - the ISR never becomes empty: when its last live member goes, the ISR keeps the members it
//   had (they hold the data) and the leader becomes NO_LEADER (-1) until one returns;
// - a new leader comes from the ISR, in replica (preference) order, among live brokers;
// - an unclean election (a live replica outside the ISR, which loses data) only where the
//   topic's unclean.leader.election.enable is true; the ISR becomes that replica alone.

import type { MetadataImage, PartitionState } from "../image/metadata-image.js";
import { type MetadataRecord, NO_LEADER, type PartitionChangeRecord } from "../records/metadata-record.js";

export interface TargetPartition {
  readonly leader: number;
  readonly isr: readonly number[];
}

/** The record moving `current` to `target`, or null when nothing changes. */
export function partitionChange(current: PartitionState, target: TargetPartition): PartitionChangeRecord | null {
  const leaderChanged = target.leader !== current.leader;
  const isrChanged = !sameMembers(target.isr, current.isr);
  if (!leaderChanged && !isrChanged) return null;
  return {
    type: "PartitionChange",
    topicId: current.topicId,
    partition: current.partition,
    ...(leaderChanged ? { leader: target.leader } : {}),
    ...(isrChanged ? { isr: [...target.isr] } : {}),
  };
}

/**
 * The partition once the brokers in `removed` are gone (fenced, shutting down, restarted):
 * they leave the ISR (unless that would empty it) and lose leadership; a live ISR member (or,
 * if `unclean`, a live replica) takes over.
 */
export function withoutBrokers(
  current: PartitionState,
  removed: ReadonlySet<number>,
  isLive: (brokerId: number) => boolean,
  unclean: boolean,
): TargetPartition {
  const remaining = current.isr.filter((id) => !removed.has(id));
  const isr = remaining.length > 0 ? remaining : current.isr;
  const eligible = (id: number): boolean => !removed.has(id) && isLive(id);
  if (current.leader !== NO_LEADER && eligible(current.leader) && isr.includes(current.leader)) return { leader: current.leader, isr };
  return electLeader(current.replicas, isr, eligible, unclean);
}

/**
 * The partition with the ISR its leader asked for (AlterPartition): the leader stays, and the
 * ISR is kept in replica (preference) order, whatever order the request listed it in.
 */
export function withIsr(current: PartitionState, isr: readonly number[]): TargetPartition {
  const wanted = new Set(isr);
  return { leader: current.leader, isr: current.replicas.filter((id) => wanted.has(id)) };
}

/** A leader for a leaderless partition, now that more brokers may be live (e.g. one unfenced). */
export function withLeaderIfPossible(current: PartitionState, isLive: (brokerId: number) => boolean, unclean: boolean): TargetPartition {
  if (current.leader !== NO_LEADER) return current;
  return electLeader(current.replicas, current.isr, isLive, unclean);
}

/**
 * The unclean elections in a batch of records decided against `image`: each PartitionChange
 * that names a leader outside the partition's ISR as it stood just before that record (records
 * apply in order, so an earlier record of the batch counts). The records that leader lacks are
 * lost; the active controller counts these (Kafka's UncleanLeaderElectionsPerSec).
 */
export function uncleanElections(image: MetadataImage, records: readonly MetadataRecord[]): PartitionChangeRecord[] {
  const isrs = new Map<string, readonly number[]>();
  const unclean: PartitionChangeRecord[] = [];
  for (const record of records) {
    if (record.type !== "PartitionChange" && record.type !== "Partition") continue;
    const key = `${record.topicId}:${record.partition}`;
    if (record.type === "PartitionChange" && record.leader !== undefined && record.leader !== NO_LEADER) {
      const isr = isrs.get(key) ?? image.partition(record.topicId, record.partition)?.isr ?? [];
      if (!isr.includes(record.leader)) unclean.push(record);
    }
    if (record.isr !== undefined) isrs.set(key, record.isr);
  }
  return unclean;
}

function electLeader(
  replicas: readonly number[],
  isr: readonly number[],
  eligible: (brokerId: number) => boolean,
  unclean: boolean,
): TargetPartition {
  const clean = replicas.find((id) => isr.includes(id) && eligible(id));
  if (clean !== undefined) return { leader: clean, isr };
  if (unclean) {
    const dirty = replicas.find(eligible);
    if (dirty !== undefined) return { leader: dirty, isr: [dirty] };
  }
  return { leader: NO_LEADER, isr };
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => b[i] === id);
}
