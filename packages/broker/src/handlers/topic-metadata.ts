// A topic's metadata as Metadata and DescribeTopics report it. On a single node this node
// is every partition's only replica, leader and ISR.

import { isInternalTopic } from "@castle/metadata";
import type { BrokerInfoInput, TopicMetadataInput } from "@castle/protocol";
import type { TopicRecord } from "../topics/topic-registry.js";
import type { BrokerContext } from "./broker-context.js";
import { noError } from "./error-result.js";

export function topicMetadata(ctx: BrokerContext, topic: TopicRecord): TopicMetadataInput {
  const nodeId = ctx.config.nodeId;
  return {
    ...noError,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: isInternalTopic(topic.name),
    partitions: Array.from({ length: topic.partitions }, (_, partition) => ({
      ...noError,
      partition,
      leaderId: nodeId,
      leaderEpoch: 0,
      replicaNodes: [nodeId],
      isrNodes: [nodeId],
      offlineReplicas: [],
    })),
  };
}

export function brokerList(ctx: BrokerContext): BrokerInfoInput[] {
  return [{ nodeId: ctx.config.nodeId, host: ctx.advertised.host, port: ctx.advertised.port, rack: "" }];
}
