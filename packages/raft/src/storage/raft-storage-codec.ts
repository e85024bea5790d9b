// The on-disk format of the Raft log in LevelDB: keys and values. A format change here is a
// change to every node's data directory, so the golden bytes in test/storage pin it.
//
// Keys: one byte of RaftKeyPrefix, then (for entries) the index as 8 bytes big-endian so that
// LevelDB's byte order is log order. Values: a 4-byte big-endian CRC32C of the rest, then the
// payload. An entry's CRC also covers its index, so a value under the wrong key is caught.

import { invariant } from "@castle/common";
import { crc32c } from "@castle/protocol";
import { type ConfState, type Entry, EntryType, type HardState, type Snapshot } from "../core/types.js";

/** Key prefixes. Never reuse or renumber one: retire it with a comment instead. */
export enum RaftKeyPrefix {
  /** Format version of the directory (one key). */
  FormatVersion = 1,
  /** HardState: term, vote, commit (one key). */
  HardState = 2,
  /** ConfState of the bootstrap or of the latest snapshot (one key). */
  ConfState = 3,
  /** The latest snapshot: meta and data (one key). */
  Snapshot = 4,
  /** Log entries, keyed by index. The log starts right after the snapshot's index. */
  Entry = 5,
}

export const RAFT_STORAGE_FORMAT_VERSION = 1;

export function singletonKey(prefix: Exclude<RaftKeyPrefix, RaftKeyPrefix.Entry>): Buffer {
  return Buffer.from([prefix]);
}

export function entryKey(index: number): Buffer {
  const key = Buffer.alloc(9);
  key[0] = RaftKeyPrefix.Entry;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}

export function entryKeyIndex(key: Uint8Array): number {
  invariant(key.length === 9 && key[0] === RaftKeyPrefix.Entry, "not an entry key");
  return Number(Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(1));
}

/** The value failed its checksum or does not parse. */
export class CorruptValueError extends Error {}

function seal(payload: Buffer): Buffer {
  const value = Buffer.alloc(4 + payload.length);
  value.writeUInt32BE(crc32c(payload), 0);
  payload.copy(value, 4);
  return value;
}

function unseal(value: Uint8Array, what: string): Buffer {
  const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buffer.length < 4) throw new CorruptValueError(`${what} is ${buffer.length} bytes, too short for its checksum`);
  const payload = buffer.subarray(4);
  const stored = buffer.readUInt32BE(0);
  const actual = crc32c(payload);
  if (stored !== actual) throw new CorruptValueError(`${what} fails its CRC32C (stored ${stored}, computed ${actual})`);
  return payload;
}

class Writer {
  private readonly parts: Buffer[] = [];
  u64(n: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    this.parts.push(b);
    return this;
  }
  u32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
    return this;
  }
  u8(n: number): this {
    this.parts.push(Buffer.from([n]));
    return this;
  }
  bytes(data: Uint8Array): this {
    this.parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return this;
  }
  ids(ids: readonly number[]): this {
    this.u32(ids.length);
    for (const id of ids) this.u32(id);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private offset = 0;
  constructor(
    private readonly buffer: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.offset + n > this.buffer.length) throw new CorruptValueError(`${this.what} is truncated`);
  }
  u64(): number {
    this.need(8);
    const n = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptValueError(`${this.what} holds an integer beyond 2^53`);
    return Number(n);
  }
  u32(): number {
    this.need(4);
    const n = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return n;
  }
  u8(): number {
    this.need(1);
    const n = this.buffer.readUInt8(this.offset);
    this.offset += 1;
    return n;
  }
  ids(): number[] {
    const count = this.u32();
    this.need(count * 4);
    return Array.from({ length: count }, () => this.u32());
  }
  /** The rest, copied out of LevelDB's buffer. */
  rest(): Uint8Array {
    const data = new Uint8Array(this.buffer.length - this.offset);
    data.set(this.buffer.subarray(this.offset));
    this.offset = this.buffer.length;
    return data;
  }
  end(): void {
    if (this.offset !== this.buffer.length)
      throw new CorruptValueError(`${this.what} has ${this.buffer.length - this.offset} trailing bytes`);
  }
}

export function encodeEntry(entry: Entry): Buffer {
  return seal(new Writer().u64(entry.index).u64(entry.term).u8(entry.type).bytes(entry.data).done());
}

export function decodeEntry(value: Uint8Array, keyIndex: number): Entry {
  const what = `log entry ${keyIndex}`;
  const r = new Reader(unseal(value, what), what);
  const index = r.u64();
  const term = r.u64();
  const type = r.u8();
  if (index !== keyIndex) throw new CorruptValueError(`${what} holds index ${index}`);
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new CorruptValueError(`${what} has unknown type ${type}`);
  return { index, term, type, data: r.rest() };
}

export function encodeHardState(hs: HardState): Buffer {
  return seal(new Writer().u64(hs.term).u64(hs.vote).u64(hs.commit).done());
}

export function decodeHardState(value: Uint8Array): HardState {
  const r = new Reader(unseal(value, "hard state"), "hard state");
  const hs = { term: r.u64(), vote: r.u64(), commit: r.u64() };
  r.end();
  return hs;
}

function writeConfState(w: Writer, cs: ConfState): Writer {
  return w.ids(cs.voters).ids(cs.observers);
}

export function encodeConfState(cs: ConfState): Buffer {
  return seal(writeConfState(new Writer(), cs).done());
}

export function decodeConfState(value: Uint8Array): ConfState {
  const r = new Reader(unseal(value, "conf state"), "conf state");
  const cs = { voters: r.ids(), observers: r.ids() };
  r.end();
  return cs;
}

export function encodeSnapshot(snapshot: Snapshot): Buffer {
  const w = new Writer().u64(snapshot.meta.index).u64(snapshot.meta.term);
  return seal(writeConfState(w, snapshot.meta.confState).bytes(snapshot.data).done());
}

export function decodeSnapshot(value: Uint8Array): Snapshot {
  const r = new Reader(unseal(value, "snapshot"), "snapshot");
  const index = r.u64();
  const term = r.u64();
  const confState = { voters: r.ids(), observers: r.ids() };
  return { meta: { index, term, confState }, data: r.rest() };
}

export function encodeFormatVersion(version: number): Buffer {
  return seal(new Writer().u32(version).done());
}

export function decodeFormatVersion(value: Uint8Array): number {
  const r = new Reader(unseal(value, "format version"), "format version");
  const version = r.u32();
  r.end();
  return version;
}
