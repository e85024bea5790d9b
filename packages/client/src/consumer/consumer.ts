// The consumer (Kafka's KafkaConsumer): either of explicitly assigned partitions (assign()) or
// a member of a consumer group (subscribe() with groupId), which shares the subscribed topics'
// partitions with the group's other members (group/consumer-coordinator.ts). Positions come
// from seek(), seekToBeginning()/seekToEnd(), the group's committed offsets (with a groupId) or
// autoOffsetReset (resolved with ListOffsets); poll() drives the group, then sends one
// long-poll Fetch per leader broker in RecordBatch form and decodes batches locally, dropping
// records below the fetch position (a batch may start before it). Paused partitions stay
// assigned but are not fetched.

import type { Clock, Logger } from "@castle/common";
import { silentLogger, sleep, systemClock } from "@castle/common";
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
import { ConsumerCoordinator, type CoordinatorTransport, type OffsetCommitCallback } from "./group/consumer-coordinator.js";
import { type GroupOptions, type ResolvedGroupOptions, resolveGroupOptions } from "./group/group-options.js";
import type { CommittedOffset, OffsetToCommit } from "./group/offset-committer.js";
import type { ConsumerRebalanceListener } from "./group/rebalance-listener.js";
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

export interface ConsumerOptions extends GroupOptions {
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
  /** Deadline of one request; also how long commitSync() and committed() retry. Default 30000. */
  requestTimeoutMs?: number;
}

/** What the Consumer needs from the cluster; ClusterClient provides it, tests may fake it. */
export interface ConsumerTransport extends CoordinatorTransport {
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
  requestTimeoutMs: number;
  group: ResolvedGroupOptions;
}

/** Offsets to commit: a list, or a map keyed by tpKey (as committed() and endOffsets() return) to an offset. */
export type OffsetsToCommit = readonly OffsetToCommit[] | ReadonlyMap<string, number | { offset: number; metadata?: string }>;

/** Bound on close() unless close({ timeoutMs }) says otherwise (Kafka's default). */
export const CONSUMER_CLOSE_TIMEOUT_MS = 30_000;
/** How long close() lets a running poll() finish its step (a fetch long-poll) before going on. */
const CLOSE_POLL_WAIT_MS = 1000;

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
    requestTimeoutMs: integer("requestTimeoutMs", options.requestTimeoutMs, 30_000, 1),
    group: resolveGroupOptions(options),
  };
}

function validTopicPartition(tp: TopicPartition, what: string): TopicPartition {
  if (typeof tp?.topic !== "string" || tp.topic.length === 0 || !Number.isInteger(tp.partition) || tp.partition < 0) {
    throw configError(`${what}: ${JSON.stringify(tp)} is not a partition: use { topic: "name", partition: n } with n >= 0`);
  }
  return { topic: tp.topic, partition: tp.partition };
}

function offsetsToList(offsets: OffsetsToCommit, assigned: (key: string) => TopicPartition | undefined): OffsetToCommit[] {
  const list: OffsetToCommit[] = [];
  if (offsets instanceof Map) {
    for (const [key, value] of offsets) {
      const tp = assigned(key) ?? parseTpKey(key);
      const entry = typeof value === "number" ? { offset: value } : value;
      list.push({ ...tp, offset: entry.offset, ...(entry.metadata !== undefined ? { metadata: entry.metadata } : {}) });
    }
  } else {
    for (const o of offsets as readonly OffsetToCommit[]) list.push({ ...o, ...validTopicPartition(o, "commit") });
  }
  for (const o of list) {
    if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw configError(
        `cannot commit offset ${String(o.offset)} for ${formatTp(o)}: offsets are integers >= 0 (the next record to consume)`,
      );
    }
    if (o.metadata !== undefined && typeof o.metadata !== "string")
      throw configError(`commit metadata for ${formatTp(o)} must be a string`);
  }
  return list;
}

function parseTpKey(key: string): TopicPartition {
  const cut = key.lastIndexOf("\u0000");
  const partition = Number(key.slice(cut + 1));
  if (cut <= 0 || !Number.isInteger(partition)) {
    throw configError(`commit: map key ${JSON.stringify(key)} is not a partition key: build keys with tpKey({ topic, partition })`);
  }
  return { topic: key.slice(0, cut), partition };
}

