// The log of one partition replica: an ordered list of segments, the last one active.
//
// Contracts:
// - append, read and offsetForTimestamp are synchronous; they never await LevelDB. Index
//   writes are queued on the IndexStore and written in batches.
// - flush, truncateTo, deleteRetainedSegments and close are asynchronous and run one at a time
//   (an internal chain). Each one mutates segments in a single synchronous step, so an append
//   or read that runs while one awaits sees either the old or the new log, never a mix.
// - A segment's fd is only closed inside that chain, so an fdatasync never races a close.
// - Offsets only increase; logEndOffset is the next offset append assigns. A leader assigns
//   them without gaps; compaction leaves gaps (inside batches and between them), and a
//   follower copies a compacted leader's gaps.
// - The log cleaner (log-cleaner.ts) reads segments through its own file descriptors outside
//   the chain and swaps cleaned segments in with replaceSegments, inside it.

import { openSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { type Clock, invariant, type Logger } from "@castle/common";
import {
  type BatchSpan,
  batchBaseOffset,
  batchLeaderEpoch,
  protocolError,
  setBatchBaseOffset,
  setBatchLeaderEpoch,
  setBatchLogAppendTime,
  wholeBatchesLength,
  writeInt64,
} from "@castle/protocol";
import { type LogConfig, policyCompacts, policyDeletes, SEGMENT_BYTES_MAX, validateLogConfig } from "../config/log-config.js";
import type { IndexStore } from "../index/index-store.js";
import { familyRange, KeyPrefix, partitionStateKey, suffixedKey, suffixRange } from "../index/key-prefix.js";
import { encodePartitionState } from "../index/partition-state.js";
import { LogSegment } from "../segment/log-segment.js";
import { type ScannedBatch, scanBatches } from "../segment/segment-scanner.js";
import { refuseRecordsWithoutKey } from "./compaction.js";
import type { LeaderEpochCache } from "./leader-epoch-cache.js";
import { fsyncDirectory, swapFileName } from "./segment-swap.js";

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** The broker's time stamped into the batches with LogAppendTime; -1 with CreateTime. */
  logAppendTimeMs: number;
  maxTimestamp: number;
}

export interface ReadResult {
  /** Whole batches, concatenated; empty at the log end or when maxBytes fits no batch. */
  records: Buffer;
  /** Base offset of the first batch returned (it may be below the requested offset). */
  firstBatchBaseOffset: number;
}

export interface RecoveryPoint {
  offset: number;
  segmentBase: number;
  position: number;
}

/** Counters for tests and metrics (names end in their unit). */
export interface PartitionLogStats {
  flushesTotal: number;
  rolledSegmentsTotal: number;
  deletedSegmentsTotal: number;
  indexRebuildsTotal: number;
  appendedRecordsTotal: number;
  appendedBytesTotal: number;
}

export interface PartitionLogInit {
  topic: string;
  partition: number;
  dir: string;
  partitionKey: Buffer;
  config: LogConfig;
  segments: LogSegment[];
  logStartOffset: number;
  recoveryPoint: RecoveryPoint;
  highWatermark: number;
  epochs: LeaderEpochCache;
  stats: PartitionLogStats;
}

/** One sparse index entry of a segment the cleaner wrote. */
export interface CleanedIndexEntry {
  offset: number;
  position: number;
  /** Running max timestamp up to and including this entry's batch. */
  maxTimestamp: number;
}

/** Steps of a segment swap, in order (see segment-swap.ts); a test hook may throw at one to simulate a crash there. */
export type SwapStep = "before-commit" | "committed" | "old-segments-deleted" | "renamed";

/** A cleaned segment ready to replace a run of segments (built by the LogCleaner). */
export interface SegmentReplacement {
  /** Consecutive non-active segments, as the cleaner saw them when it started. */
  group: readonly LogSegment[];
  /** Their sizes then: a segment that changed since (truncated and rewritten) voids the swap. */
  groupSizesBytes: readonly number[];
  /** truncationGeneration when the cleaner started. */
  truncationGeneration: number;
  /** The cleaned file, fdatasync'd and closed, named cleanedFileName(first base, last base). */
  cleanedPath: string;
  sizeBytes: number;
  /** Offset after its last batch (the first base offset when it is empty). */
  nextOffset: number;
  maxTimestamp: number;
  indexEntries: readonly CleanedIndexEntry[];
  bytesSinceIndexEntry: number;
  onStep?: (step: SwapStep) => void;
}

/** What the log cleaner reads of the log when a pass starts. */
export interface CleanerSnapshot {
  /** Oldest first; the last one is the active segment. */
  segments: readonly LogSegment[];
  truncationGeneration: number;
  cleanOffset: number;
  logStartOffset: number;
  highWatermark: number;
  config: LogConfig;
}

export interface PartitionLogDependencies {
  indexStore: IndexStore;
  clock: Clock;
  logger: Logger;
}

