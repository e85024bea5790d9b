// Encoding and decoding whole RecordBatch v2 batches: records with their varint framing,
// headers and timestamp/offset deltas. Compression: none and gzip (zlib); snappy, lz4 and
// zstd are refused with UNSUPPORTED_COMPRESSION_TYPE.

import { gunzipSync, gzipSync } from "node:zlib";
import { protocolError } from "../errors/protocol-error.js";
import {
  ATTRIBUTE_COMPRESSION_MASK,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  type BatchHeader,
  batchSizeAt,
  CompressionType,
  readBatchHeader,
  wholeBatchesLength,
  writeBatchHeader,
} from "./batch-header.js";
import { readZigzag, type VarintCursor, writeZigzag, zigzagSize } from "./varint.js";

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record as a producer hands it over. */
export interface RecordInput {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
  /** Create time in ms; defaults to the batch's base timestamp. */
  timestampMs?: number;
}

/** A record as a consumer sees it, with its absolute offset and timestamp. */
export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface EncodeBatchOptions {
  baseOffset?: number;
  baseTimestampMs: number;
  compression?: CompressionType;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
}

/** What a record without headers has: shared, so encoding a record allocates no empty array. */
const NO_HEADERS: readonly RecordHeader[] = [];

function recordBodySize(record: RecordInput, offsetDelta: number, timestampDelta: number, keyBytes: number, valueBytes: number): number {
  let size = 1 + zigzagSize(timestampDelta) + zigzagSize(offsetDelta);
  size += keyBytes < 0 ? 1 : zigzagSize(keyBytes) + keyBytes;
  size += valueBytes < 0 ? 1 : zigzagSize(valueBytes) + valueBytes;
  const headers = record.headers ?? NO_HEADERS;
  size += zigzagSize(headers.length);
  for (let h = 0; h < headers.length; h++) {
    const header = headers[h] as RecordHeader;
    const keyLength = Buffer.byteLength(header.key, "utf8");
    size += zigzagSize(keyLength) + keyLength;
    size += header.value === null ? 1 : zigzagSize(header.value.length) + header.value.length;
  }
  return size;
}

function writeRecord(buf: Buffer, pos: number, record: RecordInput, offsetDelta: number, timestampDelta: number, bodySize: number): number {
  pos = writeZigzag(buf, pos, bodySize);
  buf[pos++] = 0; // record attributes: unused
  pos = writeZigzag(buf, pos, timestampDelta);
  pos = writeZigzag(buf, pos, offsetDelta);
  const key = record.key ?? null;
  if (key === null) pos = writeZigzag(buf, pos, -1);
  else {
    pos = writeZigzag(buf, pos, key.length);
    pos += key.copy(buf, pos);
  }
  if (record.value === null) pos = writeZigzag(buf, pos, -1);
  else {
    pos = writeZigzag(buf, pos, record.value.length);
    pos += record.value.copy(buf, pos);
  }
  const headers = record.headers ?? NO_HEADERS;
  pos = writeZigzag(buf, pos, headers.length);
  for (let h = 0; h < headers.length; h++) {
    const header = headers[h] as RecordHeader;
    const keyLength = Buffer.byteLength(header.key, "utf8");
    pos = writeZigzag(buf, pos, keyLength);
    pos += buf.write(header.key, pos, "utf8");
    if (header.value === null) pos = writeZigzag(buf, pos, -1);
    else {
      pos = writeZigzag(buf, pos, header.value.length);
      pos += header.value.copy(buf, pos);
    }
  }
  return pos;
}

/** The records section's layout: each record's body size, the section's size and its max timestamp. */
interface RecordsLayout {
  readonly sizes: number[];
  readonly bytes: number;
  readonly maxTimestamp: number;
}

function layOutRecords(records: readonly RecordInput[], baseTimestampMs: number): RecordsLayout {
  const sizes = new Array<number>(records.length);
  let bytes = 0;
  let maxTimestamp = baseTimestampMs;
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as RecordInput;
    const timestamp = record.timestampMs ?? baseTimestampMs;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    const bodySize = recordBodySize(
      record,
      i,
      timestamp - baseTimestampMs,
      record.key ? record.key.length : -1,
      record.value ? record.value.length : -1,
    );
    sizes[i] = bodySize;
    bytes += zigzagSize(bodySize) + bodySize;
  }
  return { sizes, bytes, maxTimestamp };
}

