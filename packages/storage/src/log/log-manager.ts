// All partition logs of one data dir and the one LevelDB index they share
// (`<dataDir>/__index`), and the log cleaner that compacts them (its clean offsets in
// `<dataDir>/cleaner-offset-checkpoint`). Storage runs no timers: the broker calls maybeFlush,
// enforceRetention and maybeCleanLogs from its own timers, with its clock.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Clock, invariant, type Logger } from "@castle/common";
import { protocolError } from "@castle/protocol";
import { defaultLogConfig, type LogConfig, validateLogConfig } from "../config/log-config.js";
import { IndexStore } from "../index/index-store.js";
import { encodePartitionKey, KeyPrefix, suffixRange } from "../index/key-prefix.js";
import { parsePartitionDirName, partitionDirName } from "../segment/segment-file-name.js";
import { readCleanerCheckpoint, writeCleanerCheckpoint } from "./cleaner-checkpoint.js";
import { type CleanLogOptions, type CleanSummary, LogCleaner, type LogCleanerOptions } from "./log-cleaner.js";
import { openPartitionLog } from "./log-recovery.js";
import type { PartitionLog } from "./partition-log.js";
import { recoverInterruptedSwaps } from "./segment-swap.js";

export const INDEX_DIR_NAME = "__index";

export interface LogManagerOptions {
  dataDir: string;
  clock: Clock;
  logger: Logger;
  /** Config for logs found on disk at open, until the broker calls createLog with the topic's config. */
  configFor?: (topic: string, partition: number) => LogConfig;
  /** Directories in dataDir owned by others (the metadata quorum's log), skipped without a warning. */
  otherOwners?: readonly string[];
  /** log.cleaner.* settings; defaults: enabled, 128 MiB key map. */
  cleaner?: Partial<LogCleanerOptions>;
}

