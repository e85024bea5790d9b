// The pure core of log compaction (cleanup.policy=compact): which segments a pass may clean,
// the key -> latest offset map, and how one RecordBatch v2 is rewritten with only the records
// that survive. No file system and no clock: the LogCleaner (log-cleaner.ts) does the I/O.
//
// Rules (Kafka's log cleaner, KIP-58/KIP-534, as users know them):
// - A record survives when no record with the same key has a higher offset in the part of
//   the log the key map covers; a record without a key does not survive (a compacted topic
//   refuses them at produce, see findRecordWithoutKey).
// - Offsets never change: a rewritten batch keeps its base offset and lastOffsetDelta (so its
//   offset range stays), its leader epoch and producer fields; recordCount, length,
//   maxTimestamp and CRC are recomputed. A batch left with no record is dropped.
// - A tombstone (null value) survives until the batch's delete horizon: the first clean that
//   keeps it stamps horizon = now + delete.retention.ms into the batch (attribute bit 6, the
//   horizon in baseTimestamp, record timestamp deltas re-based on it, KIP-534), and a later
//   clean past the horizon drops it. The horizon lives in the data, so it survives restarts
//   and replicates with the batch.
// - Control batches and batches in a compression this codebase cannot read are kept verbatim.

import { gunzipSync, gzipSync } from "node:zlib";
import { invariant } from "@castle/common";
import {
  ATTRIBUTE_COMPRESSION_MASK,
  ATTRIBUTE_CONTROL,
  ATTRIBUTE_TIMESTAMP_TYPE,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  type BatchSpan,
  CompressionType,
  protocolError,
  readBatchHeader,
  readZigzag,
  type VarintCursor,
  writeBatchHeader,
  writeZigzag,
  zigzagSize,
} from "@castle/protocol";

/** KIP-534: set when baseTimestamp holds the batch's delete horizon (record deltas are relative to it). */
export const ATTRIBUTE_DELETE_HORIZON = 0x40;

/** Segment positions and relative offsets are int32; a cleaned group must fit both. */
const RELATIVE_OFFSET_MAX = 0x7fffffff;

/**
 * Estimated heap bytes per key map entry beyond the key's own bytes (V8 Map slot, string
 * header, heap number): what log.cleaner.dedupe.buffer.size is charged per key.
 */
export const KEY_MAP_ENTRY_OVERHEAD_BYTES = 80;

// ---- which segments a pass may clean ----

/** What the planner needs of a segment (oldest first; the last one is the active segment). */
export interface SegmentSummary {
  baseOffset: number;
  sizeBytes: number;
  /** Offset after the segment's last batch. */
  nextOffset: number;
  maxTimestamp: number;
}

export interface CleaningPlan {
  /** First offset not yet cleaned (the clean offset, clamped to the log). */
  firstDirtyOffset: number;
  /** Segments [0, cleanableCount) may be cleaned: never the active one, none reaching the high watermark or younger than min.compaction.lag.ms. */
  cleanableCount: number;
  /** Offset where the uncleanable part starts (the base of segment cleanableCount). */
  uncleanableOffset: number;
  /** Bytes of cleanable segments wholly below firstDirtyOffset. */
  cleanBytes: number;
  /** Bytes of cleanable segments holding offsets at or above firstDirtyOffset. */
  dirtyBytes: number;
  /** dirtyBytes / (cleanBytes + dirtyBytes); 0 when nothing is cleanable. */
  dirtyRatio: number;
}

/**
 * Splits the log into its cleanable prefix and the rest. A segment is cleanable when it is not
 * the active one, all its records are below the high watermark (a follower's uncommitted
 * suffix is never touched), and, with min.compaction.lag.ms > 0, its newest record is at
 * least that old; the first segment failing any test ends the prefix.
 */
export function planCleaning(
  segments: readonly SegmentSummary[],
  input: { cleanOffset: number; logStartOffset: number; highWatermark: number; nowMs: number; minCompactionLagMs: number },
): CleaningPlan {
  invariant(segments.length > 0, "a log has at least one segment");
  let cleanableCount = 0;
  while (cleanableCount < segments.length - 1) {
    const segment = segments[cleanableCount] as SegmentSummary;
    if (segment.nextOffset > input.highWatermark) break;
    if (input.minCompactionLagMs > 0 && segment.maxTimestamp > input.nowMs - input.minCompactionLagMs) break;
    cleanableCount++;
  }
  const uncleanableOffset = (segments[cleanableCount] as SegmentSummary).baseOffset;
  const firstDirtyOffset = Math.min(Math.max(input.cleanOffset, input.logStartOffset), uncleanableOffset);
  let cleanBytes = 0;
  let dirtyBytes = 0;
  for (let i = 0; i < cleanableCount; i++) {
    const segment = segments[i] as SegmentSummary;
    if (segment.nextOffset <= firstDirtyOffset) cleanBytes += segment.sizeBytes;
    else dirtyBytes += segment.sizeBytes;
  }
  const total = cleanBytes + dirtyBytes;
  return { firstDirtyOffset, cleanableCount, uncleanableOffset, cleanBytes, dirtyBytes, dirtyRatio: total === 0 ? 0 : dirtyBytes / total };
}