/** Writes the records section at `pos` of `buf` (which has room for it); returns the end. */
function writeRecords(buf: Buffer, pos: number, records: readonly RecordInput[], baseTimestampMs: number, layout: RecordsLayout): number {
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as RecordInput;
    pos = writeRecord(buf, pos, record, i, (record.timestampMs ?? baseTimestampMs) - baseTimestampMs, layout.sizes[i] as number);
  }
  return pos;
}

/** One batch to encode: its records and options. */
export interface BatchToEncode {
  readonly records: readonly RecordInput[];
  readonly options: EncodeBatchOptions;
}

/** A batch laid out: an uncompressed one is written straight into the shared buffer, a compressed one is compressed first. */
interface PlannedBatch {
  readonly batch: BatchToEncode;
  readonly compression: CompressionType;
  readonly layout: RecordsLayout;
  /** The compressed records section, for a compressed batch. */
  readonly compressed: Buffer | undefined;
  readonly bytes: number;
}

function planBatch(batch: BatchToEncode): PlannedBatch {
  const { records, options } = batch;
  if (records.length === 0) throw protocolError("INVALID_RECORD", "a record batch needs at least one record");
  const compression = options.compression ?? CompressionType.None;
  const layout = layOutRecords(records, options.baseTimestampMs);
  let compressed: Buffer | undefined;
  switch (compression) {
    case CompressionType.None:
      break;
    case CompressionType.Gzip: {
      const raw = Buffer.allocUnsafe(layout.bytes);
      writeRecords(raw, 0, records, options.baseTimestampMs, layout);
      compressed = gzipSync(raw);
      break;
    }
    default:
      throw protocolError("UNSUPPORTED_COMPRESSION_TYPE", `compression ${CompressionType[compression]} is not supported; use none or gzip`);
  }
  return { batch, compression, layout, compressed, bytes: BATCH_HEADER_BYTES + (compressed?.length ?? layout.bytes) };
}

/** Writes a planned batch at `pos` of `buf`, header last (its CRC covers the records); returns the batch's view. */
function writePlanned(buf: Buffer, pos: number, planned: PlannedBatch): Buffer {
  const { records, options } = planned.batch;
  const batch = buf.subarray(pos, pos + planned.bytes);
  if (planned.compressed === undefined) writeRecords(batch, BATCH_HEADER_BYTES, records, options.baseTimestampMs, planned.layout);
  else planned.compressed.copy(batch, BATCH_HEADER_BYTES);
  writeBatchHeader(batch, 0, {
    baseOffset: options.baseOffset ?? 0,
    batchLength: batch.length - BATCH_LOG_OVERHEAD_BYTES,
    partitionLeaderEpoch: options.partitionLeaderEpoch ?? -1,
    attributes: planned.compression & ATTRIBUTE_COMPRESSION_MASK,
    lastOffsetDelta: records.length - 1,
    baseTimestamp: options.baseTimestampMs,
    maxTimestamp: planned.layout.maxTimestamp,
    producerId: options.producerId ?? -1,
    producerEpoch: options.producerEpoch ?? -1,
    baseSequence: options.baseSequence ?? -1,
    recordCount: records.length,
  });
  return batch;
}

/** Encodes one RecordBatch v2 holding `records`, with a valid CRC (one allocation when uncompressed). */
export function encodeRecordBatch(records: readonly RecordInput[], options: EncodeBatchOptions): Buffer {
  const planned = planBatch({ records, options });
  return writePlanned(Buffer.allocUnsafe(planned.bytes), 0, planned);
}

/**
 * Encodes several batches back to back into one buffer (one allocation, no concatenation):
 * `bytes` is what goes on the wire, `views[i]` is batch i inside it. Bad input throws before
 * anything is written.
 */
