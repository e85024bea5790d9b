// The node's static configuration: every key, its default and its meaning, in one table
// (docs/configuration.md is generated from it by scripts/gen-config-docs.mjs). Sources, highest
// precedence first: command-line flags, CASTLE_* environment variables, the config file
// (Java-properties style `key=value`), then defaults.

import { readFileSync } from "node:fs";
import { type ConfigDef, type ConfigValue, parseConfigValue } from "@castle/metadata";

const DAY_MS = 24 * 60 * 60 * 1000;
const NEVER = Number.MAX_SAFE_INTEGER;

export const brokerConfigDefs = [
  { name: "node.id", type: "int", defaultValue: 1, min: 0, doc: "This node's id, unique in the cluster." },
  {
    name: "data.dir",
    type: "string",
    defaultValue: "./data",
    doc: "Directory for partition logs, the index and node metadata (Kafka: log.dirs).",
  },
  {
    name: "cluster.id",
    type: "string",
    defaultValue: "",
    doc: "Expected cluster id; empty = take the one in data.dir or create one on first start.",
  },
  { name: "listener.host", type: "string", defaultValue: "0.0.0.0", doc: "Address the client, controller and HTTP listeners bind to." },
  { name: "advertised.host", type: "string", defaultValue: "localhost", doc: "Host name clients are told to use to reach this node." },
  {
    name: "client.port",
    type: "int",
    defaultValue: 9092,
    min: 0,
    max: 65535,
    doc: "Client gRPC port (produce, fetch, metadata, admin). 0 = any free port.",
  },
  {
    name: "controller.port",
    type: "int",
    defaultValue: 9093,
    min: 0,
    max: 65535,
    doc: "Controller/Raft gRPC port. Reserved: a single node does not open it yet.",
  },
  {
    name: "http.port",
    type: "int",
    defaultValue: 9644,
    min: 0,
    max: 65535,
    doc: "HTTP port for /metrics, /healthz and /readyz. 0 = any free port.",
  },
  {
    name: "num.partitions",
    type: "int",
    defaultValue: 1,
    min: 1,
    max: 10000,
    doc: "Partitions of a topic created without a count (and of auto-created topics).",
  },
  {
    name: "default.replication.factor",
    type: "int",
    defaultValue: 1,
    min: 1,
    max: 32,
    doc: "Replication factor of topics created without one.",
  },
  {
    name: "auto.create.topics.enable",
    type: "boolean",
    defaultValue: true,
    doc: "Create a topic when a client asks for metadata of one that does not exist.",
  },
  { name: "delete.topic.enable", type: "boolean", defaultValue: true, doc: "Allow topics to be deleted." },
  {
    name: "message.max.bytes",
    type: "int",
    defaultValue: 1048588,
    min: 64,
    doc: "Largest record batch accepted (topic override: max.message.bytes).",
  },
  {
    name: "socket.request.max.bytes",
    type: "int",
    defaultValue: 104857600,
    min: 1024,
    doc: "Largest request accepted on the client port.",
  },
  {
    name: "log.segment.bytes",
    type: "int",
    defaultValue: 1073741824,
    min: 1024,
    doc: "Segment file size before a new one is rolled (topic: segment.bytes).",
  },
  {
    name: "log.roll.ms",
    type: "long",
    defaultValue: 7 * DAY_MS,
    min: 1,
    doc: "Age after which the active segment is rolled (topic: segment.ms).",
  },
  {
    name: "log.retention.ms",
    type: "long",
    defaultValue: 7 * DAY_MS,
    min: -1,
    doc: "Keep segments this long; -1 = forever (topic: retention.ms).",
  },
  {
    name: "log.retention.bytes",
    type: "long",
    defaultValue: -1,
    min: -1,
    doc: "Keep at most this many bytes per partition; -1 = no limit (topic: retention.bytes).",
  },
  {
    name: "log.retention.check.interval.ms",
    type: "long",
    defaultValue: 300000,
    min: 1,
    doc: "How often retention and segment.ms rolling are checked.",
  },
  {
    name: "log.flush.interval.messages",
    type: "long",
    defaultValue: NEVER,
    min: 1,
    doc: "fdatasync after this many records (topic: flush.messages).",
  },
  {
    name: "log.flush.interval.ms",
    type: "long",
    defaultValue: NEVER,
    min: 0,
    doc: "fdatasync when this long has passed since the last one (topic: flush.ms).",
  },
  { name: "log.flush.scheduler.interval.ms", type: "long", defaultValue: 1000, min: 1, doc: "How often flush.ms is checked." },
  {
    name: "log.index.interval.bytes",
    type: "int",
    defaultValue: 4096,
    min: 0,
    doc: "Bytes between sparse offset/time index entries (topic: index.interval.bytes).",
  },
  {
    name: "log.message.timestamp.type",
    type: "enum",
    defaultValue: "CreateTime",
    values: ["CreateTime", "LogAppendTime"],
    doc: "Record timestamps kept as sent or set on append (topic: message.timestamp.type).",
  },
  {
    name: "min.insync.replicas",
    type: "int",
    defaultValue: 1,
    min: 1,
    doc: "In-sync replicas an acks=all produce needs (topic: min.insync.replicas).",
  },
  {
    name: "fetch.max.wait.ms.max",
    type: "int",
    defaultValue: 30000,
    min: 0,
    doc: "Upper bound on how long a fetch may long-poll, whatever the client asks.",
  },
  {
    name: "fetch.waiters.max",
    type: "int",
    defaultValue: 10000,
    min: 1,
    doc: "Long-polling fetches parked at once; more are answered immediately.",
  },
  {
    name: "log.level",
    type: "enum",
    defaultValue: "info",
    values: ["debug", "info", "warn", "error"],
    doc: "Log level (JSON lines on stderr).",
  },
] as const satisfies readonly ConfigDef[];

