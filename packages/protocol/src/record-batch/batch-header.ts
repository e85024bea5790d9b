// RecordBatch v2 header (Kafka's on-disk and on-wire layout; KIP-98). All integers big-endian.
//
//  offset  size  field
//       0     8  baseOffset              rewritten by the broker on append
//       8     4  batchLength             bytes after this field
//      12     4  partitionLeaderEpoch    rewritten by the broker on append
//      16     1  magic (= 2)
//      17     4  crc (CRC32C of bytes 21..end)
//      21     2  attributes              bits 0-2 compression, 3 timestamp type,
//                                        4 transactional, 5 control
//      23     4  lastOffsetDelta
//      27     8  baseTimestamp
//      35     8  maxTimestamp
//      43     8  producerId
//      51     2  producerEpoch
//      53     4  baseSequence
//      57     4  recordCount
//      61        records
//
// Because the CRC starts at byte 21, rewriting baseOffset and partitionLeaderEpoch never
// requires recomputing it: that is what keeps the append path free of re-encoding.

import { protocolError } from "../errors/protocol-error.js";
import { crc32c } from "./crc32c.js";

export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: the prefix that batchLength does not count. */
export const BATCH_LOG_OVERHEAD_BYTES = 12;
export const BATCH_CRC_START = 21;
export const RECORD_BATCH_MAGIC = 2;

const OFFSET_BASE_OFFSET = 0;
const OFFSET_LENGTH = 8;
const OFFSET_LEADER_EPOCH = 12;
const OFFSET_MAGIC = 16;
const OFFSET_CRC = 17;
const OFFSET_ATTRIBUTES = 21;
const OFFSET_LAST_OFFSET_DELTA = 23;
const OFFSET_BASE_TIMESTAMP = 27;
const OFFSET_MAX_TIMESTAMP = 35;
const OFFSET_PRODUCER_ID = 43;
const OFFSET_PRODUCER_EPOCH = 51;
const OFFSET_BASE_SEQUENCE = 53;
const OFFSET_RECORD_COUNT = 57;

export enum CompressionType {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

export enum TimestampType {
  CreateTime = 0,
  LogAppendTime = 1,
}

export const ATTRIBUTE_COMPRESSION_MASK = 0x07;
export const ATTRIBUTE_TIMESTAMP_TYPE = 0x08;
export const ATTRIBUTE_TRANSACTIONAL = 0x10;
export const ATTRIBUTE_CONTROL = 0x20;

export interface BatchHeader {
  baseOffset: number;
  /** Bytes after the batchLength field; the whole batch is batchLength + 12 bytes. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

const TWO_32 = 4294967296;

export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * TWO_32, pos + 4);
}

/**
 * Length of the longest prefix of `buf` made of whole batches (a batch whose length field is
 * below the 12-byte framing ends the prefix, so a corrupt length can never stall a walk).
 */
export function wholeBatchesLength(buf: Buffer): number {
  let position = 0;
  while (position + BATCH_LOG_OVERHEAD_BYTES <= buf.length) {
    const size = batchSizeAt(buf, position);
    if (size < BATCH_LOG_OVERHEAD_BYTES || position + size > buf.length) break;
    position += size;
  }
  return position;
}

/** Total bytes of the batch that starts at `pos`, from its length field. */
export function batchSizeAt(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + OFFSET_LENGTH) + BATCH_LOG_OVERHEAD_BYTES;
}

export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + OFFSET_BASE_OFFSET),
    batchLength: buf.readInt32BE(pos + OFFSET_LENGTH),
    partitionLeaderEpoch: buf.readInt32BE(pos + OFFSET_LEADER_EPOCH),
    magic: buf.readInt8(pos + OFFSET_MAGIC),
    crc: buf.readUInt32BE(pos + OFFSET_CRC),
    attributes: buf.readInt16BE(pos + OFFSET_ATTRIBUTES),
    lastOffsetDelta: buf.readInt32BE(pos + OFFSET_LAST_OFFSET_DELTA),
    baseTimestamp: readInt64(buf, pos + OFFSET_BASE_TIMESTAMP),
    maxTimestamp: readInt64(buf, pos + OFFSET_MAX_TIMESTAMP),
    producerId: readInt64(buf, pos + OFFSET_PRODUCER_ID),
    producerEpoch: buf.readInt16BE(pos + OFFSET_PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(pos + OFFSET_BASE_SEQUENCE),
    recordCount: buf.readInt32BE(pos + OFFSET_RECORD_COUNT),
  };
}