function partitionName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export class LogManager {
  private readonly logs = new Map<string, PartitionLog>();
  /** Logs whose topic config was given (createLog, or configFor at open); only these get retention. */
  private readonly configured = new Set<string>();
  private closed = false;
  /** Compacts logs with cleanup.policy=compact (maybeCleanLogs, cleanLog). */
  readonly cleaner: LogCleaner;
  /** Clean offsets read from the checkpoint at open, applied as each log opens. */
  private readonly checkpointedCleanOffsets: Map<string, number>;

  private constructor(
    readonly dataDir: string,
    private readonly indexStore: IndexStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    cleanerOptions: Partial<LogCleanerOptions>,
  ) {
    this.cleaner = new LogCleaner(cleanerOptions, { clock, logger });
    this.checkpointedCleanOffsets = readCleanerCheckpoint(dataDir, logger);
  }

  /** Opens the index and recovers every partition directory found in dataDir. */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const { dataDir, clock } = options;
    const logger = options.logger.child({ component: "storage" });
    mkdirSync(dataDir, { recursive: true });
    const indexStore = await IndexStore.open(join(dataDir, INDEX_DIR_NAME), logger);
    const manager = new LogManager(dataDir, indexStore, clock, logger, options.cleaner ?? {});
    for (const name of readdirSync(dataDir).sort()) {
      if (name === INDEX_DIR_NAME || options.otherOwners?.includes(name)) continue;
      // Files (the node's cluster-metadata.json, meta files) belong to other owners; only a
      // directory that is not a partition is worth a warning.
      if (!statSync(join(dataDir, name)).isDirectory()) continue;
      const parsed = parsePartitionDirName(name);
      if (parsed === undefined) {
        logger.warn("ignoring unknown entry in data dir", { name });
        continue;
      }
      const config = options.configFor?.(parsed.topic, parsed.partition);
      await manager.openLog(parsed.topic, parsed.partition, config ?? defaultLogConfig);
      if (config !== undefined) manager.configured.add(partitionName(parsed.topic, parsed.partition));
    }
    logger.info("storage opened", { dataDir, partitions: manager.logs.size });
    return manager;
  }

  logFor(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(partitionName(topic, partition));
  }

  allLogs(): PartitionLog[] {
    return [...this.logs.values()];
  }

  /** Creates the log, or returns the existing one with `config` applied. Idempotent. */
  async createLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog> {
    invariant(!this.closed, "createLog on a closed LogManager");
    validateLogConfig(config);
    const existing = this.logFor(topic, partition);
    this.configured.add(partitionName(topic, partition));
    if (existing !== undefined) {
      existing.updateConfig(config);
      return existing;
    }
    return this.openLog(topic, partition, config);
  }

  /** Closes the log and removes its directory and index keys. A missing log is a no-op. */
  async deleteLog(topic: string, partition: number): Promise<void> {
    const name = partitionName(topic, partition);
    const log = this.logs.get(name);
    if (log === undefined) return;
    this.logs.delete(name);
    this.configured.delete(name);
    await log.delete();
    rmSync(log.dir, { recursive: true, force: true });
    const checkpointed = this.checkpointedCleanOffsets.delete(name);
    if (checkpointed || log.cleanOffset > 0) this.writeCleanerCheckpoint();
    this.logger.info("log deleted", { topic, partition });
  }

  /**
   * Applies retention to every log whose topic config is known; returns how many segments were
   * deleted. A log found on disk at open runs with the defaults until createLog gives it its
   * topic's config, and the defaults (delete after 7 days) must not touch a compacted topic's
   * old segments meanwhile.
   */
  async enforceRetention(): Promise<{ deletedSegments: number }> {
    const nowMs = this.clock.nowMs();
    let deletedSegments = 0;
    for (const [name, log] of this.logs) {
      if (this.configured.has(name)) deletedSegments += await log.deleteRetainedSegments(nowMs);
    }
    return { deletedSegments };
  }

  /**
   * One log-cleaner pass (log.cleaner.backoff.ms apart): compacts every log with
   * cleanup.policy=compact that is due, one at a time, and checkpoints the clean offsets after
   * each. A no-op with log.cleaner.enable=false.
   */
  maybeCleanLogs(): Promise<CleanSummary[]> {
    if (this.closed) return Promise.resolve([]);
    return this.cleaner.maybeCleanLogs(this.allLogs(), () => this.writeCleanerCheckpoint());
  }

  /** Compacts one log now, whatever its dirty ratio (tests and tools), and checkpoints. */
  async cleanLog(topic: string, partition: number, options: CleanLogOptions = {}): Promise<CleanSummary | undefined> {
    const log = this.logFor(topic, partition);
    if (log === undefined) {
      throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `no log ${topic}-${partition} on this node`, { topic, partition });
    }
    const summary = await this.cleaner.cleanLog(log, options);
    if (summary !== undefined) this.writeCleanerCheckpoint();
    return summary;
  }

  /** Flushes the logs whose flush.ms has elapsed; returns how many were flushed. */
  async maybeFlush(): Promise<number> {
    let flushed = 0;
    for (const log of this.allLogs()) if (await log.maybeFlush()) flushed++;
    return flushed;
  }

  async flushAll(): Promise<void> {
    await Promise.all(this.allLogs().map((log) => log.flush()));
  }

  /** Flushes every log, writes recovery points (so a restart skips CRC validation) and closes LevelDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.cleaner.stop();
    await Promise.all(this.allLogs().map((log) => log.close()));
    this.logs.clear();
    await this.indexStore.close();
    this.logger.info("storage closed", { dataDir: this.dataDir });
  }

  /** Index writes that failed (logged; the index is rebuilt from segments when needed). */
  get indexWriteErrorsTotal(): number {
    return this.indexStore.writeErrorsTotal;
  }

  private async openLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog> {
    const name = partitionDirName(topic, partition);
    const dir = join(this.dataDir, name);
    if (!existsSync(dir)) mkdirSync(dir);
    const swaps = recoverInterruptedSwaps(dir, this.logger.child({ topic, partition }));
    if (swaps.length > 0) {
      // The index entries of a swapped range point into the replaced files: recovery rebuilds them.
      const partitionKey = encodePartitionKey(topic, partition);
      for (const swap of swaps) this.indexStore.clearRange(suffixRange(KeyPrefix.OffsetIndex, partitionKey, swap.firstBase, swap.nextBase));
      await this.indexStore.drain();
    }
    const log = await openPartitionLog({
      dir,
      topic,
      partition,
      config,
      indexStore: this.indexStore,
      clock: this.clock,
      logger: this.logger,
    });
    const cleanOffset = this.checkpointedCleanOffsets.get(partitionName(topic, partition));
    if (cleanOffset !== undefined) log.updateCleanOffset(Math.min(cleanOffset, log.logEndOffset));
    this.logs.set(partitionName(topic, partition), log);
    return log;
  }

  /** Rewrites the cleaner checkpoint from every open log's clean offset. */
  private writeCleanerCheckpoint(): void {
    const entries = this.allLogs()
      .filter((log) => log.cleanOffset > 0)
      .map((log) => ({ topic: log.topic, partition: log.partition, offset: log.cleanOffset }));
    try {
      writeCleanerCheckpoint(this.dataDir, entries);
    } catch (error) {
      // Losing the checkpoint only costs work after a restart (the next pass re-cleans).
      this.logger.warn("cannot write the cleaner checkpoint", { dataDir: this.dataDir, error: (error as Error).message });
    }
  }
}
