// All partition logs of one data dir and the one LevelDB index they share
// (`<dataDir>/__index`). Storage runs no timers: the broker calls maybeFlush and
// enforceRetention from its own timer, with its clock.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Clock, invariant, type Logger } from "@castle/common";
import { defaultLogConfig, type LogConfig, validateLogConfig } from "../config/log-config.js";
import { IndexStore } from "../index/index-store.js";
import { parsePartitionDirName, partitionDirName } from "../segment/segment-file-name.js";
import { openPartitionLog } from "./log-recovery.js";
import type { PartitionLog } from "./partition-log.js";

export const INDEX_DIR_NAME = "__index";

export interface LogManagerOptions {
  dataDir: string;
  clock: Clock;
  logger: Logger;
  /** Config for logs found on disk at open, until the broker calls createLog with the topic's config. */
  configFor?: (topic: string, partition: number) => LogConfig;
  /** Directories in dataDir owned by others (the metadata quorum's log), skipped without a warning. */
  otherOwners?: readonly string[];
}

function partitionName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export class LogManager {
  private readonly logs = new Map<string, PartitionLog>();
  private closed = false;

  private constructor(
    readonly dataDir: string,
    private readonly indexStore: IndexStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Opens the index and recovers every partition directory found in dataDir. */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const { dataDir, clock } = options;
    const logger = options.logger.child({ component: "storage" });
    mkdirSync(dataDir, { recursive: true });
    const indexStore = await IndexStore.open(join(dataDir, INDEX_DIR_NAME), logger);
    const manager = new LogManager(dataDir, indexStore, clock, logger);
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
      const config = options.configFor?.(parsed.topic, parsed.partition) ?? defaultLogConfig;
      await manager.openLog(parsed.topic, parsed.partition, config);
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
    await log.delete();
    rmSync(log.dir, { recursive: true, force: true });
    this.logger.info("log deleted", { topic, partition });
  }

  /** Applies retention to every log; returns how many segments were deleted. */
  async enforceRetention(): Promise<{ deletedSegments: number }> {
    const nowMs = this.clock.nowMs();
    let deletedSegments = 0;
    for (const log of this.allLogs()) deletedSegments += await log.deleteRetainedSegments(nowMs);
    return { deletedSegments };
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
    const log = await openPartitionLog({
      dir,
      topic,
      partition,
      config,
      indexStore: this.indexStore,
      clock: this.clock,
      logger: this.logger,
    });
    this.logs.set(partitionName(topic, partition), log);
    return log;
  }
}
