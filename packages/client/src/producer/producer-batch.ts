// One RecordBatch in the making for one partition: the records, their delivery callbacks and
// the bytes they hold in the producer's buffer. Records stay as references until the batch is
// drained; then the whole batch is encoded once (and the bytes kept for retries).

import { BATCH_HEADER_BYTES, type CompressionType, encodeRecordBatch, encodeRecordBatches, type RecordInput } from "@castle/protocol";

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0, as in Kafka. */
  offset: number;
  timestampMs: number;
}

/** Called once per record: with metadata on success, with an error otherwise. */
export type DeliveryCallback = (error: Error | null, metadata: RecordMetadata | null) => void;

/** Per-record framing beyond key, value and headers (length, attributes, deltas, varints). */
export const RECORD_OVERHEAD_BYTES = 16;

export function estimateRecordBytes(record: RecordInput): number {
  let size = RECORD_OVERHEAD_BYTES + (record.key ? record.key.length : 0) + (record.value ? record.value.length : 0);
  if (record.headers !== undefined) {
    for (const header of record.headers) size += 6 + header.key.length * 3 + (header.value ? header.value.length : 0);
  }
  return size;
}

let nextBatchSequence = 0;

export class ProducerBatch {
  readonly records: RecordInput[] = [];
  readonly callbacks: (DeliveryCallback | undefined)[] = [];
  /** Creation order, to put retried batches back in order. */
  readonly sequence = nextBatchSequence++;
  /** Estimated encoded size (header + records), compared against batchSize. */
  estimatedBytes = BATCH_HEADER_BYTES;
  /** Bytes reserved in the producer's buffer for these records; released when the batch settles. */
  reservedBytes = 0;
  /** No more appends: full, drained, or being retried. */
  closed = false;
  attempts = 0;
  /** Monotonic ms before which a retry must not be sent. */
  retryAtMs = 0;
  private encoded: Buffer | undefined;
  private settled = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** Monotonic ms. */
    readonly createdMs: number,
  ) {}

  get recordCount(): number {
    return this.records.length;
  }

  /** Appends unless that would push a non-empty batch past `batchSizeBytes`. */
  tryAppend(record: RecordInput, sizeBytes: number, callback: DeliveryCallback | undefined, batchSizeBytes: number): boolean {
    if (this.closed) return false;
    if (this.records.length > 0 && this.estimatedBytes + sizeBytes > batchSizeBytes) {
      this.closed = true;
      return false;
    }
    this.records.push(record);
    this.callbacks.push(callback);
    this.estimatedBytes += sizeBytes;
    this.reservedBytes += sizeBytes;
    if (this.estimatedBytes >= batchSizeBytes) this.closed = true;
    return true;
  }

  /** The RecordBatch v2 bytes, encoded once on first use. */
  encode(compression: CompressionType): Buffer {
    if (this.encoded === undefined) this.encoded = encodeRecordBatch(this.records, this.encodeOptions(compression));
    return this.encoded;
  }

  private encodeOptions(compression: CompressionType): { baseTimestampMs: number; compression: CompressionType } {
    return { baseTimestampMs: this.records[0]?.timestampMs ?? Date.now(), compression };
  }

  /**
   * The bytes of several batches of one partition back to back, as a produce request carries
   * them. Batches not encoded yet are encoded together into one buffer (each keeps its view of
   * it for retries), so a request costs one allocation per partition, not one per batch plus a
   * concatenation.
   */
  static encodeAll(batches: readonly ProducerBatch[], compression: CompressionType): Buffer {
    if (batches.length === 1) return (batches[0] as ProducerBatch).encode(compression);
    if (batches.every((b) => b.encoded === undefined)) {
      const { bytes, views } = encodeRecordBatches(batches.map((b) => ({ records: b.records, options: b.encodeOptions(compression) })));
      batches.forEach((b, i) => {
        b.encoded = views[i];
      });
      return bytes;
    }
    return Buffer.concat(batches.map((b) => b.encode(compression)));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  /** Resolves every record: offsets baseOffset, baseOffset+1, ... (or -1 for acks=0). */
  complete(baseOffset: number, logAppendTimeMs: number): void {
    if (this.settled) return;
    this.settled = true;
    for (let i = 0; i < this.records.length; i++) {
      const callback = this.callbacks[i];
      if (callback === undefined) continue;
      const record = this.records[i] as RecordInput;
      callback(null, {
        topic: this.topic,
        partition: this.partition,
        offset: baseOffset < 0 ? -1 : baseOffset + i,
        timestampMs: logAppendTimeMs >= 0 ? logAppendTimeMs : (record.timestampMs ?? -1),
      });
    }
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    for (const callback of this.callbacks) callback?.(error, null);
  }
}