export type BrokerConfigName = (typeof brokerConfigDefs)[number]["name"];

export interface BrokerConfig {
  nodeId: number;
  dataDir: string;
  clusterId: string;
  listenerHost: string;
  advertisedHost: string;
  clientPort: number;
  controllerPort: number;
  httpPort: number;
  numPartitions: number;
  defaultReplicationFactor: number;
  autoCreateTopicsEnable: boolean;
  deleteTopicEnable: boolean;
  messageMaxBytes: number;
  socketRequestMaxBytes: number;
  logSegmentBytes: number;
  logRollMs: number;
  logRetentionMs: number;
  logRetentionBytes: number;
  logRetentionCheckIntervalMs: number;
  logFlushIntervalMessages: number;
  logFlushIntervalMs: number;
  logFlushSchedulerIntervalMs: number;
  logIndexIntervalBytes: number;
  logMessageTimestampType: "CreateTime" | "LogAppendTime";
  minInsyncReplicas: number;
  fetchMaxWaitMsMax: number;
  fetchWaitersMax: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Where each value came from, for describe-configs. */
  sources: Record<string, "default" | "file" | "env" | "flag">;
}

const camel = (name: string): string => name.replace(/\.([a-z])/g, (_m, c: string) => c.toUpperCase());
export const envNameFor = (name: string): string => `CASTLE_${name.toUpperCase().replace(/\./g, "_")}`;

const defsByName = new Map<string, ConfigDef>(brokerConfigDefs.map((d) => [d.name, d]));

export function brokerConfigDef(name: string): ConfigDef | undefined {
  return defsByName.get(name);
}

/** Parses Java-properties style text: `key=value` lines, `#` or `!` comments, blank lines. */
export function parseProperties(text: string, origin: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith("!")) return;
    const eq = trimmed.search(/[=:]/);
    if (eq <= 0) throw new Error(`${origin}:${index + 1}: expected key=value, got "${trimmed}"`);
    out.set(trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim());
  });
  return out;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag overrides by config key, e.g. { "node.id": "2" }. */
  flags?: Record<string, string>;
}

/** Builds and validates the config. Throws one Error listing every problem found. */
export function loadBrokerConfig(sources: ConfigSources = {}): BrokerConfig {
  const raw = new Map<string, { value: string; source: "file" | "env" | "flag" }>();
  const problems: string[] = [];
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, "utf8");
    } catch (error) {
      throw new Error(`cannot read config file ${sources.file}: ${(error as Error).message}`);
    }
    for (const [key, value] of parseProperties(text, sources.file)) {
      if (!defsByName.has(key)) problems.push(`${sources.file}: unknown config "${key}"`);
      else raw.set(key, { value, source: "file" });
    }
  }
  const env = sources.env ?? {};
  for (const def of brokerConfigDefs) {
    const value = env[envNameFor(def.name)];
    if (value !== undefined) raw.set(def.name, { value, source: "env" });
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (!defsByName.has(key)) problems.push(`unknown config "${key}"`);
    else raw.set(key, { value, source: "flag" });
  }
  const values: Record<string, ConfigValue> = {};
  const origin: BrokerConfig["sources"] = {};
  for (const def of brokerConfigDefs) {
    const given = raw.get(def.name);
    origin[def.name] = given?.source ?? "default";
    if (!given) {
      values[camel(def.name)] = def.defaultValue;
      continue;
    }
    try {
      values[camel(def.name)] = parseConfigValue(def, given.value);
    } catch (error) {
      problems.push(`${(error as Error).message} (from ${given.source})`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return { ...(values as unknown as Omit<BrokerConfig, "sources">), sources: origin };
}
