// File and directory names: `<dataDir>/<topic>-<partition>/<20-digit base offset>.log`.

import { invariant } from "@castle/common";

const SEGMENT_FILE_PATTERN = /^(\d{20})\.log$/;
const TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const PARTITION_PATTERN = /^(0|[1-9]\d{0,9})$/;
export const SEGMENT_FILE_SUFFIX = ".log";

export function isValidTopicName(topic: string): boolean {
  return TOPIC_PATTERN.test(topic) && topic !== "." && topic !== "..";
}

export function segmentFileName(baseOffset: number): string {
  invariant(Number.isSafeInteger(baseOffset) && baseOffset >= 0, `segment base offset ${baseOffset}`);
  return `${String(baseOffset).padStart(20, "0")}${SEGMENT_FILE_SUFFIX}`;
}

/** Base offset of a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_FILE_PATTERN.exec(name);
  if (match === null) return undefined;
  const baseOffset = Number(match[1]);
  return Number.isSafeInteger(baseOffset) ? baseOffset : undefined;
}

export function partitionDirName(topic: string, partition: number): string {
  invariant(isValidTopicName(topic), `invalid topic name ${JSON.stringify(topic)}`);
  invariant(Number.isInteger(partition) && partition >= 0 && partition <= 0x7fffffff, `invalid partition ${partition}`);
  return `${topic}-${partition}`;
}

/** Splits `<topic>-<partition>` at the last '-' (topics may contain '-'); undefined if not a partition dir. */
export function parsePartitionDirName(name: string): { topic: string; partition: number } | undefined {
  const dash = name.lastIndexOf("-");
  if (dash <= 0) return undefined;
  const topic = name.slice(0, dash);
  const partitionText = name.slice(dash + 1);
  if (!isValidTopicName(topic) || !PARTITION_PATTERN.test(partitionText)) return undefined;
  const partition = Number(partitionText);
  if (partition > 0x7fffffff) return undefined;
  return { topic, partition };
}