export class Consumer implements AsyncIterable<ConsumerRecord> {
  private readonly options: ResolvedConsumerOptions;
  private readonly transport: ConsumerTransport;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly subscriptions: SubscriptionState;
  /** Present with a groupId: the group membership (subscribe) and the offset commits. */
  private readonly coordinator: ConsumerCoordinator | undefined;
  private mode: "none" | "assigned" | "subscribed" = "none";
  private readonly pausedPartitions = new Map<string, TopicPartition>();
  /** Partitions (tpKey) whose position comes from the group's committed offset, looked up before fetching. */
  private readonly awaitingCommitted = new Set<string>();
  private buffered: ConsumerRecord[] = [];
  private bufferedIndex = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The poll() running now, so close() can let it finish first. */
  private activePoll: Promise<unknown> | undefined;

  constructor(config: ConsumerConfig = {}, deps: { transport?: ConsumerTransport; logger?: Logger; clock?: Clock } = {}) {
    this.options = resolveConsumerOptions(config);
    this.logger = deps.logger ?? config.logger ?? silentLogger;
    this.clock = deps.clock ?? systemClock;
    this.transport =
      deps.transport ??
      new ClusterClient({ bootstrap: config.bootstrap ?? "localhost:9092", ...config, requestTimeoutMs: this.options.requestTimeoutMs });
    this.subscriptions = new SubscriptionState(this.options.autoOffsetReset);
    const groupId = this.options.group.groupId;
    if (groupId !== undefined) {
      this.coordinator = new ConsumerCoordinator(
        {
          ...this.options.group,
          groupId,
          requestTimeoutMs: this.options.requestTimeoutMs,
          retryBackoffMs: Math.max(1, this.options.retryBackoffMs),
        },
        {
          transport: this.transport,
          logger: this.logger,
          clock: this.clock,
          host: {
            owned: () => this.subscriptions.assigned(),
            setOwned: (tps) => this.setAssignment(tps),
            consumedOffsets: (tps) => this.consumedOffsets(tps),
          },
        },
      );
    }
  }

  /**
   * Reads exactly these partitions from now on; positions of partitions kept are kept. With a
   * groupId, new partitions start from the group's committed offsets. Not with subscribe().
   */
  assign(tps: readonly TopicPartition[]): void {
    this.ensureOpen();
    if (this.mode === "subscribed") {
      throw configError("assign() and subscribe() are mutually exclusive: call unsubscribe() first, or use one consumer per mode");
    }
    const valid = tps.map((tp) => validTopicPartition(tp, "assign"));
    this.setAssignment(valid);
    this.mode = valid.length > 0 ? "assigned" : "none";
  }

  /** The one place the assignment changes (assign() and the group): buffers, pauses and committed-offset lookups follow it. */
  private setAssignment(tps: readonly TopicPartition[]): void {
    const before = new Set(this.subscriptions.assigned().map(tpKey));
    this.subscriptions.assign(tps);
    const keep = new Set(tps.map(tpKey));
    this.dropBuffered((r) => !keep.has(tpKey(r)));
    for (const key of [...this.pausedPartitions.keys()]) if (!keep.has(key)) this.pausedPartitions.delete(key);
    for (const key of [...this.awaitingCommitted]) if (!keep.has(key)) this.awaitingCommitted.delete(key);
    if (this.coordinator !== undefined) for (const key of keep) if (!before.has(key)) this.awaitingCommitted.add(key);
  }

  assignment(): TopicPartition[] {
    return this.subscriptions.assigned();
  }