/**
 * Consecutive runs of segments cleaned into one new segment each (Kafka's groupSegmentsBySize):
 * a run's input bytes fit segment.bytes and its offsets fit a segment's int32 relative offsets,
 * so small cleaned segments merge instead of piling up. Returns [start, end) index pairs.
 */
export function groupSegments(segments: readonly SegmentSummary[], segmentBytesMax: number): Array<[number, number]> {
  const groups: Array<[number, number]> = [];
  let start = 0;
  while (start < segments.length) {
    const first = segments[start] as SegmentSummary;
    let bytes = first.sizeBytes;
    let end = start + 1;
    while (end < segments.length) {
      const next = segments[end] as SegmentSummary;
      if (bytes + next.sizeBytes > segmentBytesMax) break;
      if (next.nextOffset - 1 - first.baseOffset > RELATIVE_OFFSET_MAX) break;
      bytes += next.sizeBytes;
      end++;
    }
    groups.push([start, end]);
    start = end;
  }
  return groups;
}

// ---- the key map ----

/**
 * Key -> offset of its latest record in the dirty range, bounded by log.cleaner.dedupe.buffer.size
 * (estimated: key bytes + KEY_MAP_ENTRY_OVERHEAD_BYTES per key). Keys are the record key's
 * bytes as a latin1 string: exact, no hash collisions.
 */
export class KeyOffsetMap {
  private readonly offsets = new Map<string, number>();
  private usedBytes = 0;

