// Owns the partition replicas this node hosts: appending produced batches, reading for
// fetches, and answering offset lookups, for the partitions the metadata image says this node
// leads (anything else is NOT_LEADER_OR_FOLLOWER naming the leader). The logs themselves are
// opened and deleted by the PartitionReconciler as the image changes. Until replication exists
// the high watermark is the leader's log end offset; replication (ISR, follower fetches) will
// extend this class, not the handlers.

import type { Clock, Logger } from "@castle/common";
import { type Configs, type MetadataImage, NO_LEADER, type PartitionState } from "@castle/metadata";
import { protocolError, validateBatches } from "@castle/protocol";
import type { LogConfig, LogManager, PartitionLog } from "@castle/storage";
import type { BrokerConfig } from "../config/broker-config.js";
import { effectiveTopicConfigs } from "../config/topic-config.js";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import { type FetchPurgatory, partitionKey } from "./fetch-purgatory.js";

export interface AppendOutcome {
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  recordCount: number;
}

export interface ReadOutcome {
  records: Buffer;
  highWatermark: number;
  logStartOffset: number;
}

export const LIST_OFFSETS_LATEST = -1;
export const LIST_OFFSETS_EARLIEST = -2;

export interface ReplicaManagerDeps {
  logs: LogManager;
  /** The latest applied metadata image. */
  image: () => MetadataImage;
  config: BrokerConfig;
  metrics: BrokerMetrics;
  purgatory: FetchPurgatory;
  clock: Clock;
  logger: Logger;
}

export class ReplicaManager {
  constructor(private readonly deps: ReplicaManagerDeps) {}

  /** The storage config a topic's partitions run with: its overrides over the broker defaults. */
  logConfigFor(topicConfigs: Configs): LogConfig {
    const effective = new Map(effectiveTopicConfigs(topicConfigs, this.deps.config).map((c) => [c.name, c.value]));
    const value = (name: string) => effective.get(name);
    return {
      segmentBytes: value("segment.bytes") as number,
      segmentMs: value("segment.ms") as number,
      retentionMs: value("retention.ms") as number,
      retentionBytes: value("retention.bytes") as number,
      flushMessages: value("flush.messages") as number,
      flushMs: value("flush.ms") as number,
      indexIntervalBytes: value("index.interval.bytes") as number,
      timestampType: value("message.timestamp.type") as LogConfig["timestampType"],
    };
  }

  /** The partition's state in the image, or UNKNOWN_TOPIC_OR_PARTITION. */
  partitionState(topic: string, partition: number): PartitionState {
    const state = this.deps.image().topic(topic)?.partitions[partition];
    if (!state) {
      throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic-partition ${topic}-${partition} does not exist`, { topic, partition });
    }
    return state;
  }

  /** The log of a partition this node leads; NOT_LEADER_OR_FOLLOWER (naming the leader) or UNKNOWN_TOPIC_OR_PARTITION otherwise. */
  leaderLog(topic: string, partition: number): PartitionLog {
    return this.leading(topic, partition).log;
  }

  private leading(topic: string, partition: number): { log: PartitionLog; state: PartitionState } {
    const state = this.partitionState(topic, partition);
    const nodeId = this.deps.config.nodeId;
    if (state.leader !== nodeId) {
      const leader = state.leader === NO_LEADER ? "it has no leader now (no live in-sync replica)" : `its leader is node ${state.leader}`;
      throw protocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `node ${nodeId} does not lead ${topic}-${partition}; ${leader} (leader epoch ${state.leaderEpoch}); refresh metadata and retry there`,
        { topic, partition, leaderId: state.leader, leaderEpoch: state.leaderEpoch },
      );
    }
    const log = this.deps.logs.logFor(topic, partition);
    if (!log) {
      throw protocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `node ${nodeId} leads ${topic}-${partition} but has not opened its log yet (metadata still being applied); retry shortly`,
        { topic, partition, leaderId: state.leader, leaderEpoch: state.leaderEpoch },
      );
    }
    return { log, state };
  }

  /** Validates and appends one partition's batches. Throws ProtocolError; appends nothing on error. */
  append(topic: string, partition: number, batches: Buffer): AppendOutcome {
    const { log, state } = this.leading(topic, partition);
    const maxMessageBytes = Number(this.deps.image().topicConfigs(topic)["max.message.bytes"] ?? this.deps.config.messageMaxBytes);
    const spans = validateBatches(batches, { batchBytesMax: maxMessageBytes });
    const appended = log.append(batches, spans, { leaderEpoch: state.leaderEpoch, nowMs: this.deps.clock.nowMs() });
    const recordCount = appended.lastOffset - appended.baseOffset + 1;
    this.deps.metrics.bytesIn.inc({ topic }, batches.length);
    this.deps.metrics.messagesIn.inc({ topic }, recordCount);
    this.deps.purgatory.notify(partitionKey(topic, partition));
    return { baseOffset: appended.baseOffset, logAppendTimeMs: appended.logAppendTimeMs, logStartOffset: log.logStartOffset, recordCount };
  }

  read(topic: string, partition: number, fetchOffset: number, maxBytes: number, minOneBatch: boolean): ReadOutcome {
    const log = this.leaderLog(topic, partition);
    const highWatermark = log.logEndOffset;
    if (fetchOffset < log.logStartOffset || fetchOffset > highWatermark) {
      throw protocolError(
        "OFFSET_OUT_OF_RANGE",
        `offset ${fetchOffset} is outside ${topic}-${partition}'s range [${log.logStartOffset}, ${highWatermark}]`,
        { topic, partition, fetchOffset, logStartOffset: log.logStartOffset, highWatermark },
      );
    }
    const { records } = log.read(fetchOffset, maxBytes, { minOneBatch });
    return { records, highWatermark, logStartOffset: log.logStartOffset };
  }

  /** The partition's log end offset, or -1 if this node has no such log (a waiting fetch compares it to notice appends). */
  logEndOffset(topic: string, partition: number): number {
    return this.deps.logs.logFor(topic, partition)?.logEndOffset ?? -1;
  }

  /** Kafka ListOffsets: -1 latest, -2 earliest, else the first offset with timestamp >= it. */
  listOffset(topic: string, partition: number, timestamp: number): { offset: number; timestamp: number } {
    const log = this.leaderLog(topic, partition);
    if (timestamp === LIST_OFFSETS_LATEST) return { offset: log.logEndOffset, timestamp: -1 };
    if (timestamp === LIST_OFFSETS_EARLIEST) return { offset: log.logStartOffset, timestamp: -1 };
    if (timestamp < 0)
      throw protocolError("INVALID_REQUEST", `timestamp ${timestamp} is not valid; use -1 (latest), -2 (earliest) or a time in ms`);
    const offset = log.offsetForTimestamp(timestamp);
    return offset === null ? { offset: -1, timestamp: -1 } : { offset, timestamp };
  }

  forEachPartition(
    visit: (topic: string, partition: number, sizeBytes: number, logStartOffset: number, logEndOffset: number) => void,
  ): void {
    for (const log of this.deps.logs.allLogs()) visit(log.topic, log.partition, log.sizeBytes, log.logStartOffset, log.logEndOffset);
  }
}
