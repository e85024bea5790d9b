// Owns the partition replicas this node hosts (Kafka's ReplicaManager). The logs are opened
// and deleted by the PartitionReconciler as the image changes; after each pass, applyImage()
// gives every hosted partition its role:
// - leader (the image names this node): appends produced batches under the image's leader
//   epoch, serves consumers up to the high watermark and followers up to the log end, tracks
//   each follower (PartitionLeader) to move the high watermark, and asks the controller to
//   shrink or expand the ISR (AlterPartition, one change in flight per partition);
// - follower: a ReplicaFetchers loop copies the leader's log (truncating first where it
//   diverged) and takes the leader's high watermark;
// - anything else: the log is kept but not served.
// Requests for partitions this node does not lead get NOT_LEADER_OR_FOLLOWER naming the leader.

import type { Clock, Logger } from "@castle/common";
import { type Configs, type MetadataImage, NO_LEADER, type PartitionState } from "@castle/metadata";
import {
  batchBaseOffset,
  batchSizeAt,
  ErrorCode,
  ProtocolError,
  protocolError,
  validateBatches,
  wholeBatchesLength,
} from "@castle/protocol";
import type { LogConfig, LogManager, PartitionLog } from "@castle/storage";
import type { BrokerConfig } from "../config/broker-config.js";
import { parseNodeAddresses } from "../config/node-roles.js";
import { effectiveTopicConfigs } from "../config/topic-config.js";
import { CLIENT_ENDPOINT } from "../controller/cluster-nodes.js";
import type { ControllerChannel } from "../controller/controller-channel.js";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import { type FetchPurgatory, partitionKey } from "./fetch-purgatory.js";
import { type IsrChange, PartitionLeader } from "./partition-leader.js";
import { type FollowedPartition, ReplicaFetchers } from "./replica-fetcher.js";

export interface AppendOutcome {
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  recordCount: number;
}

export interface ReadOutcome {
  records: Buffer;
  highWatermark: number;
  logStartOffset: number;
}

export const LIST_OFFSETS_LATEST = -1;
export const LIST_OFFSETS_EARLIEST = -2;

/** Consumers fetch as -1 (or 0, proto3's unset value: node ids start at 1); a follower as its broker id. */
export const CONSUMER_REPLICA_ID = -1;
const isFollowerFetch = (replicaId: number): boolean => replicaId > 0;

export interface ReplicaManagerDeps {
  logs: LogManager;
  /** The latest applied metadata image. */
  image: () => MetadataImage;
  config: BrokerConfig;
  metrics: BrokerMetrics;
  /** Long-polling fetches, woken when a partition's log end or high watermark moves. */
  purgatory: FetchPurgatory;
  /** acks=all produces waiting for the high watermark. */
  producePurgatory: FetchPurgatory;
  /** AlterPartition goes to the active controller through it; undefined = no ISR changes (tests). */
  controller?: ControllerChannel;
  /** This broker's registration epoch (AlterPartition carries it); -1 before registering. */
  brokerEpoch: () => number;
  clock: Clock;
  logger: Logger;
}

/** Told when this node starts or stops leading a partition; a new leader epoch while it keeps leading is a stop then a start. */
export type LeadershipListener = (topic: string, partition: number, leading: boolean) => void;

