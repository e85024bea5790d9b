// Kafka's log cleaner for logs with cleanup.policy=compact: keeps, for each key, only its
// latest record in the cleanable part of the log (compaction.ts holds the rules).
//
// One pass over one log:
//   1. plan: the cleanable segments are the non-active ones wholly below the high watermark
//      (and older than min.compaction.lag.ms); the dirty part starts at the log's clean offset.
//   2. key map: key -> latest offset over the dirty part, bounded by dedupe.buffer.size; when
//      the keys do not fit, the map (and the new clean offset) stops at a batch boundary.
//   3. clean: every cleanable segment below the map's end, in runs that fit segment.bytes, is
//      rewritten with the surviving records into a .cleaned file and swapped in
//      (PartitionLog.replaceSegments; segment-swap.ts has the crash-safe file protocol). A
//      single segment where nothing changes is left alone.
//   4. the clean offset moves to the map's end (the LogManager checkpoints it).
// The cleaner reads segments through its own read-only file descriptors, outside the log's
// operation chain, yielding to the event loop every few MiB; only the swap takes the chain.
// A log that changes underneath (truncated, reset, segments deleted by retention, closed)
// makes the pass give up without touching it; the next pass starts over.
//
// Which logs and when (maybeCleanLogs, driven by the broker every log.cleaner.backoff.ms):
// compacted logs whose dirty ratio is at least min.cleanable.dirty.ratio, or whose kept
// tombstones have passed their delete horizon (known from the last pass, not across restarts),
// filthiest first, one at a time. A log whose pass failed on bad data is skipped until restart
// (Kafka's "uncleanable partitions"); cleanLog still runs it.

import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { type Clock, InvariantError, invariant, type Logger } from "@castle/common";
import {
  BATCH_HEADER_BYTES,
  batchBaseOffset,
  batchCrcIsValid,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchSizeAt,
  protocolError,
  RECORD_BATCH_MAGIC,
} from "@castle/protocol";
import { policyCompacts, SEGMENT_BYTES_MAX } from "../config/log-config.js";
import { fdatasyncAsync, readFully } from "../segment/file-io.js";
import type { LogSegment } from "../segment/log-segment.js";
import { batchKeys, type CleaningPlan, cleanBatch, groupSegments, KeyOffsetMap, planCleaning, type SegmentSummary } from "./compaction.js";
import type { CleanedIndexEntry, CleanerSnapshot, PartitionLog, SwapStep } from "./partition-log.js";
import { cleanedFileName } from "./segment-swap.js";

const MIB = 1024 * 1024;
/** Bytes read from a segment per syscall. */
const READ_CHUNK_BYTES = MIB;
/** Bytes buffered before a write to the cleaned file. */
const WRITE_BUFFER_BYTES = MIB;

export interface LogCleanerOptions {
  /** log.cleaner.enable: false makes maybeCleanLogs do nothing (cleanLog still cleans). */
  enable: boolean;
  /** log.cleaner.dedupe.buffer.size: estimated heap bytes the key map of one pass may use. */
  dedupeBufferBytes: number;
  /** Bytes read between two yields to the event loop. */
  yieldEveryBytes: number;
}

export const defaultLogCleanerOptions: LogCleanerOptions = Object.freeze({
  enable: true,
  dedupeBufferBytes: 128 * MIB,
  yieldEveryBytes: 4 * MIB,
});

export interface LogCleanerDependencies {
  clock: Clock;
  logger: Logger;
}

/** What one pass did (also the fields of its log line). */
export interface CleanSummary {
  topic: string;
  partition: number;
  /** The dirty part cleaned: [firstDirtyOffset, cleanOffset). */
  firstDirtyOffset: number;
  cleanOffset: number;
  /** Keys in the map (distinct keys of the dirty part that fit). */
  keys: number;
  /** Segments read and swapped (a run merged into one counts each input). */
  segmentsCleaned: number;
  segmentsWritten: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
  tombstonesRemoved: number;
  durationMs: number;
}

