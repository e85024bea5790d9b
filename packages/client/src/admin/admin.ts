// Topic, cluster and consumer-group administration (kafka-topics / kafka-configs /
// kafka-metadata-quorum / kafka-leader-election / kafka-consumer-groups territory). Topic and
// cluster methods send one Admin request to any reachable broker; group methods go to each
// group's coordinator over the Group service (ClusterClient.groupCall finds it and retries
// coordinator errors), except listGroups, which asks every broker for the groups it
// coordinates; listOffsets asks each partition's leader. A per-item error_code becomes a
// ProtocolError carrying the server's message, and when several fail the first is thrown with
// the rest named in its message. electLeaders and deleteGroups are the exceptions: their
// per-item errors are results.

import { sleep } from "@castle/common";
import {
  type AlterConfigsResponse,
  CONSUMER_PROTOCOL_TYPE,
  type ConfigEntry,
  type ConsumerTopicPartitions,
  type CreatePartitionsResponse,
  type CreateTopicsResponse,
  type DeleteGroupsResponse,
  type DeleteTopicsResponse,
  type DescribeClusterResponse,
  type DescribeConfigsResponse,
  type DescribedGroup,
  type DescribedGroupMember,
  type DescribeGroupsResponse,
  type DescribeQuorumResponse,
  type DescribeTopicsResponse,
  decodeConsumerAssignment,
  decodeConsumerSubscription,
  type ElectLeadersResponse,
  ErrorCode,
  type ListGroupsResponse,
  type ListTopicsResponse,
  ProtocolError,
  protocolError,
  type ClusterNode as WireClusterNode,
} from "@castle/protocol";
import { ClusterClient, type ClusterClientOptions } from "../connection/cluster-client.js";
import { configError, errorFromWire, isRetriableError, retryBackoffMs } from "../errors/wire-error.js";

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

/** Kafka's consumer group states; "Unknown" for a state name this client does not know. */
export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead" | "Unknown";

/** The states a coordinator reports, in Kafka's spelling (ListGroups' states filter takes these). */
export const GROUP_STATES: readonly Exclude<GroupState, "Unknown">[] = [
  "Empty",
  "PreparingRebalance",
  "CompletingRebalance",
  "Stable",
  "Dead",
];

export function groupStateFromWire(state: string): GroupState {
  return GROUP_STATES.find((s) => s === state) ?? "Unknown";
}

/** One group as ListGroups reports it. */
export interface GroupListing {
  groupId: string;
  /** "consumer" for consumer groups; empty for a group that only stores offsets (assign() consumers, admin commits). */
  protocolType: string;
  state: GroupState;
  /** The broker coordinating the group (the one that listed it). */
  coordinatorId: number;
}

export interface GroupMemberDescription {
  memberId: string;
  /** Static membership (group.instance.id, KIP-345); null for a dynamic member. */
  groupInstanceId: string | null;
  clientId: string;
  /** The member's address as the coordinator saw it. */
  host: string;
  /** The member's partitions (decoded ConsumerAssignment), sorted; empty while rebalancing and for non-consumer groups. */
  assignment: TopicPartitionRef[];
  /** The topics in the member's subscription (decoded ConsumerSubscription), sorted; empty unless Stable or CompletingRebalance. */
  subscribedTopics: string[];
}

/** The broker coordinating a group: the leader of the group's __consumer_offsets partition. */
export interface GroupCoordinatorDescription {
  nodeId: number;
  host: string;
  port: number;
}

/** One group as its coordinator describes it (kafka-consumer-groups --describe). */
export interface GroupDescription {
  groupId: string;
  /** "Dead" for a group the coordinator does not know (as in Kafka: not an error). */
  state: GroupState;
  protocolType: string;
  /** The assignor the group uses ("range", "cooperative-sticky", ...); empty unless Stable or CompletingRebalance. */
  assignor: string;
  generationId: number;
  /** The leader's member id; empty without members. */
  leaderId: string;
  coordinator: GroupCoordinatorDescription;
  /** Sorted by member id. */
  members: GroupMemberDescription[];
}