export function encodeRecordBatches(batches: readonly BatchToEncode[]): { bytes: Buffer; views: Buffer[] } {
  const planned = batches.map(planBatch);
  const bytes = Buffer.allocUnsafe(planned.reduce((sum, p) => sum + p.bytes, 0));
  const views: Buffer[] = [];
  let pos = 0;
  for (const p of planned) {
    views.push(writePlanned(bytes, pos, p));
    pos += p.bytes;
  }
  return { bytes, views };
}

function readBytesField(buf: Buffer, cursor: VarintCursor, end: number, what: string): Buffer | null {
  readZigzag(buf, cursor, end);
  const length = cursor.value;
  if (length < 0) return null;
  if (cursor.pos + length > end) throw protocolError("CORRUPT_MESSAGE", `${what} of ${length} bytes runs past the end of its record`);
  const value = buf.subarray(cursor.pos, cursor.pos + length);
  cursor.pos += length;
  return value;
}

/**
 * Decodes the batch at `pos` into records with absolute offsets. Key, value and header
 * buffers are views into `buf` (or into the decompressed body): copy them to keep them.
 */
export function decodeRecordBatch(buf: Buffer, pos = 0): { header: BatchHeader; records: DecodedRecord[] } {
  const header = readBatchHeader(buf, pos);
  const end = pos + header.batchLength + BATCH_LOG_OVERHEAD_BYTES;
  if (end > buf.length) throw protocolError("CORRUPT_MESSAGE", "record batch is truncated");
  let body = buf.subarray(pos + BATCH_HEADER_BYTES, end);
  const compression = header.attributes & ATTRIBUTE_COMPRESSION_MASK;
  if (compression === CompressionType.Gzip) body = gunzipSync(body);
  else if (compression !== CompressionType.None) {
    throw protocolError("UNSUPPORTED_COMPRESSION_TYPE", `compression ${CompressionType[compression] ?? compression} is not supported`);
  }
  const records: DecodedRecord[] = [];
  const cursor: VarintCursor = { value: 0, pos: 0 };
  for (let i = 0; i < header.recordCount; i++) {
    readZigzag(body, cursor, body.length);
    const recordEnd = cursor.pos + cursor.value;
    if (cursor.value < 0 || recordEnd > body.length)
      throw protocolError("CORRUPT_MESSAGE", `record ${i} length ${cursor.value} is out of bounds`);
    cursor.pos += 1; // attributes
    readZigzag(body, cursor, recordEnd);
    const timestampDelta = cursor.value;
    readZigzag(body, cursor, recordEnd);
    const offsetDelta = cursor.value;
    const key = readBytesField(body, cursor, recordEnd, "key");
    const value = readBytesField(body, cursor, recordEnd, "value");
    readZigzag(body, cursor, recordEnd);
    const headerCount = cursor.value;
    if (headerCount < 0) throw protocolError("CORRUPT_MESSAGE", `record ${i} has a negative header count`);
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const headerKey = readBytesField(body, cursor, recordEnd, "header key");
      if (headerKey === null) throw protocolError("CORRUPT_MESSAGE", `record ${i} has a null header key`);
      headers.push({ key: headerKey.toString("utf8"), value: readBytesField(body, cursor, recordEnd, "header value") });
    }
    if (cursor.pos !== recordEnd) throw protocolError("CORRUPT_MESSAGE", `record ${i} has ${recordEnd - cursor.pos} trailing bytes`);
    records.push({ offset: header.baseOffset + offsetDelta, timestampMs: header.baseTimestamp + timestampDelta, key, value, headers });
  }
  if (cursor.pos !== body.length) throw protocolError("CORRUPT_MESSAGE", "record batch has bytes after its last record");
  return { header, records };
}

/** Decodes every whole batch in a buffer of concatenated batches; skips a partial trailing batch. */
export function decodeRecordBatches(buf: Buffer): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  const end = wholeBatchesLength(buf);
  for (let pos = 0; pos < end; pos += batchSizeAt(buf, pos)) {
    for (const record of decodeRecordBatch(buf, pos).records) out.push(record);
  }
  return out;
}
