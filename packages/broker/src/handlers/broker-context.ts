// What a request handler may touch. Handlers are transport-agnostic: typed request in,
// typed response out; the gRPC service (and a future Kafka-protocol listener) adapt to them.

import type { Clock, Logger } from "@castle/common";
import type { MetadataImage, MetadataQuorum } from "@castle/metadata";
import type { BrokerConfig } from "../config/broker-config.js";
import type { ControllerChannel } from "../controller/controller-channel.js";
import type { GroupCoordinator } from "../group/group-coordinator.js";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import type { FetchPurgatory } from "../replica/fetch-purgatory.js";
import type { PartitionReconciler } from "../replica/partition-reconciler.js";
import type { ReplicaManager } from "../replica/replica-manager.js";

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly clusterId: string;
  /** This node's member of the metadata quorum (a voter, or an observer on a broker-only node). */
  readonly quorum: MetadataQuorum;
  /** The latest applied metadata image: what this node knows of topics, partitions and brokers. */
  image(): MetadataImage;
  /** The way to the active controller (local or forwarded). */
  readonly controller: ControllerChannel;
  readonly reconciler: PartitionReconciler;
  readonly replicas: ReplicaManager;
  readonly purgatory: FetchPurgatory;
  /** The consumer-group coordinator for the __consumer_offsets partitions this node leads. */
  readonly groups: GroupCoordinator;
  readonly metrics: BrokerMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
}
