// DescribeConfigs and AlterConfigs (incremental: set or delete per key) for topics, and
// DescribeConfigs for the broker's static config. Broker configs are read-only at run time.
// Topic configs are read from the metadata image; changes go to the active controller.

import { formatConfigValue } from "@castle/metadata";
import {
  type AlterConfigsRequest,
  type AlterConfigsResponseInput,
  type ConfigEntryInput,
  type DescribeConfigsRequest,
  type DescribeConfigsResponseInput,
  ErrorCode,
  protocolError,
} from "@castle/protocol";
import { brokerConfigDefs, brokerConfigText } from "../config/broker-config.js";
import { effectiveTopicConfigs } from "../config/topic-config.js";
import { awaitControllerCommit } from "./await-metadata.js";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

const topicSource = { topic: "CONFIG_SOURCE_TOPIC", broker: "CONFIG_SOURCE_STATIC_BROKER", default: "CONFIG_SOURCE_DEFAULT" } as const;

function topicEntries(ctx: BrokerContext, name: string): ConfigEntryInput[] {
  const image = ctx.image();
  if (!image.topic(name)) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic "${name}" does not exist`, { topic: name });
  return effectiveTopicConfigs(image.topicConfigs(name), ctx.config).map((c) => ({
    name: c.name,
    value: formatConfigValue(c.value),
    source: topicSource[c.source],
    readOnly: false,
    isDefault: c.source === "default",
    isSensitive: false,
    documentation: c.def.doc,
  }));
}

function brokerEntries(ctx: BrokerContext, name: string): ConfigEntryInput[] {
  if (name !== "" && name !== String(ctx.config.nodeId)) {
    throw protocolError(
      "INVALID_REQUEST",
      `broker "${name}" is not this node (node.id ${ctx.config.nodeId}); ask that broker or leave the name empty`,
    );
  }
  return brokerConfigDefs.map((def) => {
    const source = ctx.config.sources[def.name] ?? "default";
    return {
      name: def.name,
      value: brokerConfigText(ctx.config, def.name),
      source: source === "default" ? "CONFIG_SOURCE_DEFAULT" : "CONFIG_SOURCE_STATIC_BROKER",
      readOnly: true,
      isDefault: source === "default",
      isSensitive: false,
      documentation: def.doc,
    };
  });
}

export async function handleDescribeConfigs(ctx: BrokerContext, request: DescribeConfigsRequest): Promise<DescribeConfigsResponseInput> {
  return {
    results: request.resources.map((resource) => {
      try {
        let entries: ConfigEntryInput[];
        if (resource.type === "CONFIG_RESOURCE_TYPE_TOPIC") entries = topicEntries(ctx, resource.name);
        else if (resource.type === "CONFIG_RESOURCE_TYPE_BROKER") entries = brokerEntries(ctx, resource.name);
        else throw protocolError("INVALID_REQUEST", `config resource type ${resource.type} is not supported; use TOPIC or BROKER`);
        const wanted = new Set(resource.configNames);
        const unknown = resource.configNames.filter((n) => !entries.some((e) => e.name === n));
        if (unknown.length > 0) throw protocolError("INVALID_CONFIG", `unknown config name(s): ${unknown.join(", ")}`);
        return {
          type: resource.type,
          name: resource.name,
          ...noError,
          entries: wanted.size === 0 ? entries : entries.filter((e) => wanted.has(e.name ?? "")),
        };
      } catch (error) {
        return { type: resource.type, name: resource.name, ...errorFields(error, ctx.logger, "describe configs"), entries: [] };
      }
    }),
  };
}

/** Goes to the active controller, which validates every key and value and commits the change. */
export async function handleAlterConfigs(ctx: BrokerContext, request: AlterConfigsRequest): Promise<AlterConfigsResponseInput> {
  const response = await ctx.controller.call("alterConfigs", [request]);
  const changed = !request.validateOnly && (response.results ?? []).some((r) => r.errorCode === ErrorCode.NONE);
  if (changed) await awaitControllerCommit(ctx);
  return response;
}
