// CRC32C (Castagnoli), the checksum RecordBatch v2 uses. Backed by @node-rs/crc32 (SIMD).

import { crc32c as nativeCrc32c } from "@node-rs/crc32";

export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>> 0;
}
