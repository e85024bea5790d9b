// The records group coordinators keep in the compacted topic __consumer_offsets (Kafka's idea,
// Castle's bytes). A key names what a record is about; compaction keeps the latest value per key
// and a null value (a tombstone) deletes it. A change here changes every cluster's stored data:
// the golden bytes in test/group/group-records.test.ts pin the format.
//
// Every key and value starts with a one-byte format version, then (keys only) a one-byte type:
//   key   v1: version, type 1 (offset commit): group id, topic, partition (int32)
//   key   v1: version, type 2 (group metadata): group id
//   value v1 of an offset commit: committed offset (int64), leader epoch (int32), metadata,
//            commit timestamp ms (int64)
//   value v1 of group metadata: protocol type, generation (int32), protocol name, leader member
//            id, state timestamp ms (int64), member count (uint32), then per member: member id,
//            group instance id, client id, client host, session timeout ms (int32), rebalance
//            timeout ms (int32), subscription bytes (of the chosen protocol), assignment bytes
// Strings are UTF-8 and bytes are raw, each after a uint32 length; integers are big-endian. An
// empty string means "none" (no group instance id, no protocol). The record batch around these
// carries the CRC, so they carry none.
//
// Decoding refuses a short, over-long or otherwise malformed record and an unknown version with a
// GroupRecordDecodeError naming the problem: the loader logs it and skips the record.

import { CastleError, invariant } from "@castle/common";
import type { OffsetsLogRecord } from "./group-ports.js";

/** The format version written first in every key and value; readers refuse any other. */
export const GROUP_RECORD_FORMAT_VERSION = 1;

/** Key types. Never renumber or reuse one: retire it with a comment instead. */
export enum GroupRecordKeyType {
  OffsetCommit = 1,
  GroupMetadata = 2,
}

export interface OffsetCommitKey {
  readonly type: GroupRecordKeyType.OffsetCommit;
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
}

export interface GroupMetadataKey {
  readonly type: GroupRecordKeyType.GroupMetadata;
  readonly groupId: string;
}

export type GroupRecordKey = OffsetCommitKey | GroupMetadataKey;

export interface OffsetCommitValue {
  /** The offset of the next record to consume. */
  readonly offset: number;
  /** The leader epoch of the last record consumed; -1 if unknown. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

export interface GroupMemberValue {
  readonly memberId: string;
  /** "" for a dynamic member. */
  readonly groupInstanceId: string;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** The member's metadata for the group's chosen protocol. */
  readonly subscription: Buffer;
  readonly assignment: Buffer;
}

export interface GroupMetadataValue {
  /** "" for a group that never had members. */
  readonly protocolType: string;
  readonly generationId: number;
  /** "" when the group is Empty. */
  readonly protocolName: string;
  /** "" when the group is Empty. */
  readonly leader: string;
  /** When the group entered its current state (for an Empty group: when it became empty). */
  readonly stateTimestampMs: number;
  readonly members: readonly GroupMemberValue[];
}

/** One decoded record (`type` repeats the key's, to narrow on); a null value is a tombstone. */
export type GroupRecord =
  | { readonly type: GroupRecordKeyType.OffsetCommit; readonly key: OffsetCommitKey; readonly value: OffsetCommitValue | null }
  | { readonly type: GroupRecordKeyType.GroupMetadata; readonly key: GroupMetadataKey; readonly value: GroupMetadataValue | null };

/** A record of __consumer_offsets this node cannot read: corrupt, or written by a newer version. */
export class GroupRecordDecodeError extends CastleError<"GROUP_RECORD_INVALID"> {
  constructor(message: string) {
    super("GROUP_RECORD_INVALID", message);
  }
}

export function offsetCommitKey(groupId: string, topic: string, partition: number): OffsetCommitKey {
  return { type: GroupRecordKeyType.OffsetCommit, groupId, topic, partition };
}

export function groupMetadataKey(groupId: string): GroupMetadataKey {
  return { type: GroupRecordKeyType.GroupMetadata, groupId };
}

/** The log record committing (or, with null, deleting) one partition's offset. */
export function offsetCommitRecord(key: OffsetCommitKey, value: OffsetCommitValue | null): OffsetsLogRecord {
  return { key: encodeGroupRecordKey(key), value: value === null ? null : encodeOffsetCommitValue(value) };
}

