// A topic's metadata as Metadata and DescribeTopics report it, from the metadata image:
// replicas in preferred order, the ISR, the leader and its epoch, and the replicas on brokers
// that are fenced or gone (offline).

import { isInternalTopic, type MetadataImage, type TopicImage } from "@castle/metadata";
import type { TopicMetadataInput } from "@castle/protocol";
import { type ErrorFields, noError } from "./error-result.js";

export function topicMetadata(image: MetadataImage, topic: TopicImage): TopicMetadataInput {
  return {
    ...noError,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: isInternalTopic(topic.name),
    partitions: topic.partitions.map((p) => ({
      ...noError,
      partition: p.partition,
      leaderId: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [...p.replicas],
      isrNodes: [...p.isr],
      offlineReplicas: p.replicas.filter((id) => !image.isUnfenced(id)),
    })),
  };
}

/** The entry for a topic that could not be described. */
export function failedTopicMetadata(name: string, error: ErrorFields): TopicMetadataInput {
  return { ...error, name, topicId: "", isInternal: false, partitions: [] };
}
