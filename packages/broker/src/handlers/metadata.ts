// Metadata: the usable brokers, and topics with their partitions' leaders, from this node's
// image. Asking for a missing topic creates it (through the controller) when the client allows
// it and auto.create.topics.enable is on (Kafka's rule).

import { ErrorCode, type MetadataResponseInput, protocolError, type TopicMetadataInput } from "@castle/protocol";
import { clientBrokers } from "../controller/cluster-nodes.js";
import { handleCreateTopics } from "./admin-topics.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields } from "./error-result.js";
import { failedTopicMetadata, topicMetadata } from "./topic-metadata.js";

async function metadataFor(ctx: BrokerContext, name: string, allowCreate: boolean): Promise<TopicMetadataInput> {
  try {
    const existing = ctx.image().topic(name);
    if (existing) return topicMetadata(ctx.image(), existing);
    if (!allowCreate || !ctx.config.autoCreateTopicsEnable) {
      throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic "${name}" does not exist`, { topic: name });
    }
    const response = await handleCreateTopics(ctx, {
      topics: [{ name, numPartitions: -1, replicationFactor: -1, configs: {} }],
      timeoutMs: 0,
      validateOnly: false,
    });
    const result = response.topics?.[0];
    const created = ctx.image().topic(name);
    if (created) return topicMetadata(ctx.image(), created);
    if (result && result.errorCode !== ErrorCode.NONE) {
      return failedTopicMetadata(name, {
        errorCode: result.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR,
        errorMessage: result.errorMessage ?? "",
      });
    }
    throw protocolError("LEADER_NOT_AVAILABLE", `topic "${name}" was created but this node has not applied it yet; retry shortly`);
  } catch (error) {
    return failedTopicMetadata(name, errorFields(error, ctx.logger, "metadata"));
  }
}

export async function handleMetadata(
  ctx: BrokerContext,
  request: { topics: string[]; allowAutoTopicCreation: boolean },
): Promise<MetadataResponseInput> {
  const image = ctx.image();
  const topics =
    request.topics.length === 0
      ? image
          .topics()
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((t) => topicMetadata(image, t))
      : await Promise.all(request.topics.map((name) => metadataFor(ctx, name, request.allowAutoTopicCreation)));
  return { clusterId: ctx.clusterId, controllerId: ctx.quorum.controllerId, brokers: clientBrokers(ctx.image()), topics };
}
