// Topic and cluster administration over the Admin service (kafka-topics / kafka-configs
// territory). Each method sends one request to any reachable broker; a per-topic or
// per-resource error_code becomes a ProtocolError carrying the server's message, and when
// several fail the first is thrown with the rest named in its message.

import type {
  AlterConfigsResponse,
  ConfigEntry,
  CreatePartitionsResponse,
  CreateTopicsResponse,
  DeleteTopicsResponse,
  DescribeClusterResponse,
  DescribeConfigsResponse,
  DescribeTopicsResponse,
  ListTopicsResponse,
  ProtocolError,
} from "@castle/protocol";
import { ClusterClient, type ClusterClientOptions } from "../connection/cluster-client.js";
import { errorFromWire } from "../errors/wire-error.js";

export interface NewTopic {
  name: string;
  /** Default: the broker's num.partitions. */
  numPartitions?: number;
  /** Default: the broker's default.replication.factor. */
  replicationFactor?: number;
  configs?: Readonly<Record<string, string>>;
}

export interface CreatedTopic {
  name: string;
  topicId: string;
  numPartitions: number;
  replicationFactor: number;
}

export interface TopicListing {
  name: string;
  topicId: string;
  isInternal: boolean;
  numPartitions: number;
  replicationFactor: number;
}

export interface PartitionDescription {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
}

export interface TopicDescription {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionDescription[];
  /** Configs set on the topic (not defaults). */
  configs: Record<string, string>;
}

export type ConfigResourceKind = "topic" | "broker";

export interface ConfigResourceRef {
  type: ConfigResourceKind;
  name: string;
  /** Empty or absent = all. */
  configNames?: readonly string[];
}

export interface DescribedConfigs {
  type: ConfigResourceKind;
  name: string;
  entries: ConfigEntry[];
}

export interface ConfigAlteration {
  type: ConfigResourceKind;
  name: string;
  set?: Readonly<Record<string, string>>;
  /** Config names to revert to their defaults. */
  delete?: readonly string[];
}

export interface BrokerDescription {
  nodeId: number;
  host: string;
  port: number;
  rack: string;
}

export interface ClusterDescription {
  clusterId: string;
  controllerId: number;
  brokers: BrokerDescription[];
}

const resourceType = (kind: ConfigResourceKind): "CONFIG_RESOURCE_TYPE_TOPIC" | "CONFIG_RESOURCE_TYPE_BROKER" =>
  kind === "topic" ? "CONFIG_RESOURCE_TYPE_TOPIC" : "CONFIG_RESOURCE_TYPE_BROKER";
const resourceKind = (type: string): ConfigResourceKind => (type === "CONFIG_RESOURCE_TYPE_BROKER" ? "broker" : "topic");

/** Throws the first per-item error, naming the other failures too. */
function throwFirst(errors: ProtocolError[]): void {
  const first = errors[0];
  if (first === undefined) return;
  if (errors.length > 1)
    first.message += ` (and ${errors.length - 1} more: ${errors
      .slice(1)
      .map((e) => e.message)
      .join("; ")})`;
  throw first;
}

export type AdminConfig = Partial<ClusterClientOptions> & { timeoutMs?: number };

export class Admin {
  private readonly cluster: ClusterClient;
  private readonly ownsCluster: boolean;
  private readonly timeoutMs: number;

