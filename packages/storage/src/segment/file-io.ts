// Positional file reads that loop until the requested bytes arrive (readSync may return fewer).

import { fdatasync, readSync } from "node:fs";
import { promisify } from "node:util";

/** Reads up to `length` bytes at `position`; returns fewer only at end of file. */
export function readFully(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
  let total = 0;
  while (total < length) {
    const read = readSync(fd, buf, offset + total, length - total, position + total);
    if (read === 0) break;
    total += read;
  }
  return total;
}

export const fdatasyncAsync = promisify(fdatasync);