export interface CleanLogOptions {
  /** Test hook: called at each step of every segment swap; throwing simulates a crash there. */
  onSwapStep?: (step: SwapStep) => void;
}

/** Why a pass stopped early without an error: it leaves the log as it was. */
class PassAbandoned extends Error {
  override readonly name = "PassAbandoned";
}

interface BatchAt {
  /** A view of the whole batch, valid until the callback returns. */
  batch: Buffer;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
}

export class LogCleaner {
  private tail: Promise<unknown> = Promise.resolve();
  private stopping = false;
  /** A background pass is queued or running: a timer tick meanwhile is skipped, not queued. */
  private backgroundPassPending = false;
  /** Earliest delete horizon of a tombstone kept by the log's last pass. */
  private readonly tombstoneHorizons = new WeakMap<PartitionLog, number>();
  /** Logs whose last pass failed on bad data: background passes skip them. */
  private readonly uncleanable = new WeakSet<PartitionLog>();
  private readonly options: LogCleanerOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(options: Partial<LogCleanerOptions>, dependencies: LogCleanerDependencies) {
    this.options = { ...defaultLogCleanerOptions, ...options };
    invariant(
      Number.isSafeInteger(this.options.dedupeBufferBytes) && this.options.dedupeBufferBytes > 0,
      `log.cleaner.dedupe.buffer.size=${this.options.dedupeBufferBytes} must be a positive integer`,
    );
    invariant(this.options.yieldEveryBytes > 0, "yieldEveryBytes must be positive");
    this.clock = dependencies.clock;
    this.logger = dependencies.logger.child({ component: "log-cleaner" });
  }

  /**
   * Cleans `log` now, whatever its dirty ratio (the active segment, anything at or above the
   * high watermark and segments younger than min.compaction.lag.ms are still left alone).
   * Resolves to what was done, or undefined when nothing was cleanable or the pass gave up.
   * Throws when the log holds data the cleaner cannot read (a corrupt batch).
   */
  cleanLog(log: PartitionLog, options: CleanLogOptions = {}): Promise<CleanSummary | undefined> {
    return this.serialize(async () => {
      const summary = await this.clean(log, options);
      this.uncleanable.delete(log);
      return summary;
    });
  }

  /** The plan a pass over `log` would start from; undefined for a closed log. */
  planFor(log: PartitionLog, nowMs = this.clock.nowMs()): CleaningPlan | undefined {
    const snapshot = log.cleanerSnapshot();
    return snapshot === undefined ? undefined : planOf(snapshot, nowMs);
  }

  /**
   * One background pass: cleans every compacted log that is due (dirty ratio at least
   * min.cleanable.dirty.ratio, or a kept tombstone past its delete horizon), filthiest first,
   * one at a time; `onCleaned` runs after each (the LogManager checkpoints there). Errors are
   * logged per log, never thrown. Does nothing when disabled, stopped, or while another
   * background pass is still queued or running.
   */
  maybeCleanLogs(logs: readonly PartitionLog[], onCleaned?: (summary: CleanSummary) => void): Promise<CleanSummary[]> {
    if (!this.options.enable || this.stopping || this.backgroundPassPending) return Promise.resolve([]);
    this.backgroundPassPending = true;
    const pass = this.serialize(async () => {
      const nowMs = this.clock.nowMs();
      const due: Array<{ log: PartitionLog; ratio: number }> = [];
      for (const log of logs) {
        if (!policyCompacts(log.config.cleanupPolicy) || this.uncleanable.has(log)) continue;
        const plan = this.planFor(log, nowMs);
        if (plan === undefined || plan.cleanableCount === 0) continue;
        const horizon = this.tombstoneHorizons.get(log);
        const dirtyEnough = plan.dirtyBytes > 0 && plan.dirtyRatio >= log.config.minCleanableDirtyRatio;
        if (dirtyEnough || (horizon !== undefined && nowMs >= horizon)) due.push({ log, ratio: plan.dirtyRatio });
      }
      due.sort((a, b) => b.ratio - a.ratio);
      const summaries: CleanSummary[] = [];
      for (const { log } of due) {
        if (this.stopping) break;
        try {
          const summary = await this.clean(log, {});
          if (summary === undefined) continue;
          summaries.push(summary);
          onCleaned?.(summary);
        } catch (error) {
          if (error instanceof InvariantError) throw error;
          this.uncleanable.add(log);
          this.logger.error("cleaning failed; the log is skipped until restart", {
            topic: log.topic,
            partition: log.partition,
            error: (error as Error).message,
          });
        }
      }
      return summaries;
    });
    return pass.finally(() => {
      this.backgroundPassPending = false;
    });
  }

