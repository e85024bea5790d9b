// A consumer of explicitly assigned partitions (no groups yet): positions come from seek(),
// seekToBeginning()/seekToEnd() or autoOffsetReset (resolved with ListOffsets); poll() sends
// one long-poll Fetch per leader broker in RecordBatch form and decodes batches locally,
// dropping records below the fetch position (a batch may start before it).

import type { Logger } from "@castle/common";
import { silentLogger, sleep } from "@castle/common";
import {
  BATCH_LOG_OVERHEAD_BYTES,
  decodeRecordBatch,
  ErrorCode,
  type FetchRequestInput,
  type FetchResponse,
  type ListOffsetsRequestInput,
  type ListOffsetsResponse,
  ProtocolError,
  protocolError,
  type RecordHeader,
} from "@castle/protocol";
import { ClusterClient, type ClusterClientOptions } from "../connection/cluster-client.js";
import type { MetadataCache } from "../connection/metadata-cache.js";
import { configError, errorFromWire, isRetriableError } from "../errors/wire-error.js";
import { formatTp, type OffsetResetStrategy, SubscriptionState, type TopicPartition, tpKey } from "./subscription-state.js";

export interface ConsumerRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface ConsumerOptions {
  /** Bytes the broker should gather before answering a fetch. Default 1. */
  fetchMinBytes?: number;
  /** Longest a fetch waits on the broker for fetchMinBytes. Default 500. */
  fetchMaxWaitMs?: number;
  /** Upper bound on one fetch response. Default 50 MiB. */
  fetchMaxBytes?: number;
  /** Upper bound per partition in one fetch. Default 1 MiB. */
  maxPartitionFetchBytes?: number;
  /** Where to start without a position or after OFFSET_OUT_OF_RANGE. Default "latest" (Kafka's). */
  autoOffsetReset?: OffsetResetStrategy;
  /** Records returned by one poll(). Default 500. */
  maxPollRecords?: number;
  retryBackoffMs?: number;
  requestTimeoutMs?: number;
}

export interface ConsumerTransport {
  readonly metadata: MetadataCache;
  refreshMetadata(topics: readonly string[]): Promise<void>;
  fetch(nodeId: number, request: FetchRequestInput): Promise<FetchResponse>;
  listOffsets(nodeId: number, request: ListOffsetsRequestInput): Promise<ListOffsetsResponse>;
  close(): void;
}

export type ConsumerConfig = ConsumerOptions & Partial<ClusterClientOptions>;

/** ListOffsets timestamps with special meaning (KIP-79). */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

interface ResolvedConsumerOptions {
  fetchMinBytes: number;
  fetchMaxWaitMs: number;
  fetchMaxBytes: number;
  maxPartitionFetchBytes: number;
  autoOffsetReset: OffsetResetStrategy;
  maxPollRecords: number;
  retryBackoffMs: number;
}

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw configError(`consumer option ${name}=${String(value)} is invalid: use an integer >= ${min}`);
  return v;
}

function resolveConsumerOptions(options: ConsumerOptions): ResolvedConsumerOptions {
  const reset = options.autoOffsetReset ?? "latest";
  if (reset !== "earliest" && reset !== "latest" && reset !== "none") {
    throw configError(`consumer option autoOffsetReset=${String(reset)} is invalid: use earliest, latest or none`);
  }
  return {
    fetchMinBytes: integer("fetchMinBytes", options.fetchMinBytes, 1, 0),
    fetchMaxWaitMs: integer("fetchMaxWaitMs", options.fetchMaxWaitMs, 500, 0),
    fetchMaxBytes: integer("fetchMaxBytes", options.fetchMaxBytes, 50 * 1024 * 1024, 1),
    maxPartitionFetchBytes: integer("maxPartitionFetchBytes", options.maxPartitionFetchBytes, 1024 * 1024, 1),
    autoOffsetReset: reset,
    maxPollRecords: integer("maxPollRecords", options.maxPollRecords, 500, 1),
    retryBackoffMs: integer("retryBackoffMs", options.retryBackoffMs, 100, 0),
  };
}

