// Per-partition state kept in LevelDB next to the index. Layout (big-endian), version 1:
//   version u8 | logStartOffset u64 | recoveryOffset u64 | recoverySegmentBase u64
//   | recoveryPosition u64 | highWatermark u64
// The recovery point (offset, segment, position) is known flushed: recovery validates only
// the bytes after it. Written after every flush and on close, so a clean restart skips CRC validation (it only walks batch framing past the last index entry).

import { invariant } from "@castle/common";
import { readUint64, writeUint64 } from "./key-prefix.js";

export interface PartitionState {
  logStartOffset: number;
  recoveryOffset: number;
  recoverySegmentBase: number;
  recoveryPosition: number;
  highWatermark: number;
}

const STATE_VERSION = 1;
const STATE_BYTES = 1 + 5 * 8;

export function encodePartitionState(state: PartitionState): Buffer {
  const buf = Buffer.allocUnsafe(STATE_BYTES);
  buf.writeUInt8(STATE_VERSION, 0);
  writeUint64(buf, 1, state.logStartOffset);
  writeUint64(buf, 9, state.recoveryOffset);
  writeUint64(buf, 17, state.recoverySegmentBase);
  writeUint64(buf, 25, state.recoveryPosition);
  writeUint64(buf, 33, state.highWatermark);
  return buf;
}

/** Returns undefined for an unknown version or a wrong length: the caller then recovers from scratch. */
export function decodePartitionState(buf: Buffer): PartitionState | undefined {
  if (buf.length !== STATE_BYTES || buf.readUInt8(0) !== STATE_VERSION) return undefined;
  const state = {
    logStartOffset: readUint64(buf, 1),
    recoveryOffset: readUint64(buf, 9),
    recoverySegmentBase: readUint64(buf, 17),
    recoveryPosition: readUint64(buf, 25),
    highWatermark: readUint64(buf, 33),
  };
  invariant(Number.isSafeInteger(state.recoveryOffset), "recovery offset is not a safe integer");
  return state;
}
