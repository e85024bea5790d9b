// Walks the batches of a segment file from a known batch boundary, checking framing, magic,
// offsets (monotonic) and optionally CRC32C. Used by crash recovery (with CRC) and by index
// rebuilds and tail scans (framing only). Stops at the first bad or torn batch and says why.

import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  batchBaseOffset,
  batchCrcIsValid,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchRecordCount,
  batchSizeAt,
  RECORD_BATCH_MAGIC,
} from "@castle/protocol";
import { readFully } from "./file-io.js";

export interface ScannedBatch {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  leaderEpoch: number;
}

export interface ScanResult {
  /** Position after the last good batch. */
  endPosition: number;
  /** Offset after the last good batch (the start's nextOffset when none). */
  nextOffset: number;
  /** Set when the scan stopped before endPosition. */
  failure?: { position: number; reason: string };
}

/** Bytes read per syscall while scanning. */
export const SCAN_CHUNK_BYTES = 1024 * 1024;
const MAGIC_OFFSET = 16;
const LEADER_EPOCH_OFFSET = 12;

/**
 * Scans [startPosition, endPosition) of `fd`. `minBaseOffset` is the smallest base offset the
 * first batch may have (the offset after the previous batch). Calls onBatch for each good
 * batch, in order; onBatch returns true to stop after that batch.
 */
export function scanBatches(
  fd: number,
  startPosition: number,
  endPosition: number,
  minBaseOffset: number,
  options: { verifyCrc: boolean; chunkBytes?: number },
  onBatch: (batch: ScannedBatch) => boolean | undefined,
): ScanResult {
  const chunkBytes = Math.min(options.chunkBytes ?? SCAN_CHUNK_BYTES, Math.max(0, endPosition - startPosition));
  // Scans run synchronously and keep nothing of the chunk, so one buffer serves them all (every
  // follower fetch locates its offset with a scan); a scan started from inside onBatch gets its own.
  const borrowed = !scratchInUse && chunkBytes <= SCAN_CHUNK_BYTES;
  if (!borrowed) return scanWith(Buffer.allocUnsafe(chunkBytes), fd, startPosition, endPosition, minBaseOffset, options, onBatch);
  scratchInUse = true;
  try {
    scratch ??= Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
    return scanWith(scratch.subarray(0, chunkBytes), fd, startPosition, endPosition, minBaseOffset, options, onBatch);
  } finally {
    scratchInUse = false;
  }
}

let scratch: Buffer | undefined;
let scratchInUse = false;

function scanWith(
  chunk: Buffer,
  fd: number,
  startPosition: number,
  endPosition: number,
  minBaseOffset: number,
  options: { verifyCrc: boolean },
  onBatch: (batch: ScannedBatch) => boolean | undefined,
): ScanResult {
  let chunkStart = startPosition;
  let chunkLength = 0;
  let position = startPosition;
  let nextOffset = minBaseOffset;
  const fail = (reason: string): ScanResult => ({ endPosition: position, nextOffset, failure: { position, reason } });

  while (position < endPosition) {
    const remaining = endPosition - position;
    if (remaining < BATCH_HEADER_BYTES) return fail(`torn batch header: ${remaining} bytes, header needs ${BATCH_HEADER_BYTES}`);
    if (position + BATCH_HEADER_BYTES > chunkStart + chunkLength) {
      chunkStart = position;
      chunkLength = readFully(fd, chunk, 0, Math.min(chunk.length, remaining), position);
    }
    let buf = chunk;
    let at = position - chunkStart;
    const sizeBytes = batchSizeAt(buf, at);
    if (sizeBytes < BATCH_HEADER_BYTES) return fail(`batch length ${sizeBytes - BATCH_LOG_OVERHEAD_BYTES} is below the header size`);
    if (sizeBytes > remaining) return fail(`torn batch: declares ${sizeBytes} bytes, ${remaining} remain`);
    const magic = buf.readInt8(at + MAGIC_OFFSET);
    if (magic !== RECORD_BATCH_MAGIC) return fail(`batch magic ${magic} is not ${RECORD_BATCH_MAGIC}`);
    const baseOffset = batchBaseOffset(buf, at);
    const lastOffsetDelta = batchLastOffsetDelta(buf, at);
    if (baseOffset < minBaseOffset || baseOffset < nextOffset)
      return fail(`batch base offset ${baseOffset} is below the expected ${nextOffset}`);
    if (lastOffsetDelta < 0 || batchRecordCount(buf, at) < 0) return fail(`batch lastOffsetDelta ${lastOffsetDelta} is negative`);
    const maxTimestamp = batchMaxTimestamp(buf, at);
    if (options.verifyCrc) {
      if (position + sizeBytes > chunkStart + chunkLength) {
        if (sizeBytes > chunk.length) {
          buf = Buffer.allocUnsafe(sizeBytes);
          readFully(fd, buf, 0, sizeBytes, position);
          at = 0;
        } else {
          chunkStart = position;
          chunkLength = readFully(fd, chunk, 0, Math.min(chunk.length, remaining), position);
          at = 0;
        }
      }
      if (!batchCrcIsValid(buf, at)) return fail("batch failed its CRC32C check");
    }
    const leaderEpoch = buf.readInt32BE(at + LEADER_EPOCH_OFFSET);
    const stop = onBatch({ position, sizeBytes, baseOffset, lastOffset: baseOffset + lastOffsetDelta, maxTimestamp, leaderEpoch });
    position += sizeBytes;
    nextOffset = baseOffset + lastOffsetDelta + 1;
    if (stop === true) break;
  }
  return { endPosition: position, nextOffset };
}