/** A committed offset of a group (kafka-consumer-groups' CURRENT-OFFSET). */
export interface GroupOffset {
  topic: string;
  partition: number;
  /** The offset of the next record the group will consume. */
  offset: number;
  /** The leader epoch of the last record consumed; -1 if unknown. */
  leaderEpoch: number;
  metadata: string;
}

/** An offset to commit for a group with no members (alterGroupOffsets). */
export interface GroupOffsetToAlter {
  topic: string;
  partition: number;
  offset: number;
  /** Default -1 (unknown). */
  leaderEpoch?: number;
  /** Default empty. */
  metadata?: string;
}

/** One group's deletion: `error` is null when it was deleted (NON_EMPTY_GROUP and GROUP_ID_NOT_FOUND are the usual refusals). */
export interface DeletedGroup {
  groupId: string;
  error: ProtocolError | null;
}

/** Which offset listOffsets looks up: the log start, the high watermark, or the first offset at or after a timestamp. */
export type OffsetSpec = "earliest" | "latest" | { timestampMs: number };

export interface OffsetQuery extends TopicPartitionRef {
  spec: OffsetSpec;
}

export interface ListedOffset {
  topic: string;
  partition: number;
  /** -1 when looked up by timestamp and no record has a timestamp at or after it. */
  offset: number;
  /** The found record's timestamp when looked up by timestamp; -1 otherwise. */
  timestampMs: number;
}

/** ListOffsets timestamps with special meaning (KIP-79). */
const LATEST_TIMESTAMP = -1;
const EARLIEST_TIMESTAMP = -2;

/** Back-off between retries of a retriable answer (listGroups, listOffsets): Kafka's retry.backoff.ms and retry.backoff.max.ms. */
const RETRY_BACKOFF_MS = 100;
const RETRY_BACKOFF_MAX_MS = 1000;

const byTopicPartition = (a: TopicPartitionRef, b: TopicPartitionRef): number =>
  a.topic.localeCompare(b.topic) || a.partition - b.partition;

function specTimestamp(spec: OffsetSpec): number {
  if (spec === "earliest") return EARLIEST_TIMESTAMP;
  if (spec === "latest") return LATEST_TIMESTAMP;
  return spec.timestampMs;
}

function flattenTopicPartitions(list: readonly ConsumerTopicPartitions[]): TopicPartitionRef[] {
  return list.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))).sort(byTopicPartition);
}

/** A member as the Admin shows it; consumer payloads are decoded (a malformed one throws INVALID_REQUEST naming the member). */
function groupMemberFromWire(groupId: string, protocolType: string, m: DescribedGroupMember): GroupMemberDescription {
  const isConsumer = protocolType === CONSUMER_PROTOCOL_TYPE;
  let assignment: TopicPartitionRef[] = [];
  let subscribedTopics: string[] = [];
  try {
    if (isConsumer && m.memberAssignment.length > 0)
      assignment = flattenTopicPartitions(decodeConsumerAssignment(m.memberAssignment).assignedPartitions);
    if (isConsumer && m.memberMetadata.length > 0) subscribedTopics = [...decodeConsumerSubscription(m.memberMetadata).topics].sort();
  } catch (error) {
    throw protocolError("INVALID_REQUEST", `describe group '${groupId}': member ${m.memberId}: ${(error as Error).message}`, {
      groupId,
      memberId: m.memberId,
    });
  }
  return {
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId === "" ? null : m.groupInstanceId,
    clientId: m.clientId,
    host: m.clientHost,
    assignment,
    subscribedTopics,
  };
}

function groupDescriptionFromWire(g: DescribedGroup, coordinator: GroupCoordinatorDescription): GroupDescription {
  return {
    groupId: g.groupId,
    state: groupStateFromWire(g.groupState),
    protocolType: g.protocolType,
    assignor: g.protocolName,
    generationId: g.generationId,
    leaderId: g.leader,
    coordinator,
    members: g.members.map((m) => groupMemberFromWire(g.groupId, g.protocolType, m)).sort((a, b) => a.memberId.localeCompare(b.memberId)),
  };
}

