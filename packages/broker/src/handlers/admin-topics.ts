// Topic admin RPCs. Changes (create, delete, create partitions) go to the active controller,
// which validates and commits them; each topic succeeds or fails on its own. Reads (list,
// describe) come from this node's metadata image.

import { isInternalTopic } from "@castle/metadata";
import {
  type CreatePartitionsRequest,
  type CreatePartitionsResponseInput,
  type CreateTopicsRequest,
  type CreateTopicsResponseInput,
  type DeleteTopicsRequest,
  type DeleteTopicsResponseInput,
  type DescribeTopicsRequest,
  type DescribeTopicsResponseInput,
  ErrorCode,
  type ListTopicsRequest,
  type ListTopicsResponseInput,
  protocolError,
} from "@castle/protocol";
import { OFFSETS_TOPIC } from "../replica/offsets-topic.js";
import { awaitLocalMetadata } from "./await-metadata.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields } from "./error-result.js";
import { failedTopicMetadata, topicMetadata } from "./topic-metadata.js";

/** A request naming an internal topic is refused whole: nothing in it is applied. */
function notTried(name: string) {
  return { name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "not applied: the request also names an internal topic" };
}

/** Topics only the node itself creates and deletes. */
function internalTopicRefusal(name: string, action: "create" | "delete") {
  return {
    name,
    errorCode: ErrorCode.INVALID_REQUEST,
    errorMessage: `${name} is an internal topic: brokers ${action} it themselves and clients cannot`,
  };
}

export async function handleCreateTopics(ctx: BrokerContext, request: CreateTopicsRequest): Promise<CreateTopicsResponseInput> {
  if (request.topics.some((t) => t.name === OFFSETS_TOPIC)) {
    return { topics: request.topics.map((t) => (t.name === OFFSETS_TOPIC ? internalTopicRefusal(t.name, "create") : notTried(t.name))) };
  }
  const response = await ctx.controller.call("createTopics", [request], request.timeoutMs);
  const created = (response.topics ?? []).filter((t) => t.errorCode === ErrorCode.NONE && t.topicId).map((t) => t.topicId as string);
  if (!request.validateOnly && created.length > 0) {
    await awaitLocalMetadata(ctx, (image) => created.every((id) => image.topicById(id) !== undefined));
  }
  return response;
}

export async function handleDeleteTopics(ctx: BrokerContext, request: DeleteTopicsRequest): Promise<DeleteTopicsResponseInput> {
  if (request.names.includes(OFFSETS_TOPIC)) {
    return { topics: request.names.map((name) => (name === OFFSETS_TOPIC ? internalTopicRefusal(name, "delete") : notTried(name))) };
  }
  const ids = new Map(request.names.map((name) => [name, ctx.image().topic(name)?.topicId]));
  const response = await ctx.controller.call("deleteTopics", [request], request.timeoutMs);
  const deleted = (response.topics ?? []).filter((t) => t.errorCode === ErrorCode.NONE).map((t) => ids.get(t.name ?? ""));
  if (deleted.length > 0) {
    await awaitLocalMetadata(ctx, (image) => deleted.every((id) => id === undefined || image.topicById(id) === undefined));
  }
  return response;
}

export async function handleListTopics(ctx: BrokerContext, request: ListTopicsRequest): Promise<ListTopicsResponseInput> {
  return {
    topics: ctx
      .image()
      .topics()
      .filter((t) => request.includeInternal || !isInternalTopic(t.name))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((t) => ({
        name: t.name,
        topicId: t.topicId,
        isInternal: isInternalTopic(t.name),
        numPartitions: t.partitions.length,
        replicationFactor: t.partitions[0]?.replicas.length ?? 0,
      })),
  };
}

export async function handleDescribeTopics(ctx: BrokerContext, request: DescribeTopicsRequest): Promise<DescribeTopicsResponseInput> {
  const image = ctx.image();
  const names =
    request.names.length > 0
      ? request.names
      : image
          .topics()
          .map((t) => t.name)
          .sort();
  return {
    topics: names.map((name) => {
      const topic = image.topic(name);
      if (!topic) {
        const error = protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic "${name}" does not exist`, { topic: name });
        return { metadata: failedTopicMetadata(name, errorFields(error, ctx.logger, "describe topics")), configs: {} };
      }
      return { metadata: topicMetadata(image, topic), configs: { ...image.topicConfigs(name) } };
    }),
  };
}

export async function handleCreatePartitions(ctx: BrokerContext, request: CreatePartitionsRequest): Promise<CreatePartitionsResponseInput> {
  const response = await ctx.controller.call("createPartitions", [request], request.timeoutMs);
  if (!request.validateOnly) {
    const grown = (response.results ?? []).filter((r) => r.errorCode === ErrorCode.NONE).map((r) => r.name ?? "");
    const wanted = new Map(request.topics.map((t) => [t.name, t.count]));
    if (grown.length > 0) {
      await awaitLocalMetadata(ctx, (image) =>
        grown.every((name) => (image.topic(name)?.partitions.length ?? 0) >= (wanted.get(name) ?? 0)),
      );
    }
  }
  return response;
}
