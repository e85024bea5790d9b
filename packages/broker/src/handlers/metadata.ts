// Metadata: brokers, and topics with their partitions' leaders. Asking for a missing topic
// creates it when the client allows it and auto.create.topics.enable is on (Kafka's rule).

import type { MetadataRequest, MetadataResponseInput, TopicMetadataInput } from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";
import { errorFields } from "./error-result.js";
import { brokerList, topicMetadata } from "./topic-metadata.js";

async function metadataFor(ctx: BrokerContext, name: string, allowCreate: boolean): Promise<TopicMetadataInput> {
  try {
    const existing = ctx.registry.get(name);
    if (existing) return topicMetadata(ctx, existing);
    if (allowCreate && ctx.config.autoCreateTopicsEnable) {
      const created = await ctx.topicAdmin.createTopic({ name, numPartitions: -1, replicationFactor: -1, configs: {} }, false);
      return topicMetadata(ctx, created);
    }
    return topicMetadata(ctx, ctx.topicAdmin.existing(name));
  } catch (error) {
    return { ...errorFields(error, ctx.logger, "metadata"), name, topicId: "", isInternal: false, partitions: [] };
  }
}

export async function handleMetadata(ctx: BrokerContext, request: MetadataRequest): Promise<MetadataResponseInput> {
  const topics =
    request.topics.length === 0
      ? ctx.registry.all().map((t) => topicMetadata(ctx, t))
      : await Promise.all(request.topics.map((name) => metadataFor(ctx, name, request.allowAutoTopicCreation)));
  return { clusterId: ctx.registry.clusterId, controllerId: ctx.config.nodeId, brokers: brokerList(ctx), topics };
}
