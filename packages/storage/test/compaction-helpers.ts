// Test fixtures for log compaction: keyed batches, a consumer-like reader that copes with the
// gaps compaction leaves (helpers.readAll validates batches as a produce would, which a
// compacted batch is not), and the reference model of what compaction keeps.

import { type Clock, silentLogger } from "@castle/common";
import {
  type BatchSpan,
  batchBaseOffset,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchRecordCount,
  batchSizeAt,
  CompressionType,
  decodeRecordBatch,
  encodeRecordBatch,
  wholeBatchesLength,
} from "@castle/protocol";
import { type LogCleanerOptions, LogManager, type PartitionLog } from "../src/index.js";

export interface KeyedRecord {
  key: string | null;
  /** null = tombstone. */
  value: string | null;
  timestampMs: number;
}

/** One RecordBatch v2 of `records` (keys and values as UTF-8). */
export function keyedBatch(records: readonly KeyedRecord[], options: { gzip?: boolean } = {}): Buffer {
  const first = records[0] as KeyedRecord;
  return encodeRecordBatch(
    records.map((r) => ({
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
      timestampMs: r.timestampMs,
      headers: [{ key: "h", value: Buffer.from(r.key ?? "-") }],
    })),
    { baseTimestampMs: first.timestampMs, compression: options.gzip ? CompressionType.Gzip : CompressionType.None },
  );
}

/** Spans of stored batches without produce validation (compacted batches have gaps and may hold fewer records than offsets). */
export function rawSpans(buf: Buffer): BatchSpan[] {
  const spans: BatchSpan[] = [];
  const end = wholeBatchesLength(buf);
  for (let position = 0; position < end; position += batchSizeAt(buf, position)) {
    spans.push({
      position,
      sizeBytes: batchSizeAt(buf, position),
      baseOffset: batchBaseOffset(buf, position),
      lastOffsetDelta: batchLastOffsetDelta(buf, position),
      recordCount: batchRecordCount(buf, position),
      maxTimestamp: batchMaxTimestamp(buf, position),
    });
  }
  return spans;
}

/** A record as read back, with the leader epoch of its batch. */
export interface StoredRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestampMs: number;
  epoch: number;
}

/**
 * Reads from `from` to the log end as a consumer does: whole batches, records at or after the
 * position, the position moving to the end of each batch's offset range.
 */
export function consume(log: PartitionLog, from = log.logStartOffset): StoredRecord[] {
  const out: StoredRecord[] = [];
  let next = from;
  for (let reads = 0; next < log.logEndOffset; reads++) {
    if (reads > 100_000) throw new Error("consume does not advance");
    const { records } = log.read(next, 64 * 1024);
    const end = wholeBatchesLength(records);
    if (end === 0) throw new Error(`empty read at ${next}`);
    for (let position = 0; position < end; position += batchSizeAt(records, position)) {
      const { header, records: decoded } = decodeRecordBatch(records, position);
      for (const record of decoded) {
        if (record.offset < next) continue;
        out.push({
          offset: record.offset,
          key: record.key === null ? null : record.key.toString(),
          value: record.value === null ? null : record.value.toString(),
          timestampMs: record.timestampMs,
          epoch: header.partitionLeaderEpoch,
        });
      }
      next = Math.max(next, header.baseOffset + header.lastOffsetDelta + 1);
    }
  }
  return out;
}

/** The latest value per key a consumer builds from `records` (tombstones delete). */
export function latestValues(records: readonly StoredRecord[]): Map<string, string> {
  const view = new Map<string, string>();
  for (const record of records) {
    if (record.key === null) continue;
    if (record.value === null) view.delete(record.key);
    else view.set(record.key, record.value);
  }
  return view;
}

export function openManagerWith(dataDir: string, clock: Clock, cleaner: Partial<LogCleanerOptions> = {}): Promise<LogManager> {
  return LogManager.open({ dataDir, clock, logger: silentLogger, cleaner });
}
