// What the quorum controller is configured with. Names follow Kafka's keys (in comments) with
// units last; the node config that supplies them is wired by the driver (not in this package).

import { PARTITIONS_PER_TOPIC_MAX } from "../topics/topic-limits.js";

export interface ControllerOptions {
  /** The cluster this controller serves; registrations with another id are refused. */
  readonly clusterId: string;
  /** broker.session.timeout.ms: a broker silent this long is fenced. */
  readonly brokerSessionTimeoutMs: number;
  /** num.partitions: partitions of a topic created with numPartitions -1. */
  readonly defaultNumPartitions: number;
  /** default.replication.factor: used when a create asks for -1. */
  readonly defaultReplicationFactor: number;
  /** Most partitions per topic on create and create-partitions. */
  readonly partitionsPerTopicMax: number;
  /** delete.topic.enable */
  readonly deleteTopicEnable: boolean;
  /** auto.leader.rebalance.enable: tick() moves leadership back to preferred replicas. */
  readonly autoLeaderRebalanceEnable: boolean;
  /** leader.imbalance.per.broker.percentage: a broker not leading more than this share of the partitions it prefers triggers rebalance. */
  readonly leaderImbalancePerBrokerPercentage: number;
  /** leader.imbalance.check.interval.seconds, in ms. */
  readonly leaderImbalanceCheckIntervalMs: number;
  /** Producer ids per block handed to a broker (Kafka: 1000). */
  readonly producerIdBlockSize: number;
  /** Most topics (or resources) one admin request may name. */
  readonly requestItemsMax: number;
}

export const defaultControllerOptions: Omit<ControllerOptions, "clusterId"> = {
  brokerSessionTimeoutMs: 9000,
  defaultNumPartitions: 1,
  defaultReplicationFactor: 1,
  partitionsPerTopicMax: PARTITIONS_PER_TOPIC_MAX,
  deleteTopicEnable: true,
  autoLeaderRebalanceEnable: true,
  leaderImbalancePerBrokerPercentage: 10,
  leaderImbalanceCheckIntervalMs: 300_000,
  producerIdBlockSize: 1000,
  requestItemsMax: 10_000,
};
