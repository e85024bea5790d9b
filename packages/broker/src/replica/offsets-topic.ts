// The internal topic __consumer_offsets: where group coordinators keep committed offsets and
// group metadata. It is created on first use (the first FindCoordinator) through the active
// controller, like any topic, and replicated like any topic; coordinators write to it with
// acks=all through ReplicatedOffsetsLog, the OffsetsLog port over the ReplicaManager.

import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Clock } from "@castle/common";
import {
  BATCH_LOG_OVERHEAD_BYTES,
  type DecodedRecord,
  decodeRecordBatch,
  ErrorCode,
  encodeRecordBatch,
  ProtocolError,
  protocolError,
} from "@castle/protocol";
import type { BrokerConfig } from "../config/broker-config.js";
import type { OffsetsLog, OffsetsLogRecord } from "../group/group-ports.js";
import type { BrokerContext } from "../handlers/broker-context.js";
import type { ReplicaManager } from "./replica-manager.js";

export const OFFSETS_TOPIC = "__consumer_offsets";

/** Bytes read from the log at a time while a coordinator replays a partition. */
const REPLAY_READ_BYTES = 1024 * 1024;

/** The topic configs __consumer_offsets is created with. */
export function offsetsTopicConfigs(config: BrokerConfig): Record<string, string> {
  return {
    "cleanup.policy": "compact",
    "segment.bytes": String(config.offsetsTopicSegmentBytes),
  };
}

/**
 * Makes sure __consumer_offsets exists and this node's image shows it: creates it through the
 * controller when missing, with offsets.topic.replication.factor replicas or one per unfenced
 * broker if there are fewer. Throws COORDINATOR_NOT_AVAILABLE (retriable) when it cannot yet.
 */
export async function ensureOffsetsTopic(ctx: BrokerContext, timeoutMs: number): Promise<void> {
  if (ctx.image().topic(OFFSETS_TOPIC)) return;
  const brokers = ctx.image().unfencedBrokers().length;
  if (brokers === 0)
    throw protocolError("COORDINATOR_NOT_AVAILABLE", "no broker is unfenced yet to host __consumer_offsets; retry shortly");
  const response = await ctx.controller.call(
    "createTopics",
    [
      {
        topics: [
          {
            name: OFFSETS_TOPIC,
            numPartitions: ctx.config.offsetsTopicNumPartitions,
            replicationFactor: Math.min(ctx.config.offsetsTopicReplicationFactor, brokers),
            configs: offsetsTopicConfigs(ctx.config),
          },
        ],
        timeoutMs,
        validateOnly: false,
      },
    ],
    timeoutMs,
  );
  const result = response.topics?.[0];
  const code = result?.errorCode ?? ErrorCode.NONE;
  if (code !== ErrorCode.NONE && code !== ErrorCode.TOPIC_ALREADY_EXISTS) {
    ctx.logger.warn("cannot create __consumer_offsets", { errorCode: code, error: result?.errorMessage });
    throw protocolError("COORDINATOR_NOT_AVAILABLE", `cannot create ${OFFSETS_TOPIC} yet: ${result?.errorMessage ?? "unknown error"}`);
  }
}

/** OffsetsLog over this node's replicas of __consumer_offsets. */
export class ReplicatedOffsetsLog implements OffsetsLog {
  constructor(
    private readonly replicas: ReplicaManager,
    private readonly commitTimeoutMs: number,
    private readonly clock: Clock,
  ) {}

  async append(partition: number, records: readonly OffsetsLogRecord[]): Promise<void> {
    const nowMs = this.clock.nowMs();
    const batch = encodeRecordBatch(
      records.map((r) => ({ key: r.key, value: r.value })),
      { baseTimestampMs: nowMs },
    );
    try {
      const outcome = this.replicas.append(OFFSETS_TOPIC, partition, batch, -1);
      await this.replicas.awaitReplication(OFFSETS_TOPIC, partition, outcome.lastOffset, this.commitTimeoutMs);
    } catch (error) {
      throw asCoordinatorError(error, partition);
    }
  }

  async *readAll(partition: number): AsyncIterable<OffsetsLogRecord> {
    const log = this.replicas.localLog(OFFSETS_TOPIC, partition);
    if (!log) throw protocolError("NOT_COORDINATOR", `this node has no log for ${OFFSETS_TOPIC}-${partition}`);
    // The leader's whole log: what lies above its high watermark will be committed, because a
    // leader never truncates its own log.
    const end = log.logEndOffset;
    let offset = log.logStartOffset;
    while (offset < end) {
      const { records } = log.read(offset, REPLAY_READ_BYTES);
      if (records.length === 0) break;
      let next = offset;
      for (const batch of iterateBatches(records)) {
        for (const record of batch.records) {
          if (record.offset < offset || record.offset >= end || record.key === null) continue;
          yield { key: record.key, value: record.value };
        }
        next = Math.max(next, batch.lastOffset + 1);
      }
      if (next <= offset) break;
      offset = next;
      await yieldToEventLoop();
    }
  }
}

/** The whole batches in `buf`, decoded, with the last offset each covers. */
function* iterateBatches(buf: Buffer): Generator<{ lastOffset: number; records: DecodedRecord[] }> {
  let pos = 0;
  while (pos + BATCH_LOG_OVERHEAD_BYTES <= buf.length) {
    const size = buf.readInt32BE(pos + 8) + BATCH_LOG_OVERHEAD_BYTES;
    if (pos + size > buf.length) return;
    const { header, records } = decodeRecordBatch(buf, pos);
    yield { lastOffset: header.baseOffset + header.lastOffsetDelta, records };
    pos += size;
  }
}

/** A lost leadership or a missing partition means "ask the coordinator again"; other errors pass through. */
function asCoordinatorError(error: unknown, partition: number): unknown {
  if (!(error instanceof ProtocolError)) return error;
  if (error.code === "NOT_LEADER_OR_FOLLOWER" || error.code === "UNKNOWN_TOPIC_OR_PARTITION") {
    return protocolError("NOT_COORDINATOR", `this node no longer leads ${OFFSETS_TOPIC}-${partition}: ${error.message}`);
  }
  return error;
}
