// Opens one partition directory: loads the sparse index and state from LevelDB, validates it
// against the segments, and recovers the log after an unclean shutdown.
//
// Per segment, bytes before the recovery point are trusted: only the tail after the last
// index entry is walked (framing only) to learn the segment's end offset and max timestamp.
// Bytes after the recovery point are validated batch by batch (framing, magic, CRC32C,
// monotonic offsets); the first bad or torn batch is cut off with a warning, and any later
// segments are deleted. A missing or inconsistent index (no state, a segment without its
// first entry, entries out of order or past the end, an entry not at a batch with its base
// offset) is rebuilt by scanning that segment.

import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import type { Clock, Logger } from "@castle/common";
import { readInt64, writeInt64 } from "@castle/protocol";
import type { LogConfig } from "../config/log-config.js";
import type { IndexStore } from "../index/index-store.js";
import { encodePartitionKey, familyRange, KeyPrefix, keySuffix, partitionStateKey, suffixedKey, suffixRange } from "../index/key-prefix.js";
import { decodePartitionState } from "../index/partition-state.js";
import { LogSegment } from "../segment/log-segment.js";
import { parseSegmentFileName } from "../segment/segment-file-name.js";
import { type ScannedBatch, type ScanResult, scanBatches } from "../segment/segment-scanner.js";
import { LeaderEpochCache } from "./leader-epoch-cache.js";
import { encodeIndexValue, newPartitionLogStats, PartitionLog } from "./partition-log.js";

export interface OpenPartitionOptions {
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  indexStore: IndexStore;
  clock: Clock;
  logger: Logger;
}

interface LoadedEntry {
  offset: number;
  position: number;
  maxTimestamp: number;
}

