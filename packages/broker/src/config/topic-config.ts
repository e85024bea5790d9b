// Per-topic configs (Kafka's names). A topic stores only the keys set on it; the effective
// value falls back to the broker's matching log.* key, then to the built-in default.

import { invariant } from "@castle/common";
import type { BrokerConfig } from "./broker-config.js";
import { type ConfigDef, type ConfigValue, parseConfigValue } from "./config-def.js";

interface TopicConfigDef extends ConfigDef {
  /** The BrokerConfig field supplying the default, when there is one. */
  readonly brokerDefault?: keyof BrokerConfig;
}

export const topicConfigDefs: readonly TopicConfigDef[] = [
  {
    name: "cleanup.policy",
    type: "enum",
    defaultValue: "delete",
    values: ["delete"],
    doc: "delete: drop whole segments by retention (compact is not supported yet).",
  },
  {
    name: "retention.ms",
    type: "long",
    defaultValue: 604800000,
    min: -1,
    brokerDefault: "logRetentionMs",
    doc: "Keep segments this long; -1 = forever.",
  },
  {
    name: "retention.bytes",
    type: "long",
    defaultValue: -1,
    min: -1,
    brokerDefault: "logRetentionBytes",
    doc: "Keep at most this many bytes per partition; -1 = no limit.",
  },
  {
    name: "segment.bytes",
    type: "int",
    defaultValue: 1073741824,
    min: 1024,
    brokerDefault: "logSegmentBytes",
    doc: "Segment file size before rolling.",
  },
  {
    name: "segment.ms",
    type: "long",
    defaultValue: 604800000,
    min: 1,
    brokerDefault: "logRollMs",
    doc: "Roll the active segment after this long.",
  },
  {
    name: "flush.messages",
    type: "long",
    defaultValue: Number.MAX_SAFE_INTEGER,
    min: 1,
    brokerDefault: "logFlushIntervalMessages",
    doc: "fdatasync after this many records.",
  },
  {
    name: "flush.ms",
    type: "long",
    defaultValue: Number.MAX_SAFE_INTEGER,
    min: 0,
    brokerDefault: "logFlushIntervalMs",
    doc: "fdatasync after this long.",
  },
  {
    name: "index.interval.bytes",
    type: "int",
    defaultValue: 4096,
    min: 0,
    brokerDefault: "logIndexIntervalBytes",
    doc: "Bytes between sparse index entries.",
  },
  {
    name: "max.message.bytes",
    type: "int",
    defaultValue: 1048588,
    min: 64,
    brokerDefault: "messageMaxBytes",
    doc: "Largest record batch accepted.",
  },
  {
    name: "message.timestamp.type",
    type: "enum",
    defaultValue: "CreateTime",
    values: ["CreateTime", "LogAppendTime"],
    brokerDefault: "logMessageTimestampType",
    doc: "CreateTime keeps the producer's timestamp; LogAppendTime sets the broker's.",
  },
  {
    name: "min.insync.replicas",
    type: "int",
    defaultValue: 1,
    min: 1,
    brokerDefault: "minInsyncReplicas",
    doc: "In-sync replicas an acks=all produce needs.",
  },
  {
    name: "unclean.leader.election.enable",
    type: "boolean",
    defaultValue: false,
    doc: "Allow an out-of-sync replica to become leader (loses data).",
  },
];

const defsByName = new Map(topicConfigDefs.map((d) => [d.name, d]));

export function topicConfigDef(name: string): TopicConfigDef | undefined {
  return defsByName.get(name);
}

/** Validates a set of topic overrides; returns them normalised or throws naming every bad key. */
export function validateTopicConfigs(configs: Readonly<Record<string, string>>): Record<string, string> {
  const problems: string[] = [];
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(configs)) {
    const def = defsByName.get(name);
    if (!def) {
      problems.push(`unknown topic config "${name}"`);
      continue;
    }
    try {
      out[name] = String(parseConfigValue(def, raw));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
  return out;
}

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
    if (def.brokerDefault) {
      const value = broker[def.brokerDefault];
      invariant(typeof value === "number" || typeof value === "string" || typeof value === "boolean", `broker default for ${def.name}`);
      const brokerSet = broker.sources[brokerKeyFor(def.brokerDefault)] !== "default";
      return { name: def.name, value, source: brokerSet ? "broker" : "default", def };
    }
    return { name: def.name, value: def.defaultValue, source: "default", def };
  });
}

function brokerKeyFor(field: keyof BrokerConfig): string {
  return field.replace(/[A-Z]/g, (c) => `.${c.toLowerCase()}`);
}

export function effectiveValue(overrides: Readonly<Record<string, string>>, broker: BrokerConfig, name: string): ConfigValue {
  const found = effectiveTopicConfigs(overrides, broker).find((c) => c.name === name);
  invariant(found, `unknown topic config ${name}`);
  return found.value;
}
