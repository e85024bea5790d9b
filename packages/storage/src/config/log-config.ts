// Per-partition log configuration, named after Kafka's topic configs. The broker owns the
// values (they come from topic metadata); storage validates them and applies them.

import { protocolError } from "@castle/protocol";

/**
 * cleanup.policy, normalised: retention deletes whole segments (delete), the log cleaner keeps
 * the last record per key (compact), or both. Kafka's list form "delete,compact" is the same
 * policy as "compact,delete"; parseCleanupPolicy maps either to the canonical spelling.
 */
export type CleanupPolicy = "delete" | "compact" | "compact,delete";

export interface LogConfig {
  /** cleanup.policy: retention.ms/retention.bytes apply only with delete, the log cleaner only with compact. */
  cleanupPolicy: CleanupPolicy;
  /** segment.bytes: roll to a new segment before the active one would exceed this. */
  segmentBytes: number;
  /** segment.ms: roll when the active segment's first write is this old. */
  segmentMs: number;
  /** retention.ms: delete segments whose newest timestamp is older (-1 = unlimited). */
  retentionMs: number;
  /** retention.bytes: delete oldest segments while the log is larger (-1 = unlimited). */
  retentionBytes: number;
  /** flush.messages: fdatasync after this many records are appended since the last flush. */
  flushMessages: number;
  /** flush.ms: fdatasync when the last flush is this old (checked by maybeFlush). */
  flushMs: number;
  /** index.interval.bytes: bytes of batches between two sparse index entries. */
  indexIntervalBytes: number;
  /** message.timestamp.type. */
  timestampType: "CreateTime" | "LogAppendTime";
  /** delete.retention.ms: a tombstone survives this long after the cleaner first saw its batch (KIP-534 delete horizon). */
  deleteRetentionMs: number;
  /** min.cleanable.dirty.ratio: dirty bytes / cleanable bytes at which a compacted log is cleaned, in [0, 1]. */
  minCleanableDirtyRatio: number;
  /** min.compaction.lag.ms: a segment holding a record younger than this (by max timestamp) is not cleaned yet. */
  minCompactionLagMs: number;
}

const GIB = 1024 * 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Positions inside a segment are stored as int32; a segment never grows past this. */
export const SEGMENT_BYTES_MAX = 2 ** 31 - 1;

export const defaultLogConfig: LogConfig = Object.freeze({
  cleanupPolicy: "delete",
  segmentBytes: GIB,
  segmentMs: 7 * DAY_MS,
  retentionMs: 7 * DAY_MS,
  retentionBytes: -1,
  flushMessages: Number.MAX_SAFE_INTEGER,
  flushMs: Number.MAX_SAFE_INTEGER,
  indexIntervalBytes: 4096,
  timestampType: "CreateTime",
  deleteRetentionMs: DAY_MS,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
});

const CLEANUP_POLICY_NAMES = ["compact", "delete"] as const;

/**
 * Parses cleanup.policy as Kafka writes it: "delete", "compact" or a comma list of both in
 * either order. Throws INVALID_CONFIG naming the bad value.
 */
export function parseCleanupPolicy(text: string): CleanupPolicy {
  const names = text.split(",").map((name) => name.trim());
  const known = names.every((name) => (CLEANUP_POLICY_NAMES as readonly string[]).includes(name));
  if (!known || names.length > 2 || new Set(names).size !== names.length) {
    throw protocolError("INVALID_CONFIG", `cleanup.policy=${text} is not delete, compact or a comma list of both (compact,delete)`, {
      name: "cleanup.policy",
      value: text,
    });
  }
  if (names.length === 2) return "compact,delete";
  return names[0] as CleanupPolicy;
}

/** True when the log cleaner compacts logs with this policy. */
export function policyCompacts(policy: CleanupPolicy): boolean {
  return policy !== "delete";
}

/** True when retention.ms and retention.bytes delete segments of logs with this policy. */
export function policyDeletes(policy: CleanupPolicy): boolean {
  return policy !== "compact";
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw protocolError("INVALID_CONFIG", `${name}=${value} must be an integer in [${min}, ${max}]`, { name, value });
  }
}

function requireLimitOrUnlimited(name: string, value: number): void {
  if (value === -1) return;
  requireInteger(name, value, 0, Number.MAX_SAFE_INTEGER);
}

/** Throws INVALID_CONFIG with a readable message naming the first bad setting. */
export function validateLogConfig(config: LogConfig): LogConfig {
  requireInteger("segment.bytes", config.segmentBytes, 1, SEGMENT_BYTES_MAX);
  requireInteger("segment.ms", config.segmentMs, 1, Number.MAX_SAFE_INTEGER);
  requireLimitOrUnlimited("retention.ms", config.retentionMs);
  requireLimitOrUnlimited("retention.bytes", config.retentionBytes);
  requireInteger("flush.messages", config.flushMessages, 1, Number.MAX_SAFE_INTEGER);
  requireInteger("flush.ms", config.flushMs, 0, Number.MAX_SAFE_INTEGER);
  requireInteger("index.interval.bytes", config.indexIntervalBytes, 0, SEGMENT_BYTES_MAX);
  if (config.timestampType !== "CreateTime" && config.timestampType !== "LogAppendTime") {
    throw protocolError("INVALID_CONFIG", `message.timestamp.type=${String(config.timestampType)} must be CreateTime or LogAppendTime`);
  }
  if (config.cleanupPolicy !== "delete" && config.cleanupPolicy !== "compact" && config.cleanupPolicy !== "compact,delete") {
    throw protocolError("INVALID_CONFIG", `cleanup.policy=${String(config.cleanupPolicy)} must be delete, compact or compact,delete`);
  }
  requireInteger("delete.retention.ms", config.deleteRetentionMs, 0, Number.MAX_SAFE_INTEGER);
  const ratio = config.minCleanableDirtyRatio;
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw protocolError("INVALID_CONFIG", `min.cleanable.dirty.ratio=${ratio} must be a number in [0, 1]`, {
      name: "min.cleanable.dirty.ratio",
      value: ratio,
    });
  }
  requireInteger("min.compaction.lag.ms", config.minCompactionLagMs, 0, Number.MAX_SAFE_INTEGER);
  return config;
}