export class ReplicaManager {
  private readonly leaders = new Map<string, PartitionLeader>();
  private readonly leadershipListeners: LeadershipListener[] = [];
  private readonly fetchers: ReplicaFetchers;
  private readonly isrTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly deps: ReplicaManagerDeps) {
    const { config } = deps;
    // replica.fetch.addresses: a replication path apart from the advertised (client) one.
    const fetchAddresses = new Map(
      parseNodeAddresses(config.replicaFetchAddresses, "replica.fetch.addresses").value.map((a) => [
        a.id,
        `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`,
      ]),
    );
    this.fetchers = new ReplicaFetchers(
      {
        nodeId: config.nodeId,
        fetchWaitMaxMs: config.replicaFetchWaitMaxMs,
        fetchMaxBytes: config.replicaFetchMaxBytes,
        backoffMs: config.replicaFetchBackoffMs,
        batchBytesMax: Math.max(config.messageMaxBytes, config.socketRequestMaxBytes),
      },
      {
        addressOf: (brokerId) => {
          const override = fetchAddresses.get(brokerId);
          if (override) return override;
          const endpoint = deps
            .image()
            .broker(brokerId)
            ?.endpoints.find((e) => e.name === CLIENT_ENDPOINT);
          return endpoint ? `${endpoint.host}:${endpoint.port}` : undefined;
        },
        onAppended: () => {},
        nowMs: () => deps.clock.nowMs(),
        logger: deps.logger.child({ component: "replica-fetcher" }),
      },
    );
    // ISR shrinks are judged on a timer (expansions happen on the fetch that catches up).
    this.isrTimer = setInterval(() => this.checkIsrs(), Math.max(10, Math.min(1000, Math.floor(config.replicaLagTimeMaxMs / 2))));
    this.isrTimer.unref();
  }

  /** Calls `listener` on every later change of leadership (after applyImage has updated the state). */
  onLeadershipChange(listener: LeadershipListener): void {
    this.leadershipListeners.push(listener);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.isrTimer);
    this.fetchers.close();
  }

  /**
   * Gives every partition with an open log its role from `image` (called after the
   * reconciler opened the image's logs): leader state for those this node leads, a fetcher
   * for those it follows, neither for the rest.
   */
  applyImage(image: MetadataImage): void {
    if (this.closed) return;
    const nodeId = this.deps.config.nodeId;
    const nowMs = this.deps.clock.monotonicMs();
    const followed: FollowedPartition[] = [];
    const stillLeading = new Set<string>();
    const changes: { topic: string; partition: number; leading: boolean }[] = [];
    for (const topic of image.topics()) {
      for (const state of topic.partitions) {
        if (!state.replicas.includes(nodeId)) continue;
        const log = this.deps.logs.logFor(topic.name, state.partition);
        if (!log) continue;
        const key = partitionKey(topic.name, state.partition);
        if (state.leader === nodeId) {
          stillLeading.add(key);
          let leader = this.leaders.get(key);
          if (leader && (leader.leaderEpoch !== state.leaderEpoch || leader.topicId !== topic.topicId)) {
            // A new epoch may hide another leader's term in between: listeners start over.
            changes.push({ topic: topic.name, partition: state.partition, leading: false });
            leader = undefined;
          }
          if (!leader) {
            changes.push({ topic: topic.name, partition: state.partition, leading: true });
            leader = new PartitionLeader(topic.name, state.partition, topic.topicId, nodeId, state, log.logEndOffset, nowMs);
            this.leaders.set(key, leader);
            this.deps.logger.info("leading partition", {
              topic: topic.name,
              partition: state.partition,
              leaderEpoch: state.leaderEpoch,
              isr: state.isr,
              logEndOffset: log.logEndOffset,
              highWatermark: log.highWatermark,
            });
          } else {
            leader.updateFromImage(state);
          }
          this.advanceHighWatermark(leader, log);
        } else if (state.leader !== NO_LEADER) {
          followed.push({ topic: topic.name, partition: state.partition, leaderId: state.leader, leaderEpoch: state.leaderEpoch, log });
        }
      }
    }
    for (const key of [...this.leaders.keys()]) {
      if (stillLeading.has(key)) continue;
      const leader = this.leaders.get(key) as PartitionLeader;
      changes.push({ topic: leader.topic, partition: leader.partition, leading: false });
      this.leaders.delete(key);
      // acks=all produces waiting on this partition learn at once that leadership moved.
      this.deps.producePurgatory.notify(key);
    }
    this.fetchers.set(followed);
    for (const change of changes) {
      for (const listener of this.leadershipListeners) listener(change.topic, change.partition, change.leading);
    }
  }

  /** The storage config a topic's partitions run with: its overrides over the broker defaults. */
  logConfigFor(topicConfigs: Configs): LogConfig {
    const effective = new Map(effectiveTopicConfigs(topicConfigs, this.deps.config).map((c) => [c.name, c.value]));
    const value = (name: string) => effective.get(name);
    return {
      // The topic table accepts compact and delete in either order; LogConfig spells them sorted.
      cleanupPolicy: String(value("cleanup.policy")).split(",").sort().join(",") as LogConfig["cleanupPolicy"],
      segmentBytes: value("segment.bytes") as number,
      segmentMs: value("segment.ms") as number,
      retentionMs: value("retention.ms") as number,
      retentionBytes: value("retention.bytes") as number,
      flushMessages: value("flush.messages") as number,
      flushMs: value("flush.ms") as number,
      indexIntervalBytes: value("index.interval.bytes") as number,
      timestampType: value("message.timestamp.type") as LogConfig["timestampType"],
      deleteRetentionMs: value("delete.retention.ms") as number,
      minCleanableDirtyRatio: value("min.cleanable.dirty.ratio") as number,
      minCompactionLagMs: value("min.compaction.lag.ms") as number,
    };
  }

  /** The partition's state in the image, or UNKNOWN_TOPIC_OR_PARTITION. */
  partitionState(topic: string, partition: number): PartitionState {
    const state = this.deps.image().topic(topic)?.partitions[partition];
    if (!state) {
      throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic-partition ${topic}-${partition} does not exist`, { topic, partition });
    }
    return state;
  }

  /** The log of a partition this node leads; NOT_LEADER_OR_FOLLOWER (naming the leader) or UNKNOWN_TOPIC_OR_PARTITION otherwise. */
  leaderLog(topic: string, partition: number): PartitionLog {
    return this.leading(topic, partition).log;
  }

  /**
   * Where `epoch` ends in this leader's log (OffsetForLeaderEpoch): the largest epoch <= it and
   * its end offset, or -1/-1. `currentLeaderEpoch` (-1 = unknown) is the asker's view of the
   * leader epoch: older than the leader's is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
   */
  endOffsetForEpoch(topic: string, partition: number, currentLeaderEpoch: number, epoch: number): { epoch: number; endOffset: number } {
    const { log, state } = this.leading(topic, partition);
    checkLeaderEpoch(topic, partition, state, currentLeaderEpoch);
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw protocolError("INVALID_REQUEST", `leader epoch ${epoch} of ${topic}-${partition} is not a non-negative integer`);
    }
    return log.endOffsetForEpoch(epoch) ?? { epoch: -1, endOffset: -1 };
  }

  private leading(topic: string, partition: number): { log: PartitionLog; state: PartitionState } {
    const state = this.partitionState(topic, partition);
    const nodeId = this.deps.config.nodeId;
    if (state.leader !== nodeId) {
      const leader = state.leader === NO_LEADER ? "it has no leader now (no live in-sync replica)" : `its leader is node ${state.leader}`;
      throw protocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `node ${nodeId} does not lead ${topic}-${partition}; ${leader} (leader epoch ${state.leaderEpoch}); refresh metadata and retry there`,
        { topic, partition, leaderId: state.leader, leaderEpoch: state.leaderEpoch },
      );
    }
    const log = this.deps.logs.logFor(topic, partition);
    if (!log) {
      throw protocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `node ${nodeId} leads ${topic}-${partition} but has not opened its log yet (metadata still being applied); retry shortly`,
        { topic, partition, leaderId: state.leader, leaderEpoch: state.leaderEpoch },
      );
    }
    return { log, state };
  }

  /**
   * Validates and appends one partition's batches. With acks=-1 the ISR must hold at least
   * min.insync.replicas members first (else NOT_ENOUGH_REPLICAS, nothing appended). Throws
   * ProtocolError; appends nothing on error.
   */
  append(topic: string, partition: number, batches: Buffer, acks = 1): AppendOutcome {
    const { log, state } = this.leading(topic, partition);
    const configs = this.deps.image().topicConfigs(topic);
    if (acks === -1) {
      const minIsr = this.minInsyncReplicas(configs);
      const isr = this.leaders.get(partitionKey(topic, partition))?.isr ?? state.isr;
      if (isr.length < minIsr) {
        throw protocolError(
          "NOT_ENOUGH_REPLICAS",
          `${topic}-${partition} has ${isr.length} in-sync replica(s) (${isr.join(",")}), fewer than min.insync.replicas=${minIsr}; nothing was written: retry when replicas have caught up, or produce with acks=1`,
          { topic, partition, isr: [...isr], minInsyncReplicas: minIsr },
        );
      }
    }
    const maxMessageBytes = Number(configs["max.message.bytes"] ?? this.deps.config.messageMaxBytes);
    const spans = validateBatches(batches, { batchBytesMax: maxMessageBytes });
    const appended = log.append(batches, spans, { leaderEpoch: state.leaderEpoch, nowMs: this.deps.clock.nowMs() });
    const recordCount = appended.lastOffset - appended.baseOffset + 1;
    this.deps.metrics.bytesIn.inc({ topic }, batches.length);
    this.deps.metrics.messagesIn.inc({ topic }, recordCount);
    this.deps.purgatory.notify(partitionKey(topic, partition));
    const leader = this.leaders.get(partitionKey(topic, partition));
    if (leader) this.advanceHighWatermark(leader, log);
    return {
      baseOffset: appended.baseOffset,
      lastOffset: appended.lastOffset,
      logAppendTimeMs: appended.logAppendTimeMs,
      logStartOffset: log.logStartOffset,
      recordCount,
    };
  }

  /**
   * acks=all: resolves once the high watermark covers `lastOffset` (every ISR member has it).
   * Throws REQUEST_TIMED_OUT when it does not within timeoutMs (the records stay in the leader's
   * log and may still be replicated: the outcome is unknown, never a success), NOT_LEADER_OR_FOLLOWER
   * when leadership moved meanwhile, and NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank
   * below min.insync.replicas before the records were replicated.
   */
  async awaitReplication(topic: string, partition: number, lastOffset: number, timeoutMs: number): Promise<void> {
    const key = partitionKey(topic, partition);
    const target = lastOffset + 1;
    const log = this.deps.logs.logFor(topic, partition);
    const done = (): boolean => !this.leaders.has(key) || (log?.highWatermark ?? -1) >= target;
    if (!done()) await this.deps.producePurgatory.wait([key], Math.max(1, timeoutMs), done);
    if (!this.leaders.has(key)) {
      throw protocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `leadership of ${topic}-${partition} moved before offset ${lastOffset} was replicated; it may or may not be kept: retry on the new leader`,
        { topic, partition },
      );
    }
    if ((log?.highWatermark ?? -1) < target) {
      throw protocolError(
        "REQUEST_TIMED_OUT",
        `${topic}-${partition} offset ${lastOffset} was written by the leader but not replicated to every in-sync replica within ${timeoutMs} ms; the outcome is unknown`,
        { topic, partition, lastOffset },
      );
    }
    const leader = this.leaders.get(key);
    const minIsr = this.minInsyncReplicas(this.deps.image().topicConfigs(topic));
    if (leader && leader.isr.length < minIsr) {
      throw protocolError(
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        `${topic}-${partition} offset ${lastOffset} was replicated, but the ISR (${leader.isr.join(",")}) shrank below min.insync.replicas=${minIsr} meanwhile`,
        { topic, partition },
      );
    }
  }

  /**
   * A fetch from a partition this node leads: consumers (replicaId -1) read below the high
   * watermark; a follower (its broker id) reads up to the log end, and its fetch offset is its
   * log end, which may move the high watermark and the ISR. `currentLeaderEpoch` -1 = unchecked.
   */
  read(
    topic: string,
    partition: number,
    fetchOffset: number,
    maxBytes: number,
    minOneBatch: boolean,
    replicaId = CONSUMER_REPLICA_ID,
    currentLeaderEpoch = -1,
  ): ReadOutcome {
    const { log, state } = this.leading(topic, partition);
    checkLeaderEpoch(topic, partition, state, currentLeaderEpoch);
    const logEnd = log.logEndOffset;
    if (fetchOffset < log.logStartOffset || fetchOffset > logEnd) {
      throw protocolError(
        "OFFSET_OUT_OF_RANGE",
        `offset ${fetchOffset} is outside ${topic}-${partition}'s range [${log.logStartOffset}, ${logEnd}]`,
        { topic, partition, fetchOffset, logStartOffset: log.logStartOffset, logEndOffset: logEnd },
      );
    }
    if (isFollowerFetch(replicaId)) {
      const leader = this.leaders.get(partitionKey(topic, partition));
      if (!leader?.isReplica(replicaId) || replicaId === this.deps.config.nodeId) {
        throw protocolError(
          "INVALID_REQUEST",
          `broker ${replicaId} is not a follower of ${topic}-${partition} (replicas ${state.replicas.join(",")}); consumers fetch with replica_id -1`,
          { topic, partition, replicaId },
        );
      }
      leader.recordFetch(replicaId, fetchOffset, logEnd, this.deps.clock.monotonicMs());
      this.advanceHighWatermark(leader, log);
      this.maybeChangeIsr(leader, log);
      const { records } = log.read(fetchOffset, maxBytes, { minOneBatch });
      return { records, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset };
    }
    const highWatermark = log.highWatermark;
    if (fetchOffset >= highWatermark) return { records: Buffer.alloc(0), highWatermark, logStartOffset: log.logStartOffset };
    const { records } = log.read(fetchOffset, maxBytes, { minOneBatch });
    return { records: batchesBelow(records, highWatermark), highWatermark, logStartOffset: log.logStartOffset };
  }

  /**
   * Where a waiting fetch's data ends: the log end for a follower, the high watermark for a
   * consumer; -1 if this node has no such log. A parked fetch compares it to notice new data.
   */
  fetchableEnd(topic: string, partition: number, replicaId: number): number {
    const log = this.deps.logs.logFor(topic, partition);
    if (!log) return -1;
    return isFollowerFetch(replicaId) ? log.logEndOffset : log.highWatermark;
  }

  /** Kafka ListOffsets: -1 latest, -2 earliest, else the first offset with timestamp >= it. */
  listOffset(topic: string, partition: number, timestamp: number): { offset: number; timestamp: number } {
    const log = this.leaderLog(topic, partition);
    if (timestamp === LIST_OFFSETS_LATEST) return { offset: log.highWatermark, timestamp: -1 };
    if (timestamp === LIST_OFFSETS_EARLIEST) return { offset: log.logStartOffset, timestamp: -1 };
    if (timestamp < 0)
      throw protocolError("INVALID_REQUEST", `timestamp ${timestamp} is not valid; use -1 (latest), -2 (earliest) or a time in ms`);
    const offset = log.offsetForTimestamp(timestamp);
    return offset === null ? { offset: -1, timestamp: -1 } : { offset, timestamp };
  }

  /** This node's copy of a partition, whatever its role (tools and tests compare replicas through it). */
  localLog(topic: string, partition: number): PartitionLog | undefined {
    return this.deps.logs.logFor(topic, partition);
  }

  /** Partitions this node leads whose ISR is smaller than their replica set, and those below min.insync.replicas. */
  replicationHealth(): { leading: number; underReplicated: number; underMinIsr: number } {
    let underReplicated = 0;
    let underMinIsr = 0;
    const image = this.deps.image();
    for (const leader of this.leaders.values()) {
      const state = image.topic(leader.topic)?.partitions[leader.partition];
      if (!state) continue;
      if (leader.isr.length < state.replicas.length) underReplicated++;
      if (leader.isr.length < this.minInsyncReplicas(image.topicConfigs(leader.topic))) underMinIsr++;
    }
    return { leading: this.leaders.size, underReplicated, underMinIsr };
  }

  forEachPartition(
    visit: (topic: string, partition: number, sizeBytes: number, logStartOffset: number, logEndOffset: number) => void,
  ): void {
    for (const log of this.deps.logs.allLogs()) visit(log.topic, log.partition, log.sizeBytes, log.logStartOffset, log.logEndOffset);
  }

  private minInsyncReplicas(configs: Configs): number {
    return Number(configs["min.insync.replicas"] ?? this.deps.config.minInsyncReplicas);
  }

  /** Moves the leader's high watermark as far as the ISR allows, and wakes whoever waits on it. */
  private advanceHighWatermark(leader: PartitionLeader, log: PartitionLog): void {
    const next = leader.highWatermark(log.logEndOffset, log.highWatermark);
    if (next <= log.highWatermark) return;
    log.updateHighWatermark(next);
    const key = partitionKey(leader.topic, leader.partition);
    this.deps.purgatory.notify(key);
    this.deps.producePurgatory.notify(key);
  }

  private checkIsrs(): void {
    if (this.closed) return;
    for (const leader of this.leaders.values()) {
      const log = this.deps.logs.logFor(leader.topic, leader.partition);
      if (log) this.maybeChangeIsr(leader, log);
    }
  }

  private maybeChangeIsr(leader: PartitionLeader, log: PartitionLog): void {
    const controller = this.deps.controller;
    if (!controller || this.deps.brokerEpoch() < 0) return;
    const image = this.deps.image();
    const change = leader.nextIsrChange(log.highWatermark, this.deps.clock.monotonicMs(), this.deps.config.replicaLagTimeMaxMs, (id) =>
      image.isUnfenced(id),
    );
    if (change) void this.sendIsrChange(controller, leader, change);
  }

  private async sendIsrChange(controller: ControllerChannel, leader: PartitionLeader, change: IsrChange): Promise<void> {
    const where = { topic: leader.topic, partition: leader.partition, reason: change.reason, from: leader.isr, to: change.newIsr };
    try {
      const response = await controller.call("alterPartition", [
        {
          brokerId: this.deps.config.nodeId,
          brokerEpoch: this.deps.brokerEpoch(),
          topics: [
            {
              topicId: leader.topicId,
              partitions: [
                {
                  partition: leader.partition,
                  leaderEpoch: change.leaderEpoch,
                  partitionEpoch: change.partitionEpoch,
                  newIsr: [...change.newIsr],
                },
              ],
            },
          ],
        },
      ]);
      const result = response.topics?.[0]?.partitions?.[0];
      if (!result || result.errorCode !== ErrorCode.NONE) {
        this.deps.logger.info("the controller refused an ISR change; waiting for new metadata", { ...where, error: result?.errorMessage });
        leader.settleChange(undefined);
        return;
      }
      leader.settleChange({ isr: result.isr ?? [], partitionEpoch: result.partitionEpoch ?? -1 });
      this.deps.logger.info(change.reason === "shrink" ? "shrank the ISR" : "expanded the ISR", where);
      (change.reason === "shrink" ? this.deps.metrics.isrShrinks : this.deps.metrics.isrExpands).inc();
      const log = this.deps.logs.logFor(leader.topic, leader.partition);
      if (log) this.advanceHighWatermark(leader, log);
    } catch (error) {
      leader.settleChange(undefined);
      if (!(error instanceof ProtocolError)) throw error;
      this.deps.logger.warn("ISR change not sent; will try again", { ...where, error: error.message });
    }
  }

  /** Every follower of every partition this node leads: records behind the leader's log end, and ms since it last caught up. */
  followerLags(): FollowerLag[] {
    const nowMs = this.deps.clock.monotonicMs();
    const lags: FollowerLag[] = [];
    for (const leader of this.leaders.values()) {
      const log = this.deps.logs.logFor(leader.topic, leader.partition);
      if (!log) continue;
      for (const lag of leader.followerLag(log.logEndOffset, nowMs)) {
        lags.push({
          topic: leader.topic,
          partition: leader.partition,
          followerId: lag.brokerId,
          lagRecords: lag.lagRecords,
          lagMs: lag.lagMs,
        });
      }
    }
    return lags;
  }
}

