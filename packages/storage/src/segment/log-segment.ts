// One segment file and its in-memory sparse index. The file holds record batches exactly as
// they travel; `sizeBytes` is the end of the last whole batch (the file is truncated to it).
// Synchronous positional writes keep append ordering trivial; fdatasync is asynchronous.
// Ownership: the PartitionLog owns its segments; only it writes, truncates or closes them.

import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { invariant } from "@castle/common";
import { SparseIndex } from "../index/sparse-index.js";
import { fdatasyncAsync, readFully } from "./file-io.js";
import { segmentFileName } from "./segment-file-name.js";

export class LogSegment {
  readonly index: SparseIndex;
  /** Offset after the last batch (the base offset while empty). */
  nextOffset: number;
  /** Largest batch maxTimestamp in the segment, -1 while unknown or empty. */
  maxTimestamp = -1;
  /** Bytes appended since the last index entry (drives index.interval.bytes). */
  bytesSinceIndexEntry = 0;
  /** Written since the last fdatasync. */
  dirty = false;
  private closed = false;

  private constructor(
    readonly baseOffset: number,
    readonly path: string,
    private readonly fd: number,
    public sizeBytes: number,
    /** When this segment started, for segment.ms: creation time or its first batch's timestamp. */
    public rollStartMs: number,
  ) {
    this.index = new SparseIndex(baseOffset);
    this.nextOffset = baseOffset;
  }

  static create(dir: string, baseOffset: number, nowMs: number): LogSegment {
    const path = join(dir, segmentFileName(baseOffset));
    const fd = openSync(path, "wx+");
    return new LogSegment(baseOffset, path, fd, 0, nowMs);
  }

  /** Opens an existing file; sizeBytes is the file size until recovery sets it. */
  static open(dir: string, baseOffset: number, nowMs: number): LogSegment {
    const path = join(dir, segmentFileName(baseOffset));
    const fd = openSync(path, "r+");
    return new LogSegment(baseOffset, path, fd, fstatSync(fd).size, nowMs);
  }

  get fileDescriptor(): number {
    return this.fd;
  }

  /** Appends whole batches at the end with one write. */
  write(batches: Buffer): void {
    invariant(!this.closed, `write to closed segment ${this.path}`);
    let written = 0;
    while (written < batches.length) {
      written += writeSync(this.fd, batches, written, batches.length - written, this.sizeBytes + written);
    }
    this.sizeBytes += batches.length;
    this.dirty = true;
  }

  /** Reads `length` bytes at `position` (clamped to the segment's size). */
  read(position: number, length: number): Buffer {
    invariant(!this.closed, `read from closed segment ${this.path}`);
    const bytes = Math.max(0, Math.min(length, this.sizeBytes - position));
    const buf = Buffer.allocUnsafe(bytes);
    const read = readFully(this.fd, buf, 0, bytes, position);
    invariant(read === bytes, () => `short read of ${this.path} at ${position}: ${read} of ${bytes} bytes`);
    return buf;
  }

  /** Reads into `buf` at `position`; returns the bytes read (fewer only past the end). */
  readInto(buf: Buffer, position: number, length: number): number {
    const bytes = Math.max(0, Math.min(length, this.sizeBytes - position));
    return readFully(this.fd, buf, 0, bytes, position);
  }

  truncateTo(position: number): void {
    invariant(position <= this.sizeBytes || position === 0, `truncate ${this.path} to ${position} beyond ${this.sizeBytes}`);
    ftruncateSync(this.fd, position);
    this.sizeBytes = position;
    this.dirty = true;
  }

  /** Truncates the file to sizeBytes (drops a torn tail found by recovery). */
  truncateFileToSize(): void {
    ftruncateSync(this.fd, this.sizeBytes);
    this.dirty = true;
  }

  async sync(): Promise<void> {
    if (this.closed) return;
    this.dirty = false;
    await fdatasyncAsync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