export async function openPartitionLog(options: OpenPartitionOptions): Promise<PartitionLog> {
  const { dir, topic, partition, indexStore, clock } = options;
  const logger = options.logger.child({ topic, partition });
  mkdirSync(dir, { recursive: true });
  const partitionKey = encodePartitionKey(topic, partition);
  const stats = newPartitionLogStats();
  const stateBytes = await indexStore.get(partitionStateKey(partitionKey));
  const state = stateBytes === undefined ? undefined : decodePartitionState(stateBytes);
  if (state === undefined) {
    // Without state the index cannot be trusted either: start from a clean slate.
    indexStore.clearRange(familyRange(KeyPrefix.OffsetIndex, partitionKey));
  }

  const baseOffsets: number[] = [];
  for (const name of readdirSync(dir)) {
    const base = parseSegmentFileName(name);
    if (base === undefined) logger.warn("ignoring unknown file in partition directory", { name });
    else baseOffsets.push(base);
  }
  baseOffsets.sort((a, b) => a - b);
  const nowMs = clock.nowMs();
  const segments = baseOffsets.map((base) => LogSegment.open(dir, base, nowMs));
  if (segments.length === 0) segments.push(LogSegment.create(dir, state?.logStartOffset ?? 0, nowMs));

  const epochs = new LeaderEpochCache();
  const epochEntries = state === undefined ? [] : await indexStore.entries(familyRange(KeyPrefix.LeaderEpoch, partitionKey));
  for (const [key, value] of epochEntries) epochs.assign(keySuffix(key), readInt64(value, 0));

  let scannedUntrustedBytes = false;
  let kept = segments.length;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as LogSegment;
    const nextBase = segments[i + 1]?.baseOffset ?? Number.MAX_SAFE_INTEGER;
    const previous = segments[i - 1];
    const minBaseOffset = previous === undefined ? segment.baseOffset : Math.max(segment.baseOffset, previous.nextOffset);
    const fileBytes = segment.sizeBytes;
    let trustedEnd = 0;
    if (state !== undefined) {
      if (segment.baseOffset < state.recoverySegmentBase) trustedEnd = fileBytes;
      else if (segment.baseOffset === state.recoverySegmentBase) trustedEnd = Math.min(state.recoveryPosition, fileBytes);
    }
    const entries = state === undefined ? [] : await loadEntries(indexStore, partitionKey, segment.baseOffset, nextBase);
    let skipIndexAt = -1;
    const onBatch = (batch: ScannedBatch): false => {
      // Every batch scanned teaches the cache its epoch: the entries of batches past the recovery
      // point are queued index writes that a crash may have lost while the bytes survived, and a
      // stale newest epoch would make a follower truncate records the leader has (KIP-279).
      if (epochs.assign(batch.leaderEpoch, batch.baseOffset)) {
        const value = Buffer.allocUnsafe(8);
        writeInt64(value, 0, batch.baseOffset);
        indexStore.put(suffixedKey(KeyPrefix.LeaderEpoch, partitionKey, batch.leaderEpoch), value);
      }
      if (batch.maxTimestamp > segment.maxTimestamp) segment.maxTimestamp = batch.maxTimestamp;
      if (
        batch.position !== skipIndexAt &&
        (segment.index.length === 0 || segment.bytesSinceIndexEntry >= options.config.indexIntervalBytes)
      ) {
        segment.index.add(batch.baseOffset, batch.position, segment.maxTimestamp);
        indexStore.put(
          suffixedKey(KeyPrefix.OffsetIndex, partitionKey, batch.baseOffset),
          encodeIndexValue(batch.position, segment.maxTimestamp),
        );
        segment.bytesSinceIndexEntry = 0;
      }
      segment.bytesSinceIndexEntry += batch.sizeBytes;
      return false;
    };

    let usable = usableEntries(entries, segment.baseOffset, trustedEnd);
    let trusted: ScanResult | undefined;
    // At most two passes: with the loaded entries, then (if they prove wrong) rebuilt from byte 0.
    for (let pass = 0; trusted === undefined; pass++) {
      if (usable === undefined) {
        stats.indexRebuildsTotal++;
        logger.warn("segment index is missing or inconsistent; rebuilding it", { segment: segment.baseOffset, entries: entries.length });
      }
      const keptEntries = usable ?? [];
      if (keptEntries.length < entries.length) {
        const from = keptEntries.length === 0 ? segment.baseOffset : (keptEntries[keptEntries.length - 1] as LoadedEntry).offset + 1;
        indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, partitionKey, from, nextBase));
      }
      segment.index.clear();
      segment.bytesSinceIndexEntry = 0;
      for (const entry of keptEntries) segment.index.add(entry.offset, entry.position, entry.maxTimestamp);
      const lastEntry = keptEntries[keptEntries.length - 1];
      segment.maxTimestamp = lastEntry?.maxTimestamp ?? -1;
      skipIndexAt = lastEntry?.position ?? -1;
      // Trusted part: framing only, from the last index entry.
      let entryWrong = false;
      const result = scanBatches(
        segment.fileDescriptor,
        lastEntry?.position ?? 0,
        trustedEnd,
        lastEntry?.offset ?? minBaseOffset,
        { verifyCrc: false },
        (batch) => {
          if (lastEntry !== undefined && batch.position === lastEntry.position && batch.baseOffset !== lastEntry.offset) {
            entryWrong = true;
            return true;
          }
          return onBatch(batch);
        },
      );
      const failedAtEntry = lastEntry !== undefined && lastEntry.position > 0 && result.failure?.position === lastEntry.position;
      if ((entryWrong || failedAtEntry) && pass === 0) {
        usable = undefined;
        continue;
      }
      trusted = result;
    }
    if (trusted.failure !== undefined) {
      logger.warn("batch before the recovery point is bad; validating from there", {
        segment: segment.baseOffset,
        position: trusted.failure.position,
        reason: trusted.failure.reason,
      });
    }

    // Untrusted part: full validation, cut at the first bad batch.
    const untrustedStart = trusted.endPosition;
    if (untrustedStart < fileBytes) scannedUntrustedBytes = true;
    const result = scanBatches(segment.fileDescriptor, untrustedStart, fileBytes, trusted.nextOffset, { verifyCrc: true }, onBatch);
    segment.nextOffset = result.nextOffset;
    segment.sizeBytes = result.endPosition;
    if (segment.index.length > 0) segment.rollStartMs = Math.min(nowMs, segment.index.maxTimestampAt(0));
    const overlapsNext = segment.nextOffset > nextBase;
    if (result.failure !== undefined || overlapsNext) {
      const reason = result.failure?.reason ?? `segment ends at offset ${segment.nextOffset}, past the next segment's base ${nextBase}`;
      logger.warn("truncating log at a torn or corrupt batch", {
        segment: segment.path,
        position: result.endPosition,
        reason,
        droppedBytes: fileBytes - result.endPosition,
      });
      segment.truncateFileToSize();
      indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, partitionKey, segment.nextOffset, Number.MAX_SAFE_INTEGER));
      kept = i + 1;
      break;
    }
  }
  for (const segment of segments.splice(kept)) {
    logger.warn("deleting segment after a truncated one", { segment: segment.path });
    segment.close();
    unlinkSync(segment.path);
    stats.deletedSegmentsTotal++;
  }

  const first = segments[0] as LogSegment;
  const active = segments[segments.length - 1] as LogSegment;
  const logEndOffset = active.nextOffset;
  for (const epoch of epochs.truncateFromEnd(logEndOffset))
    indexStore.clearRange(suffixRange(KeyPrefix.LeaderEpoch, partitionKey, epoch, epoch + 1));
  const logStartOffset = Math.min(Math.max(state?.logStartOffset ?? first.baseOffset, first.baseOffset), logEndOffset);
  const log = new PartitionLog(
    {
      topic,
      partition,
      dir,
      partitionKey,
      config: options.config,
      segments,
      logStartOffset,
      recoveryPoint: { offset: logEndOffset, segmentBase: active.baseOffset, position: active.sizeBytes },
      highWatermark: Math.min(Math.max(state?.highWatermark ?? logStartOffset, logStartOffset), logEndOffset),
      epochs,
      stats,
    },
    { indexStore, clock, logger },
  );
  // Recovered bytes were written by a process that died: make them durable before the
  // recovery point moves past them. A clean restart has nothing dirty and scanned nothing.
  if (scannedUntrustedBytes) for (const segment of segments) segment.dirty = true;
  await log.flush();
  return log;
}