/** Bytes read per syscall while locating a batch from an index entry. */
const LOCATE_CHUNK_BYTES = 16 * 1024;
const RELATIVE_OFFSET_MAX = 0x7fffffff;
const EMPTY = Buffer.alloc(0);
const INDEX_VALUE_BYTES = 12;

export function newPartitionLogStats(): PartitionLogStats {
  return {
    flushesTotal: 0,
    rolledSegmentsTotal: 0,
    deletedSegmentsTotal: 0,
    indexRebuildsTotal: 0,
    appendedRecordsTotal: 0,
    appendedBytesTotal: 0,
  };
}

export function encodeIndexValue(position: number, maxTimestamp: number): Buffer {
  const value = Buffer.allocUnsafe(INDEX_VALUE_BYTES);
  value.writeUInt32BE(position, 0);
  writeInt64(value, 4, maxTimestamp);
  return value;
}

export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  readonly stats: PartitionLogStats;
  readonly epochs: LeaderEpochCache;
  private segments: LogSegment[];
  private startOffset: number;
  private recoveryPoint: RecoveryPoint;
  private hw: number;
  private currentConfig: LogConfig;
  private readonly partitionKey: Buffer;
  private readonly indexStore: IndexStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private unflushedRecords = 0;
  private lastFlushMonotonicMs: number;
  private backgroundFlushScheduled = false;
  private operationTail: Promise<void> = Promise.resolve();
  private closed = false;
  /** First offset the log cleaner has not deduplicated (its checkpoint); truncation lowers it. */
  private firstDirtyOffset = 0;
  /** Bumped by every truncation or reset: a cleaner pass started before one must not swap. */
  private truncations = 0;

  constructor(init: PartitionLogInit, dependencies: PartitionLogDependencies) {
    invariant(init.segments.length > 0, "a partition log has at least one segment");
    this.topic = init.topic;
    this.partition = init.partition;
    this.dir = init.dir;
    this.partitionKey = init.partitionKey;
    this.currentConfig = validateLogConfig(init.config);
    this.segments = init.segments;
    this.startOffset = init.logStartOffset;
    this.recoveryPoint = init.recoveryPoint;
    this.hw = init.highWatermark;
    this.epochs = init.epochs;
    this.stats = init.stats;
    this.indexStore = dependencies.indexStore;
    this.clock = dependencies.clock;
    this.logger = dependencies.logger;
    this.lastFlushMonotonicMs = this.clock.monotonicMs();
  }

  get config(): LogConfig {
    return this.currentConfig;
  }

  /** Applies new topic configs; they take effect on the next append, roll or retention pass. */
  updateConfig(config: LogConfig): void {
    this.currentConfig = validateLogConfig({ ...config });
  }

  get logStartOffset(): number {
    return this.startOffset;
  }

  get logEndOffset(): number {
    return this.activeSegment.nextOffset;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Base offsets of the segments, oldest first. */
  segmentBaseOffsets(): number[] {
    return this.segments.map((segment) => segment.baseOffset);
  }

  get highWatermark(): number {
    return this.hw;
  }

  /** The broker's high watermark, checkpointed with the recovery point on flush and close. */
  updateHighWatermark(offset: number): void {
    invariant(offset >= 0 && offset <= this.logEndOffset, `high watermark ${offset} beyond log end ${this.logEndOffset}`);
    this.hw = offset;
  }

  get recoveryPointOffset(): number {
    return this.recoveryPoint.offset;
  }

  private get activeSegment(): LogSegment {
    return this.segments[this.segments.length - 1] as LogSegment;
  }

  /**
   * Appends validated batches (`spans` from validateBatches over `batches`, covering it).
   * Rewrites each batch's base offset and leader epoch (and max timestamp + CRC with
   * LogAppendTime) in place, then writes all of them with one write to the active segment,
   * rolling first if segment.bytes or segment.ms say so. O(batches); no per-record work.
   */
  append(batches: Buffer, spans: readonly BatchSpan[], options: { leaderEpoch: number; nowMs: number }): AppendResult {
    invariant(!this.closed, "append to a closed log");
    invariant(spans.length > 0, "append needs at least one batch");
    const lastSpan = spans[spans.length - 1] as BatchSpan;
    invariant(lastSpan.position + lastSpan.sizeBytes === batches.length, "spans must cover the appended buffer");
    invariant(batches.length <= SEGMENT_BYTES_MAX, `append of ${batches.length} bytes exceeds a segment's limit`);
    if (policyCompacts(this.currentConfig.cleanupPolicy))
      refuseRecordsWithoutKey(batches, spans, { topic: this.topic, partition: this.partition });
    let recordOffsets = 0;
    for (const span of spans) recordOffsets += span.lastOffsetDelta + 1;
    this.maybeRoll(batches.length, recordOffsets, options.nowMs);

    const segment = this.activeSegment;
    const logAppendTime = this.currentConfig.timestampType === "LogAppendTime";
    const baseOffset = segment.nextOffset;
    let offset = baseOffset;
    let maxTimestamp = -1;
    for (const span of spans) {
      setBatchBaseOffset(batches, span.position, offset);
      setBatchLeaderEpoch(batches, span.position, options.leaderEpoch);
      if (logAppendTime) setBatchLogAppendTime(batches, span.position, options.nowMs);
      const timestamp = logAppendTime ? options.nowMs : span.maxTimestamp;
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      offset += span.lastOffsetDelta + 1;
    }

    return this.writeBatches(batches, spans, maxTimestamp, options.nowMs, logAppendTime, () => options.leaderEpoch);
  }

  /**
   * Appends batches a leader already wrote (follower replication): offsets, leader epochs and
   * timestamps stay as the leader assigned them. Each batch must start at or after the end of
   * the one before (the first at or after logEndOffset; else OFFSET_OUT_OF_RANGE: the follower
   * must truncate or reset first). Gaps are allowed: a compacted leader's log has them, as in
   * Kafka. The leader-epoch cache learns each new epoch where it starts.
   */
  appendAsFollower(batches: Buffer, spans: readonly BatchSpan[], nowMs: number): AppendResult {
    invariant(!this.closed, "append to a closed log");
    invariant(spans.length > 0, "append needs at least one batch");
    const lastSpan = spans[spans.length - 1] as BatchSpan;
    invariant(lastSpan.position + lastSpan.sizeBytes === batches.length, "spans must cover the appended buffer");
    invariant(batches.length <= SEGMENT_BYTES_MAX, `append of ${batches.length} bytes exceeds a segment's limit`);
    let expected = this.logEndOffset;
    let maxTimestamp = -1;
    for (const span of spans) {
      if (span.baseOffset < expected) {
        throw protocolError(
          "OFFSET_OUT_OF_RANGE",
          `replicated batch at offset ${span.baseOffset} does not follow ${this.topic}-${this.partition}'s log end ${expected}`,
          { topic: this.topic, partition: this.partition, baseOffset: span.baseOffset, logEndOffset: expected },
        );
      }
      expected = span.baseOffset + span.lastOffsetDelta + 1;
      if (span.maxTimestamp > maxTimestamp) maxTimestamp = span.maxTimestamp;
    }
    this.maybeRoll(batches.length, expected - this.logEndOffset, nowMs);
    return this.writeBatches(batches, spans, maxTimestamp, nowMs, false, (span) => batchLeaderEpoch(batches, span.position));
  }

  /** Writes batches whose headers (base offsets included) are final to the active segment, then indexes them. */
  private writeBatches(
    batches: Buffer,
    spans: readonly BatchSpan[],
    maxTimestamp: number,
    nowMs: number,
    logAppendTime: boolean,
    epochOf: (span: BatchSpan) => number,
  ): AppendResult {
    const segment = this.activeSegment;
    if (segment.sizeBytes === 0) segment.rollStartMs = nowMs;
    const segmentPosition = segment.sizeBytes;
    segment.write(batches);

    const baseOffset = batchBaseOffset(batches, (spans[0] as BatchSpan).position);
    let offset = baseOffset;
    let records = 0;
    for (const span of spans) {
      const batchOffset = batchBaseOffset(batches, span.position);
      const timestamp = logAppendTime ? nowMs : span.maxTimestamp;
      this.indexBatch(segment, batchOffset, segmentPosition + span.position, span.sizeBytes, timestamp);
      const epoch = epochOf(span);
      if (this.epochs.assign(epoch, batchOffset)) this.queueEpochWrite(epoch, batchOffset);
      offset = batchOffset + span.lastOffsetDelta + 1;
      records += span.recordCount;
    }
    segment.nextOffset = offset;

    this.stats.appendedRecordsTotal += records;
    this.stats.appendedBytesTotal += batches.length;
    this.unflushedRecords += records;
    if (this.unflushedRecords >= this.currentConfig.flushMessages) this.scheduleBackgroundFlush();
    return { baseOffset, lastOffset: offset - 1, logAppendTimeMs: logAppendTime ? nowMs : -1, maxTimestamp };
  }

  /**
   * Whole batches starting with the one that holds `offset`, from one segment, up to
   * `maxBytes` (at least one whole batch when minOneBatch, the default, so a consumer never
   * sticks on a large batch). Throws OFFSET_OUT_OF_RANGE outside [logStartOffset, logEndOffset].
   */
  read(offset: number, maxBytes: number, options: { minOneBatch?: boolean } = {}): ReadResult {
    invariant(!this.closed, "read from a closed log");
    invariant(maxBytes >= 0, `maxBytes ${maxBytes} is negative`);
    this.checkOffsetInRange(offset);
    if (offset === this.logEndOffset) return { records: EMPTY, firstBatchBaseOffset: offset };
    const found = this.locateBatch(offset);
    invariant(found !== undefined, () => `offset ${offset} is below the log end ${this.logEndOffset} but no batch holds it`);
    const { segment, batch } = found;
    let length = Math.min(maxBytes, segment.sizeBytes - batch.position);
    if (length < batch.sizeBytes) {
      if (options.minOneBatch === false) return { records: EMPTY, firstBatchBaseOffset: batch.baseOffset };
      length = batch.sizeBytes;
    }
    const buf = segment.read(batch.position, length);
    return { records: buf.subarray(0, wholeBatchesLength(buf)), firstBatchBaseOffset: batch.baseOffset };
  }

  /** First offset whose batch has maxTimestamp >= `timestampMs` (ListOffsets), or null when none does. */
  offsetForTimestamp(timestampMs: number): number | null {
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestampMs) continue;
      const entry = segment.index.lastBeforeTimestamp(timestampMs);
      const startPosition = entry >= 0 ? segment.index.positionAt(entry) : 0;
      const startOffset = entry >= 0 ? segment.index.offsetAt(entry) : segment.baseOffset;
      let found: number | null = null;
      scanBatches(
        segment.fileDescriptor,
        startPosition,
        segment.sizeBytes,
        startOffset,
        { verifyCrc: false, chunkBytes: LOCATE_CHUNK_BYTES },
        (batch) => {
          if (batch.maxTimestamp < timestampMs) return false;
          found = Math.max(batch.baseOffset, this.startOffset);
          return true;
        },
      );
      if (found !== null) return found;
    }
    return null;
  }

  /** OffsetsForLeaderEpoch: the largest epoch <= `epoch` and where it ends. */
  endOffsetForEpoch(epoch: number): { epoch: number; endOffset: number } | undefined {
    return this.epochs.endOffsetFor(epoch, this.logEndOffset);
  }

  /** fdatasync every segment written since the last flush, then move and persist the recovery point. */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushNow());
  }

  /** Flushes when flush.ms has passed since the last flush and something is unflushed. */
  async maybeFlush(): Promise<boolean> {
    if (!this.hasUnflushedData()) return false;
    if (this.clock.monotonicMs() - this.lastFlushMonotonicMs < this.currentConfig.flushMs) return false;
    await this.flush();
    return true;
  }

  /** Resolves when background work started so far (a flush.messages flush) has finished. */
  idle(): Promise<void> {
    return this.exclusive(async () => {});
  }

  /**
   * Drops the whole log and starts it empty at `offset` (a follower whose leader's log now
   * starts beyond this log's end: retention there deleted what this replica still lacked).
   */
  resetTo(offset: number): Promise<void> {
    return this.exclusive(async () => {
      invariant(Number.isSafeInteger(offset) && offset >= 0, `reset to bad offset ${offset}`);
      this.logger.info("resetting log", { topic: this.topic, partition: this.partition, offset, logEndOffset: this.logEndOffset });
      this.truncateFullyAndStartAt(offset);
      for (const epoch of this.epochs.truncateFromEnd(0))
        this.indexStore.clearRange(suffixRange(KeyPrefix.LeaderEpoch, this.partitionKey, epoch, epoch + 1));
      this.truncations++;
      this.firstDirtyOffset = offset;
      this.hw = offset;
      this.unflushedRecords = 0;
      this.queueStateWrite();
      await this.indexStore.drain();
    });
  }

  /** The newest leader epoch in this log, or undefined for a log with no batches. */
  get latestEpoch(): number | undefined {
    return this.epochs.latest?.epoch;
  }

  /**
   * Drops every batch at or after `offset` (replication truncates a diverged suffix). The cut
   * falls on the boundary of the batch holding `offset`, so logEndOffset may end up below it.
   */
  truncateTo(offset: number): Promise<void> {
    return this.exclusive(async () => {
      invariant(offset >= 0, `truncate to negative offset ${offset}`);
      if (offset >= this.logEndOffset) return;
      this.logger.info("truncating log", { topic: this.topic, partition: this.partition, offset, logEndOffset: this.logEndOffset });
      if (offset <= this.startOffset) {
        this.truncateFullyAndStartAt(offset);
      } else {
        while (this.segments.length > 1 && this.activeSegment.baseOffset >= offset) {
          this.deleteSegmentFiles(this.segments.pop() as LogSegment);
        }
        this.truncateSegmentAt(this.activeSegment, offset);
      }
      const end = this.logEndOffset;
      this.indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, this.partitionKey, end, Number.MAX_SAFE_INTEGER));
      for (const epoch of this.epochs.truncateFromEnd(end))
        this.indexStore.clearRange(suffixRange(KeyPrefix.LeaderEpoch, this.partitionKey, epoch, epoch + 1));
      if (this.recoveryPoint.offset > end) this.recoveryPoint = this.endPoint();
      if (this.hw > end) this.hw = end;
      this.truncations++;
      if (this.firstDirtyOffset > end) this.firstDirtyOffset = end;
      this.unflushedRecords = 0;
      this.queueStateWrite();
      await this.indexStore.drain();
    });
  }

  /**
   * Deletes whole segments older than retention.ms (by their largest timestamp) and, while
   * the log exceeds retention.bytes, the oldest ones; never the active segment. Moves
   * logStartOffset to the first remaining segment and persists it. Does nothing unless
   * cleanup.policy includes delete (a compact-only log keeps every segment).
   */
  deleteRetainedSegments(nowMs: number): Promise<number> {
    return this.exclusive(async () => {
      if (!policyDeletes(this.currentConfig.cleanupPolicy)) return 0;
      const { retentionMs, retentionBytes } = this.currentConfig;
      const candidates = this.segments.length - 1;
      let byTime = 0;
      if (retentionMs >= 0) {
        while (byTime < candidates && nowMs - (this.segments[byTime] as LogSegment).maxTimestamp > retentionMs) byTime++;
      }
      let bySize = 0;
      if (retentionBytes >= 0) {
        let excess = this.sizeBytes - retentionBytes;
        while (bySize < candidates && excess - (this.segments[bySize] as LogSegment).sizeBytes >= 0) {
          excess -= (this.segments[bySize] as LogSegment).sizeBytes;
          bySize++;
        }
      }
      const count = Math.max(byTime, bySize);
      if (count === 0) return 0;
      const deleted = this.segments.splice(0, count);
      const first = this.segments[0] as LogSegment;
      this.startOffset = Math.max(this.startOffset, first.baseOffset);
      for (const segment of deleted) {
        this.logger.info("deleting segment by retention", {
          topic: this.topic,
          partition: this.partition,
          baseOffset: segment.baseOffset,
          maxTimestamp: segment.maxTimestamp,
          sizeBytes: segment.sizeBytes,
        });
        this.deleteSegmentFiles(segment);
      }
      this.indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, this.partitionKey, 0, first.baseOffset));
      for (const epoch of this.epochs.truncateFromStart(this.startOffset))
        this.indexStore.clearRange(suffixRange(KeyPrefix.LeaderEpoch, this.partitionKey, epoch, epoch + 1));
      const earliest = this.epochs.all()[0];
      if (earliest !== undefined) this.queueEpochWrite(earliest.epoch, earliest.startOffset);
      if (this.recoveryPoint.segmentBase < first.baseOffset) {
        this.recoveryPoint = { offset: first.baseOffset, segmentBase: first.baseOffset, position: 0 };
      }
      if (this.hw < this.startOffset) this.hw = this.startOffset;
      this.queueStateWrite();
      await this.indexStore.drain();
      return count;
    });
  }

  // ---- log cleaner ----

  /** First offset the log cleaner has not deduplicated yet (0 until a pass or the checkpoint says otherwise). */
  get cleanOffset(): number {
    return this.firstDirtyOffset;
  }

  /** Set from the cleaner checkpoint at open and by the cleaner after a pass. */
  updateCleanOffset(offset: number): void {
    invariant(Number.isSafeInteger(offset) && offset >= 0, `clean offset ${offset}`);
    this.firstDirtyOffset = offset;
  }

  /** The segments and limits a cleaner pass starts from; undefined once the log is closed or deleted. */
  cleanerSnapshot(): CleanerSnapshot | undefined {
    if (this.closed) return undefined;
    return {
      segments: [...this.segments],
      truncationGeneration: this.truncations,
      cleanOffset: this.firstDirtyOffset,
      logStartOffset: this.startOffset,
      highWatermark: this.hw,
      config: this.currentConfig,
    };
  }

  /**
   * A read-only file descriptor on `segment`'s file for the cleaner (who closes it), or
   * undefined when the segment is no longer part of the log. Checked and opened in one
   * synchronous step, so the descriptor is that segment's file even if it is deleted later.
   */
  openSegmentForCleaning(segment: LogSegment): number | undefined {
    if (this.closed || !this.segments.includes(segment)) return undefined;
    return openSync(segment.path, "r");
  }

  /**
   * Swaps a run of segments for the cleaned segment built from them (segment-swap.ts has the
   * file protocol and its crash recovery). Returns false, changing nothing, when the log
   * changed under the cleaner: a truncation or reset since it started, a segment of the run
   * deleted by retention or resized, the run now reaching the active segment, or the log closed.
   * The in-memory swap is one synchronous step, so a concurrent read sees the old segments or
   * the new one, never a mix; the LevelDB index range is cleared (and drained) before the
   * commit so no crash leaves entries pointing into the wrong file.
   */
  replaceSegments(replacement: SegmentReplacement): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.replacementApplies(replacement)) return false;
      const { group } = replacement;
      const first = group[0] as LogSegment;
      const last = group[group.length - 1] as LogSegment;
      const next = this.segmentAfter(last) as LogSegment;
      const indexRange = (): { gte: Buffer; lt: Buffer } =>
        suffixRange(KeyPrefix.OffsetIndex, this.partitionKey, first.baseOffset, next.baseOffset);
      this.indexStore.clearRange(indexRange());
      await this.indexStore.drain();
      if (!this.replacementApplies(replacement) || this.segmentAfter(last) !== next) return false;

      replacement.onStep?.("before-commit");
      const swapPath = join(this.dir, swapFileName(first.baseOffset, last.baseOffset));
      renameSync(replacement.cleanedPath, swapPath);
      fsyncDirectory(this.dir);
      replacement.onStep?.("committed");
      for (let i = group.length - 1; i >= 1; i--) {
        const old = group[i] as LogSegment;
        old.close();
        unlinkSync(old.path);
      }
      replacement.onStep?.("old-segments-deleted");
      first.close();
      renameSync(swapPath, first.path);
      fsyncDirectory(this.dir);
      replacement.onStep?.("renamed");

      const cleaned = LogSegment.open(this.dir, first.baseOffset, this.clock.nowMs());
      invariant(
        cleaned.sizeBytes === replacement.sizeBytes,
        () => `cleaned segment ${cleaned.path} has ${cleaned.sizeBytes} bytes, expected ${replacement.sizeBytes}`,
      );
      cleaned.nextOffset = replacement.nextOffset;
      cleaned.maxTimestamp = replacement.maxTimestamp;
      cleaned.bytesSinceIndexEntry = replacement.bytesSinceIndexEntry;
      for (const entry of replacement.indexEntries) cleaned.index.add(entry.offset, entry.position, entry.maxTimestamp);
      if (cleaned.index.length > 0) cleaned.rollStartMs = cleaned.index.maxTimestampAt(0);
      this.segments.splice(this.segments.indexOf(first), group.length, cleaned);
      this.indexStore.clearRange(indexRange());
      for (const entry of replacement.indexEntries) {
        this.indexStore.put(
          suffixedKey(KeyPrefix.OffsetIndex, this.partitionKey, entry.offset),
          encodeIndexValue(entry.position, entry.maxTimestamp),
        );
      }
      if (this.recoveryPoint.segmentBase >= first.baseOffset && this.recoveryPoint.segmentBase <= last.baseOffset) {
        // Positions in the replaced files mean nothing now; the cleaned file is fsync'd, so
        // the recovery point moves to the start of the segment after it.
        this.recoveryPoint = { offset: next.baseOffset, segmentBase: next.baseOffset, position: 0 };
      }
      this.queueStateWrite();
      await this.indexStore.drain();
      return true;
    });
  }

  private replacementApplies(replacement: SegmentReplacement): boolean {
    if (this.closed || replacement.truncationGeneration !== this.truncations) return false;
    const { group, groupSizesBytes } = replacement;
    const at = this.segments.indexOf(group[0] as LogSegment);
    if (at < 0 || at + group.length >= this.segments.length) return false;
    return group.every((segment, i) => this.segments[at + i] === segment && segment.sizeBytes === groupSizesBytes[i]);
  }

  /** Flushes, writes the recovery point (the clean-shutdown marker: a restart skips CRC validation and walks at most index.interval.bytes of framing per segment) and closes the files. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      await this.flushNow();
      this.closed = true;
      for (const segment of this.segments) segment.close();
    });
  }

  /** Closes the files and removes them and every index key of this partition. */
  delete(): Promise<void> {
    return this.exclusive(async () => {
      this.closed = true;
      for (const segment of this.segments) this.deleteSegmentFiles(segment);
      this.segments = [];
      for (const prefix of [KeyPrefix.OffsetIndex, KeyPrefix.LeaderEpoch])
        this.indexStore.clearRange(familyRange(prefix, this.partitionKey));
      this.indexStore.clearRange({
        gte: partitionStateKey(this.partitionKey),
        lt: Buffer.concat([partitionStateKey(this.partitionKey), Buffer.from([0])]),
      });
      await this.indexStore.drain();
    });
  }

  /** Rescans a segment and rewrites its index; used when an index entry is found wrong. */
  rebuildSegmentIndex(segment: LogSegment): void {
    this.stats.indexRebuildsTotal++;
    segment.index.clear();
    segment.bytesSinceIndexEntry = 0;
    segment.maxTimestamp = -1;
    const nextBase = this.segmentAfter(segment)?.baseOffset ?? Number.MAX_SAFE_INTEGER;
    this.indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, this.partitionKey, segment.baseOffset, nextBase));
    const result = scanBatches(segment.fileDescriptor, 0, segment.sizeBytes, segment.baseOffset, { verifyCrc: false }, (batch) => {
      this.indexBatch(segment, batch.baseOffset, batch.position, batch.sizeBytes, batch.maxTimestamp);
      return false;
    });
    if (result.failure !== undefined) {
      throw protocolError(
        "KAFKA_STORAGE_ERROR",
        `segment ${segment.path} is corrupt at byte ${result.failure.position}: ${result.failure.reason}`,
        { path: segment.path },
      );
    }
  }

  // ---- internals ----

  private checkOffsetInRange(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.startOffset || offset > this.logEndOffset) {
      throw protocolError(
        "OFFSET_OUT_OF_RANGE",
        `offset ${offset} is outside [${this.startOffset}, ${this.logEndOffset}] of ${this.topic}-${this.partition}`,
        {
          offset,
          logStartOffset: this.startOffset,
          logEndOffset: this.logEndOffset,
        },
      );
    }
  }

  /** The segment that may hold `offset`: the last one whose base offset is <= it. */
  private segmentIndexFor(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    let found = 0;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.segments[mid] as LogSegment).baseOffset <= offset) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  private segmentAfter(segment: LogSegment): LogSegment | undefined {
    const i = this.segments.indexOf(segment);
    return i < 0 ? undefined : this.segments[i + 1];
  }

  /** The batch holding `offset` (or the first batch after it), verifying the index entry it starts from. */
  private locateBatch(offset: number): { segment: LogSegment; batch: ScannedBatch } | undefined {
    for (let i = this.segmentIndexFor(offset); i < this.segments.length; i++) {
      const segment = this.segments[i] as LogSegment;
      let batch = this.locateInSegment(segment, offset);
      if (batch === "index-wrong") {
        this.logger.warn("index entry does not point at a batch; rebuilding the segment index", {
          topic: this.topic,
          partition: this.partition,
          segment: segment.baseOffset,
          offset,
        });
        this.rebuildSegmentIndex(segment);
        batch = this.locateInSegment(segment, offset);
        invariant(batch !== "index-wrong", "a rebuilt index is wrong");
      }
      if (batch !== undefined) return { segment, batch };
    }
    return undefined;
  }

  private locateInSegment(segment: LogSegment, offset: number): ScannedBatch | "index-wrong" | undefined {
    if (offset >= segment.nextOffset) return undefined;
    const entry = segment.index.floorByOffset(offset);
    const startPosition = entry >= 0 ? segment.index.positionAt(entry) : 0;
    const startOffset = entry >= 0 ? segment.index.offsetAt(entry) : segment.baseOffset;
    if (startPosition >= segment.sizeBytes && segment.sizeBytes > 0) return "index-wrong";
    let found: ScannedBatch | undefined;
    let first = true;
    let wrong = false;
    const result = scanBatches(
      segment.fileDescriptor,
      startPosition,
      segment.sizeBytes,
      startOffset,
      { verifyCrc: false, chunkBytes: LOCATE_CHUNK_BYTES },
      (batch) => {
        if (first && entry >= 0 && batch.baseOffset !== startOffset) {
          wrong = true;
          return true;
        }
        first = false;
        if (batch.lastOffset < offset) return false;
        found = batch;
        return true;
      },
    );
    if (wrong || (result.failure !== undefined && first && entry >= 0)) return "index-wrong";
    if (result.failure !== undefined && found === undefined) {
      throw protocolError(
        "KAFKA_STORAGE_ERROR",
        `segment ${segment.path} is corrupt at byte ${result.failure.position}: ${result.failure.reason}`,
        { path: segment.path },
      );
    }
    return found;
  }

  private indexBatch(segment: LogSegment, baseOffset: number, position: number, sizeBytes: number, maxTimestamp: number): void {
    if (maxTimestamp > segment.maxTimestamp) segment.maxTimestamp = maxTimestamp;
    if (segment.index.length === 0 || segment.bytesSinceIndexEntry >= this.currentConfig.indexIntervalBytes) {
      if (segment.index.length === 0 || !this.indexStore.saturated) {
        segment.index.add(baseOffset, position, segment.maxTimestamp);
        this.indexStore.put(
          suffixedKey(KeyPrefix.OffsetIndex, this.partitionKey, baseOffset),
          encodeIndexValue(position, segment.maxTimestamp),
        );
        segment.bytesSinceIndexEntry = 0;
      } else {
        this.indexStore.droppedEntriesTotal++;
      }
    }
    segment.bytesSinceIndexEntry += sizeBytes;
  }

  private maybeRoll(appendBytes: number, appendOffsets: number, nowMs: number): void {
    const segment = this.activeSegment;
    if (segment.sizeBytes === 0) return;
    const full = segment.sizeBytes + appendBytes > Math.min(this.currentConfig.segmentBytes, SEGMENT_BYTES_MAX);
    const old = nowMs - segment.rollStartMs >= this.currentConfig.segmentMs;
    const offsetsFull = segment.nextOffset + appendOffsets - segment.baseOffset > RELATIVE_OFFSET_MAX;
    if (!full && !old && !offsetsFull) return;
    this.logger.debug("rolling segment", {
      topic: this.topic,
      partition: this.partition,
      baseOffset: this.logEndOffset,
      full,
      old,
      offsetsFull,
    });
    this.segments.push(LogSegment.create(this.dir, this.logEndOffset, nowMs));
    this.stats.rolledSegmentsTotal++;
  }

  private hasUnflushedData(): boolean {
    return this.unflushedRecords > 0 || this.segments.some((segment) => segment.dirty);
  }

  private scheduleBackgroundFlush(): void {
    if (this.backgroundFlushScheduled) return;
    this.backgroundFlushScheduled = true;
    this.flush()
      .catch((error: unknown) => this.logger.error("background flush failed", { topic: this.topic, partition: this.partition, error }))
      .finally(() => {
        this.backgroundFlushScheduled = false;
      });
  }

  private async flushNow(): Promise<void> {
    if (this.closed) return;
    const end = this.endPoint();
    this.unflushedRecords = 0;
    this.lastFlushMonotonicMs = this.clock.monotonicMs();
    const dirty = this.segments.filter((segment) => segment.dirty);
    if (dirty.length > 0) {
      await Promise.all(dirty.map((segment) => segment.sync()));
      this.stats.flushesTotal++;
    }
    this.recoveryPoint = end;
    this.queueStateWrite();
    await this.indexStore.drain();
  }

  private endPoint(): RecoveryPoint {
    const active = this.activeSegment;
    return { offset: active.nextOffset, segmentBase: active.baseOffset, position: active.sizeBytes };
  }

  private queueStateWrite(): void {
    const state = {
      logStartOffset: this.startOffset,
      recoveryOffset: this.recoveryPoint.offset,
      recoverySegmentBase: this.recoveryPoint.segmentBase,
      recoveryPosition: this.recoveryPoint.position,
      highWatermark: this.hw,
    };
    this.indexStore.put(partitionStateKey(this.partitionKey), encodePartitionState(state));
  }

  private queueEpochWrite(epoch: number, startOffset: number): void {
    const value = Buffer.allocUnsafe(8);
    writeInt64(value, 0, startOffset);
    this.indexStore.put(suffixedKey(KeyPrefix.LeaderEpoch, this.partitionKey, epoch), value);
  }

  /** Cuts `segment` at the batch holding `offset`; the caller has removed later segments. */
  private truncateSegmentAt(segment: LogSegment, offset: number): void {
    const batch = this.locateInSegment(segment, offset);
    let position: number;
    let nextOffset: number;
    if (batch === undefined) {
      position = segment.sizeBytes;
      nextOffset = segment.nextOffset;
    } else if (batch === "index-wrong") {
      this.rebuildSegmentIndex(segment);
      this.truncateSegmentAt(segment, offset);
      return;
    } else {
      position = batch.position;
      nextOffset = batch.baseOffset;
    }
    segment.truncateTo(position);
    segment.nextOffset = Math.max(nextOffset, segment.baseOffset);
    segment.index.truncateFrom(segment.nextOffset);
    this.recomputeTail(segment);
  }

  /** Recomputes maxTimestamp and bytesSinceIndexEntry from the last index entry to the end. */
  private recomputeTail(segment: LogSegment): void {
    const last = segment.index.length - 1;
    const startPosition = last >= 0 ? segment.index.positionAt(last) : 0;
    segment.maxTimestamp = last >= 0 ? segment.index.maxTimestampAt(last) : -1;
    segment.bytesSinceIndexEntry = 0;
    scanBatches(
      segment.fileDescriptor,
      startPosition,
      segment.sizeBytes,
      last >= 0 ? segment.index.offsetAt(last) : segment.baseOffset,
      { verifyCrc: false },
      (batch) => {
        if (batch.maxTimestamp > segment.maxTimestamp) segment.maxTimestamp = batch.maxTimestamp;
        segment.bytesSinceIndexEntry += batch.sizeBytes;
        return false;
      },
    );
  }

  private truncateFullyAndStartAt(offset: number): void {
    for (const segment of this.segments) this.deleteSegmentFiles(segment);
    this.segments = [LogSegment.create(this.dir, offset, this.clock.nowMs())];
    this.startOffset = offset;
    this.recoveryPoint = this.endPoint();
    this.indexStore.clearRange(familyRange(KeyPrefix.OffsetIndex, this.partitionKey));
  }

  private deleteSegmentFiles(segment: LogSegment): void {
    segment.close();
    try {
      unlinkSync(segment.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    this.stats.deletedSegmentsTotal++;
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.operationTail.then(operation);
    this.operationTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