/** The log record storing (or, with null, deleting) a group's membership and assignment. */
export function groupMetadataRecord(key: GroupMetadataKey, value: GroupMetadataValue | null): OffsetsLogRecord {
  return { key: encodeGroupRecordKey(key), value: value === null ? null : encodeGroupMetadataValue(value) };
}

export function encodeGroupRecordKey(key: GroupRecordKey): Buffer {
  const writer = new ByteWriter();
  writer.u8(GROUP_RECORD_FORMAT_VERSION);
  writer.u8(key.type);
  writer.string(key.groupId);
  if (key.type === GroupRecordKeyType.OffsetCommit) {
    writer.string(key.topic);
    writer.i32(key.partition);
  }
  return writer.finish();
}

export function encodeOffsetCommitValue(value: OffsetCommitValue): Buffer {
  const writer = new ByteWriter();
  writer.u8(GROUP_RECORD_FORMAT_VERSION);
  writer.i64(value.offset);
  writer.i32(value.leaderEpoch);
  writer.string(value.metadata);
  writer.i64(value.commitTimestampMs);
  return writer.finish();
}

export function encodeGroupMetadataValue(value: GroupMetadataValue): Buffer {
  const writer = new ByteWriter();
  writer.u8(GROUP_RECORD_FORMAT_VERSION);
  writer.string(value.protocolType);
  writer.i32(value.generationId);
  writer.string(value.protocolName);
  writer.string(value.leader);
  writer.i64(value.stateTimestampMs);
  writer.u32(value.members.length);
  for (const member of value.members) {
    writer.string(member.memberId);
    writer.string(member.groupInstanceId);
    writer.string(member.clientId);
    writer.string(member.clientHost);
    writer.i32(member.sessionTimeoutMs);
    writer.i32(member.rebalanceTimeoutMs);
    writer.bytes(member.subscription);
    writer.bytes(member.assignment);
  }
  return writer.finish();
}

export function decodeGroupRecordKey(bytes: Uint8Array): GroupRecordKey {
  const reader = new ByteReader(bytes, "group record key");
  reader.version();
  const type = reader.u8("key type");
  const groupId = reader.string("group id");
  let key: GroupRecordKey;
  if (type === GroupRecordKeyType.OffsetCommit) {
    const topic = reader.string("topic");
    const partition = reader.i32("partition");
    if (partition < 0) throw new GroupRecordDecodeError(`group record key has partition ${partition}; partitions are non-negative`);
    key = offsetCommitKey(groupId, topic, partition);
  } else if (type === GroupRecordKeyType.GroupMetadata) {
    key = groupMetadataKey(groupId);
  } else {
    throw new GroupRecordDecodeError(
      `group record key has type ${type}; this node reads ${GroupRecordKeyType.OffsetCommit} (offset commit) and ${GroupRecordKeyType.GroupMetadata} (group metadata)`,
    );
  }
  reader.end();
  return key;
}

export function decodeOffsetCommitValue(bytes: Uint8Array): OffsetCommitValue {
  const reader = new ByteReader(bytes, "offset commit value");
  reader.version();
  const value: OffsetCommitValue = {
    offset: reader.i64("committed offset"),
    leaderEpoch: reader.i32("leader epoch"),
    metadata: reader.string("metadata"),
    commitTimestampMs: reader.i64("commit timestamp"),
  };
  reader.end();
  if (value.offset < 0)
    throw new GroupRecordDecodeError(`offset commit value has committed offset ${value.offset}; offsets are non-negative`);
  return value;
}

