export * from "./config/log-config.js";
export { KeyPrefix } from "./index/key-prefix.js";
export type { PartitionState } from "./index/partition-state.js";
export { CLEANER_CHECKPOINT_FILE_NAME } from "./log/cleaner-checkpoint.js";
export { ATTRIBUTE_DELETE_HORIZON } from "./log/compaction.js";
export { type EpochEntry, LeaderEpochCache } from "./log/leader-epoch-cache.js";
export {
  type CleanLogOptions,
  type CleanSummary,
  defaultLogCleanerOptions,
  LogCleaner,
  type LogCleanerOptions,
} from "./log/log-cleaner.js";
export { INDEX_DIR_NAME, LogManager, type LogManagerOptions } from "./log/log-manager.js";
export { type AppendResult, PartitionLog, type PartitionLogStats, type ReadResult, type SwapStep } from "./log/partition-log.js";
export { readSegmentFile, type SegmentFileEntry } from "./segment/read-segment-file.js";
export {
  isValidTopicName,
  parsePartitionDirName,
  parseSegmentFileName,
  partitionDirName,
  segmentFileName,
} from "./segment/segment-file-name.js";
