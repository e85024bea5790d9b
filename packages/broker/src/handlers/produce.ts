// Produce: append each partition's batches (or structured records, encoded here into one
// batch) to its leader log. Results are per partition; one bad partition fails alone.

import {
  encodeRecordBatch,
  errorNameForCode,
  type PartitionProduceData,
  type ProduceRequest,
  type ProduceResponseInput,
  protocolError,
  type WireRecord,
} from "@castle/protocol";
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

export async function handleProduce(ctx: BrokerContext, request: ProduceRequest): Promise<ProduceResponseInput> {
  const acksProblem = validAcks.has(request.acks)
    ? null
    : protocolError("INVALID_REQUIRED_ACKS", `acks=${request.acks} is not valid; use 0, 1 or -1 (all)`);
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((data) => {
        try {
          if (acksProblem) throw acksProblem;
          const outcome = ctx.replicas.append(topic.name, data.partition, batchesOf(data, ctx.clock.nowMs()));
          return {
            partition: data.partition,
            ...noError,
            baseOffset: outcome.baseOffset,
            logAppendTimeMs: outcome.logAppendTimeMs,
            logStartOffset: outcome.logStartOffset,
          };
        } catch (error) {
          const fields = errorFields(error, ctx.logger, "produce");
          // Unknown names stay out of the label set, so junk requests cannot grow the metric without bound.
          ctx.metrics.failedProduce.inc({
            topic: ctx.image().topic(topic.name) ? topic.name : "(unknown)",
            error: errorNameForCode(fields.errorCode),
          });
          return { partition: data.partition, ...fields, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
        }
      }),
    })),
  };
}