export function decodeGroupMetadataValue(bytes: Uint8Array): GroupMetadataValue {
  const reader = new ByteReader(bytes, "group metadata value");
  reader.version();
  const protocolType = reader.string("protocol type");
  const generationId = reader.i32("generation");
  const protocolName = reader.string("protocol name");
  const leader = reader.string("leader");
  const stateTimestampMs = reader.i64("state timestamp");
  const count = reader.u32("member count");
  const members: GroupMemberValue[] = [];
  // Every read is bounds-checked, so a forged count fails at the first missing member.
  for (let i = 0; i < count; i++) {
    members.push({
      memberId: reader.string(`member ${i} id`),
      groupInstanceId: reader.string(`member ${i} group instance id`),
      clientId: reader.string(`member ${i} client id`),
      clientHost: reader.string(`member ${i} client host`),
      sessionTimeoutMs: reader.i32(`member ${i} session timeout`),
      rebalanceTimeoutMs: reader.i32(`member ${i} rebalance timeout`),
      subscription: reader.bytes(`member ${i} subscription`),
      assignment: reader.bytes(`member ${i} assignment`),
    });
  }
  reader.end();
  if (generationId < 0)
    throw new GroupRecordDecodeError(`group metadata value has generation ${generationId}; generations are non-negative`);
  if (members.length > 0 && !members.some((m) => m.memberId === leader)) {
    throw new GroupRecordDecodeError(`group metadata value names leader "${leader}", which is not one of its ${members.length} members`);
  }
  return { protocolType, generationId, protocolName, leader, stateTimestampMs, members };
}

/** Decodes a whole record: the key, then the value that key's type implies (null stays a tombstone). */
export function decodeGroupRecord(record: OffsetsLogRecord): GroupRecord {
  const key = decodeGroupRecordKey(record.key);
  if (key.type === GroupRecordKeyType.OffsetCommit) {
    return { type: key.type, key, value: record.value === null ? null : decodeOffsetCommitValue(record.value) };
  }
  return { type: key.type, key, value: record.value === null ? null : decodeGroupMetadataValue(record.value) };
}

class ByteWriter {
  private readonly chunks: Buffer[] = [];

  u8(value: number): void {
    invariant(Number.isInteger(value) && value >= 0 && value <= 0xff, () => `u8 out of range: ${value}`);
    this.chunks.push(Buffer.from([value]));
  }

  u32(value: number): void {
    invariant(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, () => `u32 out of range: ${value}`);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(value);
    this.chunks.push(buf);
  }

  i32(value: number): void {
    invariant(Number.isInteger(value) && value >= -0x8000_0000 && value <= 0x7fff_ffff, () => `i32 out of range: ${value}`);
    const buf = Buffer.alloc(4);
    buf.writeInt32BE(value);
    this.chunks.push(buf);
  }

  i64(value: number): void {
    invariant(Number.isSafeInteger(value), () => `i64 is not a safe integer: ${value}`);
    const buf = Buffer.alloc(8);
    buf.writeBigInt64BE(BigInt(value));
    this.chunks.push(buf);
  }

  string(value: string): void {
    this.bytes(Buffer.from(value, "utf8"));
  }

  bytes(value: Uint8Array): void {
    this.u32(value.length);
    this.chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

class ByteReader {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(
    bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  version(): void {
    const version = this.u8("format version");
    if (version !== GROUP_RECORD_FORMAT_VERSION) {
      throw new GroupRecordDecodeError(
        `${this.what} has format version ${version}; this node reads version ${GROUP_RECORD_FORMAT_VERSION} (written by a newer node? upgrade this one)`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf.readUInt8(this.pos++);
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  i32(field: string): number {
    this.need(4, field);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  i64(field: string): number {
    this.need(8, field);
    const value = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new GroupRecordDecodeError(`${this.what}: ${field} ${value} is beyond 2^53`);
    }
    return Number(value);
  }

  string(field: string): string {
    const raw = this.bytes(field);
    try {
      return utf8.decode(raw);
    } catch {
      throw new GroupRecordDecodeError(`${this.what}: ${field} is not valid UTF-8`);
    }
  }

  bytes(field: string): Buffer {
    const length = this.u32(`${field} length`);
    this.need(length, field);
    // A copy: the record's buffer may be a slice of a larger read buffer that should not be kept alive.
    const value = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    return value;
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw new GroupRecordDecodeError(`${this.what} has ${this.buf.length - this.pos} bytes after its last field`);
    }
  }

  private need(count: number, field: string): void {
    if (this.pos + count > this.buf.length) {
      throw new GroupRecordDecodeError(
        `${this.what} ends inside ${field} (needs ${count} bytes at position ${this.pos}, has ${this.buf.length - this.pos})`,
      );
    }
  }
}
