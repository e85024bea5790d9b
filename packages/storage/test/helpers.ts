// Shared test fixtures: temp data dirs, batch builders and a LogManager opener.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Clock, ManualClock, silentLogger } from "@castle/common";
import { type BatchSpan, encodeRecordBatch, type RecordInput, validateBatches } from "@castle/protocol";
import { defaultLogConfig, type LogConfig, LogManager } from "../src/index.js";

export const BATCH_BYTES_MAX = 16 * 1024 * 1024;

export class TempDirs {
  private readonly dirs: string[] = [];
  make(): string {
    const dir = mkdtempSync(join(tmpdir(), "castle-storage-"));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export function config(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...defaultLogConfig, ...overrides };
}

export function openManager(dataDir: string, clock: Clock = new ManualClock()): Promise<LogManager> {
  return LogManager.open({ dataDir, clock, logger: silentLogger });
}

/** `count` records with values "v<i>" and create time `timestampMs`. */
export function batchOf(count: number, timestampMs = 1_700_000_000_000, valueBytes = 10): Buffer {
  const records: RecordInput[] = [];
  for (let i = 0; i < count; i++) records.push({ key: Buffer.from(`k${i}`), value: Buffer.alloc(valueBytes, i % 256) });
  return encodeRecordBatch(records, { baseTimestampMs: timestampMs });
}

export function spansOf(buf: Buffer): BatchSpan[] {
  return validateBatches(buf, { batchBytesMax: BATCH_BYTES_MAX });
}

/** A copy of `batch` with its base offset and leader epoch set, as the log stores it. */
export function asStored(batch: Buffer, baseOffset: number, leaderEpoch: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeInt32BE(Math.floor(baseOffset / 4294967296), 0);
  copy.writeUInt32BE(baseOffset % 4294967296, 4);
  copy.writeInt32BE(leaderEpoch, 12);
  return copy;
}

/** Every batch from `from` to the log end, reading segment by segment like a consumer. */
export function readAll(
  log: { read(offset: number, maxBytes: number): { records: Buffer }; logEndOffset: number; logStartOffset: number },
  from = log.logStartOffset,
): Buffer {
  const parts: Buffer[] = [];
  let offset = from;
  for (let reads = 0; offset < log.logEndOffset; reads++) {
    if (reads > 1_000_000) throw new Error("readAll does not advance");
    const { records } = log.read(offset, 1 << 20);
    const spans = spansOf(records);
    const last = spans[spans.length - 1];
    if (last === undefined) throw new Error(`empty read at ${offset}`);
    parts.push(records);
    offset = last.baseOffset + last.lastOffsetDelta + 1;
  }
  return Buffer.concat(parts);
}
