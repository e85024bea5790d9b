// Per-partition queues of ProducerBatches (Kafka's RecordAccumulator). Pure bookkeeping:
// callers pass the time in and get decisions out; the Producer owns timers and I/O.
//
// A partition's head batch is ready to send when it is closed (full, or more batches queue
// behind it), when it has lingered lingerMs, or while a flush or close is in progress; never
// before its retry back-off ends. Queues keep creation order, including for retried batches.

import type { RecordInput } from "@castle/protocol";
import { type DeliveryCallback, ProducerBatch } from "./producer-batch.js";

export interface AccumulatorLimits {
  batchSizeBytes: number;
  lingerMs: number;
  /** Upper bound on the record bytes of one produce request (a single larger batch still goes). */
  requestBytesMax: number;
}

export interface AppendResult {
  /** A new batch was opened for this record (starts a linger timer). */
  readonly newBatch: boolean;
  /** The batch is closed and can be sent now. */
  readonly batchFull: boolean;
}

// The four answers of append, shared: an append allocates no result.
const APPENDED: AppendResult = Object.freeze({ newBatch: false, batchFull: false });
const APPENDED_FULL: AppendResult = Object.freeze({ newBatch: false, batchFull: true });
const OPENED: AppendResult = Object.freeze({ newBatch: true, batchFull: false });
const OPENED_FULL: AppendResult = Object.freeze({ newBatch: true, batchFull: true });

export interface DrainContext {
  /** Leader node of a partition, or -1 when unknown. */
  leaderFor(topic: string, partition: number): number;
  /** Whether another request may go to this node now. */
  canSendTo(nodeId: number): boolean;
  /** Partitions with a batch in flight when ordering must be kept (maxInFlightRequests = 1). */
  isMuted(topic: string, partition: number): boolean;
}

export class RecordAccumulator {
  private readonly queues = new Map<string, Map<number, ProducerBatch[]>>();
  private flushesInProgress = 0;
  private closing = false;
  private batchCount = 0;

  constructor(private readonly limits: AccumulatorLimits) {}

  private queue(topic: string, partition: number): ProducerBatch[] {
    let byPartition = this.queues.get(topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.queues.set(topic, byPartition);
    }
    let queue = byPartition.get(partition);
    if (queue === undefined) {
      queue = [];
      byPartition.set(partition, queue);
    }
    return queue;
  }

  /** Whether an append of `sizeBytes` to this partition would open a new batch (for the sticky partitioner). */
  wouldStartNewBatch(topic: string, partition: number, sizeBytes: number): boolean {
    const last = this.queues.get(topic)?.get(partition)?.at(-1);
    return last === undefined || last.closed || last.estimatedBytes + sizeBytes > this.limits.batchSizeBytes;
  }

  append(
    topic: string,
    partition: number,
    record: RecordInput,
    sizeBytes: number,
    callback: DeliveryCallback | undefined,
    nowMs: number,
  ): AppendResult {
    const queue = this.queue(topic, partition);
    const last = queue.at(-1);
    if (last?.tryAppend(record, sizeBytes, callback, this.limits.batchSizeBytes)) return last.closed ? APPENDED_FULL : APPENDED;
    const batch = new ProducerBatch(topic, partition, nowMs);
    batch.tryAppend(record, sizeBytes, callback, this.limits.batchSizeBytes);
    queue.push(batch);
    this.batchCount++;
    return batch.closed || queue.length > 1 ? OPENED_FULL : OPENED;
  }

  /** Puts a batch back for a retry, in creation order, not before `retryAtMs`. */
  reenqueue(batch: ProducerBatch, retryAtMs: number): void {
    batch.closed = true;
    batch.retryAtMs = retryAtMs;
    const queue = this.queue(batch.topic, batch.partition);
    let index = 0;
    while (index < queue.length && (queue[index] as ProducerBatch).sequence < batch.sequence) index++;
    queue.splice(index, 0, batch);
    this.batchCount++;
  }