export class Consumer implements AsyncIterable<ConsumerRecord> {
  private readonly options: ResolvedConsumerOptions;
  private readonly transport: ConsumerTransport;
  private readonly logger: Logger;
  private readonly subscription: SubscriptionState;
  private buffered: ConsumerRecord[] = [];
  private bufferedIndex = 0;
  private closed = false;

  constructor(config: ConsumerConfig = {}, deps: { transport?: ConsumerTransport; logger?: Logger } = {}) {
    this.options = resolveConsumerOptions(config);
    this.logger = deps.logger ?? config.logger ?? silentLogger;
    this.transport = deps.transport ?? new ClusterClient({ bootstrap: config.bootstrap ?? "localhost:9092", ...config });
    this.subscription = new SubscriptionState(this.options.autoOffsetReset);
  }

  /** Reads exactly these partitions from now on; positions of partitions kept are kept. */
  assign(tps: readonly TopicPartition[]): void {
    this.subscription.assign(tps);
    const keep = new Set(tps.map(tpKey));
    this.dropBuffered((r) => !keep.has(tpKey(r)));
  }

  assignment(): TopicPartition[] {
    return this.subscription.assigned();
  }

  seek(tp: TopicPartition, offset: number): void {
    this.subscription.seek(tp, offset);
    this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
  }

  /** Lazily moves to the log start of `tps` (default: all assigned); resolved on the next poll() or position(). */
  seekToBeginning(tps: readonly TopicPartition[] = this.assignment()): void {
    for (const tp of tps) {
      this.subscription.requestReset(tp, "earliest");
      this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
    }
  }

  /** Lazily moves to the high watermark of `tps` (default: all assigned). */
  seekToEnd(tps: readonly TopicPartition[] = this.assignment()): void {
    for (const tp of tps) {
      this.subscription.requestReset(tp, "latest");
      this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
    }
  }

  /** The offset of the next record poll() will return for `tp` (resolving a pending reset first). */
  async position(tp: TopicPartition): Promise<number> {
    if (this.subscription.position(tp) === null) await this.resetPositions();
    const buffered = this.buffered.slice(this.bufferedIndex).find((r) => r.topic === tp.topic && r.partition === tp.partition);
    if (buffered !== undefined) return buffered.offset;
    const position = this.subscription.position(tp);
    if (position === null) throw protocolError("LEADER_NOT_AVAILABLE", `could not look up an offset for ${formatTp(tp)}: try again`);
    return position;
  }

  private dropBuffered(drop: (record: ConsumerRecord) => boolean): void {
    if (this.bufferedIndex >= this.buffered.length) return;
    this.buffered = this.buffered.slice(this.bufferedIndex).filter((r) => !drop(r));
    this.bufferedIndex = 0;
  }

