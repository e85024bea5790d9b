// The metadata records: every change to cluster state is one of these, appended to the Raft
// log by the active controller and replayed by every node into a MetadataImage. The shapes
// follow KRaft's (KIP-500, KIP-631: RegisterBrokerRecord, FenceBrokerRecord, TopicRecord,
// PartitionRecord, PartitionChangeRecord, ConfigRecord, RemoveTopicRecord, ProducerIdsRecord).
// A record states a fact the controller has already validated; replaying one that does not fit
// the image (a change to an unknown topic, a stale broker epoch) is a programmer error.

export const NO_LEADER = -1;

export interface BrokerEndpoint {
  /** Listener name, e.g. "CLIENT" or "CONTROLLER". */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** A broker (re)registered: a new incarnation with a new, cluster-wide unique epoch. */
export interface RegisterBrokerRecord {
  readonly type: "RegisterBroker";
  readonly brokerId: number;
  /** Random id of this process's life; a restart is a new incarnation. */
  readonly incarnationId: string;
  readonly brokerEpoch: number;
  readonly endpoints: readonly BrokerEndpoint[];
  readonly rack: string | null;
  readonly fenced: boolean;
}

export interface UnregisterBrokerRecord {
  readonly type: "UnregisterBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/** The broker may not lead or be in an ISR (missed its session, or shut down). */
export interface FenceBrokerRecord {
  readonly type: "FenceBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export interface UnfenceBrokerRecord {
  readonly type: "UnfenceBroker";
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/** A topic exists; its partitions follow as PartitionRecords in the same batch. */
export interface TopicRecord {
  readonly type: "Topic";
  readonly name: string;
  readonly topicId: string;
}

/** A partition's full state; partitions of a topic are added in order 0, 1, 2, ... */
export interface PartitionRecord {
  readonly type: "Partition";
  readonly topicId: string;
  readonly partition: number;
  /** Preferred order: replicas[0] is the preferred leader. */
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** NO_LEADER (-1) when no eligible replica is live. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

/**
 * A change to an existing partition; absent fields are unchanged. A present `leader` bumps the
 * leader epoch (even to NO_LEADER); every change bumps the partition epoch.
 */
export interface PartitionChangeRecord {
  readonly type: "PartitionChange";
  readonly topicId: string;
  readonly partition: number;
  readonly leader?: number;
  readonly isr?: readonly number[];
  readonly replicas?: readonly number[];
}

export type ConfigResourceType = "topic" | "broker";

/** Sets (value) or deletes (null) one config key of a topic (by name) or a broker (by id). */
export interface ConfigRecord {
  readonly type: "Config";
  readonly resourceType: ConfigResourceType;
  readonly resourceName: string;
  readonly name: string;
  readonly value: string | null;
}

export interface RemoveTopicRecord {
  readonly type: "RemoveTopic";
  readonly topicId: string;
}

/** A block of producer ids was handed to a broker; the next block starts at nextProducerId. */
export interface ProducerIdsRecord {
  readonly type: "ProducerIds";
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly nextProducerId: number;
}

export type MetadataRecord =
  | RegisterBrokerRecord
  | UnregisterBrokerRecord
  | FenceBrokerRecord
  | UnfenceBrokerRecord
  | TopicRecord
  | PartitionRecord
  | PartitionChangeRecord
  | ConfigRecord
  | RemoveTopicRecord
  | ProducerIdsRecord;

export type MetadataRecordType = MetadataRecord["type"];