  /**
   * Joins the group (groupId) and reads its share of `topics`' partitions, or of every topic
   * `pattern` matches (RegExp.test on each topic name, internal topics excluded; anchor it with
   * ^...$ to match whole names), re-matched every metadataMaxAgeMs. The group is joined, and
   * partitions assigned, by poll(); `listener` hears of every change. Calling it again replaces
   * the subscription (a rebalance follows if the topics changed). Not with assign().
   */
  subscribe(topics: readonly string[] | RegExp, listener: ConsumerRebalanceListener = {}): void {
    this.ensureOpen();
    if (this.coordinator === undefined) {
      throw configError(
        "subscribe() needs a consumer group: set the consumer option groupId (or use assign() to read partitions without a group)",
      );
    }
    if (this.mode === "assigned") {
      throw configError(
        "subscribe() and assign() are mutually exclusive: call unsubscribe() (or assign([])) first, or use one consumer per mode",
      );
    }
    if (!(topics instanceof RegExp)) {
      if (!Array.isArray(topics) || topics.length === 0) {
        throw configError("subscribe() needs at least one topic or a RegExp: to stop consuming, call unsubscribe()");
      }
      const bad = topics.find((t) => typeof t !== "string" || t.trim().length === 0);
      if (bad !== undefined) throw configError(`subscribe(): topic ${JSON.stringify(bad)} is not a topic name`);
    }
    if (typeof listener !== "object" || listener === null) {
      throw configError(
        "subscribe(): the listener must be an object with optional onPartitionsRevoked/onPartitionsAssigned/onPartitionsLost",
      );
    }
    this.coordinator.subscribe(topics, listener);
    this.mode = "subscribed";
  }

  /** The subscribed topics (a pattern's current matches); empty unless subscribed. */
  subscription(): string[] {
    return this.coordinator?.subscribedTopics() ?? [];
  }

  /**
   * Stops reading: a group member revokes its partitions (auto-committing first, if enabled)
   * and leaves the group; an assign()ed consumer drops its assignment.
   */
  async unsubscribe(): Promise<void> {
    this.ensureOpen();
    if (this.mode === "subscribed") await this.coordinator?.unsubscribe();
    this.setAssignment([]);
    this.mode = "none";
  }

  /** The member's group state (Kafka's groupMetadata()); undefined without a groupId. */
  groupMetadata(): { groupId: string; generationId: number; memberId: string; groupInstanceId: string | undefined } | undefined {
    const groupId = this.options.group.groupId;
    if (this.coordinator === undefined || groupId === undefined) return undefined;
    const member = this.coordinator.member;
    return { groupId, generationId: member.generationId, memberId: member.memberId, groupInstanceId: this.options.group.groupInstanceId };
  }

  /** Stops fetching `tps` (they stay assigned) until resume(). */
  pause(tps: readonly TopicPartition[]): void {
    for (const raw of tps) {
      const tp = validTopicPartition(raw, "pause");
      if (!this.subscriptions.isAssigned(tp)) throw configError(`cannot pause ${formatTp(tp)}: it is not assigned to this consumer`);
      if (this.pausedPartitions.has(tpKey(tp))) continue;
      this.pausedPartitions.set(tpKey(tp), tp);
      // Records already fetched go back: the position returns to the first one not yet returned.
      const first = this.buffered.slice(this.bufferedIndex).find((r) => r.topic === tp.topic && r.partition === tp.partition);
      if (first !== undefined) this.seek(tp, first.offset);
    }
  }

  resume(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.pausedPartitions.delete(tpKey(validTopicPartition(tp, "resume")));
  }

  paused(): TopicPartition[] {
    return [...this.pausedPartitions.values()];
  }

  private requireGroup(what: string): ConsumerCoordinator {
    this.ensureOpen();
    if (this.coordinator === undefined) throw configError(`${what} needs a consumer group: set the consumer option groupId`);
    return this.coordinator;
  }

  private ensureOpen(): void {
    if (this.closed) throw protocolError("INVALID_REQUEST", "the consumer is closed");
  }

  /** The next offset poll() returns for each of `tps` that has a position (what a commit records). */
  private consumedOffsets(tps: readonly TopicPartition[]): OffsetToCommit[] {
    const firstBuffered = new Map<string, number>();
    for (let i = this.buffered.length - 1; i >= this.bufferedIndex; i--) {
      const r = this.buffered[i] as ConsumerRecord;
      firstBuffered.set(tpKey(r), r.offset);
    }
    const out: OffsetToCommit[] = [];
    for (const tp of tps) {
      if (!this.subscriptions.isAssigned(tp)) continue;
      const offset = firstBuffered.get(tpKey(tp)) ?? this.subscriptions.position(tp);
      if (offset !== null) out.push({ topic: tp.topic, partition: tp.partition, offset });
    }
    return out;
  }

  private commitList(offsets: OffsetsToCommit | undefined): OffsetToCommit[] {
    if (offsets === undefined) return this.consumedOffsets(this.assignment());
    const assigned = new Map(this.assignment().map((tp) => [tpKey(tp), tp]));
    return offsetsToList(offsets, (key) => assigned.get(key));
  }