  /** Makes the running pass give up at its next yield and resolves when it has; later passes do nothing. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.tail.catch(() => undefined);
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async clean(log: PartitionLog, options: CleanLogOptions): Promise<CleanSummary | undefined> {
    const startedMs = this.clock.monotonicMs();
    const nowMs = this.clock.nowMs();
    const snapshot = log.cleanerSnapshot();
    if (snapshot === undefined || this.stopping) return undefined;
    const plan = planOf(snapshot, nowMs);
    if (plan.cleanableCount === 0) return undefined;
    const segments = snapshot.segments.slice(0, plan.cleanableCount);
    const sizes = segments.map((segment) => segment.sizeBytes);
    const where = { topic: log.topic, partition: log.partition };
    try {
      const { map, mapEnd } = await this.buildKeyMap(log, segments, sizes, plan);
      const inRange = segments.filter((segment) => segment.baseOffset < mapEnd).length;
      const summary: CleanSummary = {
        ...where,
        firstDirtyOffset: plan.firstDirtyOffset,
        cleanOffset: mapEnd,
        keys: map.size,
        segmentsCleaned: 0,
        segmentsWritten: 0,
        bytesBefore: 0,
        bytesAfter: 0,
        recordsRemoved: 0,
        tombstonesRemoved: 0,
        durationMs: 0,
      };
      let earliestHorizon = Number.POSITIVE_INFINITY;
      const groups = groupSegments(segments.slice(0, inRange).map(summaryOf), Math.min(snapshot.config.segmentBytes, SEGMENT_BYTES_MAX));
      for (const [start, end] of groups) {
        const group = segments.slice(start, end);
        const groupSizes = sizes.slice(start, end);
        const written = await this.cleanGroup(log, snapshot, group, groupSizes, { map, mapEnd, nowMs }, options);
        earliestHorizon = Math.min(earliestHorizon, written.earliestHorizonMs);
        summary.recordsRemoved += written.recordsRemoved;
        summary.tombstonesRemoved += written.tombstonesRemoved;
        if (written.swapped) {
          summary.segmentsCleaned += group.length;
          summary.segmentsWritten++;
          summary.bytesBefore += written.bytesBefore;
          summary.bytesAfter += written.bytesAfter;
        }
      }
      if (log.cleanerSnapshot()?.truncationGeneration !== snapshot.truncationGeneration) throw new PassAbandoned("log truncated");
      log.updateCleanOffset(mapEnd);
      if (earliestHorizon === Number.POSITIVE_INFINITY) this.tombstoneHorizons.delete(log);
      else this.tombstoneHorizons.set(log, earliestHorizon);
      summary.durationMs = this.clock.monotonicMs() - startedMs;
      this.logger.info("cleaned log", { ...summary });
      return summary;
    } catch (error) {
      if (!(error instanceof PassAbandoned)) throw error;
      this.logger.info("cleaning pass abandoned; the log is left as it was", { ...where, reason: error.message });
      return undefined;
    }
  }

  /** Key -> latest offset over the dirty part; `mapEnd` is where the map (and the pass) stops. */
  private async buildKeyMap(
    log: PartitionLog,
    segments: readonly LogSegment[],
    sizes: readonly number[],
    plan: CleaningPlan,
  ): Promise<{ map: KeyOffsetMap; mapEnd: number }> {
    const map = new KeyOffsetMap(this.options.dedupeBufferBytes);
    let mapEnd = plan.firstDirtyOffset;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] as LogSegment;
      if (segment.nextOffset <= plan.firstDirtyOffset) continue;
      let full = false;
      await this.forEachBatch(log, segment, sizes[i] as number, ({ batch, lastOffset }) => {
        if (lastOffset < plan.firstDirtyOffset) return true;
        const keyed = batchKeys(batch);
        if (keyed !== undefined) {
          // The first batch always goes in, so every pass makes progress.
          if (map.size > 0 && map.bytes + map.costOfNewKeys(keyed.keys) > map.bytesMax) {
            full = true;
            return false;
          }
          for (let k = 0; k < keyed.keys.length; k++) map.put(keyed.keys[k] as string, keyed.offsets[k] as number);
        }
        mapEnd = lastOffset + 1;
        return true;
      });
      if (full) break;
      mapEnd = segments[i + 1]?.baseOffset ?? plan.uncleanableOffset;
    }
    return { map, mapEnd: Math.max(mapEnd, plan.firstDirtyOffset) };
  }

  /** Writes the cleaned form of `group` and swaps it in when anything changed. */
  private async cleanGroup(
    log: PartitionLog,
    snapshot: CleanerSnapshot,
    group: readonly LogSegment[],
    groupSizes: readonly number[],
    pass: { map: KeyOffsetMap; mapEnd: number; nowMs: number },
    options: CleanLogOptions,
  ): Promise<{
    swapped: boolean;
    bytesBefore: number;
    bytesAfter: number;
    recordsRemoved: number;
    tombstonesRemoved: number;
    earliestHorizonMs: number;
  }> {
    const first = group[0] as LogSegment;
    const last = group[group.length - 1] as LogSegment;
    // A log deleted meanwhile has lost its directory: give up quietly rather than fail to create the file.
    if (log.cleanerSnapshot() === undefined) throw new PassAbandoned("the log was closed");
    const writer = new CleanedSegmentWriter(log.dir, first.baseOffset, last.baseOffset, snapshot.config.indexIntervalBytes);
    let changed = group.length > 1;
    let recordsRemoved = 0;
    let tombstonesRemoved = 0;
    let earliestHorizonMs = Number.POSITIVE_INFINITY;
    const context = {
      latestOffsetOf: (key: string) => pass.map.get(key),
      nowMs: pass.nowMs,
      deleteRetentionMs: snapshot.config.deleteRetentionMs,
    };
    try {
      for (let i = 0; i < group.length; i++) {
        await this.forEachBatch(log, group[i] as LogSegment, groupSizes[i] as number, (at) => {
          if (at.baseOffset >= pass.mapEnd) {
            writer.append(at.batch, at.baseOffset, at.lastOffset, at.maxTimestamp);
            return true;
          }
          const result = cleanBatch(at.batch, context);
          if (result.kind !== "dropped" && result.tombstoneHorizonMs !== undefined) {
            earliestHorizonMs = Math.min(earliestHorizonMs, result.tombstoneHorizonMs);
          }
          if (result.kind === "unchanged") {
            writer.append(at.batch, at.baseOffset, at.lastOffset, at.maxTimestamp);
            return true;
          }
          changed = true;
          recordsRemoved += result.removedRecords;
          tombstonesRemoved += result.removedTombstones;
          if (result.kind === "rewritten") {
            writer.append(result.batch, at.baseOffset, at.lastOffset, batchMaxTimestamp(result.batch, 0));
          }
          return true;
        });
      }
      const bytesBefore = groupSizes.reduce((sum, size) => sum + size, 0);
      if (!changed) {
        writer.discard();
        return { swapped: false, bytesBefore, bytesAfter: bytesBefore, recordsRemoved, tombstonesRemoved, earliestHorizonMs };
      }
      const cleaned = await writer.finish();
      const swap = {
        group,
        groupSizesBytes: groupSizes,
        truncationGeneration: snapshot.truncationGeneration,
        cleanedPath: writer.path,
        ...cleaned,
      };
      const swapped = await log.replaceSegments(options.onSwapStep === undefined ? swap : { ...swap, onStep: options.onSwapStep });
      if (!swapped) throw new PassAbandoned("the log changed while its segments were cleaned");
      return { swapped: true, bytesBefore, bytesAfter: cleaned.sizeBytes, recordsRemoved, tombstonesRemoved, earliestHorizonMs };
    } catch (error) {
      writer.discard();
      throw error;
    }
  }

  /**
   * Calls `onBatch` for each batch of the first `sizeBytes` of `segment` (a non-active
   * segment: its bytes do not change), read through the cleaner's own descriptor, checking
   * framing, magic, offsets and CRC: the cleaner never rewrites a corrupt batch with a fresh
   * CRC. `onBatch` returns false to stop. Yields to the event loop every yieldEveryBytes.
   */
  private async forEachBatch(log: PartitionLog, segment: LogSegment, sizeBytes: number, onBatch: (at: BatchAt) => boolean): Promise<void> {
    const fd = log.openSegmentForCleaning(segment);
    if (fd === undefined) throw new PassAbandoned(`segment ${segment.baseOffset} left the log`);
    try {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, Math.max(sizeBytes, 1)));
      let chunkStart = 0;
      let chunkLength = 0;
      let position = 0;
      let nextOffset = segment.baseOffset;
      let sinceYield = 0;
      const corrupt = (reason: string): Error =>
        protocolError("KAFKA_STORAGE_ERROR", `segment ${segment.path} cannot be cleaned: ${reason} at byte ${position}`, {
          path: segment.path,
          position,
        });
      while (position < sizeBytes) {
        if (sinceYield >= this.options.yieldEveryBytes) {
          sinceYield = 0;
          await yieldToEventLoop();
          if (this.stopping) throw new PassAbandoned("the cleaner is stopping");
        }
        const remaining = sizeBytes - position;
        if (remaining < BATCH_HEADER_BYTES) throw corrupt(`${remaining} bytes left, a batch header needs ${BATCH_HEADER_BYTES}`);
        if (position + BATCH_HEADER_BYTES > chunkStart + chunkLength) {
          chunkStart = position;
          chunkLength = readFully(fd, chunk, 0, Math.min(chunk.length, remaining), position);
        }
        const size = batchSizeAt(chunk, position - chunkStart);
        if (size < BATCH_HEADER_BYTES || size > remaining) throw corrupt(`batch length ${size} does not fit`);
        let batch: Buffer;
        if (position + size <= chunkStart + chunkLength) {
          batch = chunk.subarray(position - chunkStart, position - chunkStart + size);
        } else if (size <= chunk.length) {
          chunkStart = position;
          chunkLength = readFully(fd, chunk, 0, Math.min(chunk.length, remaining), position);
          batch = chunk.subarray(0, size);
        } else {
          batch = Buffer.allocUnsafe(size);
          if (readFully(fd, batch, 0, size, position) !== size) throw corrupt("short read");
        }
        if (batch.readInt8(16) !== RECORD_BATCH_MAGIC) throw corrupt(`batch magic ${batch.readInt8(16)}`);
        const baseOffset = batchBaseOffset(batch, 0);
        const lastOffset = baseOffset + batchLastOffsetDelta(batch, 0);
        if (baseOffset < nextOffset || lastOffset < baseOffset)
          throw corrupt(`batch offsets ${baseOffset}..${lastOffset} after ${nextOffset}`);
        if (!batchCrcIsValid(batch, 0)) throw corrupt("batch failed its CRC32C check");
        if (!onBatch({ batch, baseOffset, lastOffset, maxTimestamp: batchMaxTimestamp(batch, 0) })) return;
        position += size;
        sinceYield += size;
        nextOffset = lastOffset + 1;
      }
    } finally {
      closeSync(fd);
    }
  }
}

