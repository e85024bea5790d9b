// The clean offsets of a data dir's compacted logs, so a restarted cleaner does not redo what
// it already did. One file per data dir, `<dataDir>/cleaner-offset-checkpoint`, in Kafka's
// checkpoint-file layout (UTF-8 text, "\n" line ends):
//
//   0                          format version
//   <N>                        number of entries
//   <topic> <partition> <offset>   N lines: the partition's clean offset (first dirty offset)
//
// Written whole to `cleaner-offset-checkpoint.tmp`, fsync'd, renamed over the file, directory
// fsync'd, so a reader sees the old or the new file. A missing or unreadable file reads as
// empty: the checkpoint only saves work (an offset too low re-cleans, one too high leaves some
// duplicates until their key is written again); compaction never relies on it to keep a record.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@castle/common";
import { fsyncDirectory } from "./segment-swap.js";

export const CLEANER_CHECKPOINT_FILE_NAME = "cleaner-offset-checkpoint";
const VERSION = 0;

export interface CleanOffsetEntry {
  topic: string;
  partition: number;
  offset: number;
}

export function encodeCleanerCheckpoint(entries: readonly CleanOffsetEntry[]): string {
  const lines = [String(VERSION), String(entries.length), ...entries.map((e) => `${e.topic} ${e.partition} ${e.offset}`)];
  return `${lines.join("\n")}\n`;
}

/** Parses the file's text; throws an Error saying what is wrong. */
export function decodeCleanerCheckpoint(text: string): CleanOffsetEntry[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines[0] !== String(VERSION)) throw new Error(`unknown version line ${JSON.stringify(lines[0])}`);
  const count = Number(lines[1]);
  if (!Number.isSafeInteger(count) || count < 0 || lines.length !== count + 2) {
    throw new Error(`declares ${lines[1]} entries but has ${lines.length - 2}`);
  }
  return lines.slice(2).map((line, i) => {
    const [topic, partition, offset, extra] = line.split(" ");
    const entry = { topic: topic ?? "", partition: Number(partition), offset: Number(offset) };
    if (
      extra !== undefined ||
      entry.topic === "" ||
      !Number.isSafeInteger(entry.partition) ||
      !Number.isSafeInteger(entry.offset) ||
      entry.offset < 0
    ) {
      throw new Error(`entry ${i + 1} ${JSON.stringify(line)} is not "<topic> <partition> <offset>"`);
    }
    return entry;
  });
}

/** The checkpoint of `dataDir` as "topic-partition" -> clean offset; empty (with a warning) when unreadable. */
export function readCleanerCheckpoint(dataDir: string, logger: Logger): Map<string, number> {
  const path = join(dataDir, CLEANER_CHECKPOINT_FILE_NAME);
  const offsets = new Map<string, number>();
  if (!existsSync(path)) return offsets;
  try {
    for (const entry of decodeCleanerCheckpoint(readFileSync(path, "utf8"))) offsets.set(`${entry.topic}-${entry.partition}`, entry.offset);
  } catch (error) {
    logger.warn("ignoring an unreadable cleaner checkpoint; compacted logs will be cleaned from their start", {
      path,
      error: (error as Error).message,
    });
    offsets.clear();
  }
  return offsets;
}

export function writeCleanerCheckpoint(dataDir: string, entries: readonly CleanOffsetEntry[]): void {
  const path = join(dataDir, CLEANER_CHECKPOINT_FILE_NAME);
  const temporary = `${path}.tmp`;
  const bytes = Buffer.from(encodeCleanerCheckpoint(entries), "utf8");
  const fd = openSync(temporary, "w");
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  fsyncDirectory(dataDir);
}
