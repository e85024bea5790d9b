// Reads a segment file batch by batch for `castle log dump FILE [--print-data] [--verify]`
// (like Kafka's DumpLogSegments). Works on a closed file without the index or a LogManager.

import { closeSync, fstatSync, openSync } from "node:fs";
import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  type BatchHeader,
  batchCrcIsValid,
  batchSizeAt,
  readBatchHeader,
} from "@castle/protocol";
import { readFully } from "./file-io.js";

export type SegmentFileEntry =
  | {
      kind: "batch";
      position: number;
      sizeBytes: number;
      header: BatchHeader;
      crcValid: boolean;
      /** The whole batch; decode it with decodeRecordBatch for --print-data. */
      batch: Buffer;
    }
  | {
      /** The file ends inside a batch (or holds garbage): recovery would cut it here. */
      kind: "torn";
      position: number;
      bytesRemaining: number;
      reason: string;
    };

/** Yields each batch in file order, then a "torn" entry if the file does not end on a batch boundary. */
export function* readSegmentFile(path: string): Generator<SegmentFileEntry> {
  const fd = openSync(path, "r");
  try {
    const fileBytes = fstatSync(fd).size;
    const header = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
    let position = 0;
    while (position < fileBytes) {
      const remaining = fileBytes - position;
      const torn = (reason: string): SegmentFileEntry => ({ kind: "torn", position, bytesRemaining: remaining, reason });
      if (remaining < BATCH_HEADER_BYTES) {
        yield torn(`${remaining} bytes left, a batch header needs ${BATCH_HEADER_BYTES}`);
        return;
      }
      readFully(fd, header, 0, BATCH_HEADER_BYTES, position);
      const sizeBytes = batchSizeAt(header, 0);
      if (sizeBytes < BATCH_HEADER_BYTES) {
        yield torn(`batch length ${sizeBytes - BATCH_LOG_OVERHEAD_BYTES} is below the header size`);
        return;
      }
      if (sizeBytes > remaining) {
        yield torn(`batch declares ${sizeBytes} bytes, ${remaining} remain`);
        return;
      }
      const batch = Buffer.allocUnsafe(sizeBytes);
      readFully(fd, batch, 0, sizeBytes, position);
      yield { kind: "batch", position, sizeBytes, header: readBatchHeader(batch, 0), crcValid: batchCrcIsValid(batch, 0), batch };
      position += sizeBytes;
    }
  } finally {
    closeSync(fd);
  }
}