/**
 * A request's view of the leader epoch against the image's. -1 and 0 pass unchecked: proto3
 * cannot tell an unset field from 0, and a client generated from proto/ that never set it must
 * not be fenced (a replica at a real epoch 0 has nothing to be fenced from: epochs only grow).
 */
export function checkLeaderEpoch(topic: string, partition: number, state: PartitionState, currentLeaderEpoch: number): void {
  if (currentLeaderEpoch <= 0 || currentLeaderEpoch === state.leaderEpoch) return;
  const stale = currentLeaderEpoch < state.leaderEpoch;
  throw protocolError(
    stale ? "FENCED_LEADER_EPOCH" : "UNKNOWN_LEADER_EPOCH",
    stale
      ? `leader epoch ${currentLeaderEpoch} of ${topic}-${partition} is stale; the current one is ${state.leaderEpoch}: refresh metadata`
      : `leader epoch ${currentLeaderEpoch} of ${topic}-${partition} is newer than this node knows (${state.leaderEpoch}); retry shortly`,
    { topic, partition, currentLeaderEpoch, leaderEpoch: state.leaderEpoch },
  );
}

/** The whole batches of `records` that start below `offset` (a read cut at the high watermark, which falls on a batch boundary). */
function batchesBelow(records: Buffer, offset: number): Buffer {
  const end = wholeBatchesLength(records);
  let pos = 0;
  while (pos < end && batchBaseOffset(records, pos) < offset) pos += batchSizeAt(records, pos);
  return pos === records.length ? records : records.subarray(0, pos);
}

/** One follower replica of a partition this node leads, as ReplicaManager.followerLags reports it. */
export interface FollowerLag {
  topic: string;
  partition: number;
  followerId: number;
  /** Records between the follower's log end and the leader's. */
  lagRecords: number;
  /** Ms since the follower last caught up with the leader's log end (what replica.lag.time.max.ms bounds). */
  lagMs: number;
}
