export * from "./config/log-config.js";
export { KeyPrefix } from "./index/key-prefix.js";
export type { PartitionState } from "./index/partition-state.js";
export { type EpochEntry, LeaderEpochCache } from "./log/leader-epoch-cache.js";
export { INDEX_DIR_NAME, LogManager, type LogManagerOptions } from "./log/log-manager.js";
export { type AppendResult, PartitionLog, type PartitionLogStats, type ReadResult } from "./log/partition-log.js";
export { readSegmentFile, type SegmentFileEntry } from "./segment/read-segment-file.js";
export {
  isValidTopicName,
  parsePartitionDirName,
  parseSegmentFileName,
  partitionDirName,
  segmentFileName,
} from "./segment/segment-file-name.js";
