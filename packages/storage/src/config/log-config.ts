// Per-partition log configuration, named after Kafka's topic configs. The broker owns the
// values (they come from topic metadata); storage validates them and applies them.

import { protocolError } from "@castle/protocol";

export interface LogConfig {
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
}

const GIB = 1024 * 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Positions inside a segment are stored as int32; a segment never grows past this. */
export const SEGMENT_BYTES_MAX = 2 ** 31 - 1;

export const defaultLogConfig: LogConfig = Object.freeze({
  segmentBytes: GIB,
  segmentMs: 7 * DAY_MS,
  retentionMs: 7 * DAY_MS,
  retentionBytes: -1,
  flushMessages: Number.MAX_SAFE_INTEGER,
  flushMs: Number.MAX_SAFE_INTEGER,
  indexIntervalBytes: 4096,
  timestampType: "CreateTime",
});

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
  return config;
}