export function writeBatchHeader(buf: Buffer, pos: number, header: Omit<BatchHeader, "crc" | "magic">): void {
  writeInt64(buf, pos + OFFSET_BASE_OFFSET, header.baseOffset);
  buf.writeInt32BE(header.batchLength, pos + OFFSET_LENGTH);
  buf.writeInt32BE(header.partitionLeaderEpoch, pos + OFFSET_LEADER_EPOCH);
  buf.writeInt8(RECORD_BATCH_MAGIC, pos + OFFSET_MAGIC);
  buf.writeInt16BE(header.attributes, pos + OFFSET_ATTRIBUTES);
  buf.writeInt32BE(header.lastOffsetDelta, pos + OFFSET_LAST_OFFSET_DELTA);
  writeInt64(buf, pos + OFFSET_BASE_TIMESTAMP, header.baseTimestamp);
  writeInt64(buf, pos + OFFSET_MAX_TIMESTAMP, header.maxTimestamp);
  writeInt64(buf, pos + OFFSET_PRODUCER_ID, header.producerId);
  buf.writeInt16BE(header.producerEpoch, pos + OFFSET_PRODUCER_EPOCH);
  buf.writeInt32BE(header.baseSequence, pos + OFFSET_BASE_SEQUENCE);
  buf.writeInt32BE(header.recordCount, pos + OFFSET_RECORD_COUNT);
  updateBatchCrc(buf, pos);
}

export function computeBatchCrc(buf: Buffer, pos: number): number {
  const end = pos + batchSizeAt(buf, pos);
  return crc32c(buf.subarray(pos + BATCH_CRC_START, end));
}

export function updateBatchCrc(buf: Buffer, pos: number): void {
  buf.writeUInt32BE(computeBatchCrc(buf, pos), pos + OFFSET_CRC);
}

export function batchCrcIsValid(buf: Buffer, pos: number): boolean {
  return computeBatchCrc(buf, pos) === buf.readUInt32BE(pos + OFFSET_CRC);
}

/** Sets the base offset: the broker's offset assignment on append. Leaves the CRC valid. */
export function setBatchBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  writeInt64(buf, pos + OFFSET_BASE_OFFSET, baseOffset);
}

export function setBatchLeaderEpoch(buf: Buffer, pos: number, epoch: number): void {
  buf.writeInt32BE(epoch, pos + OFFSET_LEADER_EPOCH);
}

/** For message.timestamp.type=LogAppendTime: stamps maxTimestamp and recomputes the CRC. */
export function setBatchLogAppendTime(buf: Buffer, pos: number, timestampMs: number): void {
  const attributes = buf.readInt16BE(pos + OFFSET_ATTRIBUTES) | ATTRIBUTE_TIMESTAMP_TYPE;
  buf.writeInt16BE(attributes, pos + OFFSET_ATTRIBUTES);
  writeInt64(buf, pos + OFFSET_MAX_TIMESTAMP, timestampMs);
  updateBatchCrc(buf, pos);
}

export function batchLastOffsetDelta(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + OFFSET_LAST_OFFSET_DELTA);
}
export function batchLeaderEpoch(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + OFFSET_LEADER_EPOCH);
}
export function batchBaseOffset(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + OFFSET_BASE_OFFSET);
}
export function batchMaxTimestamp(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + OFFSET_MAX_TIMESTAMP);
}
export function batchRecordCount(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + OFFSET_RECORD_COUNT);
}
export function batchCompression(buf: Buffer, pos: number): CompressionType {
  return buf.readInt16BE(pos + OFFSET_ATTRIBUTES) & ATTRIBUTE_COMPRESSION_MASK;
}

