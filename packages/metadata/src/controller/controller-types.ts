// Requests the quorum controller decides and the results it returns. Multi-item requests
// (create/delete topics, create partitions, alter configs, elections, alter partition) answer
// per item with an error or null, as Kafka's APIs do; single-broker requests (register,
// heartbeat) and a whole request refused (too many items, a stale broker epoch) throw a
// ProtocolError. Either way a refused item contributes no records.

import type { ProtocolError } from "@castle/protocol";
import type { MetadataRecord } from "../records/metadata-record.js";

/** A decision: what to answer, and the records to commit (in order, as one batch) before answering. */
export interface ControllerResult<T> {
  readonly result: T;
  readonly records: readonly MetadataRecord[];
}

export interface CreateTopicRequest {
  readonly name: string;
  /** -1 = the controller's defaultNumPartitions */
  readonly numPartitions: number;
  /** -1 = the controller's defaultReplicationFactor */
  readonly replicationFactor: number;
  readonly configs: Readonly<Record<string, string>>;
}

export interface CreateTopicResult {
  readonly name: string;
  readonly error: ProtocolError | null;
  /** Set when error is null (also with validateOnly, where the id is not kept). */
  readonly topicId?: string;
  readonly numPartitions?: number;
  readonly replicationFactor?: number;
  /** The validated, normalised configs set on the topic. */
  readonly configs?: Readonly<Record<string, string>>;
}

export interface TopicResult {
  readonly name: string;
  readonly error: ProtocolError | null;
}

export interface CreatePartitionsRequest {
  readonly name: string;
  /** The new total partition count; must exceed the current one. */
  readonly count: number;
}

export interface ConfigChange {
  readonly name: string;
  readonly op: "set" | "delete";
  /** Ignored for delete. */
  readonly value: string;
}

export interface AlterConfigsRequest {
  readonly resourceType: "topic" | "broker";
  readonly resourceName: string;
  readonly changes: readonly ConfigChange[];
}

export interface AlterConfigsResult {
  readonly resourceType: "topic" | "broker";
  readonly resourceName: string;
  readonly error: ProtocolError | null;
}

export interface RegisterBrokerRequest {
  readonly brokerId: number;
  readonly clusterId: string;
  readonly incarnationId: string;
  readonly endpoints: readonly { readonly name: string; readonly host: string; readonly port: number }[];
  readonly rack: string | null;
}

export interface RegisterBrokerResult {
  readonly brokerEpoch: number;
}

export interface BrokerHeartbeatRequest {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** The last metadata offset the broker has applied; it is unfenced only once it has caught up with its registration. */
  readonly metadataOffset: number;
  /** Controlled shutdown: move leadership away, leave ISRs, then fence. */
  readonly wantShutdown: boolean;
}

export interface BrokerHeartbeatResult {
  readonly isFenced: boolean;
  /** Controlled shutdown is complete (once these records commit): the broker may exit. */
  readonly shouldShutDown: boolean;
  readonly isCaughtUp: boolean;
}

export interface TopicPartitionRef {
  readonly topic: string;
  readonly partition: number;
}

export interface ElectionResult {
  readonly topic: string;
  readonly partition: number;
  readonly error: ProtocolError | null;
  /** The leader after the election (when error is null). */
  readonly leader?: number;
}

/** One partition's ISR as its leader wants it (Kafka's AlterPartition, KIP-497/KIP-841). */
export interface AlterPartitionItem {
  readonly topicId: string;
  readonly partition: number;
  /** The leader epoch and partition epoch the leader's view is based on; both must be current. */
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  /** The whole ISR wanted, the leader included. */
  readonly newIsr: readonly number[];
}

export interface AlterPartitionRequest {
  /** The leader asking, with its current registration's epoch. */
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly partitions: readonly AlterPartitionItem[];
}

/** A partition's leadership as the controller knows it: what a leader caches to ask again. */
export interface PartitionLeadership {
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  readonly partitionEpoch: number;
}

export interface AlterPartitionResult {
  readonly topicId: string;
  readonly partition: number;
  readonly error: ProtocolError | null;
  /**
   * With error null: the partition once the change is committed (or as it is, when the ISR
   * asked for is the current one). With an error: the partition as it is, when it exists.
   */
  readonly state: PartitionLeadership | null;
}

export interface TickResult {
  /** Brokers fenced for missing their session. */
  readonly fencedBrokers: readonly number[];
  /** Partitions whose leader moved (by fencing or by rebalance). */
  readonly leaderChanges: number;
  /** Partitions left without a leader (no live ISR member, unclean election not allowed). */
  readonly offlinePartitions: number;
  readonly rebalanced: boolean;
}

export interface ProducerIdsBlock {
  readonly firstProducerId: number;
  readonly count: number;
}