function summaryOf(segment: LogSegment): SegmentSummary {
  return {
    baseOffset: segment.baseOffset,
    sizeBytes: segment.sizeBytes,
    nextOffset: segment.nextOffset,
    maxTimestamp: segment.maxTimestamp,
  };
}

function planOf(snapshot: CleanerSnapshot, nowMs: number): CleaningPlan {
  return planCleaning(snapshot.segments.map(summaryOf), {
    cleanOffset: snapshot.cleanOffset,
    logStartOffset: snapshot.logStartOffset,
    highWatermark: snapshot.highWatermark,
    nowMs,
    minCompactionLagMs: snapshot.config.minCompactionLagMs,
  });
}

/**
 * Writes a cleaned segment to `<first>-<last>.log.cleaned` with buffered writes and builds its
 * sparse index as PartitionLog.indexBatch would (an entry for the first batch, then one every
 * index.interval.bytes).
 */
class CleanedSegmentWriter {
  readonly path: string;
  private fd: number | undefined;
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private buffered = 0;
  private position = 0;
  private nextOffset: number;
  private maxTimestamp = -1;
  private bytesSinceIndexEntry = 0;
  private readonly indexEntries: CleanedIndexEntry[] = [];

  constructor(
    dir: string,
    firstBase: number,
    lastBase: number,
    private readonly indexIntervalBytes: number,
  ) {
    this.path = join(dir, cleanedFileName(firstBase, lastBase));
    this.nextOffset = firstBase;
    removeIfPresent(this.path);
    this.fd = openSync(this.path, "wx");
  }