async function loadEntries(indexStore: IndexStore, partitionKey: Buffer, from: number, to: number): Promise<LoadedEntry[]> {
  const rows = await indexStore.entries(suffixRange(KeyPrefix.OffsetIndex, partitionKey, from, to));
  return rows.map(([key, value]) => ({
    offset: keySuffix(key),
    position: value.length >= 12 ? value.readUInt32BE(0) : -1,
    maxTimestamp: value.length >= 12 ? readInt64(value, 4) : -1,
  }));
}

/**
 * The loaded entries that can be used, or undefined when the segment's index must be
 * rebuilt. Entries at or past `trustedEnd` are dropped (recovery re-derives them).
 */
function usableEntries(entries: LoadedEntry[], baseOffset: number, trustedEnd: number): LoadedEntry[] | undefined {
  if (trustedEnd === 0) return [];
  const first = entries[0];
  if (first === undefined || first.offset !== baseOffset || first.position !== 0) return undefined;
  const usable: LoadedEntry[] = [];
  let previous: LoadedEntry | undefined;
  for (const entry of entries) {
    if (previous !== undefined && (entry.offset <= previous.offset || entry.position <= previous.position)) return undefined;
    if (entry.position < 0) return undefined;
    if (entry.position >= trustedEnd) break;
    usable.push(entry);
    previous = entry;
  }
  return usable;
}
