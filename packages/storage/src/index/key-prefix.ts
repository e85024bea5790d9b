// LevelDB key layout for the one shared index database of a data dir:
//
//   [prefix u8][topic length u8][topic utf8][partition u32 BE][suffix]
//
// The suffix is a big-endian u64 (an offset or an epoch) so LevelDB's byte order is numeric
// order and a partition's keys form one contiguous range per prefix. Numbers in KeyPrefix are
// never reused: a retired prefix keeps its number, commented out, forever.

import { invariant } from "@castle/common";

export enum KeyPrefix {
  /** suffix none; value: encoded PartitionState. */
  PartitionState = 1,
  /** suffix batch base offset; value: position u32 + running max timestamp i64 (offset and time index). */
  OffsetIndex = 2,
  /** suffix leader epoch; value: start offset u64 (KIP-101 leader-epoch checkpoint). */
  LeaderEpoch = 3,
}

const TWO_32 = 4294967296;
const TOPIC_BYTES_MAX = 249;
const SUFFIX_BYTES = 8;

/** Topic name and partition, encoded once per partition and reused for every key. */
export function encodePartitionKey(topic: string, partition: number): Buffer {
  const topicBytes = Buffer.from(topic, "utf8");
  invariant(topicBytes.length >= 1 && topicBytes.length <= TOPIC_BYTES_MAX, `topic name of ${topicBytes.length} bytes`);
  invariant(Number.isInteger(partition) && partition >= 0 && partition < TWO_32, `partition ${partition}`);
  const key = Buffer.allocUnsafe(1 + topicBytes.length + 4);
  key.writeUInt8(topicBytes.length, 0);
  topicBytes.copy(key, 1);
  key.writeUInt32BE(partition, 1 + topicBytes.length);
  return key;
}

export function writeUint64(buf: Buffer, pos: number, value: number): void {
  invariant(Number.isSafeInteger(value) && value >= 0, `u64 key suffix ${value}`);
  buf.writeUInt32BE(Math.floor(value / TWO_32), pos);
  buf.writeUInt32BE(value % TWO_32, pos + 4);
}

export function readUint64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

export function partitionStateKey(partitionKey: Buffer): Buffer {
  const key = Buffer.allocUnsafe(1 + partitionKey.length);
  key.writeUInt8(KeyPrefix.PartitionState, 0);
  partitionKey.copy(key, 1);
  return key;
}

/** Key of one entry in a u64-suffixed family (offset index, leader epochs). */
export function suffixedKey(prefix: KeyPrefix, partitionKey: Buffer, suffix: number): Buffer {
  const key = Buffer.allocUnsafe(1 + partitionKey.length + SUFFIX_BYTES);
  key.writeUInt8(prefix, 0);
  partitionKey.copy(key, 1);
  writeUint64(key, 1 + partitionKey.length, suffix);
  return key;
}

export function keySuffix(key: Buffer): number {
  return readUint64(key, key.length - SUFFIX_BYTES);
}

/** [gte, lt) covering suffixes in [from, to) of one family of one partition. */
export function suffixRange(prefix: KeyPrefix, partitionKey: Buffer, from: number, to: number): { gte: Buffer; lt: Buffer } {
  const lt = to >= Number.MAX_SAFE_INTEGER ? familyEnd(prefix, partitionKey) : suffixedKey(prefix, partitionKey, to);
  return { gte: suffixedKey(prefix, partitionKey, from), lt };
}

/** [gte, lt) covering every key of one family of one partition. */
export function familyRange(prefix: KeyPrefix, partitionKey: Buffer): { gte: Buffer; lt: Buffer } {
  const gte = Buffer.allocUnsafe(1 + partitionKey.length);
  gte.writeUInt8(prefix, 0);
  partitionKey.copy(gte, 1);
  return { gte, lt: familyEnd(prefix, partitionKey) };
}

function familyEnd(prefix: KeyPrefix, partitionKey: Buffer): Buffer {
  const end = Buffer.alloc(1 + partitionKey.length + SUFFIX_BYTES + 1, 0xff);
  end.writeUInt8(prefix, 0);
  partitionKey.copy(end, 1);
  return end;
}
