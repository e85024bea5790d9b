// Per-topic configs (Kafka's names): the one table of keys, types, bounds and defaults, and the
// validation every path uses (the controller before it writes a Config record, the broker when
// it describes). A topic stores only the keys set on it; the effective value falls back to the
// node's matching key (`brokerKey`, resolved by the broker, which owns the node config), then to
// the built-in default.

import { protocolError } from "@castle/protocol";
import { type ConfigDef, type ConfigValue, formatConfigValue, parseConfigValue } from "./config-def.js";

export interface TopicConfigDef extends ConfigDef {
  /** The node config key (e.g. "log.retention.ms") whose value is this key's default, when there is one. */
  readonly brokerKey?: string;
}

export const topicConfigDefs: readonly TopicConfigDef[] = [
  {
    name: "cleanup.policy",
    type: "list",
    defaultValue: "delete",
    values: ["compact", "delete"],
    doc: "delete: drop whole segments by retention.ms/retention.bytes. compact: keep the latest record per key (the log cleaner), retention does not apply. compact,delete: both.",
  },
  {
    name: "delete.retention.ms",
    type: "long",
    defaultValue: 86400000,
    min: 0,
    brokerKey: "log.cleaner.delete.retention.ms",
    doc: "Compacted topics: how long a tombstone (null value) is kept after the cleaner first kept it, so consumers can see the delete.",
  },
  {
    name: "min.cleanable.dirty.ratio",
    type: "double",
    defaultValue: 0.5,
    min: 0,
    max: 1,
    brokerKey: "log.cleaner.min.cleanable.ratio",
    doc: "Compacted topics: clean a log once this share of its cleanable bytes has not been cleaned yet.",
  },
  {
    name: "min.compaction.lag.ms",
    type: "long",
    defaultValue: 0,
    min: 0,
    brokerKey: "log.cleaner.min.compaction.lag.ms",
    doc: "Compacted topics: a record stays uncompacted at least this long (segments with younger records are not cleaned).",
  },
  {
    name: "retention.ms",
    type: "long",
    defaultValue: 604800000,
    min: -1,
    brokerKey: "log.retention.ms",
    doc: "Keep segments this long; -1 = forever.",
  },
  {
    name: "retention.bytes",
    type: "long",
    defaultValue: -1,
    min: -1,
    brokerKey: "log.retention.bytes",
    doc: "Keep at most this many bytes per partition; -1 = no limit.",
  },
  {
    name: "segment.bytes",
    type: "int",
    defaultValue: 1073741824,
    min: 1024,
    brokerKey: "log.segment.bytes",
    doc: "Segment file size before rolling.",
  },
  {
    name: "segment.ms",
    type: "long",
    defaultValue: 604800000,
    min: 1,
    brokerKey: "log.roll.ms",
    doc: "Roll the active segment after this long.",
  },
  {
    name: "flush.messages",
    type: "long",
    defaultValue: Number.MAX_SAFE_INTEGER,
    min: 1,
    brokerKey: "log.flush.interval.messages",
    doc: "fdatasync after this many records.",
  },
  {
    name: "flush.ms",
    type: "long",
    defaultValue: Number.MAX_SAFE_INTEGER,
    min: 0,
    brokerKey: "log.flush.interval.ms",
    doc: "fdatasync after this long.",
  },
  {
    name: "index.interval.bytes",
    type: "int",
    defaultValue: 4096,
    min: 0,
    brokerKey: "log.index.interval.bytes",
    doc: "Bytes between sparse index entries.",
  },
  {
    name: "max.message.bytes",
    type: "int",
    defaultValue: 1048588,
    min: 64,
    brokerKey: "message.max.bytes",
    doc: "Largest record batch accepted.",
  },
  {
    name: "message.timestamp.type",
    type: "enum",
    defaultValue: "CreateTime",
    values: ["CreateTime", "LogAppendTime"],
    brokerKey: "log.message.timestamp.type",
    doc: "CreateTime keeps the producer's timestamp; LogAppendTime sets the broker's.",
  },
  {
    name: "min.insync.replicas",
    type: "int",
    defaultValue: 1,
    min: 1,
    brokerKey: "min.insync.replicas",
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

/**
 * Validates a set of topic overrides and returns them normalised (parsed, then printed back).
 * Throws an INVALID_CONFIG ProtocolError naming every unknown key and every bad value.
 */
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
      out[name] = formatConfigValue(parseConfigValue(def, raw));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw protocolError("INVALID_CONFIG", problems.join("; "), { keys: Object.keys(configs) });
  return out;
}

/**
 * The value of `name` for a topic with `overrides`, ignoring node-level defaults: the override
 * when set, else the built-in default. For keys without a `brokerKey` this is the effective value.
 */
export function topicConfigValue(overrides: Readonly<Record<string, string>>, name: string): ConfigValue {
  const def = defsByName.get(name);
  if (!def) throw protocolError("INVALID_CONFIG", `unknown topic config "${name}"`);
  const set = overrides[name];
  return set === undefined ? def.defaultValue : parseConfigValue(def, set);
}