/** Refuses offsets a commit cannot carry, before anything is sent. */
function validateOffsetsToAlter(groupId: string, offsets: readonly GroupOffsetToAlter[]): void {
  if (groupId.length === 0) throw configError("alterGroupOffsets: the group id is empty");
  for (const o of offsets) {
    if (typeof o.topic !== "string" || o.topic.length === 0 || !Number.isInteger(o.partition) || o.partition < 0) {
      throw configError(`alterGroupOffsets: ${JSON.stringify(o)} is not a partition: use { topic: "name", partition: n } with n >= 0`);
    }
    if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw configError(
        `alterGroupOffsets: offset ${String(o.offset)} for ${o.topic}-${o.partition} is invalid: offsets are integers >= 0 (the next record to consume)`,
      );
    }
  }
}

/** Commit refusals that mean the group has members (an admin commit is only taken by a group without any). */
const MEMBER_REFUSALS: ReadonlySet<number> = new Set([
  ErrorCode.UNKNOWN_MEMBER_ID,
  ErrorCode.ILLEGAL_GENERATION,
  ErrorCode.REBALANCE_IN_PROGRESS,
]);

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

  // ---- Consumer groups (kafka-consumer-groups.sh) ----

  /**
   * Every group in the cluster: ListGroups to every broker (each answers for the groups it
   * coordinates), merged and sorted by id. `states` (Kafka's state names) narrows the list. A
   * broker's retriable answer (COORDINATOR_LOAD_IN_PROGRESS while it reads its groups, or a
   * transport failure) is retried with back-off within the request timeout; a failure that
   * remains is thrown, naming the broker, so a listing is never silently partial.
   */
  async listGroups(options: { states?: readonly string[] } = {}): Promise<GroupListing[]> {
    const states = options.states ?? [];
    for (const state of states) {
      if (!GROUP_STATES.some((s) => s.toLowerCase() === state.toLowerCase())) {
        throw configError(`listGroups: unknown group state '${state}': the states are ${GROUP_STATES.join(", ")}`);
      }
    }
    const metadata = await this.cluster.fetchMetadata([]);
    const nodeIds = metadata.brokers.map((b) => b.nodeId).sort(ascending);
    const listed = await Promise.allSettled(nodeIds.map((nodeId) => this.listGroupsOn(nodeId, states)));
    const errors: ProtocolError[] = [];
    const groups: GroupListing[] = [];
    for (const outcome of listed) {
      if (outcome.status === "fulfilled") groups.push(...outcome.value);
      else if (outcome.reason instanceof ProtocolError) errors.push(outcome.reason);
      else throw outcome.reason;
    }
    throwFirst(errors);
    return groups.sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  private async listGroupsOn(nodeId: number, states: readonly string[]): Promise<GroupListing[]> {
    const deadline = Date.now() + this.cluster.requestTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      let failure: ProtocolError;
      try {
        const response = await this.cluster.groupCallToNode<ListGroupsResponse>(nodeId, "ListGroups", (group, callDeadline, cb) =>
          group.ListGroups({ statesFilter: [...states] }, { deadline: callDeadline }, cb),
        );
        if (response.errorCode === 0) {
          return response.groups.map((g) => ({
            groupId: g.groupId,
            protocolType: g.protocolType,
            state: groupStateFromWire(g.groupState),
            coordinatorId: nodeId,
          }));
        }
        failure = errorFromWire(response.errorCode, response.errorMessage, `list groups on broker ${nodeId}`);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        failure = error;
      }
      const remainingMs = deadline - Date.now();
      if (!failure.retriable || remainingMs <= 0) throw failure;
      await sleep(Math.min(remainingMs, retryBackoffMs(attempt, RETRY_BACKOFF_MS, RETRY_BACKOFF_MAX_MS)));
    }
  }

  /**
   * Describes each group (deduplicated, in the order given) from its coordinator, with the
   * members' assignments and subscriptions decoded. A group the coordinator does not know is
   * returned with state "Dead" (Kafka's answer), not thrown; per-group errors are thrown.
   */
  async describeGroups(groupIds: readonly string[]): Promise<GroupDescription[]> {
    const unique = [...new Set(groupIds)];
    const outcomes = await Promise.allSettled(unique.map((groupId) => this.describeGroup(groupId)));
    const errors: ProtocolError[] = [];
    const out: GroupDescription[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") out.push(outcome.value);
      else if (outcome.reason instanceof ProtocolError) errors.push(outcome.reason);
      else throw outcome.reason;
    }
    throwFirst(errors);
    return out;
  }

  /**
   * Looks the group's coordinator up once before a group call, so an unreachable cluster fails
   * at once (groupCall would retry the transport failure for the whole request timeout). Only
   * a NETWORK_EXCEPTION, which FindCoordinator gives after trying every known broker, is thrown
   * here; other answers (COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created) are left
   * to groupCall's retries.
   */
  private async reachCoordinator(groupId: string): Promise<void> {
    try {
      await this.cluster.findCoordinator(groupId);
    } catch (error) {
      if (error instanceof ProtocolError && error.code === "NETWORK_EXCEPTION") throw error;
    }
  }

  private async describeGroup(groupId: string): Promise<GroupDescription> {
    await this.reachCoordinator(groupId);
    const response = await this.cluster.groupCall<DescribeGroupsResponse>(
      groupId,
      "DescribeGroups",
      (group, deadline, cb) => group.DescribeGroups({ groupIds: [groupId] }, { deadline }, cb),
      { errorOf: (r) => r.groups[0] },
    );
    const described = response.groups.find((g) => g.groupId === groupId) ?? response.groups[0];
    if (described === undefined)
      throw protocolError("UNKNOWN_SERVER_ERROR", `describe group '${groupId}': the coordinator sent no answer for it`);
    if (described.errorCode !== 0) throw errorFromWire(described.errorCode, described.errorMessage, `describe group '${groupId}'`);
    // The coordinator that just answered is the cached one.
    const coordinator = await this.cluster.findCoordinator(groupId);
    return groupDescriptionFromWire(
      { ...described, groupId },
      { nodeId: coordinator.nodeId, host: coordinator.host, port: coordinator.port },
    );
  }

  /**
   * The group's committed offsets, sorted; `partitions` narrows them (omitted or empty: every
   * partition the group has committed). Partitions without a committed offset are left out.
   */
  async listGroupOffsets(groupId: string, partitions: readonly TopicPartitionRef[] = []): Promise<GroupOffset[]> {
    await this.reachCoordinator(groupId);
    const response = await this.cluster.offsetFetch({
      groupId,
      topics: partitionsByTopic(partitions).map((t) => ({ name: t.topic, partitions: t.partitions })),
    });
    if (response.errorCode !== 0) throw errorFromWire(response.errorCode, response.errorMessage, `list the offsets of group '${groupId}'`);
    const errors: ProtocolError[] = [];
    const out: GroupOffset[] = [];
    for (const topic of response.topics) {
      for (const p of topic.partitions) {
        if (p.errorCode !== 0) {
          errors.push(errorFromWire(p.errorCode, p.errorMessage, `list the offset of group '${groupId}' for ${topic.name}-${p.partition}`));
        } else if (p.committedOffset >= 0) {
          out.push({
            topic: topic.name,
            partition: p.partition,
            offset: p.committedOffset,
            leaderEpoch: p.committedLeaderEpoch,
            metadata: p.metadata,
          });
        }
      }
    }
    throwFirst(errors);
    return out.sort(byTopicPartition);
  }

  /**
   * Commits `offsets` for a group with no members, as an admin (generation -1, no member id;
   * kafka-consumer-groups --reset-offsets). A group with members refuses it: that throws
   * NON_EMPTY_GROUP naming the group's state and member count (stop its consumers first).
   * Bad offsets are refused before anything is sent; per-partition errors are thrown.
   */
  async alterGroupOffsets(groupId: string, offsets: readonly GroupOffsetToAlter[]): Promise<void> {
    validateOffsetsToAlter(groupId, offsets);
    if (offsets.length === 0) return;
    await this.reachCoordinator(groupId);
    const topics = new Map<string, GroupOffsetToAlter[]>();
    for (const o of offsets) topics.set(o.topic, [...(topics.get(o.topic) ?? []), o]);
    const response = await this.cluster.offsetCommit({
      groupId,
      generationId: -1,
      memberId: "",
      groupInstanceId: "",
      topics: [...topics].map(([name, list]) => ({
        name,
        partitions: list.map((o) => ({
          partition: o.partition,
          committedOffset: o.offset,
          committedLeaderEpoch: o.leaderEpoch ?? -1,
          metadata: o.metadata ?? "",
        })),
      })),
    });
    const failed = response.topics.flatMap((t) => t.partitions.filter((p) => p.errorCode !== 0).map((p) => ({ topic: t.name, ...p })));
    if (failed.some((p) => MEMBER_REFUSALS.has(p.errorCode))) throw await this.groupHasMembersError(groupId);
    throwFirst(
      failed.map((p) =>
        errorFromWire(p.errorCode, p.errorMessage, `commit the offset of group '${groupId}' for ${p.topic}-${p.partition}`),
      ),
    );
  }

  /** NON_EMPTY_GROUP with the group's state and member count, looked up for the message. */
  private async groupHasMembersError(groupId: string): Promise<ProtocolError> {
    let detail = "it has active members";
    try {
      const [group] = await this.describeGroups([groupId]);
      if (group !== undefined) detail = `it is ${group.state} with ${group.members.length} member(s)`;
    } catch {
      // The refusal stands; only its detail is missing.
    }
    return protocolError(
      "NON_EMPTY_GROUP",
      `cannot change the committed offsets of group '${groupId}': ${detail}, and offsets can only be changed while a group has no members. Stop the group's consumers (or wait for their sessions to time out) and try again`,
      { groupId },
    );
  }

  /**
   * Deletes each group (deduplicated, in the order given) and its committed offsets, at its
   * coordinator. Per-group refusals come back as results, not thrown: NON_EMPTY_GROUP while
   * members remain, GROUP_ID_NOT_FOUND for a group that does not exist.
   */
  async deleteGroups(groupIds: readonly string[]): Promise<DeletedGroup[]> {
    const unique = [...new Set(groupIds)];
    return Promise.all(
      unique.map(async (groupId): Promise<DeletedGroup> => {
        await this.reachCoordinator(groupId); // an unreachable cluster is thrown, not a per-group result
        try {
          const response = await this.cluster.groupCall<DeleteGroupsResponse>(
            groupId,
            "DeleteGroups",
            (group, deadline, cb) => group.DeleteGroups({ groupIds: [groupId] }, { deadline }, cb),
            { errorOf: (r) => r.results[0] },
          );
          const result = response.results.find((r) => r.groupId === groupId) ?? response.results[0];
          if (result === undefined)
            return {
              groupId,
              error: protocolError("UNKNOWN_SERVER_ERROR", `delete group '${groupId}': the coordinator sent no answer for it`),
            };
          return {
            groupId,
            error: result.errorCode === 0 ? null : errorFromWire(result.errorCode, result.errorMessage, `delete group '${groupId}'`),
          };
        } catch (error) {
          if (error instanceof ProtocolError) return { groupId, error };
          throw error;
        }
      }),
    );
  }

  /**
   * Offsets of partitions from their leaders (Kafka's Admin.listOffsets): the log start
   * ("earliest"), the high watermark ("latest"), or the first offset whose timestamp is at or
   * after `timestampMs`. Sorted by topic and partition. An unknown topic or partition throws
   * UNKNOWN_TOPIC_OR_PARTITION; retriable errors (a leader moving) are retried after a metadata
   * refresh within the request timeout.
   */
  async listOffsets(queries: readonly OffsetQuery[]): Promise<ListedOffset[]> {
    const out = new Map<string, ListedOffset>();
    const key = (tp: TopicPartitionRef): string => `${tp.topic}\u0000${tp.partition}`;
    let pending = [...new Map(queries.map((q) => [key(q), q])).values()];
    const deadline = Date.now() + this.cluster.requestTimeoutMs;
    let lastFailure: ProtocolError | undefined;
    for (let attempt = 1; pending.length > 0; attempt++) {
      await this.cluster.refreshMetadata([...new Set(pending.map((q) => q.topic))]);
      const retry: OffsetQuery[] = [];
      const errors: ProtocolError[] = [];
      const byLeader = new Map<number, OffsetQuery[]>();
      for (const q of pending) {
        const problem = this.partitionProblem(q);
        if (problem === "no leader") {
          retry.push(q);
          lastFailure = protocolError("LEADER_NOT_AVAILABLE", `${q.topic}-${q.partition} has no leader right now`);
        } else if (problem !== undefined) errors.push(problem);
        if (problem !== undefined) continue;
        const leader = this.cluster.metadata.leaderFor(q.topic, q.partition);
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), q]);
      }
      await Promise.all(
        [...byLeader].map(async ([leader, list]) => {
          const bySpec = new Map(list.map((q) => [key(q), q]));
          try {
            const response = await this.cluster.listOffsets(leader, {
              topics: partitionsByTopic(list).map((t) => ({
                name: t.topic,
                partitions: t.partitions.map((partition) => {
                  const q = bySpec.get(key({ topic: t.topic, partition }));
                  return { partition, timestamp: specTimestamp(q?.spec ?? "latest") };
                }),
              })),
            });
            for (const topic of response.topics) {
              for (const p of topic.partitions) {
                const tp = { topic: topic.name, partition: p.partition };
                if (p.errorCode === 0) {
                  out.set(key(tp), { ...tp, offset: p.offset, timestampMs: p.timestamp });
                  continue;
                }
                const error = errorFromWire(p.errorCode, p.errorMessage, `list offsets of ${topic.name}-${p.partition}`);
                const q = bySpec.get(key(tp));
                if (error.retriable && q !== undefined) {
                  retry.push(q);
                  lastFailure = error;
                } else errors.push(error);
              }
            }
          } catch (error) {
            if (!isRetriableError(error)) throw error;
            retry.push(...list);
            lastFailure = error as ProtocolError;
          }
        }),
      );
      throwFirst(errors);
      pending = retry.filter((q) => !out.has(key(q)));
      if (pending.length === 0) break;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0)
        throw lastFailure ?? protocolError("REQUEST_TIMED_OUT", `list offsets timed out for ${pending.length} partition(s)`);
      await sleep(Math.min(remainingMs, retryBackoffMs(attempt, RETRY_BACKOFF_MS, RETRY_BACKOFF_MAX_MS)));
    }
    return [...out.values()].sort(byTopicPartition);
  }

  /** Why a partition cannot be asked now: an unknown topic or partition (final, whatever the code's retriable flag), or no leader yet. */
  private partitionProblem(tp: TopicPartitionRef): ProtocolError | "no leader" | undefined {
    const metadata = this.cluster.metadata;
    const topicError = metadata.topicError(tp.topic);
    if (topicError !== undefined) return errorFromWire(topicError.errorCode, topicError.errorMessage, `topic '${tp.topic}'`);
    const info = metadata.topic(tp.topic);
    if (info !== undefined && (tp.partition < 0 || tp.partition >= info.partitions.length)) {
      return protocolError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `partition ${tp.partition} of topic '${tp.topic}' does not exist: it has partitions 0..${info.partitions.length - 1}`,
      );
    }
    return metadata.leaderFor(tp.topic, tp.partition) < 0 ? "no leader" : undefined;
  }

  close(): void {
    if (this.ownsCluster) this.cluster.close();
  }
}
