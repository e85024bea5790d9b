// Rebuilds the groups of one __consumer_offsets partition from its log, as a newly elected
// coordinator must: records in log order, the latest group metadata record per group and the
// latest offset per (group, topic, partition) win, and tombstones delete. A record that does not
// decode, or that belongs to another partition, is logged and skipped: one bad record must not
// keep every other group of the partition from being served.

import type { Logger } from "@castle/common";
import { type CommittedOffset, ConsumerGroup } from "./consumer-group.js";
import { topicPartitionKey } from "./group-member.js";
import type { OffsetsLogRecord } from "./group-ports.js";
import { decodeGroupRecord, type GroupMetadataValue, type GroupRecord, GroupRecordKeyType } from "./group-records.js";

/** Skipped records logged one by one before the loader only counts them. */
const SKIPPED_RECORDS_LOGGED_MAX = 10;

export interface ReplayOptions {
  readonly partition: number;
  partitionFor(groupId: string): number;
  readonly logger: Logger;
  /** Checked after every record: false once the caller no longer wants the result (resigned). */
  stillWanted(): boolean;
}

export interface ReplayedPartition {
  readonly groups: ConsumerGroup[];
  readonly records: number;
  readonly skipped: number;
}

/** The partition's groups, or undefined when `stillWanted` turned false during the replay. */
export async function replayOffsetsPartition(
  records: AsyncIterable<OffsetsLogRecord>,
  options: ReplayOptions,
): Promise<ReplayedPartition | undefined> {
  const metadata = new Map<string, GroupMetadataValue>();
  const offsets = new Map<string, Map<string, CommittedOffset>>();
  let count = 0;
  let skipped = 0;
  const skip = (index: number, problem: string): void => {
    skipped += 1;
    if (skipped <= SKIPPED_RECORDS_LOGGED_MAX) {
      options.logger.warn("skipping unreadable __consumer_offsets record", { partition: options.partition, record: index, problem });
    }
  };
  for await (const record of records) {
    const index = count++;
    if (!options.stillWanted()) return undefined;
    let decoded: GroupRecord;
    try {
      decoded = decodeGroupRecord(record);
    } catch (error) {
      skip(index, (error as Error).message);
      continue;
    }
    const groupId = decoded.key.groupId;
    const home = options.partitionFor(groupId);
    if (home !== options.partition) {
      skip(index, `group "${groupId}" belongs to partition ${home}`);
      continue;
    }
    if (decoded.type === GroupRecordKeyType.GroupMetadata) {
      if (decoded.value === null) metadata.delete(groupId);
      else metadata.set(groupId, decoded.value);
      continue;
    }
    const { topic, partition } = decoded.key;
    const tp = topicPartitionKey(topic, partition);
    let groupOffsets = offsets.get(groupId);
    if (decoded.value === null) {
      groupOffsets?.delete(tp);
      continue;
    }
    if (!groupOffsets) {
      groupOffsets = new Map();
      offsets.set(groupId, groupOffsets);
    }
    groupOffsets.set(tp, { topic, partition, value: decoded.value });
  }
  if (!options.stillWanted()) return undefined;
  if (skipped > SKIPPED_RECORDS_LOGGED_MAX) {
    options.logger.warn("skipped unreadable __consumer_offsets records", { partition: options.partition, skipped });
  }
  const ids = new Set([...metadata.keys(), ...[...offsets].filter(([, byPartition]) => byPartition.size > 0).map(([id]) => id)]);
  const groups = [...ids].map((id) =>
    ConsumerGroup.restore(id, options.partition, metadata.get(id), [...(offsets.get(id)?.values() ?? [])]),
  );
  return { groups, records: count, skipped };
}
