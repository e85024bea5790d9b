// Crash-safe replacement of segments by the log cleaner's output (Kafka's .cleaned -> .swap ->
// .log protocol). While segments with base offsets <first>..<last> (a run of consecutive
// segments) are replaced, the partition directory may hold:
//
//   <first>-<last>.log.cleaned   the cleaned segment being written. Garbage until renamed: deleted at startup.
//   <first>-<last>.log.swap      the cleaned segment, complete and fsync'd. Its rename from
//                                .cleaned (then a directory fsync) is the commit point: at
//                                startup it replaces every <base>.log with first <= base <= last.
//
// (both base offsets 20 digits, like segment names). The steps of a swap, in order:
//   1. write <first>-<last>.log.cleaned, fdatasync, close
//   2. rename it to <first>-<last>.log.swap, fsync the directory        (commit)
//   3. unlink the replaced segments after the first one
//   4. rename the .swap over <first>.log (atomic replace), fsync the directory
// A crash before 2 leaves the old segments intact (the .cleaned file is deleted); a crash after
// 2 is completed by recoverInterruptedSwaps exactly as steps 3-4 would, so no record that the
// cleaned segment or the old ones should keep is lost at any point.

import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@castle/common";
import { parseSegmentFileName, segmentFileName } from "../segment/segment-file-name.js";

const CLEANED_PATTERN = /^(\d{20})-(\d{20})\.log\.cleaned$/;
const SWAP_PATTERN = /^(\d{20})-(\d{20})\.log\.swap$/;

function rangeName(firstBase: number, lastBase: number): string {
  return `${segmentFileName(firstBase).slice(0, 20)}-${segmentFileName(lastBase)}`;
}

export function cleanedFileName(firstBase: number, lastBase: number): string {
  return `${rangeName(firstBase, lastBase)}.cleaned`;
}

export function swapFileName(firstBase: number, lastBase: number): string {
  return `${rangeName(firstBase, lastBase)}.swap`;
}

/** fsync of a directory: makes renames and unlinks in it durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A swap found half done at startup and completed: offsets [firstBase, nextBase) now live in one segment file. */
export interface CompletedSwap {
  firstBase: number;
  lastBase: number;
  /** Base of the first segment after the swapped range (MAX_SAFE_INTEGER when none). */
  nextBase: number;
}

/**
 * Runs before a partition directory is opened: deletes leftover .cleaned files and completes
 * every .swap file (deletes the segments it replaces, renames it to <first>.log). Returns the
 * completed swaps so the caller can drop their now stale index entries.
 */
export function recoverInterruptedSwaps(dir: string, logger: Logger): CompletedSwap[] {
  const names = readdirSync(dir).sort();
  const completed: CompletedSwap[] = [];
  let changed = false;
  for (const name of names) {
    if (!CLEANED_PATTERN.test(name)) continue;
    logger.warn("deleting an unfinished cleaned segment left by a crash", { file: name });
    unlinkSync(join(dir, name));
    changed = true;
  }
  for (const name of names) {
    const match = SWAP_PATTERN.exec(name);
    if (match === null) continue;
    const firstBase = Number(match[1]);
    const lastBase = Number(match[2]);
    const bases = readdirSync(dir)
      .map((segmentName) => parseSegmentFileName(segmentName))
      .filter((base): base is number => base !== undefined);
    for (const base of bases) {
      if (base > firstBase && base <= lastBase) unlinkSync(join(dir, segmentFileName(base)));
    }
    renameSync(join(dir, name), join(dir, segmentFileName(firstBase)));
    const nextBase = bases.reduce((least, base) => (base > lastBase && base < least ? base : least), Number.MAX_SAFE_INTEGER);
    logger.warn("completed a segment swap interrupted by a crash", { file: name, firstBase, lastBase });
    completed.push({ firstBase, lastBase, nextBase });
    changed = true;
  }
  if (changed) fsyncDirectory(dir);
  return completed;
}