/** Where one batch sits inside a larger buffer, with the header fields the log needs. */
export interface BatchSpan {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffsetDelta: number;
  recordCount: number;
  maxTimestamp: number;
}

export interface BatchLimits {
  batchBytesMax: number;
  /**
   * Accept batches with fewer records than their offset range (0 <= count <= lastOffsetDelta + 1):
   * what log compaction leaves, and what a follower copies from a compacted leader. Produce
   * requests never may.
   */
  allowOffsetGaps?: boolean;
}

/**
 * Splits a buffer of concatenated batches (as a produce request carries them) and validates
 * each one's framing, magic, CRC, and counts. Throws CORRUPT_MESSAGE (or INVALID_RECORD,
 * UNSUPPORTED_VERSION) naming what is wrong; on success the spans cover the buffer exactly.
 */
export function validateBatches(buf: Buffer, limits: BatchLimits): BatchSpan[] {
  const spans: BatchSpan[] = [];
  let pos = 0;
  if (buf.length === 0) throw protocolError("INVALID_RECORD", "the request carries no record batch");
  while (pos < buf.length) {
    const remaining = buf.length - pos;
    if (remaining < BATCH_HEADER_BYTES) {
      throw protocolError(
        "CORRUPT_MESSAGE",
        `record batch at byte ${pos} is truncated: ${remaining} bytes, header needs ${BATCH_HEADER_BYTES}`,
      );
    }
    const sizeBytes = batchSizeAt(buf, pos);
    if (sizeBytes < BATCH_HEADER_BYTES) {
      throw protocolError(
        "CORRUPT_MESSAGE",
        `record batch at byte ${pos} declares length ${sizeBytes - BATCH_LOG_OVERHEAD_BYTES}, below the header size`,
      );
    }
    if (sizeBytes > remaining) {
      throw protocolError("CORRUPT_MESSAGE", `record batch at byte ${pos} declares ${sizeBytes} bytes but only ${remaining} remain`);
    }
    if (sizeBytes > limits.batchBytesMax) {
      throw protocolError("MESSAGE_TOO_LARGE", `record batch of ${sizeBytes} bytes exceeds max.message.bytes=${limits.batchBytesMax}`, {
        sizeBytes,
      });
    }
    const magic = buf.readInt8(pos + OFFSET_MAGIC);
    if (magic !== RECORD_BATCH_MAGIC) {
      throw protocolError("UNSUPPORTED_VERSION", `record batch magic ${magic} is not supported; only RecordBatch v2 (magic 2)`);
    }
    if (!batchCrcIsValid(buf, pos)) {
      throw protocolError("CORRUPT_MESSAGE", `record batch at byte ${pos} failed its CRC32C check`);
    }
    const recordCount = batchRecordCount(buf, pos);
    const lastOffsetDelta = batchLastOffsetDelta(buf, pos);
    if (limits.allowOffsetGaps === true) {
      if (recordCount < 0 || lastOffsetDelta < 0 || recordCount > lastOffsetDelta + 1) {
        throw protocolError(
          "INVALID_RECORD",
          `record batch at byte ${pos} has recordCount ${recordCount} and lastOffsetDelta ${lastOffsetDelta}; expected 0 <= count <= delta + 1`,
        );
      }
    } else if (recordCount <= 0 || lastOffsetDelta !== recordCount - 1) {
      throw protocolError(
        "INVALID_RECORD",
        `record batch at byte ${pos} has recordCount ${recordCount} and lastOffsetDelta ${lastOffsetDelta}; expected count >= 1 and delta = count - 1`,
      );
    }
    spans.push({
      position: pos,
      sizeBytes,
      baseOffset: batchBaseOffset(buf, pos),
      lastOffsetDelta,
      recordCount,
      maxTimestamp: batchMaxTimestamp(buf, pos),
    });
    pos += sizeBytes;
  }
  return spans;
}