  private isReady(batch: ProducerBatch, queueLength: number, nowMs: number): boolean {
    if (nowMs < batch.retryAtMs) return false;
    return batch.closed || queueLength > 1 || this.flushesInProgress > 0 || this.closing || nowMs - batch.createdMs >= this.limits.lingerMs;
  }

  /**
   * Removes ready batches and groups them by leader node, at most one request's worth per
   * node. A partition contributes consecutive ready batches from the head of its queue.
   */
  drain(nowMs: number, context: DrainContext): Map<number, ProducerBatch[]> {
    const out = new Map<number, ProducerBatch[]>();
    const bytesByNode = new Map<number, number>();
    for (const [topic, byPartition] of this.queues) {
      for (const [partition, queue] of byPartition) {
        if (queue.length === 0) continue;
        const head = queue[0] as ProducerBatch;
        if (!this.isReady(head, queue.length, nowMs)) continue;
        if (context.isMuted(topic, partition)) continue;
        const leader = context.leaderFor(topic, partition);
        if (leader < 0 || !context.canSendTo(leader)) continue;
        let batches = out.get(leader);
        let bytes = bytesByNode.get(leader) ?? 0;
        while (queue.length > 0) {
          const batch = queue[0] as ProducerBatch;
          if (!this.isReady(batch, queue.length, nowMs)) break;
          if (bytes > 0 && bytes + batch.estimatedBytes > this.limits.requestBytesMax) break;
          queue.shift();
          this.batchCount--;
          batch.closed = true;
          bytes += batch.estimatedBytes;
          if (batches === undefined) {
            batches = [];
            out.set(leader, batches);
          }
          batches.push(batch);
        }
        bytesByNode.set(leader, bytes);
      }
    }
    return out;
  }

  /** Milliseconds until some batch becomes ready; Infinity when nothing is queued. */
  nextReadyDelayMs(nowMs: number): number {
    let delay = Number.POSITIVE_INFINITY;
    for (const byPartition of this.queues.values()) {
      for (const queue of byPartition.values()) {
        const head = queue[0];
        if (head === undefined) continue;
        const lingerDone =
          head.closed || queue.length > 1 || this.flushesInProgress > 0 || this.closing ? nowMs : head.createdMs + this.limits.lingerMs;
        const due = Math.max(lingerDone, head.retryAtMs) - nowMs;
        if (due < delay) delay = Math.max(0, due);
      }
    }
    return delay;
  }

  /** Topics with a queued batch whose leader is unknown (need a metadata refresh). */
  topicsWithoutLeader(leaderFor: (topic: string, partition: number) => number): string[] {
    const topics: string[] = [];
    for (const [topic, byPartition] of this.queues) {
      for (const [partition, queue] of byPartition) {
        if (queue.length > 0 && leaderFor(topic, partition) < 0) {
          topics.push(topic);
          break;
        }
      }
    }
    return topics;
  }

  /** Removes and returns batches older than `deliveryTimeoutMs` (they will never be sent). */
  expire(nowMs: number, deliveryTimeoutMs: number): ProducerBatch[] {
    const expired: ProducerBatch[] = [];
    for (const byPartition of this.queues.values()) {
      for (const queue of byPartition.values()) {
        while (queue.length > 0 && nowMs - (queue[0] as ProducerBatch).createdMs >= deliveryTimeoutMs) {
          expired.push(queue.shift() as ProducerBatch);
          this.batchCount--;
        }
      }
    }
    return expired;
  }

  /** Removes every queued batch (close without flushing). */
  abortAll(): ProducerBatch[] {
    const all: ProducerBatch[] = [];
    for (const byPartition of this.queues.values()) {
      for (const queue of byPartition.values()) all.push(...queue.splice(0));
    }
    this.batchCount = 0;
    return all;
  }

  get queuedBatches(): number {
    return this.batchCount;
  }

  beginFlush(): void {
    this.flushesInProgress++;
  }

  endFlush(): void {
    this.flushesInProgress = Math.max(0, this.flushesInProgress - 1);
  }

  beginClose(): void {
    this.closing = true;
  }
}
