// Fetch with long-poll (Kafka's FetchRequest semantics): read from each partition up to its
// partition_max_bytes and the response's max_bytes; the first partition with data may
// exceed them by one whole batch so a consumer never stalls on a large batch. Consumers
// (replica_id -1) read below the high watermark, followers (their broker id) to the log end.
// If fewer than min_bytes are ready, park in the purgatory, re-reading whenever a wanted
// partition's data end moves, until min_bytes are there or max_wait_ms has passed.

import {
  batchRecordCount,
  batchSizeAt,
  decodeRecordBatches,
  type FetchPartitionResponseInput,
  type FetchRequest,
  type FetchResponseInput,
  protocolError,
  wholeBatchesLength,
} from "@castle/protocol";
import { partitionKey } from "../replica/fetch-purgatory.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

export const FETCH_MAX_BYTES_DEFAULT = 52428800;
export const PARTITION_FETCH_BYTES_DEFAULT = 1048576;

function countRecords(batches: Buffer): number {
  let count = 0;
  const end = wholeBatchesLength(batches);
  for (let pos = 0; pos < end; pos += batchSizeAt(batches, pos)) count += batchRecordCount(batches, pos);
  return count;
}

interface Collected {
  response: FetchResponseInput;
  bytes: number;
  anyError: boolean;
  /** Batch bytes read per topic: counted in the metrics only for the response actually sent. */
  readonly bytesOutByTopic: Map<string, Buffer[]>;
}

function countTraffic(ctx: BrokerContext, collected: Collected): FetchResponseInput {
  for (const [topic, buffers] of collected.bytesOutByTopic) {
    for (const records of buffers) {
      ctx.metrics.bytesOut.inc({ topic }, records.length);
      ctx.metrics.messagesOut.inc({ topic }, countRecords(records));
    }
  }
  return collected.response;
}

function collect(ctx: BrokerContext, request: FetchRequest): Collected {
  let budget = request.maxBytes > 0 ? request.maxBytes : FETCH_MAX_BYTES_DEFAULT;
  let bytes = 0;
  let anyError = false;
  const bytesOutByTopic = new Map<string, Buffer[]>();
  const structured = request.format === "RECORD_FORMAT_STRUCTURED";
  const topics = request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p): FetchPartitionResponseInput => {
      try {
        if (p.fetchOffset < 0) throw protocolError("OFFSET_OUT_OF_RANGE", `fetch offset ${p.fetchOffset} is negative`);
        const partitionMax = p.partitionMaxBytes > 0 ? p.partitionMaxBytes : PARTITION_FETCH_BYTES_DEFAULT;
        const out = ctx.replicas.read(
          topic.name,
          p.partition,
          p.fetchOffset,
          Math.min(partitionMax, budget),
          bytes === 0,
          request.replicaId,
          p.currentLeaderEpoch,
        );
        bytes += out.records.length;
        budget = Math.max(0, budget - out.records.length);
        if (out.records.length > 0) {
          const read = bytesOutByTopic.get(topic.name);
          if (read) read.push(out.records);
          else bytesOutByTopic.set(topic.name, [out.records]);
        }
        const base = {
          partition: p.partition,
          ...noError,
          highWatermark: out.highWatermark,
          logStartOffset: out.logStartOffset,
          lastStableOffset: out.highWatermark,
        };
        if (!structured) return { ...base, recordBatches: out.records };
        const records = decodeRecordBatches(out.records)
          .filter((r) => r.offset >= p.fetchOffset)
          .map((r) => ({
            offset: r.offset,
            timestampMs: r.timestampMs,
            key: r.key ?? undefined,
            value: r.value ?? undefined,
            headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? undefined })),
          }));
        return { ...base, records };
      } catch (error) {
        anyError = true;
        return {
          partition: p.partition,
          ...errorFields(error, ctx.logger, "fetch"),
          highWatermark: -1,
          logStartOffset: -1,
          lastStableOffset: -1,
        };
      }
    }),
  }));
  return { response: { topics }, bytes, anyError, bytesOutByTopic };
}

export async function handleFetch(ctx: BrokerContext, request: FetchRequest): Promise<FetchResponseInput> {
  const minBytes = Math.max(1, request.minBytes);
  const waitMs = Math.min(Math.max(0, request.maxWaitMs), ctx.config.fetchMaxWaitMsMax);
  const deadline = ctx.clock.monotonicMs() + waitMs;
  let collected = collect(ctx, request);
  // A follower under load finds data at once: what parking needs is built only when it parks.
  if (collected.bytes >= minBytes || collected.anyError || waitMs <= 0) return countTraffic(ctx, collected);
  const wanted = request.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, offset: p.fetchOffset })));
  const keys = wanted.map((w) => partitionKey(w.topic, w.partition));
  // Wake on each append to a wanted partition that moves its end, re-read, and answer once
  // min.bytes are there, an error shows, or max.wait.ms has passed (bounded by the deadline).
  for (;;) {
    const remainingMs = deadline - ctx.clock.monotonicMs();
    if (collected.bytes >= minBytes || collected.anyError || remainingMs <= 0) return countTraffic(ctx, collected);
    // A follower waits for the log end to move, a consumer for the high watermark.
    const ends = wanted.map((w) => ctx.replicas.fetchableEnd(w.topic, w.partition, request.replicaId));
    const parked = await ctx.purgatory.wait(keys, remainingMs, () =>
      wanted.some((w, i) => ctx.replicas.fetchableEnd(w.topic, w.partition, request.replicaId) > (ends[i] ?? 0)),
    );
    if (!parked) return countTraffic(ctx, collected); // the purgatory is full: answer with what there is
    collected = collect(ctx, request);
  }
}
