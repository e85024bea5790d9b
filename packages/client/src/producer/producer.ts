// The Producer (Kafka's model): send() partitions a record and appends it to its partition's
// open batch; a drain step, run on a timer or when a batch fills, takes ready batches, encodes
// each once, and sends one ProduceRequest per leader broker carrying all of them. Retriable
// errors put batches back with exponential back-off until deliveryTimeoutMs; the buffer never
// holds more than bufferMemory bytes of records, and send() waits at most maxBlockMs for room.

import { type Clock, type Logger, silentLogger, systemClock } from "@castle/common";
import {
  ErrorCode,
  type ProduceRequestInput,
  type ProduceResponse,
  type ProtocolError,
  protocolError,
  type RecordHeader,
  type RecordInput,
} from "@castle/protocol";
import type { ClusterClientOptions } from "../connection/cluster-client.js";
import { ClusterClient } from "../connection/cluster-client.js";
import type { MetadataCache } from "../connection/metadata-cache.js";
import { errorFromWire, isRetriableError, retryBackoffMs } from "../errors/wire-error.js";
import { DefaultPartitioner } from "./default-partitioner.js";
import { type DeliveryCallback, estimateRecordBytes, ProducerBatch, type RecordMetadata } from "./producer-batch.js";
import { type ProducerOptions, type ResolvedProducerOptions, resolveProducerOptions } from "./producer-options.js";
import { RecordAccumulator } from "./record-accumulator.js";

export type HeaderValue = Buffer | string | null;

export interface ProducerRecord {
  topic: string;
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Readonly<Record<string, HeaderValue>> | readonly { key: string; value: HeaderValue }[];
  /** Explicit partition; otherwise the key's murmur2 hash, or the sticky partition for null keys. */
  partition?: number;
  /** Create time; default now. */
  timestampMs?: number;
}

/** What the Producer needs from the cluster; ClusterClient provides it, tests may fake it. */
export interface ProducerTransport {
  readonly metadata: MetadataCache;
  refreshMetadata(topics: readonly string[]): Promise<void>;
  produce(nodeId: number, request: ProduceRequestInput, timeoutMs: number): Promise<ProduceResponse>;
  close(): void;
}

export interface ProducerDependencies {
  transport?: ProducerTransport;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
}

export type ProducerConfig = ProducerOptions & Partial<ClusterClientOptions>;

interface BlockedSend {
  topic: string;
  partition: number | undefined;
  record: RecordInput;
  sizeBytes: number;
  callback: DeliveryCallback | undefined;
  deadlineMs: number;
  accepted: (() => void) | undefined;
}

type AppendOutcome = "appended" | "no-metadata" | "no-memory" | Error;

/** Error codes after which the leader map is probably stale. */
const METADATA_STALE_CODES = new Set([
  "NOT_LEADER_OR_FOLLOWER",
  "UNKNOWN_TOPIC_OR_PARTITION",
  "LEADER_NOT_AVAILABLE",
  "NETWORK_EXCEPTION",
  "FENCED_LEADER_EPOCH",
  "UNKNOWN_LEADER_EPOCH",
]);