  constructor(readonly bytesMax: number) {
    invariant(bytesMax > 0, `key map of ${bytesMax} bytes`);
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get size(): number {
    return this.offsets.size;
  }

  get(key: string): number | undefined {
    return this.offsets.get(key);
  }

  /** Bytes the keys not yet in the map would add (a key listed twice counts once). */
  costOfNewKeys(keys: readonly string[]): number {
    let cost = 0;
    const seen = new Set<string>();
    for (const key of keys) {
      if (this.offsets.has(key) || seen.has(key)) continue;
      seen.add(key);
      cost += key.length + KEY_MAP_ENTRY_OVERHEAD_BYTES;
    }
    return cost;
  }

  /** Records that `key`'s latest record is at `offset` (put in log order: a later put wins). */
  put(key: string, offset: number): void {
    if (!this.offsets.has(key)) this.usedBytes += key.length + KEY_MAP_ENTRY_OVERHEAD_BYTES;
    this.offsets.set(key, offset);
  }
}

// ---- records inside a batch ----

/** Where one record sits in a batch's (decompressed) records section, and what the cleaner reads of it. */
export interface RecordView {
  /** Position of the record's length varint. */
  start: number;
  /** Position after the record. */
  end: number;
  timestampDelta: number;
  offsetDelta: number;
  /** Position of the key length varint: key, value and headers are copied from here unchanged. */
  keyFieldStart: number;
  /** The key as a latin1 string (one char per byte), or null. */
  key: string | null;
  valueIsNull: boolean;
}

/** The batch's records section, gunzipped when needed; undefined for a compression this codebase cannot read. */
export function recordsSection(batch: Buffer): Buffer | undefined {
  const body = batch.subarray(BATCH_HEADER_BYTES, batch.length);
  const compression = batch.readInt16BE(21) & ATTRIBUTE_COMPRESSION_MASK;
  if (compression === CompressionType.None) return body;
  if (compression === CompressionType.Gzip) return gunzipSync(body);
  return undefined;
}

/**
 * Parses the framing of `count` records (CORRUPT_MESSAGE when it does not hold together, or
 * when offset deltas do not increase within [0, lastOffsetDelta]: the key map relies on it).
 */
export function parseRecords(body: Buffer, count: number, lastOffsetDelta: number): RecordView[] {
  const records: RecordView[] = [];
  const cursor: VarintCursor = { value: 0, pos: 0 };
  let previousDelta = -1;
  for (let i = 0; i < count; i++) {
    const start = cursor.pos;
    readZigzag(body, cursor, body.length);
    const end = cursor.pos + cursor.value;
    if (cursor.value < 1 || end > body.length)
      throw protocolError("CORRUPT_MESSAGE", `record ${i} length ${cursor.value} is out of bounds`);
    cursor.pos += 1; // attributes
    readZigzag(body, cursor, end);
    const timestampDelta = cursor.value;
    readZigzag(body, cursor, end);
    const offsetDelta = cursor.value;
    if (offsetDelta <= previousDelta || offsetDelta > lastOffsetDelta) {
      throw protocolError("CORRUPT_MESSAGE", `record ${i} has offset delta ${offsetDelta}, not in (${previousDelta}, ${lastOffsetDelta}]`);
    }
    previousDelta = offsetDelta;
    const keyFieldStart = cursor.pos;
    readZigzag(body, cursor, end);
    const keyLength = cursor.value;
    let key: string | null = null;
    if (keyLength >= 0) {
      if (cursor.pos + keyLength > end) throw protocolError("CORRUPT_MESSAGE", `record ${i} key runs past its record`);
      key = body.toString("latin1", cursor.pos, cursor.pos + keyLength);
      cursor.pos += keyLength;
    }
    readZigzag(body, cursor, end);
    const valueLength = cursor.value;
    if (valueLength > 0 && cursor.pos + valueLength > end) throw protocolError("CORRUPT_MESSAGE", `record ${i} value runs past its record`);
    records.push({ start, end, timestampDelta, offsetDelta, keyFieldStart, key, valueIsNull: valueLength < 0 });
    cursor.pos = end;
  }
  if (cursor.pos !== body.length) throw protocolError("CORRUPT_MESSAGE", "record batch has bytes after its last record");
  return records;
}

function isControlBatch(batch: Buffer): boolean {
  return (batch.readInt16BE(21) & ATTRIBUTE_CONTROL) !== 0;
}

/**
 * Refuses a produce to a compacted topic that carries a record without a key (Kafka's
 * INVALID_RECORD "Compacted topic cannot accept message without key"), or in a compression the
 * cleaner could not read. Walks every record: the price of compaction on the append path.
 */
export function refuseRecordsWithoutKey(batches: Buffer, spans: readonly BatchSpan[], where: { topic: string; partition: number }): void {
  for (const span of spans) {
    const batch = batches.subarray(span.position, span.position + span.sizeBytes);
    if (isControlBatch(batch)) continue;
    const body = recordsSection(batch);
    if (body === undefined) {
      throw protocolError(
        "UNSUPPORTED_COMPRESSION_TYPE",
        `${where.topic}-${where.partition} is compacted and its cleaner reads only uncompressed or gzip batches; the batch at byte ${span.position} uses compression ${batch.readInt16BE(21) & ATTRIBUTE_COMPRESSION_MASK}`,
        { ...where },
      );
    }
    const records = parseRecords(body, span.recordCount, span.lastOffsetDelta);
    const index = records.findIndex((record) => record.key === null);
    if (index >= 0) {
      throw protocolError(
        "INVALID_RECORD",
        `Compacted topic cannot accept message without key: record ${index} of the batch at byte ${span.position} has a null key, and ${where.topic}-${where.partition} has cleanup.policy=compact`,
        { ...where, batchPosition: span.position, recordIndex: index },
      );
    }
  }
}

/** The keys of a batch's records, in order (null keys skipped); undefined for a batch the cleaner leaves alone. */
export function batchKeys(batch: Buffer): { keys: string[]; offsets: number[] } | undefined {
  if (isControlBatch(batch)) return undefined;
  const body = recordsSection(batch);
  if (body === undefined) return undefined;
  const header = readBatchHeader(batch, 0);
  const keys: string[] = [];
  const offsets: number[] = [];
  for (const record of parseRecords(body, header.recordCount, header.lastOffsetDelta)) {
    if (record.key === null) continue;
    keys.push(record.key);
    offsets.push(header.baseOffset + record.offsetDelta);
  }
  return { keys, offsets };
}

// ---- rewriting one batch ----

export interface CleanBatchContext {
  /** Offset of the key's latest record in the mapped range, or undefined when the map does not know it. */
  latestOffsetOf(key: string): number | undefined;
  nowMs: number;
  deleteRetentionMs: number;
}

export type CleanedBatch =
  | { kind: "unchanged"; tombstoneHorizonMs?: number }
  | { kind: "dropped"; removedRecords: number; removedTombstones: number }
  | { kind: "rewritten"; batch: Buffer; removedRecords: number; removedTombstones: number; tombstoneHorizonMs?: number };

/**
 * Applies the compaction rules to one whole batch. `tombstoneHorizonMs` is set when the result
 * still holds a tombstone: the time after which a clean would drop it.
 */
export function cleanBatch(batch: Buffer, context: CleanBatchContext): CleanedBatch {
  if (isControlBatch(batch)) return { kind: "unchanged" };
  const body = recordsSection(batch);
  if (body === undefined) return { kind: "unchanged" };
  const header = readBatchHeader(batch, 0);
  const records = parseRecords(body, header.recordCount, header.lastOffsetDelta);
  const hasHorizon = (header.attributes & ATTRIBUTE_DELETE_HORIZON) !== 0;
  const kept: RecordView[] = [];
  let keptTombstone = false;
  let removedTombstones = 0;
  for (const record of records) {
    if (record.key === null) continue;
    const latest = context.latestOffsetOf(record.key);
    if (latest !== undefined && header.baseOffset + record.offsetDelta < latest) {
      if (record.valueIsNull) removedTombstones++;
      continue;
    }
    if (record.valueIsNull) {
      if (hasHorizon && context.nowMs >= header.baseTimestamp) {
        removedTombstones++;
        continue;
      }
      keptTombstone = true;
    }
    kept.push(record);
  }
  const removedRecords = records.length - kept.length;
  if (kept.length === 0) return { kind: "dropped", removedRecords, removedTombstones };
  const stampHorizon = keptTombstone && !hasHorizon;
  const horizonMs = stampHorizon ? context.nowMs + context.deleteRetentionMs : header.baseTimestamp;
  const tombstoneHorizonMs = keptTombstone ? horizonMs : undefined;
  if (removedRecords === 0 && !stampHorizon) {
    return tombstoneHorizonMs === undefined ? { kind: "unchanged" } : { kind: "unchanged", tombstoneHorizonMs };
  }

  // The records section: surviving records copied whole, or (stamping a horizon) with their
  // timestamp deltas re-based on it.
  const baseTimestamp = stampHorizon ? horizonMs : header.baseTimestamp;
  const shiftMs = header.baseTimestamp - baseTimestamp;
  let maxTimestamp = -1;
  let sectionBytes = 0;
  for (const record of kept) {
    const timestamp = header.baseTimestamp + record.timestampDelta;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    sectionBytes += stampHorizon ? rebasedRecordBytes(record, record.timestampDelta + shiftMs) : record.end - record.start;
  }
  let section = Buffer.allocUnsafe(sectionBytes);
  let pos = 0;
  for (const record of kept) {
    if (!stampHorizon) {
      pos += body.copy(section, pos, record.start, record.end);
      continue;
    }
    const timestampDelta = record.timestampDelta + shiftMs;
    const tail = record.end - record.keyFieldStart;
    const length = 1 + zigzagSize(timestampDelta) + zigzagSize(record.offsetDelta) + tail;
    pos = writeZigzag(section, pos, length);
    section[pos++] = 0; // record attributes: unused
    pos = writeZigzag(section, pos, timestampDelta);
    pos = writeZigzag(section, pos, record.offsetDelta);
    pos += body.copy(section, pos, record.keyFieldStart, record.end);
  }
  invariant(pos === sectionBytes, "rewritten records section size");
  if ((header.attributes & ATTRIBUTE_COMPRESSION_MASK) === CompressionType.Gzip) section = gzipSync(section);

  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + section.length);
  section.copy(out, BATCH_HEADER_BYTES);
  const logAppendTime = (header.attributes & ATTRIBUTE_TIMESTAMP_TYPE) !== 0;
  writeBatchHeader(out, 0, {
    ...header,
    batchLength: out.length - BATCH_LOG_OVERHEAD_BYTES,
    attributes: stampHorizon ? header.attributes | ATTRIBUTE_DELETE_HORIZON : header.attributes,
    baseTimestamp,
    maxTimestamp: logAppendTime ? header.maxTimestamp : maxTimestamp,
    recordCount: kept.length,
  });
  const rewritten: CleanedBatch = { kind: "rewritten", batch: out, removedRecords, removedTombstones };
  if (tombstoneHorizonMs !== undefined) rewritten.tombstoneHorizonMs = tombstoneHorizonMs;
  return rewritten;
}

function rebasedRecordBytes(record: RecordView, timestampDelta: number): number {
  const length = 1 + zigzagSize(timestampDelta) + zigzagSize(record.offsetDelta) + (record.end - record.keyFieldStart);
  return zigzagSize(length) + length;
}