  append(batch: Buffer, baseOffset: number, lastOffset: number, maxTimestamp: number): void {
    if (this.position + batch.length > SEGMENT_BYTES_MAX) {
      throw new PassAbandoned(`the cleaned segment ${this.path} would pass ${SEGMENT_BYTES_MAX} bytes`);
    }
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    if (this.indexEntries.length === 0 || this.bytesSinceIndexEntry >= this.indexIntervalBytes) {
      this.indexEntries.push({ offset: baseOffset, position: this.position, maxTimestamp: this.maxTimestamp });
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += batch.length;
    if (this.buffered + batch.length > this.buffer.length) this.flushBuffer();
    if (batch.length > this.buffer.length) this.writeAll(batch);
    else this.buffered += batch.copy(this.buffer, this.buffered);
    this.position += batch.length;
    this.nextOffset = lastOffset + 1;
  }

  /** Writes what is buffered, fdatasyncs and closes the file; returns what replaceSegments needs. */
  async finish(): Promise<{
    sizeBytes: number;
    nextOffset: number;
    maxTimestamp: number;
    indexEntries: CleanedIndexEntry[];
    bytesSinceIndexEntry: number;
  }> {
    this.flushBuffer();
    const fd = this.fd as number;
    await fdatasyncAsync(fd);
    closeSync(fd);
    this.fd = undefined;
    return {
      sizeBytes: this.position,
      nextOffset: this.nextOffset,
      maxTimestamp: this.maxTimestamp,
      indexEntries: this.indexEntries,
      bytesSinceIndexEntry: this.bytesSinceIndexEntry,
    };
  }

  /** Closes and deletes the file (it may already have been renamed by a swap). */
  discard(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    removeIfPresent(this.path);
  }

  private flushBuffer(): void {
    if (this.buffered === 0) return;
    this.writeAll(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  /** Appends at the file's current position: every write goes through here, in order. */
  private writeAll(bytes: Buffer): void {
    const fd = this.fd as number;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
