// The node's Prometheus metrics. Names end in their unit; per-partition gauges are read from
// the logs at scrape time, so the hot path only bumps counters. Replication health (Kafka's
// ReplicaManager metrics: UnderReplicatedPartitions, UnderMinIsrPartitionCount, IsrShrinksPerSec,
// IsrExpandsPerSec, and per-follower lag) covers the partitions this node leads.

import { performance } from "node:perf_hooks";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface PartitionGaugeSource {
  forEachPartition(
    visit: (topic: string, partition: number, sizeBytes: number, logStartOffset: number, logEndOffset: number) => void,
  ): void;
}

/** The replication state the gauges read at scrape time (ReplicaManager's; nothing on a controller-only node). */
export interface ReplicationGaugeSource {
  replicationHealth(): { underReplicated: number; underMinIsr: number } | undefined;
  followerLags(): readonly { topic: string; partition: number; followerId: number; lagRecords: number; lagMs: number }[];
}

/** What the group gauges read at scrape time: the coordinator's groups, and the high watermarks this node knows. */
export interface GroupGaugeSource {
  stats(): {
    readonly groupsByState: Readonly<Record<string, number>>;
    readonly rebalancesTotal: number;
    readonly groups: readonly {
      readonly groupId: string;
      readonly offsets: readonly { topic: string; partition: number; offset: number }[];
    }[];
  };
  /** The partition's high watermark if this node hosts a replica of it (a follower's trails the leader's slightly). */
  highWatermark(topic: string, partition: number): number | undefined;
}

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly bytesIn: Counter<"topic">;
  readonly messagesIn: Counter<"topic">;
  readonly bytesOut: Counter<"topic">;
  readonly messagesOut: Counter<"topic">;
  readonly requestDuration: Histogram<"api" | "outcome">;
  readonly failedProduce: Counter<"topic" | "error">;
  /** Counted by the leader once the controller committed the change it asked for (AlterPartition). */
  readonly isrShrinks: Counter;
  readonly isrExpands: Counter;
  private lastElu = performance.eventLoopUtilization();

  constructor(partitions: PartitionGaugeSource, nodeId: number, replication?: ReplicationGaugeSource) {
    this.registry.setDefaultLabels({ node_id: String(nodeId) });
    collectDefaultMetrics({ register: this.registry, prefix: "castle_" });
    const registers = [this.registry];
    this.bytesIn = new Counter({
      name: "castle_topic_bytes_in_total",
      help: "Record batch bytes appended, per topic.",
      labelNames: ["topic"],
      registers,
    });
    this.messagesIn = new Counter({
      name: "castle_topic_messages_in_total",
      help: "Records appended, per topic.",
      labelNames: ["topic"],
      registers,
    });
    this.bytesOut = new Counter({
      name: "castle_topic_bytes_out_total",
      help: "Record batch bytes returned by fetches, per topic.",
      labelNames: ["topic"],
      registers,
    });
    this.messagesOut = new Counter({
      name: "castle_topic_messages_out_total",
      help: "Records returned by fetches, per topic (whole batches).",
      labelNames: ["topic"],
      registers,
    });
    this.failedProduce = new Counter({
      name: "castle_topic_failed_produce_requests_total",
      help: "Partition produce results with an error.",
      labelNames: ["topic", "error"],
      registers,
    });
    this.requestDuration = new Histogram({
      name: "castle_request_duration_seconds",
      help: "Time to answer a request, per API and outcome (ok or error).",
      labelNames: ["api", "outcome"],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const perPartition = (name: string, help: string, pick: (size: number, start: number, end: number) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["topic", "partition"],
        registers,
        collect() {
          this.reset();
          partitions.forEachPartition((topic, partition, size, start, end) =>
            this.set({ topic, partition: String(partition) }, pick(size, start, end)),
          );
        },
      });
    perPartition("castle_log_size_bytes", "Bytes in the partition's segments.", (size) => size);
    perPartition("castle_log_start_offset", "First offset still in the partition's log.", (_s, start) => start);
    perPartition("castle_log_end_offset", "Offset the next appended record will get.", (_s, _st, end) => end);
    this.isrShrinks = new Counter({
      name: "castle_replica_isr_shrinks_total",
      help: "ISR shrinks of partitions this node leads (a follower fell more than replica.lag.time.max.ms behind).",
      registers,
    });
    this.isrExpands = new Counter({
      name: "castle_replica_isr_expands_total",
      help: "ISR expansions of partitions this node leads (a follower caught up and rejoined).",
      registers,
    });
    const health = (name: string, help: string, pick: (h: { underReplicated: number; underMinIsr: number }) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const now = replication?.replicationHealth();
          this.set(now === undefined ? 0 : pick(now));
        },
      });
    health(
      "castle_replica_under_replicated_partition_count",
      "Partitions this node leads whose ISR is smaller than their replica set.",
      (h) => h.underReplicated,
    );
    health(
      "castle_replica_under_min_isr_partition_count",
      "Partitions this node leads whose ISR is smaller than min.insync.replicas (acks=all produces are refused).",
      (h) => h.underMinIsr,
    );
    const perFollower = (name: string, help: string, pick: (lagRecords: number, lagMs: number) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["topic", "partition", "follower"],
        registers,
        collect() {
          this.reset();
          for (const lag of replication?.followerLags() ?? []) {
            this.set(
              { topic: lag.topic, partition: String(lag.partition), follower: String(lag.followerId) },
              pick(lag.lagRecords, lag.lagMs),
            );
          }
        },
      });
    perFollower(
      "castle_replica_follower_lag_records",
      "Records a follower of a partition this node leads is behind the leader's log end.",
      (records) => records,
    );
    perFollower(
      "castle_replica_follower_lag_seconds",
      "Seconds since a follower of a partition this node leads last caught up with the leader's log end.",
      (_records, ms) => ms / 1000,
    );
    const self = this;
    new Gauge({
      name: "castle_event_loop_utilization_ratio",
      help: "Share of time the event loop was busy since the previous scrape (0..1).",
      registers,
      collect() {
        const now = performance.eventLoopUtilization();
        this.set(performance.eventLoopUtilization(now, self.lastElu).utilization);
        self.lastElu = now;
      },
    });
  }

  /**
   * Consumer-group gauges for the groups this node coordinates: groups by state, rebalances,
   * and each group's lag per partition (high watermark minus committed offset) for partitions
   * this node hosts a replica of (with replication factor = cluster size, all of them).
   */
  trackGroups(source: GroupGaugeSource): void {
    const registers = [this.registry];
    // The three gauges share one snapshot per scrape (stats() copies every group's committed
    // offsets). A scrape calls every collect() in one synchronous pass, so the snapshot is
    // dropped on the next turn of the event loop and the next scrape takes a fresh one.
    let snapshot: ReturnType<GroupGaugeSource["stats"]> | undefined;
    const stats = (): ReturnType<GroupGaugeSource["stats"]> => {
      if (snapshot === undefined) {
        snapshot = source.stats();
        setImmediate(() => {
          snapshot = undefined;
        });
      }
      return snapshot;
    };
    new Gauge({
      name: "castle_group_count",
      help: "Consumer groups this node coordinates, by state (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead).",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        for (const [state, count] of Object.entries(stats().groupsByState)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: "castle_group_rebalances_total",
      help: "Rebalances completed (assignment stored, group Stable) by groups this node coordinated since it started.",
      registers,
      collect() {
        this.set(stats().rebalancesTotal);
      },
    });
    new Gauge({
      name: "castle_group_lag_records",
      help: "Records between a group's committed offset and the partition's high watermark, for groups this node coordinates.",
      labelNames: ["group", "topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const group of stats().groups) {
          for (const { topic, partition, offset } of group.offsets) {
            const hw = source.highWatermark(topic, partition);
            if (hw === undefined) continue;
            this.set({ group: group.groupId, topic, partition: String(partition) }, Math.max(0, hw - offset));
          }
        }
      },
    });
  }

  /** Times `work` under castle_request_duration_seconds{api}. */
  async observe<T>(api: string, work: () => Promise<T>): Promise<T> {
    const end = this.requestDuration.startTimer({ api });
    try {
      const result = await work();
      end({ outcome: "ok" });
      return result;
    } catch (error) {
      end({ outcome: "error" });
      throw error;
    }
  }
}
