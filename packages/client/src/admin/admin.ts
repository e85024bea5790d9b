// Topic and cluster administration over the Admin service (kafka-topics / kafka-configs /
// kafka-metadata-quorum / kafka-leader-election territory). Each method sends one request to
// any reachable broker; a per-topic or per-resource error_code becomes a ProtocolError
// carrying the server's message, and when several fail the first is thrown with the rest
// named in its message. electLeaders is the exception: its per-partition errors are results.

import type {
  AlterConfigsResponse,
  ConfigEntry,
  CreatePartitionsResponse,
  CreateTopicsResponse,
  DeleteTopicsResponse,
  DescribeClusterResponse,
  DescribeConfigsResponse,
  DescribeQuorumResponse,
  DescribeTopicsResponse,
  ElectLeadersResponse,
  ListTopicsResponse,
  ProtocolError,
  ClusterNode as WireClusterNode,
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

/** One node of the cluster as the active controller sees it (a broker, a controller, or both). */
export interface ClusterNodeDescription {
  nodeId: number;
  /** Client endpoint; empty host for a controller-only node. */
  host: string;
  port: number;
  rack: string;
  isBroker: boolean;
  isController: boolean;
  /** Registered brokers only: a fenced broker may not lead or be in an ISR. */
  fenced: boolean;
  inControlledShutdown: boolean;
  /** Milliseconds since the active controller last heard the broker's heartbeat; -1 unknown. */
  lastHeartbeatAgeMs: number;
  brokerEpoch: number;
}

export interface ClusterDescription {
  clusterId: string;
  /** The active controller; -1 while none is known (an election is in progress). */
  controllerId: number;
  /** Brokers clients may use (registered and unfenced), as Metadata lists them. */
  brokers: BrokerDescription[];
  /** Every registered broker, fenced or not, and every controller; sorted by node id. */
  nodes: ClusterNodeDescription[];
}

/** The replica roles kafka-metadata-quorum.sh prints in its Status column. */
export type QuorumReplicaStatus = "Leader" | "Follower" | "Observer";

/** One member of the metadata quorum as the active controller tracks it. */
export interface QuorumReplicaDescription {
  nodeId: number;
  /** Highest metadata log offset known to be on the replica; -1 unknown. */
  logEndOffset: number;
  lag: number;
  /** Wall-clock ms; -1 never. */
  lastFetchTimestampMs: number;
  /** Wall-clock ms; -1 never. */
  lastCaughtUpTimestampMs: number;
  status: QuorumReplicaStatus;
}

/** The metadata quorum (kafka-metadata-quorum.sh describe; KIP-595, KIP-836). */
export interface QuorumDescription {
  clusterId: string;
  leaderId: number;
  leaderEpoch: number;
  highWatermark: number;
  maxFollowerLag: number;
  maxFollowerLagTimeMs: number;
  /** Sorted ascending. */
  currentVoters: number[];
  /** Sorted ascending. */
  currentObservers: number[];
  /** Sorted by node id. */
  replicas: QuorumReplicaDescription[];
  /** The member whose view this is (the active controller unless it was unreachable). */
  reportedBy: number;
}

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

/**
 * One partition's preferred-leader election. `error` is null when the preferred leader was
 * elected; ELECTION_NOT_NEEDED (it already leads) is an error code here but a normal outcome.
 */
export interface ElectionOutcome {
  topic: string;
  partition: number;
  /** The leader after the election; -1 when the server reported none (on error). */
  leaderId: number;
  error: ProtocolError | null;
}

const resourceType = (kind: ConfigResourceKind): "CONFIG_RESOURCE_TYPE_TOPIC" | "CONFIG_RESOURCE_TYPE_BROKER" =>
  kind === "topic" ? "CONFIG_RESOURCE_TYPE_TOPIC" : "CONFIG_RESOURCE_TYPE_BROKER";
const resourceKind = (type: string): ConfigResourceKind => (type === "CONFIG_RESOURCE_TYPE_BROKER" ? "broker" : "topic");

const byNodeId = (a: { nodeId: number }, b: { nodeId: number }): number => a.nodeId - b.nodeId;
const ascending = (a: number, b: number): number => a - b;

/** The server's status string, or the role the quorum's membership implies when it sent another. */
function replicaStatus(status: string, nodeId: number, leaderId: number, voters: readonly number[]): QuorumReplicaStatus {
  if (status === "Leader" || status === "Follower" || status === "Observer") return status;
  if (nodeId === leaderId) return "Leader";
  return voters.includes(nodeId) ? "Follower" : "Observer";
}

function clusterNodeFromWire(n: WireClusterNode): ClusterNodeDescription {
  return {
    nodeId: n.nodeId,
    host: n.host,
    port: n.port,
    rack: n.rack,
    isBroker: n.isBroker,
    isController: n.isController,
    fenced: n.fenced,
    inControlledShutdown: n.inControlledShutdown,
    lastHeartbeatAgeMs: n.lastHeartbeatAgeMs,
    brokerEpoch: n.brokerEpoch,
  };
}

/** Groups partitions by topic, in first-seen order, as ElectLeadersRequest carries them. */
function partitionsByTopic(partitions: readonly TopicPartitionRef[]): { topic: string; partitions: number[] }[] {
  const grouped = new Map<string, number[]>();
  for (const p of partitions) {
    const list = grouped.get(p.topic) ?? [];
    list.push(p.partition);
    grouped.set(p.topic, list);
  }
  return [...grouped].map(([topic, list]) => ({ topic, partitions: list }));
}

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
      brokers: response.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack })).sort(byNodeId),
      nodes: response.nodes.map(clusterNodeFromWire).sort(byNodeId),
    };
  }

  /** The metadata quorum as the active controller sees it (kafka-metadata-quorum.sh describe). */
  async describeQuorum(): Promise<QuorumDescription> {
    const response = await this.cluster.admin<DescribeQuorumResponse>("DescribeQuorum", (admin, deadline, cb) =>
      admin.DescribeQuorum({}, { deadline }, cb),
    );
    const voters = [...response.currentVoters].sort(ascending);
    return {
      clusterId: response.clusterId,
      leaderId: response.leaderId,
      leaderEpoch: response.leaderEpoch,
      highWatermark: response.highWatermark,
      maxFollowerLag: response.maxFollowerLag,
      maxFollowerLagTimeMs: response.maxFollowerLagTimeMs,
      currentVoters: voters,
      currentObservers: [...response.currentObservers].sort(ascending),
      replicas: response.replicas
        .map((r) => ({
          nodeId: r.nodeId,
          logEndOffset: r.logEndOffset,
          lag: r.lag,
          lastFetchTimestampMs: r.lastFetchTimestampMs,
          lastCaughtUpTimestampMs: r.lastCaughtUpTimestampMs,
          status: replicaStatus(r.status, r.nodeId, response.leaderId, voters),
        }))
        .sort(byNodeId),
      reportedBy: response.reportedBy,
    };
  }

  /**
   * Moves leadership of `partitions` back to their preferred (first) replica
   * (kafka-leader-election.sh --election-type preferred; KIP-460). Omitted or empty = every
   * partition whose preferred leader is not leading. Per-partition failures, ELECTION_NOT_NEEDED
   * included, come back as outcomes rather than thrown; only a refused request throws.
   */
  async electLeaders(partitions: readonly TopicPartitionRef[] = []): Promise<ElectionOutcome[]> {
    const response = await this.cluster.admin<ElectLeadersResponse>("ElectLeaders", (admin, deadline, cb) =>
      admin.ElectLeaders({ partitions: partitionsByTopic(partitions), timeoutMs: this.timeoutMs }, { deadline }, cb),
    );
    return response.results
      .map((r) => ({
        topic: r.topic,
        partition: r.partition,
        leaderId: r.leaderId,
        error:
          r.errorCode === 0 ? null : errorFromWire(r.errorCode, r.errorMessage, `elect the preferred leader of ${r.topic}-${r.partition}`),
      }))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  close(): void {
    if (this.ownsCluster) this.cluster.close();
  }
}
