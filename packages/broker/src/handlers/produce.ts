// Produce: append each partition's batches (or structured records, encoded here into one
// batch) to its leader log. Results are per partition; one bad partition fails alone. With
// acks=all each partition's answer waits (in the produce purgatory) until the high watermark
// covers its records, up to the request's timeout_ms.

import {
  encodeRecordBatch,
  errorNameForCode,
  type PartitionProduceData,
  type ProduceRequest,
  type ProduceResponseInput,
  protocolError,
  type WireRecord,
} from "@castle/protocol";
import { OFFSETS_TOPIC } from "../replica/offsets-topic.js";
import type { AppendOutcome } from "../replica/replica-manager.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

const validAcks = new Set([0, 1, -1]);

function batchesOf(data: PartitionProduceData, nowMs: number): Buffer {
  if (data.records.length > 0 && data.recordBatches.length > 0) {
    throw protocolError("INVALID_REQUEST", "a partition carries both record_batches and records; send one form");
  }
  if (data.records.length === 0) return data.recordBatches;
  return encodeRecordBatch(data.records.map(toRecordInput(nowMs)), { baseTimestampMs: nowMs });
}

const toRecordInput = (nowMs: number) => (record: WireRecord) => ({
  key: record.key ?? null,
  value: record.value ?? null,
  headers: record.headers.map((h) => ({ key: h.key, value: h.value ?? null })),
  timestampMs: record.timestampMs > 0 ? record.timestampMs : nowMs,
});

/** acks=all without a usable timeout_ms waits this long for replication (Kafka's request.timeout.ms). */
const PRODUCE_REPLICATION_TIMEOUT_MS_DEFAULT = 30_000;

export async function handleProduce(ctx: BrokerContext, request: ProduceRequest): Promise<ProduceResponseInput> {
  const acksProblem = validAcks.has(request.acks)
    ? null
    : protocolError("INVALID_REQUIRED_ACKS", `acks=${request.acks} is not valid; use 0, 1 or -1 (all)`);
  const timeoutMs = request.timeoutMs > 0 ? request.timeoutMs : PRODUCE_REPLICATION_TIMEOUT_MS_DEFAULT;
  const failed = (topic: string, partition: number, error: unknown) => {
    const fields = errorFields(error, ctx.logger, "produce");
    // Unknown names stay out of the label set, so junk requests cannot grow the metric without bound.
    ctx.metrics.failedProduce.inc({
      topic: ctx.image().topic(topic) ? topic : "(unknown)",
      error: errorNameForCode(fields.errorCode),
    });
    return { partition, ...fields, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
  };
  return {
    topics: await Promise.all(
      request.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(
          topic.partitions.map(async (data) => {
            let outcome: AppendOutcome;
            try {
              if (acksProblem) throw acksProblem;
              if (topic.name === OFFSETS_TOPIC) {
                throw protocolError(
                  "INVALID_TOPIC_EXCEPTION",
                  `${OFFSETS_TOPIC} is written only by group coordinators; commit offsets with OffsetCommit (a consumer's commit, or castle group reset-offsets)`,
                );
              }
              outcome = ctx.replicas.append(topic.name, data.partition, batchesOf(data, ctx.clock.nowMs()), request.acks);
            } catch (error) {
              return failed(topic.name, data.partition, error);
            }
            try {
              if (request.acks === -1) await ctx.replicas.awaitReplication(topic.name, data.partition, outcome.lastOffset, timeoutMs);
            } catch (error) {
              return failed(topic.name, data.partition, error);
            }
            return {
              partition: data.partition,
              ...noError,
              baseOffset: outcome.baseOffset,
              logAppendTimeMs: outcome.logAppendTimeMs,
              logStartOffset: outcome.logStartOffset,
            };
          }),
        ),
      })),
    ),
  };
}
