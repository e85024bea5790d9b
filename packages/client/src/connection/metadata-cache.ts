// What the client knows about the cluster: brokers and, per topic, each partition's leader.
// Pure: the ClusterClient feeds it Metadata responses and asks it questions. Entries are
// replaced wholesale on every update so a reader never sees a half-applied response.

import { ErrorCode, type MetadataResponse } from "@castle/protocol";
import type { BrokerAddress } from "./bootstrap.js";

export interface PartitionInfo {
  partition: number;
  /** -1 when the partition has no leader right now. */
  leaderId: number;
  leaderEpoch: number;
  replicaNodes: readonly number[];
  isrNodes: readonly number[];
  errorCode: number;
}

export interface TopicInfo {
  name: string;
  topicId: string;
  isInternal: boolean;
  /** Indexed by partition id. */
  partitions: readonly PartitionInfo[];
  /** Partition ids with a leader, for sticky partitioning. */
  availablePartitions: readonly number[];
}

export interface TopicMetadataError {
  errorCode: number;
  errorMessage: string;
}

export class MetadataCache {
  private readonly brokers = new Map<number, BrokerAddress>();
  private readonly topics = new Map<string, TopicInfo>();
  private readonly topicErrors = new Map<string, TopicMetadataError>();
  clusterId = "";
  controllerId = -1;
  /** Bumped on every update; lets waiters notice fresh metadata. */
  version = 0;

  update(response: MetadataResponse): void {
    this.clusterId = response.clusterId;
    this.controllerId = response.controllerId;
    this.brokers.clear();
    for (const broker of response.brokers) this.brokers.set(broker.nodeId, { host: broker.host, port: broker.port });
    for (const topic of response.topics) {
      if (topic.errorCode !== 0) {
        this.topics.delete(topic.name);
        this.topicErrors.set(topic.name, { errorCode: topic.errorCode, errorMessage: topic.errorMessage });
        continue;
      }
      this.topicErrors.delete(topic.name);
      const partitions: PartitionInfo[] = [];
      for (const p of topic.partitions) {
        partitions[p.partition] = {
          partition: p.partition,
          leaderId: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicaNodes: p.replicaNodes,
          isrNodes: p.isrNodes,
          errorCode: p.errorCode,
        };
      }
      const dense = Array.from(
        { length: partitions.length },
        (_, i): PartitionInfo =>
          partitions[i] ?? {
            partition: i,
            leaderId: -1,
            leaderEpoch: -1,
            replicaNodes: [],
            isrNodes: [],
            errorCode: ErrorCode.LEADER_NOT_AVAILABLE,
          },
      );
      this.topics.set(topic.name, {
        name: topic.name,
        topicId: topic.topicId,
        isInternal: topic.isInternal,
        partitions: dense,
        availablePartitions: dense.filter((p) => p.leaderId >= 0).map((p) => p.partition),
      });
    }
    this.version++;
  }

  topic(name: string): TopicInfo | undefined {
    return this.topics.get(name);
  }

  topicError(name: string): TopicMetadataError | undefined {
    return this.topicErrors.get(name);
  }

  /** Forget a topic (e.g. after UNKNOWN_TOPIC_OR_PARTITION) so the next use refreshes it. */
  invalidate(name: string): void {
    this.topics.delete(name);
  }

  leaderFor(topic: string, partition: number): number {
    return this.topics.get(topic)?.partitions[partition]?.leaderId ?? -1;
  }

  broker(nodeId: number): BrokerAddress | undefined {
    return this.brokers.get(nodeId);
  }

  brokerIds(): number[] {
    return [...this.brokers.keys()];
  }
}