  /**
   * Commits `offsets` (default: the consumed positions of every assigned partition) for the
   * group and waits, retrying retriable failures within requestTimeoutMs (or `timeoutMs`).
   * During a rebalance it fails with REBALANCE_IN_PROGRESS: poll(), then commit again.
   */
  async commitSync(offsets?: OffsetsToCommit, options: { timeoutMs?: number } = {}): Promise<void> {
    const coordinator = this.requireGroup("commitSync()");
    await coordinator.commitSync(this.commitList(offsets), options.timeoutMs ?? this.options.requestTimeoutMs);
  }

  /** Sends a commit without waiting or retrying; `callback` hears the outcome (else failures are logged). */
  commitAsync(offsets?: OffsetsToCommit, callback?: OffsetCommitCallback): void {
    const coordinator = this.requireGroup("commitAsync()");
    coordinator.commitAsync(this.commitList(offsets), callback);
  }

  /** The group's committed offsets of `tps`, keyed by tpKey; null where none is committed. */
  async committed(tps: readonly TopicPartition[], options: { timeoutMs?: number } = {}): Promise<Map<string, CommittedOffset | null>> {
    const coordinator = this.requireGroup("committed()");
    const valid = tps.map((tp) => validTopicPartition(tp, "committed"));
    return coordinator.committed(valid, options.timeoutMs ?? this.options.requestTimeoutMs);
  }

  seek(tp: TopicPartition, offset: number): void {
    this.subscriptions.seek(tp, offset);
    this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
  }

  /** Lazily moves to the log start of `tps` (default: all assigned); resolved on the next poll() or position(). */
  seekToBeginning(tps: readonly TopicPartition[] = this.assignment()): void {
    for (const tp of tps) {
      this.subscriptions.requestReset(tp, "earliest");
      this.awaitingCommitted.delete(tpKey(tp));
      this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
    }
  }

  /** Lazily moves to the high watermark of `tps` (default: all assigned). */
  seekToEnd(tps: readonly TopicPartition[] = this.assignment()): void {
    for (const tp of tps) {
      this.subscriptions.requestReset(tp, "latest");
      this.awaitingCommitted.delete(tpKey(tp));
      this.dropBuffered((r) => r.topic === tp.topic && r.partition === tp.partition);
    }
  }

