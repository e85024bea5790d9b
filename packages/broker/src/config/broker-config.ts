// The node's static configuration: every key, its default and its meaning, in one table
// (docs/configuration.md is generated from it by scripts/gen-config-docs.mjs). Sources, highest
// precedence first: command-line flags, CASTLE_* environment variables, the config file
// (Java-properties style `key=value`), then defaults.

import { readFileSync } from "node:fs";
import { type ConfigDef, type ConfigValue, formatConfigValue, parseConfigValue } from "@castle/metadata";
import {
  formatQuorumVoters,
  nodeRoleProblems,
  PROCESS_ROLES,
  type ProcessRole,
  parseNodeAddresses,
  parseProcessRoles,
  parseQuorumVoters,
  type QuorumVoter,
} from "./node-roles.js";

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
    doc: "Expected cluster id (up to 64 of A-Z a-z 0-9 _ -); empty = take the one in data.dir's meta.properties (or, single-node, create one on first start).",
  },
  {
    name: "process.roles",
    type: "string",
    defaultValue: "broker,controller",
    doc: "Comma list of broker, controller: what this node does. Both (the default) = combined mode.",
  },
  {
    name: "controller.quorum.voters",
    type: "string",
    defaultValue: "",
    doc:
      "The metadata quorum, id@host:port,... (controller.port of each controller). Every controller lists itself with its node.id. " +
      "Use an odd count (3 or 5): an even one tolerates no more failures than one fewer. " +
      "Empty = single-node mode: this node alone, node.id@localhost:controller.port, and data.dir is formatted on first start.",
  },
  { name: "listener.host", type: "string", defaultValue: "0.0.0.0", doc: "Address the client, controller and HTTP listeners bind to." },
  { name: "advertised.host", type: "string", defaultValue: "localhost", doc: "Host name clients are told to use to reach this node." },
  {
    name: "advertised.port",
    type: "int",
    defaultValue: 0,
    min: 0,
    max: 65535,
    doc: "Port clients are told to use to reach this node (behind a proxy or NAT); 0 = the client port it listens on.",
  },
  {
    name: "replica.fetch.addresses",
    type: "string",
    defaultValue: "",
    doc: "Where this node fetches from each leader instead of its advertised address, as id@host:port,... (a separate replication path); empty = advertised addresses.",
  },
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
    doc: "Controller listener: the metadata quorum's Raft traffic and castle.v1.Controller (broker registration, forwarded admin requests). 0 = any free port (single node only).",
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
    name: "controller.quorum.election.timeout.ms",
    type: "int",
    defaultValue: 1000,
    min: 100,
    doc: "A voter that hears no leader for this long (randomised up to twice it) starts an election; the leader heartbeats ten times per timeout.",
  },
  {
    name: "broker.rack",
    type: "string",
    defaultValue: "",
    doc: "Rack (or zone) of this broker; replicas of a partition are spread over racks when brokers declare them. Empty = none.",
  },
  {
    name: "broker.session.timeout.ms",
    type: "int",
    defaultValue: 9000,
    min: 1,
    doc: "A broker that has not heartbeated to the active controller for this long is fenced.",
  },
  {
    name: "broker.heartbeat.interval.ms",
    type: "int",
    defaultValue: 2000,
    min: 1,
    doc: "How often a broker heartbeats to the active controller; must be below broker.session.timeout.ms.",
  },
  {
    name: "auto.leader.rebalance.enable",
    type: "boolean",
    defaultValue: true,
    doc: "Move partition leadership back to each partition's preferred (first) replica when leaders are imbalanced.",
  },
  {
    name: "leader.imbalance.per.broker.percentage",
    type: "int",
    defaultValue: 10,
    min: 0,
    max: 100,
    doc: "Share of a broker's preferred-leader partitions led elsewhere above which a rebalance runs.",
  },
  {
    name: "leader.imbalance.check.interval.seconds",
    type: "long",
    defaultValue: 300,
    min: 1,
    doc: "How often the active controller checks leader imbalance.",
  },
  {
    name: "metadata.snapshot.every.entries",
    type: "long",
    defaultValue: 10000,
    min: 1,
    doc: "Metadata log entries between snapshots of the metadata image; restart loads the newest snapshot.",
  },
  {
    name: "metadata.log.max.record.bytes.between.snapshots",
    type: "long",
    defaultValue: 20 * 1024 * 1024,
    min: 1,
    doc: "Metadata record bytes applied between snapshots of the metadata image (whichever of this and metadata.snapshot.every.entries comes first).",
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
    name: "replica.lag.time.max.ms",
    type: "long",
    defaultValue: 30000,
    min: 1,
    doc: "A follower that has not caught up with its leader's log end for this long leaves the ISR (it rejoins once caught up).",
  },
  {
    name: "replica.fetch.wait.max.ms",
    type: "int",
    defaultValue: 500,
    min: 0,
    doc: "How long a follower's fetch waits at the leader for new records.",
  },
  {
    name: "replica.fetch.max.bytes",
    type: "int",
    defaultValue: 1048576,
    min: 1,
    doc: "Bytes a follower asks for per partition in one fetch (a larger first batch still comes whole).",
  },
  {
    name: "replica.fetch.backoff.ms",
    type: "int",
    defaultValue: 1000,
    min: 0,
    doc: "How long a follower waits before fetching again from a leader that failed to answer.",
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
    name: "log.cleaner.enable",
    type: "boolean",
    defaultValue: true,
    doc: "Run the log cleaner, which compacts topics with cleanup.policy=compact (like __consumer_offsets).",
  },
  {
    name: "log.cleaner.backoff.ms",
    type: "long",
    defaultValue: 15000,
    min: 1,
    doc: "How often the log cleaner looks for compacted logs that are due a clean.",
  },
  {
    name: "log.cleaner.dedupe.buffer.size",
    type: "long",
    defaultValue: 134217728,
    min: 1048576,
    doc: "Memory (estimated bytes) for the key map of one clean; a log with more keys in its dirty part is cleaned in several passes.",
  },
  {
    name: "log.cleaner.delete.retention.ms",
    type: "long",
    defaultValue: 86400000,
    min: 0,
    doc: "How long a tombstone stays in a compacted log after the cleaner first kept it (topic: delete.retention.ms).",
  },
  {
    name: "log.cleaner.min.cleanable.ratio",
    type: "double",
    defaultValue: 0.5,
    min: 0,
    max: 1,
    doc: "Share of a compacted log's cleanable bytes that must be dirty before it is cleaned (topic: min.cleanable.dirty.ratio).",
  },
  {
    name: "log.cleaner.min.compaction.lag.ms",
    type: "long",
    defaultValue: 0,
    min: 0,
    doc: "Youngest age a record may have and be compacted (topic: min.compaction.lag.ms).",
  },
  {
    name: "offsets.topic.num.partitions",
    type: "int",
    defaultValue: 50,
    min: 1,
    max: 1000,
    doc: "Partitions of the internal topic __consumer_offsets (created on first group use); a group is coordinated by the leader of one of them. Fixed once the topic exists.",
  },
  {
    name: "offsets.topic.replication.factor",
    type: "int",
    defaultValue: 3,
    min: 1,
    doc: "Replication factor of __consumer_offsets; a smaller cluster gets one replica per live broker.",
  },
  {
    name: "offsets.topic.segment.bytes",
    type: "int",
    defaultValue: 104857600,
    min: 14,
    doc: "Segment size of __consumer_offsets.",
  },
  {
    name: "offsets.commit.timeout.ms",
    type: "int",
    defaultValue: 5000,
    min: 1,
    doc: "How long an offset commit (or a group's assignment) may wait for every in-sync replica of its __consumer_offsets partition before failing with REQUEST_TIMED_OUT.",
  },
  {
    name: "offsets.retention.minutes",
    type: "int",
    defaultValue: 10080,
    min: 1,
    doc: "Committed offsets of a group without members are deleted this long after it became empty (or, for a group never joined, after the commit).",
  },
  {
    name: "offsets.retention.check.interval.ms",
    type: "long",
    defaultValue: 600000,
    min: 1,
    doc: "How often expired committed offsets are looked for.",
  },
  {
    name: "offset.metadata.max.bytes",
    type: "int",
    defaultValue: 4096,
    min: 0,
    doc: "Longest metadata string an offset commit may carry (OFFSET_METADATA_TOO_LARGE otherwise).",
  },
  {
    name: "group.min.session.timeout.ms",
    type: "int",
    defaultValue: 6000,
    min: 1,
    doc: "Smallest session timeout a group member may ask for (INVALID_SESSION_TIMEOUT otherwise).",
  },
  {
    name: "group.max.session.timeout.ms",
    type: "int",
    defaultValue: 1800000,
    min: 1,
    doc: "Largest session timeout a group member may ask for.",
  },
  {
    name: "group.initial.rebalance.delay.ms",
    type: "int",
    defaultValue: 3000,
    min: 0,
    doc: "How long the first rebalance of an empty group waits for more members (each join extends it, up to the rebalance timeout), so a starting group rebalances once rather than once per member.",
  },
  {
    name: "group.max.size",
    type: "int",
    defaultValue: 1000,
    min: 1,
    doc: "Most members one group may have (GROUP_MAX_SIZE_REACHED beyond it).",
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
  /** Parsed process.roles (non-empty). */
  processRoles: ReadonlySet<ProcessRole>;
  /**
   * The metadata quorum's voters: controller.quorum.voters parsed, or in single-node mode (the
   * key empty) this node alone at localhost:controller.port.
   */
  controllerQuorumVoters: readonly QuorumVoter[];
  /** True when controller.quorum.voters is empty: data.dir is formatted on first start. */
  singleNode: boolean;
  listenerHost: string;
  advertisedHost: string;
  advertisedPort: number;
  replicaFetchAddresses: string;
  clientPort: number;
  controllerPort: number;
  httpPort: number;
  controllerQuorumElectionTimeoutMs: number;
  brokerRack: string;
  brokerSessionTimeoutMs: number;
  brokerHeartbeatIntervalMs: number;
  autoLeaderRebalanceEnable: boolean;
  leaderImbalancePerBrokerPercentage: number;
  leaderImbalanceCheckIntervalSeconds: number;
  metadataSnapshotEveryEntries: number;
  metadataLogMaxRecordBytesBetweenSnapshots: number;
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
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchMaxBytes: number;
  replicaFetchBackoffMs: number;
  fetchMaxWaitMsMax: number;
  fetchWaitersMax: number;
  logCleanerEnable: boolean;
  logCleanerBackoffMs: number;
  logCleanerDedupeBufferSize: number;
  logCleanerDeleteRetentionMs: number;
  logCleanerMinCleanableRatio: number;
  logCleanerMinCompactionLagMs: number;
  offsetsTopicNumPartitions: number;
  offsetsTopicReplicationFactor: number;
  offsetsTopicSegmentBytes: number;
  offsetsCommitTimeoutMs: number;
  offsetsRetentionMinutes: number;
  offsetsRetentionCheckIntervalMs: number;
  offsetMetadataMaxBytes: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
  groupMaxSize: number;
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

/** Kafka's ids are 22 URL-safe base64 characters (`castle storage random-uuid`); any short token of those characters is accepted. */
const CLUSTER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Why `clusterId` cannot be a cluster id, or undefined if it can. */
export function clusterIdProblem(clusterId: string): string | undefined {
  if (CLUSTER_ID_PATTERN.test(clusterId)) return undefined;
  return `cluster id "${clusterId}" is not 1-64 characters of A-Z, a-z, 0-9, _ and -; use one from \`castle storage random-uuid\``;
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
  const roles = parseProcessRoles(String(values["processRoles"] ?? ""));
  const voters = parseQuorumVoters(String(values["controllerQuorumVoters"] ?? ""));
  problems.push(...roles.problems, ...voters.problems);
  const nodeId = values["nodeId"];
  if (typeof nodeId === "number" && roles.problems.length === 0 && voters.problems.length === 0) {
    problems.push(...nodeRoleProblems(nodeId, roles.value, voters.value));
  }
  const fetchAddresses = parseNodeAddresses(String(values["replicaFetchAddresses"] ?? ""), "replica.fetch.addresses");
  problems.push(...fetchAddresses.problems);
  const clusterId = values["clusterId"];
  if (typeof clusterId === "string" && clusterId !== "") {
    const problem = clusterIdProblem(clusterId);
    if (problem !== undefined) problems.push(`cluster.id: ${problem}`);
  }
  const heartbeatMs = values["brokerHeartbeatIntervalMs"];
  const sessionMs = values["brokerSessionTimeoutMs"];
  if (typeof heartbeatMs === "number" && typeof sessionMs === "number" && heartbeatMs >= sessionMs) {
    problems.push(
      `broker.heartbeat.interval.ms=${heartbeatMs} is not below broker.session.timeout.ms=${sessionMs}; a broker would be fenced between heartbeats, lower the interval or raise the timeout`,
    );
  }
  const minSessionMs = values["groupMinSessionTimeoutMs"];
  const maxSessionMs = values["groupMaxSessionTimeoutMs"];
  if (typeof minSessionMs === "number" && typeof maxSessionMs === "number" && minSessionMs > maxSessionMs) {
    problems.push(
      `group.min.session.timeout.ms=${minSessionMs} is above group.max.session.timeout.ms=${maxSessionMs}; no member could join, lower the minimum or raise the maximum`,
    );
  }
  if (problems.length > 0) throw new Error(`invalid configuration:\n  ${problems.join("\n  ")}`);
  const plain = values as unknown as Omit<BrokerConfig, "sources" | "processRoles" | "controllerQuorumVoters" | "singleNode">;
  const singleNode = voters.value.length === 0;
  return {
    ...plain,
    processRoles: roles.value,
    controllerQuorumVoters: singleNode ? [{ id: plain.nodeId, host: "localhost", port: plain.controllerPort }] : voters.value,
    singleNode,
    sources: origin,
  };
}

/** A key's value as text, as describe-configs shows it (the parsed forms written back as configured). */
export function brokerConfigText(config: BrokerConfig, name: BrokerConfigName): string {
  if (name === "process.roles") return PROCESS_ROLES.filter((r) => config.processRoles.has(r)).join(",");
  if (name === "controller.quorum.voters") return config.singleNode ? "" : formatQuorumVoters(config.controllerQuorumVoters);
  const value = config[camel(name) as keyof BrokerConfig];
  return typeof value === "object" ? JSON.stringify(value) : formatConfigValue(value);
}
