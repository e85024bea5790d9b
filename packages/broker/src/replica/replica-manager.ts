// Owns the partition replicas this node hosts: opening their logs, appending produced
// batches, reading for fetches, and answering offset lookups. On a single node every
// partition is led here, so the high watermark is the log end offset; replication (ISR,
// follower fetches, leader epochs) will extend this class, not the handlers.

import type { Clock, Logger } from "@castle/common";
import { protocolError, validateBatches } from "@castle/protocol";
import type { LogConfig, LogManager, PartitionLog } from "@castle/storage";
import type { BrokerConfig } from "../config/broker-config.js";
import { effectiveTopicConfigs } from "../config/topic-config.js";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import type { TopicRecord, TopicRegistry } from "../topics/topic-registry.js";
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

/** The leader epoch a single node uses until the controller assigns epochs. */
const SINGLE_NODE_LEADER_EPOCH = 0;

export interface ReplicaManagerDeps {
  logs: LogManager;
  registry: TopicRegistry;
  config: BrokerConfig;
  metrics: BrokerMetrics;
  purgatory: FetchPurgatory;
  clock: Clock;
  logger: Logger;
}

export class ReplicaManager {
  constructor(private readonly deps: ReplicaManagerDeps) {}

  /** The storage config a topic's partitions run with: its overrides over the broker defaults. */
  logConfigFor(topic: TopicRecord): LogConfig {
    const effective = new Map(effectiveTopicConfigs(topic.configs, this.deps.config).map((c) => [c.name, c.value]));
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

  /** Opens (creating if needed) the logs for partitions [fromPartition, topic.partitions). */
  async openPartitions(topic: TopicRecord, fromPartition = 0): Promise<void> {
    const config = this.logConfigFor(topic);
    for (let partition = fromPartition; partition < topic.partitions; partition++) {
      await this.deps.logs.createLog(topic.name, partition, config);
    }
  }

  async deletePartitions(topic: TopicRecord): Promise<void> {
    for (let partition = 0; partition < topic.partitions; partition++) {
      await this.deps.logs.deleteLog(topic.name, partition);
    }
  }

  reconfigure(topic: TopicRecord): void {
    const config = this.logConfigFor(topic);
    for (let partition = 0; partition < topic.partitions; partition++) this.deps.logs.logFor(topic.name, partition)?.updateConfig(config);
  }

  /** The log of a partition this node leads, or UNKNOWN_TOPIC_OR_PARTITION. */
  leaderLog(topic: string, partition: number): PartitionLog {
    const log = this.deps.logs.logFor(topic, partition);
    if (!log || !this.deps.registry.get(topic)) {
      throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `this server does not host topic-partition ${topic}-${partition}`, {
        topic,
        partition,
      });
    }
    return log;
  }

  /** Validates and appends one partition's batches. Throws ProtocolError; appends nothing on error. */
  append(topic: string, partition: number, batches: Buffer): AppendOutcome {
    const record = this.deps.registry.get(topic);
    const log = this.leaderLog(topic, partition);
    const maxMessageBytes = Number(record?.configs["max.message.bytes"] ?? this.deps.config.messageMaxBytes);
    const spans = validateBatches(batches, { batchBytesMax: maxMessageBytes });
    const appended = log.append(batches, spans, { leaderEpoch: SINGLE_NODE_LEADER_EPOCH, nowMs: this.deps.clock.nowMs() });
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
