// Effective topic configs on this node. The key table and its validation live in
// @castle/metadata (topicConfigDefs); what stays here is the fallback to this node's config,
// which only the broker knows: a topic's override, else the node's matching key, else the
// built-in default.

import { invariant } from "@castle/common";
import { type ConfigValue, parseConfigValue, type TopicConfigDef, topicConfigDefs } from "@castle/metadata";
import { type BrokerConfig, brokerConfigDef } from "./broker-config.js";

export interface EffectiveTopicConfig {
  name: string;
  value: ConfigValue;
  source: "topic" | "broker" | "default";
  def: TopicConfigDef;
}

/** Every topic config with its effective value and where it came from. */
export function effectiveTopicConfigs(overrides: Readonly<Record<string, string>>, broker: BrokerConfig): EffectiveTopicConfig[] {
  return topicConfigDefs.map((def) => {
    const set = overrides[def.name];
    if (set !== undefined) return { name: def.name, value: parseConfigValue(def, set), source: "topic", def };
    if (def.brokerKey) {
      const value = broker[brokerFieldFor(def.brokerKey)];
      invariant(typeof value === "number" || typeof value === "string" || typeof value === "boolean", `broker default for ${def.name}`);
      const brokerSet = (broker.sources[def.brokerKey] ?? "default") !== "default";
      return { name: def.name, value, source: brokerSet ? "broker" : "default", def };
    }
    return { name: def.name, value: def.defaultValue, source: "default", def };
  });
}

/** "log.retention.ms" -> "logRetentionMs"; every brokerKey in the table names a BrokerConfig field. */
function brokerFieldFor(key: string): keyof BrokerConfig {
  const field = key.replace(/\.([a-z])/g, (_m, c: string) => c.toUpperCase());
  invariant(brokerConfigDef(key), `topic config default ${key} is not a node config`);
  return field as keyof BrokerConfig;
}

export function effectiveValue(overrides: Readonly<Record<string, string>>, broker: BrokerConfig, name: string): ConfigValue {
  const found = effectiveTopicConfigs(overrides, broker).find((c) => c.name === name);
  invariant(found, `unknown topic config ${name}`);
  return found.value;
}