/** A promise that many can wait on and one can wake (memory freed, metadata arrived). */
class Signal {
  private waiters: (() => void)[] = [];
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  notify(): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

function toBuffer(value: Buffer | string | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

function toHeaders(headers: ProducerRecord["headers"]): RecordHeader[] | undefined {
  if (headers === undefined) return undefined;
  if (Array.isArray(headers)) return headers.map((h: { key: string; value: HeaderValue }) => ({ key: h.key, value: toBuffer(h.value) }));
  return Object.entries(headers as Readonly<Record<string, HeaderValue>>).map(([key, value]) => ({ key, value: toBuffer(value) }));
}

export class Producer {
  readonly options: ResolvedProducerOptions;
  private readonly transport: ProducerTransport;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly accumulator: RecordAccumulator;
  private readonly partitioner: DefaultPartitioner;
  /**
   * The sticky partitioner's question for the record being appended (one function for all
   * records, so a send allocates no closure): tryAppend sets topic and size before asking.
   */
  private readonly stickyProbe = {
    topic: "",
    sizeBytes: 0,
    wouldStartNewBatch: (partition: number): boolean =>
      this.accumulator.wouldStartNewBatch(this.stickyProbe.topic, partition, this.stickyProbe.sizeBytes),
  };
  private readonly blocked: BlockedSend[] = [];
  private readonly spaceFreed = new Signal();
  private readonly idle = new Signal();
  private readonly inflightByNode = new Map<number, number>();
  private readonly muted = new Set<string>();
  private usedBytes = 0;
  private inflightBatches = 0;
  private processingBlocked = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private drainImmediate: ReturnType<typeof setImmediate> | undefined;
  private drainDueMs = Number.POSITIVE_INFINITY;
  private refreshInFlight = false;
  private lastRefreshMs = Number.NEGATIVE_INFINITY;
  private lastMetadataError: Error | undefined;
  private closed = false;
  /** close() timed out: unsent batches fail instead of being retried. */
  private closedHard = false;

  constructor(config: ProducerConfig = {}, deps: ProducerDependencies = {}) {
    this.options = resolveProducerOptions(config);
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.logger = deps.logger ?? config.logger ?? silentLogger;
    this.transport =
      deps.transport ??
      new ClusterClient({ bootstrap: config.bootstrap ?? "localhost:9092", ...config, requestTimeoutMs: this.options.requestTimeoutMs });
    this.accumulator = new RecordAccumulator({
      batchSizeBytes: this.options.batchSize,
      lingerMs: this.options.lingerMs,
      requestBytesMax: this.options.maxRequestSize,
    });
    this.partitioner = new DefaultPartitioner(this.random);
  }

  /** Bytes of records held (queued or in flight); never above bufferMemory. */
  get bufferedBytes(): number {
    return this.usedBytes;
  }

  /** Sends one record; resolves with its offset once acknowledged (offset -1 with acks=0). */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.sendWithCallback(record, (error, metadata) => {
        if (error !== null || metadata === null) reject(error ?? new Error("no metadata"));
        else resolve(metadata);
      });
    });
  }

  /**
   * The allocation-light path: the callback runs once per record with its result. Returns
   * undefined when the record went straight into the buffer, or a promise that resolves once
   * it was accepted (after waiting for buffer space or metadata); await it before sending more
   * to honour back-pressure. The promise never rejects: failures reach the callback.
   */
  sendWithCallback(record: ProducerRecord, callback?: DeliveryCallback): Promise<void> | undefined {
    if (this.closed) {
      callback?.(protocolError("INVALID_REQUEST", "the producer is closed: create a new Producer"), null);
      return undefined;
    }
    const wire: RecordInput = {
      key: toBuffer(record.key),
      value: toBuffer(record.value),
      headers: toHeaders(record.headers),
      timestampMs: record.timestampMs ?? this.clock.nowMs(),
    };
    const sizeBytes = estimateRecordBytes(wire);
    if (sizeBytes > this.options.bufferMemory || sizeBytes > this.options.maxRequestSize) {
      const limit =
        sizeBytes > this.options.bufferMemory
          ? `bufferMemory=${this.options.bufferMemory}`
          : `maxRequestSize=${this.options.maxRequestSize}`;
      callback?.(
        protocolError("MESSAGE_TOO_LARGE", `a record of ${sizeBytes} bytes is larger than ${limit}: raise it or send a smaller record`),
        null,
      );
      return undefined;
    }
    if (this.blocked.length === 0) {
      const outcome = this.tryAppend(record.topic, record.partition, wire, sizeBytes, callback);
      if (outcome === "appended") return undefined;
      if (outcome instanceof Error) {
        callback?.(outcome, null);
        return undefined;
      }
    }
    const item: BlockedSend = {
      topic: record.topic,
      partition: record.partition,
      record: wire,
      sizeBytes,
      callback,
      deadlineMs: this.clock.monotonicMs() + this.options.maxBlockMs,
      accepted: undefined,
    };
    const accepted = new Promise<void>((resolve) => {
      item.accepted = resolve;
    });
    this.blocked.push(item);
    void this.processBlocked();
    return accepted;
  }

  /** Appends one record to its partition's batch unless metadata or buffer space is missing. Allocates nothing of its own. */
  private tryAppend(
    topicName: string,
    requestedPartition: number | undefined,
    record: RecordInput,
    sizeBytes: number,
    callback: DeliveryCallback | undefined,
  ): AppendOutcome {
    const topic = this.transport.metadata.topic(topicName);
    if (topic === undefined) return "no-metadata";
    let partition: number;
    if (requestedPartition !== undefined) {
      if (!Number.isInteger(requestedPartition) || requestedPartition < 0 || requestedPartition >= topic.partitions.length) {
        return protocolError(
          "UNKNOWN_TOPIC_OR_PARTITION",
          `partition ${requestedPartition} of topic '${topicName}' does not exist: it has partitions 0..${topic.partitions.length - 1}`,
        );
      }
      partition = requestedPartition;
    } else {
      this.stickyProbe.topic = topicName;
      this.stickyProbe.sizeBytes = sizeBytes;
      partition = this.partitioner.partition(topic, record.key ?? null, this.stickyProbe.wouldStartNewBatch);
    }
    if (this.usedBytes + sizeBytes > this.options.bufferMemory) return "no-memory";
    this.usedBytes += sizeBytes;
    const result = this.accumulator.append(topicName, partition, record, sizeBytes, callback, this.clock.monotonicMs());
    if (result.batchFull) this.scheduleDrain(0);
    else if (result.newBatch) this.scheduleDrain(this.options.lingerMs);
    return "appended";
  }

  /** Works the queue of sends that wait for metadata or buffer space, in order. */
  private async processBlocked(): Promise<void> {
    if (this.processingBlocked) return;
    this.processingBlocked = true;
    try {
      while (this.blocked.length > 0) {
        const head = this.blocked[0] as BlockedSend;
        const outcome = this.tryAppend(head.topic, head.partition, head.record, head.sizeBytes, head.callback);
        if (outcome === "appended" || outcome instanceof Error) {
          this.blocked.shift();
          if (outcome instanceof Error) head.callback?.(outcome, null);
          head.accepted?.();
          continue;
        }
        const remainingMs = head.deadlineMs - this.clock.monotonicMs();
        if (remainingMs <= 0 || this.closed) {
          this.blocked.shift();
          head.callback?.(this.blockedError(head, outcome), null);
          head.accepted?.();
          continue;
        }
        if (outcome === "no-memory") {
          await this.spaceFreed.wait(remainingMs);
        } else {
          await this.awaitMetadata(head.topic, remainingMs);
        }
      }
    } finally {
      this.processingBlocked = false;
      this.maybeSignalIdle();
    }
  }

  private blockedError(head: BlockedSend, outcome: "no-metadata" | "no-memory"): Error {
    if (this.closed) return protocolError("INVALID_REQUEST", "the producer was closed before the record could be buffered");
    if (outcome === "no-memory") {
      return protocolError(
        "REQUEST_TIMED_OUT",
        `send() waited maxBlockMs=${this.options.maxBlockMs} ms for buffer space: bufferMemory=${this.options.bufferMemory} bytes are held by unsent records; the broker is slower than the producer, so raise bufferMemory or maxBlockMs, or send less`,
      );
    }
    const topicError = this.transport.metadata.topicError(head.topic);
    if (topicError !== undefined && topicError.errorCode !== ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      return errorFromWire(topicError.errorCode, topicError.errorMessage, `topic '${head.topic}'`);
    }
    if (this.lastMetadataError !== undefined && topicError === undefined) return this.lastMetadataError;
    return protocolError(
      "UNKNOWN_TOPIC_OR_PARTITION",
      `topic '${head.topic}' not present in metadata after ${this.options.maxBlockMs} ms: create it with \`castle topic create ${head.topic}\``,
    );
  }

  private async awaitMetadata(topic: string, remainingMs: number): Promise<void> {
    const sinceLast = this.clock.monotonicMs() - this.lastRefreshMs;
    if (sinceLast < this.options.retryBackoffMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(remainingMs, this.options.retryBackoffMs - sinceLast)));
      return;
    }
    this.lastRefreshMs = this.clock.monotonicMs();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.transport.refreshMetadata([topic]).then(
          () => {
            this.lastMetadataError = undefined;
          },
          (error: unknown) => {
            this.lastMetadataError = error instanceof Error ? error : new Error(String(error));
          },
        ),
        new Promise((resolve) => {
          timer = setTimeout(resolve, remainingMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- the sender side -------------------------------------------------------------------

  private scheduleDrain(delayMs: number): void {
    if (this.closed && this.accumulator.queuedBatches === 0) return;
    const dueMs = this.clock.monotonicMs() + delayMs;
    if (dueMs >= this.drainDueMs) return;
    this.cancelDrain();
    this.drainDueMs = dueMs;
    if (delayMs <= 0) this.drainImmediate = setImmediate(() => this.runDrain());
    else this.drainTimer = setTimeout(() => this.runDrain(), delayMs);
  }

  private cancelDrain(): void {
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    if (this.drainImmediate !== undefined) clearImmediate(this.drainImmediate);
    this.drainTimer = undefined;
    this.drainImmediate = undefined;
    this.drainDueMs = Number.POSITIVE_INFINITY;
  }

  private runDrain(): void {
    this.cancelDrain();
    const nowMs = this.clock.monotonicMs();
    for (const batch of this.accumulator.expire(nowMs, this.options.deliveryTimeoutMs)) {
      this.settleFailed(
        batch,
        protocolError(
          "REQUEST_TIMED_OUT",
          `expired ${batch.recordCount} record(s) for ${batch.topic}-${batch.partition}: ${Math.round(nowMs - batch.createdMs)} ms passed since the batch was created, more than deliveryTimeoutMs=${this.options.deliveryTimeoutMs}; is the partition's leader up?`,
        ),
      );
    }
    const metadata = this.transport.metadata;
    const leaderFor = (topic: string, partition: number): number => metadata.leaderFor(topic, partition);
    const missing = this.accumulator.topicsWithoutLeader(leaderFor);
    if (missing.length > 0) this.requestMetadataRefresh(missing);
    const drained = this.accumulator.drain(nowMs, {
      leaderFor,
      canSendTo: (nodeId) => (this.inflightByNode.get(nodeId) ?? 0) < this.options.maxInFlightRequests,
      isMuted: (topic, partition) => this.muted.has(`${topic}\u0000${partition}`),
    });
    for (const [nodeId, batches] of drained) this.sendProduceRequest(nodeId, batches);
    const delayMs = this.accumulator.nextReadyDelayMs(this.clock.monotonicMs());
    // Ready batches that could not go (leader unknown, in-flight limit) are retried on a slow
    // tick; a response or fresh metadata reschedules at once.
    if (Number.isFinite(delayMs)) this.scheduleDrain(delayMs > 0 ? delayMs : Math.max(1, this.options.retryBackoffMs));
  }

  private requestMetadataRefresh(topics: readonly string[]): void {
    if (this.refreshInFlight) return;
    const nowMs = this.clock.monotonicMs();
    if (nowMs - this.lastRefreshMs < this.options.retryBackoffMs) return;
    this.refreshInFlight = true;
    this.lastRefreshMs = nowMs;
    this.transport.refreshMetadata(topics).then(
      () => {
        this.refreshInFlight = false;
        this.lastMetadataError = undefined;
        this.scheduleDrain(0);
      },
      (error: unknown) => {
        this.refreshInFlight = false;
        this.lastMetadataError = error instanceof Error ? error : new Error(String(error));
        this.logger.warn("metadata refresh failed", { error: this.lastMetadataError.message });
        this.scheduleDrain(this.options.retryBackoffMs);
      },
    );
  }

  private sendProduceRequest(nodeId: number, batches: ProducerBatch[]): void {
    const byTopic = new Map<string, Map<number, ProducerBatch[]>>();
    for (const batch of batches) {
      let byPartition = byTopic.get(batch.topic);
      if (byPartition === undefined) {
        byPartition = new Map();
        byTopic.set(batch.topic, byPartition);
      }
      const list = byPartition.get(batch.partition);
      if (list === undefined) byPartition.set(batch.partition, [batch]);
      else list.push(batch);
    }
    const request: ProduceRequestInput = {
      acks: this.options.acks,
      timeoutMs: this.options.requestTimeoutMs,
      topics: [...byTopic].map(([name, byPartition]) => ({
        name,
        partitions: [...byPartition].map(([partition, list]) => ({
          partition,
          recordBatches: ProducerBatch.encodeAll(list, this.options.compression),
        })),
      })),
    };
    const ordered = this.options.maxInFlightRequests === 1;
    if (ordered) for (const batch of batches) this.muted.add(`${batch.topic}\u0000${batch.partition}`);
    this.inflightByNode.set(nodeId, (this.inflightByNode.get(nodeId) ?? 0) + 1);
    this.inflightBatches += batches.length;
    for (const batch of batches) batch.attempts++;
    const acksZero = this.options.acks === 0;
    if (acksZero) for (const batch of batches) this.settleSucceeded(batch, -1, -1);
    let responsePromise: Promise<ProduceResponse>;
    try {
      responsePromise = this.transport.produce(nodeId, request, this.options.requestTimeoutMs);
    } catch (error) {
      responsePromise = Promise.reject(error);
    }
    responsePromise
      .then(
        (response) => {
          if (!acksZero) this.handleProduceResponse(byTopic, response);
        },
        (error: unknown) => {
          if (acksZero) return;
          const failure = error instanceof Error ? error : new Error(String(error));
          for (const batch of batches) this.retryOrFail(batch, failure);
        },
      )
      .finally(() => {
        this.inflightByNode.set(nodeId, (this.inflightByNode.get(nodeId) ?? 1) - 1);
        this.inflightBatches -= batches.length;
        if (ordered) for (const batch of batches) this.muted.delete(`${batch.topic}\u0000${batch.partition}`);
        this.scheduleDrain(0);
        this.maybeSignalIdle();
      });
  }

  private handleProduceResponse(sent: Map<string, Map<number, ProducerBatch[]>>, response: ProduceResponse): void {
    const answered = new Set<ProducerBatch>();
    for (const topic of response.topics) {
      const byPartition = sent.get(topic.name);
      if (byPartition === undefined) continue;
      for (const result of topic.partitions) {
        const batches = byPartition.get(result.partition);
        if (batches === undefined) continue;
        if (result.errorCode === 0) {
          let offset = result.baseOffset;
          for (const batch of batches) {
            this.settleSucceeded(batch, offset, result.logAppendTimeMs);
            offset += batch.recordCount;
            answered.add(batch);
          }
        } else {
          const error = errorFromWire(result.errorCode, result.errorMessage, `produce to ${topic.name}-${result.partition}`);
          for (const batch of batches) {
            this.retryOrFail(batch, error);
            answered.add(batch);
          }
        }
      }
    }
    for (const byPartition of sent.values()) {
      for (const batches of byPartition.values()) {
        for (const batch of batches) {
          if (!answered.has(batch)) {
            this.settleFailed(
              batch,
              protocolError("UNKNOWN_SERVER_ERROR", `the produce response has no result for ${batch.topic}-${batch.partition}`),
            );
          }
        }
      }
    }
  }

  private retryOrFail(batch: ProducerBatch, error: Error): void {
    const nowMs = this.clock.monotonicMs();
    const withinDelivery = nowMs - batch.createdMs < this.options.deliveryTimeoutMs;
    if (isRetriableError(error) && batch.attempts <= this.options.retries && withinDelivery && !this.closedHard) {
      const code = (error as ProtocolError).code;
      if (METADATA_STALE_CODES.has(code)) this.requestMetadataRefresh([batch.topic]);
      const backoffMs = retryBackoffMs(batch.attempts, this.options.retryBackoffMs, this.options.retryBackoffMaxMs, this.random);
      this.logger.debug("retrying batch", {
        topic: batch.topic,
        partition: batch.partition,
        attempt: batch.attempts,
        error: error.message,
      });
      this.accumulator.reenqueue(batch, nowMs + backoffMs);
      this.scheduleDrain(backoffMs);
      return;
    }
    this.settleFailed(batch, error);
  }

  private settleSucceeded(batch: ProducerBatch, baseOffset: number, logAppendTimeMs: number): void {
    if (batch.isSettled) return;
    this.usedBytes -= batch.reservedBytes;
    batch.complete(baseOffset, logAppendTimeMs);
    this.spaceFreed.notify();
  }

  private settleFailed(batch: ProducerBatch, error: Error): void {
    if (batch.isSettled) return;
    this.usedBytes -= batch.reservedBytes;
    batch.fail(error);
    this.spaceFreed.notify();
    this.maybeSignalIdle();
  }

  private isIdle(): boolean {
    return this.blocked.length === 0 && this.accumulator.queuedBatches === 0 && this.inflightBatches === 0;
  }

  private maybeSignalIdle(): void {
    if (this.isIdle()) this.idle.notify();
  }

  /** Sends everything buffered now, ignoring lingerMs; resolves once every send so far has settled. */
  async flush(): Promise<void> {
    this.accumulator.beginFlush();
    try {
      while (!this.isIdle()) {
        this.scheduleDrain(0);
        await this.idle.wait(this.options.retryBackoffMs + 50);
      }
    } finally {
      this.accumulator.endFlush();
    }
  }

  /**
   * Flushes, then closes the connections. With `timeoutMs`, records still unsent after it
   * fail with an error instead of waiting (Kafka's close(Duration)).
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.accumulator.beginClose();
    const flushed = this.flush();
    if (options.timeoutMs !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        flushed.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), options.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.closedHard = true;
        const error = protocolError("REQUEST_TIMED_OUT", `the producer closed after ${options.timeoutMs} ms before this record was sent`);
        for (const batch of this.accumulator.abortAll()) this.settleFailed(batch, error);
      }
    } else {
      await flushed;
    }
    this.closed = true;
    this.cancelDrain();
    this.spaceFreed.notify();
    this.transport.close();
  }
}
