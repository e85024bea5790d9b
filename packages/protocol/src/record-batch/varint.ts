// Zig-zag varints as RecordBatch v2 records use them (protobuf's encoding). Values are JS
// numbers: exact for |value| <= 2^52 (zig-zag doubles it), which covers offsets, lengths and
// millisecond timestamps and their deltas.

import { protocolError } from "../errors/protocol-error.js";

export function zigzagSize(value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  let size = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/** Writes `value` zig-zag encoded at `pos`; returns the position after it. */
export function writeZigzag(buf: Buffer, pos: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) {
    let v = ((value << 1) ^ (value >> 31)) >>> 0;
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  while (v >= 128) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** A decoded value and the position after it. Reused by callers on hot paths. */
export interface VarintCursor {
  value: number;
  pos: number;
}

/** Reads a zig-zag varint at cursor.pos (bounded by `end`) into cursor. Throws CORRUPT_MESSAGE. */
export function readZigzag(buf: Buffer, cursor: VarintCursor, end: number): void {
  let pos = cursor.pos;
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw protocolError("CORRUPT_MESSAGE", "varint runs past the end of its record");
    const byte = buf[pos++] as number;
    result += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      cursor.pos = pos;
      cursor.value = result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      return;
    }
    multiplier *= 128;
  }
  throw protocolError("CORRUPT_MESSAGE", "varint longer than 10 bytes");
}