  /** Log start offsets (-2) or high watermarks (-1) or the first offset at a timestamp. */
  async listOffsets(tps: readonly TopicPartition[], timestamp: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await this.ensureLeaders(tps);
    const byLeader = new Map<number, TopicPartition[]>();
    for (const tp of tps) {
      const leader = this.transport.metadata.leaderFor(tp.topic, tp.partition);
      if (leader < 0) throw this.noLeaderError(tp);
      const list = byLeader.get(leader) ?? [];
      list.push(tp);
      byLeader.set(leader, list);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const response = await this.transport.listOffsets(leader, {
          topics: groupByTopic(list, (tp) => ({ partition: tp.partition, timestamp })),
        });
        for (const topic of response.topics) {
          for (const p of topic.partitions) {
            if (p.errorCode !== 0) throw errorFromWire(p.errorCode, p.errorMessage, `list offsets of ${topic.name}-${p.partition}`);
            out.set(tpKey({ topic: topic.name, partition: p.partition }), p.offset);
          }
        }
      }),
    );
    return out;
  }

  async beginningOffsets(tps: readonly TopicPartition[]): Promise<Map<string, number>> {
    return this.listOffsets(tps, EARLIEST_TIMESTAMP);
  }

  async endOffsets(tps: readonly TopicPartition[]): Promise<Map<string, number>> {
    return this.listOffsets(tps, LATEST_TIMESTAMP);
  }

  private noLeaderError(tp: TopicPartition): ProtocolError {
    const topicError = this.transport.metadata.topicError(tp.topic);
    if (topicError !== undefined) return errorFromWire(topicError.errorCode, topicError.errorMessage, `topic '${tp.topic}'`);
    const info = this.transport.metadata.topic(tp.topic);
    if (info !== undefined && tp.partition >= info.partitions.length) {
      return protocolError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `partition ${tp.partition} of topic '${tp.topic}' does not exist: it has partitions 0..${info.partitions.length - 1}`,
      );
    }
    return protocolError("LEADER_NOT_AVAILABLE", `${formatTp(tp)} has no leader right now`);
  }

  /** Refreshes metadata when a partition's leader is unknown. */
  private async ensureLeaders(tps: readonly TopicPartition[]): Promise<void> {
    const missing = tps.filter((tp) => this.transport.metadata.leaderFor(tp.topic, tp.partition) < 0);
    if (missing.length > 0) await this.transport.refreshMetadata([...new Set(missing.map((tp) => tp.topic))]);
  }

  private async resetPositions(): Promise<void> {
    const needed = this.subscription.partitionsNeedingReset();
    if (needed.length === 0) return;
    for (const strategy of ["earliest", "latest"] as const) {
      const tps = needed.filter((n) => n.strategy === strategy).map((n) => n.tp);
      if (tps.length === 0) continue;
      const offsets = await this.listOffsets(tps, strategy === "earliest" ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP);
      for (const tp of tps) {
        const offset = offsets.get(tpKey(tp));
        if (offset !== undefined && offset >= 0) this.subscription.completeReset(tp, strategy, offset);
      }
    }
  }

  private takeBuffered(): ConsumerRecord[] {
    const end = Math.min(this.buffered.length, this.bufferedIndex + this.options.maxPollRecords);
    const out = this.buffered.slice(this.bufferedIndex, end);
    this.bufferedIndex = end;
    if (this.bufferedIndex >= this.buffered.length) {
      this.buffered = [];
      this.bufferedIndex = 0;
    }
    return out;
  }

  /**
   * Returns the next records (at most maxPollRecords), waiting up to `timeoutMs` for some.
   * Retriable failures (leader moved, network) are retried inside the timeout; others throw.
   */
  async poll(timeoutMs: number): Promise<ConsumerRecord[]> {
    if (this.closed) throw protocolError("INVALID_REQUEST", "the consumer is closed");
    const deadline = Date.now() + Math.max(0, timeoutMs);
    let first = true;
    while (!this.closed) {
      if (this.bufferedIndex < this.buffered.length) return this.takeBuffered();
      const remainingMs = deadline - Date.now();
      if (!first && remainingMs <= 0) return [];
      first = false;
      try {
        await this.resetPositions();
        await this.fetchOnce(Math.max(0, Math.min(this.options.fetchMaxWaitMs, remainingMs)));
      } catch (error) {
        if (this.closed) return [];
        if (!isRetriableError(error) || isUnreachable(error)) throw error;
        this.logger.debug("retriable consumer error", { error: (error as Error).message });
        await this.transport.refreshMetadata(this.assignment().map((tp) => tp.topic));
        await sleep(Math.min(this.options.retryBackoffMs, Math.max(0, deadline - Date.now())));
      }
    }
    return [];
  }

  private async fetchOnce(maxWaitMs: number): Promise<void> {
    const fetchable = this.subscription.fetchable();
    if (fetchable.length === 0) {
      if (maxWaitMs > 0) await sleep(Math.min(maxWaitMs, this.options.retryBackoffMs));
      return;
    }
    await this.ensureLeaders(fetchable.map((f) => f.tp));
    const byLeader = new Map<number, { tp: TopicPartition; position: number }[]>();
    for (const f of fetchable) {
      const leader = this.transport.metadata.leaderFor(f.tp.topic, f.tp.partition);
      if (leader < 0) throw this.noLeaderError(f.tp);
      const list = byLeader.get(leader) ?? [];
      list.push(f);
      byLeader.set(leader, list);
    }
    const errors: unknown[] = [];
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const positions = new Map(list.map((f) => [tpKey(f.tp), f.position]));
        try {
          const response = await this.transport.fetch(leader, {
            replicaId: -1,
            maxWaitMs,
            minBytes: this.options.fetchMinBytes,
            maxBytes: this.options.fetchMaxBytes,
            format: "RECORD_FORMAT_BATCHES",
            topics: groupByTopic(
              list.map((f) => f.tp),
              (tp) => ({
                partition: tp.partition,
                fetchOffset: positions.get(tpKey(tp)) ?? 0,
                partitionMaxBytes: this.options.maxPartitionFetchBytes,
                currentLeaderEpoch: -1,
              }),
            ),
          });
          this.handleFetchResponse(response, positions);
        } catch (error) {
          errors.push(error);
        }
      }),
    );
    const fatal = errors.find((e) => !isRetriableError(e));
    if (fatal !== undefined) throw fatal;
    if (errors.length > 0) throw errors[0];
  }

  private handleFetchResponse(response: FetchResponse, positions: Map<string, number>): void {
    let retriable: ProtocolError | undefined;
    for (const topic of response.topics) {
      for (const p of topic.partitions) {
        const tp = { topic: topic.name, partition: p.partition };
        const fetchedFrom = positions.get(tpKey(tp));
        if (fetchedFrom === undefined) continue;
        if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
          this.subscription.handleOutOfRange(tp, fetchedFrom, p.errorMessage);
          continue;
        }
        if (p.errorCode !== 0) {
          const error = errorFromWire(p.errorCode, p.errorMessage, `fetch from ${formatTp(tp)}`);
          if (!error.retriable) throw error;
          retriable = error;
          continue;
        }
        this.appendRecords(tp, fetchedFrom, p.recordBatches);
      }
    }
    if (retriable !== undefined) throw retriable;
  }

  private appendRecords(tp: TopicPartition, fetchedFrom: number, data: Buffer): void {
    let next = fetchedFrom;
    let pos = 0;
    const out: ConsumerRecord[] = [];
    while (pos + BATCH_LOG_OVERHEAD_BYTES <= data.length) {
      const size = data.readInt32BE(pos + 8) + BATCH_LOG_OVERHEAD_BYTES;
      if (pos + size > data.length) break; // a partial batch at the end of a size-limited fetch
      const { header, records } = decodeRecordBatch(data, pos);
      for (const record of records) {
        if (record.offset < next) continue;
        out.push({
          topic: tp.topic,
          partition: tp.partition,
          offset: record.offset,
          timestampMs: record.timestampMs,
          key: record.key,
          value: record.value,
          headers: record.headers,
        });
        next = record.offset + 1;
      }
      const batchEnd = header.baseOffset + header.lastOffsetDelta + 1;
      if (batchEnd > next) next = batchEnd;
      pos += size;
    }
    if (pos === 0 && data.length > 0 && data.length >= BATCH_LOG_OVERHEAD_BYTES) {
      const size = data.readInt32BE(8) + BATCH_LOG_OVERHEAD_BYTES;
      throw protocolError(
        "RECORD_LIST_TOO_LARGE",
        `a record batch of ${size} bytes at offset ${fetchedFrom} of ${formatTp(tp)} does not fit maxPartitionFetchBytes=${this.options.maxPartitionFetchBytes}: raise it`,
      );
    }
    if (this.subscription.advance(tp, fetchedFrom, next)) {
      for (const record of out) this.buffered.push(record);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerRecord> {
    while (!this.closed) {
      const records = await this.poll(this.options.fetchMaxWaitMs);
      for (const record of records) {
        yield record;
        if (this.closed) return;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }
}

function isUnreachable(error: unknown): boolean {
  return error instanceof ProtocolError && error.message.startsWith("cannot reach any bootstrap server");
}

function groupByTopic<T>(tps: readonly TopicPartition[], partition: (tp: TopicPartition) => T): { name: string; partitions: T[] }[] {
  const byTopic = new Map<string, T[]>();
  for (const tp of tps) {
    const list = byTopic.get(tp.topic) ?? [];
    list.push(partition(tp));
    byTopic.set(tp.topic, list);
  }
  return [...byTopic].map(([name, partitions]) => ({ name, partitions }));
}