  /** The offset of the next record poll() will return for `tp` (resolving a pending reset first). */
  async position(tp: TopicPartition): Promise<number> {
    if (this.subscriptions.position(tp) === null) await this.updateFetchPositions();
    const buffered = this.buffered.slice(this.bufferedIndex).find((r) => r.topic === tp.topic && r.partition === tp.partition);
    if (buffered !== undefined) return buffered.offset;
    const position = this.subscriptions.position(tp);
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

  /**
   * Positions for partitions without one: the group's committed offset where there is one
   * (partitions new to the assignment, with a groupId), else autoOffsetReset. With "none" and
   * no committed offset, throws naming every such partition (Kafka's NoOffsetForPartition).
   */
  private async updateFetchPositions(): Promise<void> {
    if (this.coordinator !== undefined && this.awaitingCommitted.size > 0) {
      const tps = this.assignment().filter((tp) => this.awaitingCommitted.has(tpKey(tp)) && this.subscriptions.position(tp) === null);
      for (const key of [...this.awaitingCommitted]) if (!tps.some((tp) => tpKey(tp) === key)) this.awaitingCommitted.delete(key);
      if (tps.length > 0) {
        const committed = await this.coordinator.committed(tps, this.options.requestTimeoutMs);
        const missing: TopicPartition[] = [];
        for (const tp of tps) {
          if (!this.subscriptions.isAssigned(tp) || this.subscriptions.position(tp) !== null) continue;
          const found = committed.get(tpKey(tp));
          if (found) {
            this.subscriptions.seek(tp, found.offset);
            this.awaitingCommitted.delete(tpKey(tp));
          } else if (this.options.autoOffsetReset === "none") {
            missing.push(tp);
          } else {
            this.awaitingCommitted.delete(tpKey(tp));
          }
        }
        if (missing.length > 0) {
          throw protocolError(
            "OFFSET_OUT_OF_RANGE",
            `no committed offset in group '${this.options.group.groupId}' for ${missing.map(formatTp).join(", ")} and autoOffsetReset is "none": commit offsets for the group first (castle group reset-offsets), seek() them (e.g. in onPartitionsAssigned), or set autoOffsetReset to "earliest" or "latest"`,
            { partitions: missing.map(formatTp) },
          );
        }
      }
    }
    await this.resetPositions();
  }

  private async resetPositions(): Promise<void> {
    const needed = this.subscriptions.partitionsNeedingReset();
    if (needed.length === 0) return;
    for (const strategy of ["earliest", "latest"] as const) {
      const tps = needed.filter((n) => n.strategy === strategy).map((n) => n.tp);
      if (tps.length === 0) continue;
      const offsets = await this.listOffsets(tps, strategy === "earliest" ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP);
      for (const tp of tps) {
        const offset = offsets.get(tpKey(tp));
        if (offset !== undefined && offset >= 0) this.subscriptions.completeReset(tp, strategy, offset);
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
    this.ensureOpen();
    if (this.activePoll !== undefined)
      throw configError("poll() is already running: a consumer is not safe for concurrent poll() calls; await each one");
    const running = this.pollLoop(timeoutMs);
    this.activePoll = running;
    try {
      return await running;
    } finally {
      this.activePoll = undefined;
    }
  }

  private async pollLoop(timeoutMs: number): Promise<ConsumerRecord[]> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    let first = true;
    while (!this.closed) {
      const remainingMs = deadline - Date.now();
      if (!first && remainingMs <= 0 && this.bufferedIndex >= this.buffered.length) return [];
      first = false;
      try {
        // The group first (Kafka's updateAssignmentMetadataIfNeeded): a rebalance may change what is ours.
        if (this.coordinator !== undefined) await this.coordinator.poll(deadline - Date.now());
        if (this.closed) return [];
        if (this.bufferedIndex < this.buffered.length) return this.takeBuffered();
        await this.updateFetchPositions();
        await this.fetchOnce(Math.max(0, Math.min(this.options.fetchMaxWaitMs, deadline - Date.now())));
      } catch (error) {
        if (this.closed) return [];
        if (!isRetriableError(error) || isUnreachable(error)) throw error;
        this.logger.debug("retriable consumer error", { error: (error as Error).message });
        try {
          await this.transport.refreshMetadata(this.assignment().map((tp) => tp.topic));
        } catch (refreshError) {
          this.logger.debug("metadata refresh failed", { error: (refreshError as Error).message });
        }
        await sleep(Math.min(this.options.retryBackoffMs, Math.max(0, deadline - Date.now())));
      }
    }
    return [];
  }

  private async fetchOnce(maxWaitMs: number): Promise<void> {
    const fetchable = this.subscriptions.fetchable().filter((f) => !this.pausedPartitions.has(tpKey(f.tp)));
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
          this.subscriptions.handleOutOfRange(tp, fetchedFrom, p.errorMessage);
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
    if (this.subscriptions.advance(tp, fetchedFrom, next)) {
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

  /**
   * Closes the consumer, within `timeoutMs` (default 30000): a group member auto-commits (if
   * enabled), revokes its partitions and leaves the group (static members keep their place);
   * then timers stop and connections close. Never rejects; problems are logged. Without a
   * groupId it closes at once.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    const coordinator = this.coordinator;
    if (coordinator === undefined) {
      this.transport.close();
      this.closing = Promise.resolve();
      return this.closing;
    }
    const deadline = this.clock.monotonicMs() + Math.max(0, options.timeoutMs ?? CONSUMER_CLOSE_TIMEOUT_MS);
    const pollDone = this.activePoll;
    this.closing = (async () => {
      try {
        // Let a running poll() step finish (it sees `closed` and returns) so nothing changes the assignment under close.
        if (pollDone !== undefined) {
          coordinator.wakeup();
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            pollDone.catch(() => undefined),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, Math.max(0, Math.min(CLOSE_POLL_WAIT_MS, deadline - this.clock.monotonicMs())));
            }),
          ]);
          clearTimeout(timer);
        }
        await coordinator.close(deadline);
      } catch (error) {
        this.logger.warn("error while closing the consumer", { error: (error as Error).message });
      } finally {
        this.transport.close();
      }
    })();
    return this.closing;
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