  constructor(config: AdminConfig = {}, deps: { cluster?: ClusterClient } = {}) {
    this.cluster = deps.cluster ?? new ClusterClient({ bootstrap: config.bootstrap ?? "localhost:9092", ...config });
    this.ownsCluster = deps.cluster === undefined;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  async createTopics(topics: readonly NewTopic[], options: { validateOnly?: boolean } = {}): Promise<CreatedTopic[]> {
    const response = await this.cluster.admin<CreateTopicsResponse>("CreateTopics", (admin, deadline, cb) =>
      admin.CreateTopics(
        {
          topics: topics.map((t) => ({
            name: t.name,
            numPartitions: t.numPartitions ?? -1,
            replicationFactor: t.replicationFactor ?? -1,
            configs: { ...(t.configs ?? {}) },
          })),
          timeoutMs: this.timeoutMs,
          validateOnly: options.validateOnly ?? false,
        },
        { deadline },
        cb,
      ),
    );
    throwFirst(
      response.topics.filter((t) => t.errorCode !== 0).map((t) => errorFromWire(t.errorCode, t.errorMessage, `create topic '${t.name}'`)),
    );
    return response.topics.map((t) => ({
      name: t.name,
      topicId: t.topicId,
      numPartitions: t.numPartitions,
      replicationFactor: t.replicationFactor,
    }));
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    const response = await this.cluster.admin<DeleteTopicsResponse>("DeleteTopics", (admin, deadline, cb) =>
      admin.DeleteTopics({ names: [...names], timeoutMs: this.timeoutMs }, { deadline }, cb),
    );
    throwFirst(
      response.topics.filter((t) => t.errorCode !== 0).map((t) => errorFromWire(t.errorCode, t.errorMessage, `delete topic '${t.name}'`)),
    );
  }

  async listTopics(options: { includeInternal?: boolean } = {}): Promise<TopicListing[]> {
    const response = await this.cluster.admin<ListTopicsResponse>("ListTopics", (admin, deadline, cb) =>
      admin.ListTopics({ includeInternal: options.includeInternal ?? false }, { deadline }, cb),
    );
    return response.topics
      .map((t) => ({
        name: t.name,
        topicId: t.topicId,
        isInternal: t.isInternal,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Describes `names` (empty = all topics); an unknown name throws UNKNOWN_TOPIC_OR_PARTITION. */
  async describeTopics(names: readonly string[] = []): Promise<TopicDescription[]> {
    const response = await this.cluster.admin<DescribeTopicsResponse>("DescribeTopics", (admin, deadline, cb) =>
      admin.DescribeTopics({ names: [...names] }, { deadline }, cb),
    );
    const errors: ProtocolError[] = [];
    const out: TopicDescription[] = [];
    for (const t of response.topics) {
      const m = t.metadata;
      if (m === null || m === undefined) continue;
      if (m.errorCode !== 0) {
        errors.push(errorFromWire(m.errorCode, m.errorMessage, `describe topic '${m.name}'`));
        continue;
      }
      out.push({
        name: m.name,
        topicId: m.topicId,
        isInternal: m.isInternal,
        partitions: [...m.partitions]
          .sort((a, b) => a.partition - b.partition)
          .map((p) => ({
            partition: p.partition,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offlineReplicas: p.offlineReplicas,
          })),
        configs: { ...t.configs },
      });
    }
    throwFirst(errors);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Grows each topic to `count` partitions in total. */
  async createPartitions(topics: readonly { topic: string; count: number }[], options: { validateOnly?: boolean } = {}): Promise<void> {
    const response = await this.cluster.admin<CreatePartitionsResponse>("CreatePartitions", (admin, deadline, cb) =>
      admin.CreatePartitions(
        {
          topics: topics.map((t) => ({ name: t.topic, count: t.count })),
          timeoutMs: this.timeoutMs,
          validateOnly: options.validateOnly ?? false,
        },
        { deadline },
        cb,
      ),
    );
    throwFirst(
      response.results
        .filter((r) => r.errorCode !== 0)
        .map((r) => errorFromWire(r.errorCode, r.errorMessage, `create partitions for '${r.name}'`)),
    );
  }

  async describeConfigs(resources: readonly ConfigResourceRef[]): Promise<DescribedConfigs[]> {
    const response = await this.cluster.admin<DescribeConfigsResponse>("DescribeConfigs", (admin, deadline, cb) =>
      admin.DescribeConfigs(
        { resources: resources.map((r) => ({ type: resourceType(r.type), name: r.name, configNames: [...(r.configNames ?? [])] })) },
        { deadline },
        cb,
      ),
    );
    throwFirst(
      response.results
        .filter((r) => r.errorCode !== 0)
        .map((r) => errorFromWire(r.errorCode, r.errorMessage, `describe configs of ${resourceKind(r.type)} '${r.name}'`)),
    );
    return response.results.map((r) => ({ type: resourceKind(r.type), name: r.name, entries: r.entries }));
  }

  async alterConfigs(alterations: readonly ConfigAlteration[], options: { validateOnly?: boolean } = {}): Promise<void> {
    const response = await this.cluster.admin<AlterConfigsResponse>("AlterConfigs", (admin, deadline, cb) =>
      admin.AlterConfigs(
        {
          resources: alterations.map((a) => ({
            type: resourceType(a.type),
            name: a.name,
            configs: [
              ...Object.entries(a.set ?? {}).map(([name, value]) => ({ name, value, op: "ALTER_CONFIG_OP_SET" as const })),
              ...(a.delete ?? []).map((name) => ({ name, value: "", op: "ALTER_CONFIG_OP_DELETE" as const })),
            ],
          })),
          validateOnly: options.validateOnly ?? false,
        },
        { deadline },
        cb,
      ),
    );
    throwFirst(
      response.results
        .filter((r) => r.errorCode !== 0)
        .map((r) => errorFromWire(r.errorCode, r.errorMessage, `alter configs of ${resourceKind(r.type)} '${r.name}'`)),
    );
  }

  async describeCluster(): Promise<ClusterDescription> {
    const response = await this.cluster.admin<DescribeClusterResponse>("DescribeCluster", (admin, deadline, cb) =>
      admin.DescribeCluster({}, { deadline }, cb),
    );
    return {
      clusterId: response.clusterId,
      controllerId: response.controllerId,
      brokers: response.brokers
        .map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack }))
        .sort((a, b) => a.nodeId - b.nodeId),
    };
  }

  close(): void {
    if (this.ownsCluster) this.cluster.close();
  }
}
