// Topic admin RPCs: create, delete, list, describe, create partitions. Each topic succeeds
// or fails on its own; validation lives in TopicAdmin.

import { isInternalTopic } from "@castle/metadata";
import type {
  CreatePartitionsRequest,
  CreatePartitionsResponseInput,
  CreateTopicsRequest,
  CreateTopicsResponseInput,
  DeleteTopicsRequest,
  DeleteTopicsResponseInput,
  DescribeTopicsRequest,
  DescribeTopicsResponseInput,
  ListTopicsRequest,
  ListTopicsResponseInput,
} from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";
import { topicMetadata } from "./topic-metadata.js";

export async function handleCreateTopics(ctx: BrokerContext, request: CreateTopicsRequest): Promise<CreateTopicsResponseInput> {
  const topics = [];
  for (const spec of request.topics) {
    try {
      const topic = await ctx.topicAdmin.createTopic(
        { name: spec.name, numPartitions: spec.numPartitions, replicationFactor: spec.replicationFactor, configs: spec.configs },
        request.validateOnly,
      );
      topics.push({
        name: spec.name,
        ...noError,
        topicId: request.validateOnly ? "" : topic.topicId,
        numPartitions: topic.partitions,
        replicationFactor: topic.replicationFactor,
      });
    } catch (error) {
      topics.push({
        name: spec.name,
        ...errorFields(error, ctx.logger, "create topics"),
        topicId: "",
        numPartitions: -1,
        replicationFactor: -1,
      });
    }
  }
  return { topics };
}

export async function handleDeleteTopics(ctx: BrokerContext, request: DeleteTopicsRequest): Promise<DeleteTopicsResponseInput> {
  const topics = [];
  for (const name of request.names) {
    try {
      await ctx.topicAdmin.deleteTopic(name);
      topics.push({ name, ...noError });
    } catch (error) {
      topics.push({ name, ...errorFields(error, ctx.logger, "delete topics") });
    }
  }
  return { topics };
}

export async function handleListTopics(ctx: BrokerContext, request: ListTopicsRequest): Promise<ListTopicsResponseInput> {
  return {
    topics: ctx.registry
      .all()
      .filter((t) => request.includeInternal || !isInternalTopic(t.name))
      .map((t) => ({
        name: t.name,
        topicId: t.topicId,
        isInternal: isInternalTopic(t.name),
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor,
      })),
  };
}

export async function handleDescribeTopics(ctx: BrokerContext, request: DescribeTopicsRequest): Promise<DescribeTopicsResponseInput> {
  const names = request.names.length > 0 ? request.names : ctx.registry.all().map((t) => t.name);
  return {
    topics: names.map((name) => {
      try {
        const topic = ctx.topicAdmin.existing(name);
        return { metadata: topicMetadata(ctx, topic), configs: { ...topic.configs } };
      } catch (error) {
        return {
          metadata: { ...errorFields(error, ctx.logger, "describe topics"), name, topicId: "", isInternal: false, partitions: [] },
          configs: {},
        };
      }
    }),
  };
}

export async function handleCreatePartitions(ctx: BrokerContext, request: CreatePartitionsRequest): Promise<CreatePartitionsResponseInput> {
  const results = [];
  for (const spec of request.topics) {
    try {
      await ctx.topicAdmin.createPartitions(spec.name, spec.count, request.validateOnly);
      results.push({ name: spec.name, ...noError });
    } catch (error) {
      results.push({ name: spec.name, ...errorFields(error, ctx.logger, "create partitions") });
    }
  }
  return { results };
}
