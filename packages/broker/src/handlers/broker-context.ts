// What a request handler may touch. Handlers are transport-agnostic: typed request in,
// typed response out; the gRPC service (and a future Kafka-protocol listener) adapt to them.

import type { Clock, Logger } from "@castle/common";
import type { BrokerConfig } from "../config/broker-config.js";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import type { FetchPurgatory } from "../replica/fetch-purgatory.js";
import type { ReplicaManager } from "../replica/replica-manager.js";
import type { TopicAdmin } from "../topics/topic-admin.js";
import type { TopicRegistry } from "../topics/topic-registry.js";

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly registry: TopicRegistry;
  readonly replicas: ReplicaManager;
  readonly topicAdmin: TopicAdmin;
  readonly purgatory: FetchPurgatory;
  readonly metrics: BrokerMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** host:port clients should use for this node. */
  readonly advertised: { host: string; port: number };
}
