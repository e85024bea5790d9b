// What a node asks of the active controller, in wire types: the castle.v1.Controller service's
// methods. `LocalControllerApi` answers them from this node's MetadataQuorum member (it refuses
// with NOT_CONTROLLER unless that member is the active controller); `ControllerChannel` finds
// the active controller, local or remote, and retries until it answers. The client-facing
// admin handlers and the controller service both speak this interface, so a request decided
// here and one forwarded from another node take the same path.

import { type Clock, invariant } from "@castle/common";
import {
  type AlterConfigsRequest as AlterConfigsInput,
  type AlterPartitionItem as AlterPartitionInput,
  type BrokerEndpoint,
  CONTROLLER_ENDPOINT,
  type ConfigChange,
  type MetadataQuorum,
  type QuorumInfo,
} from "@castle/metadata";
import {
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  type AlterPartitionItemResult,
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  type ClusterNode,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  type DescribeClusterResponse,
  type DescribeQuorumResponse,
  type ElectLeadersRequest,
  type ElectLeadersResponse,
  ErrorCode,
  type ProtocolError,
  protocolError,
  type WireBrokerHeartbeatRequest,
  type WireBrokerHeartbeatResponse,
  type WireRegisterBrokerRequest,
  type WireRegisterBrokerResponse,
} from "@castle/protocol";
import { clusterNodes } from "./cluster-nodes.js";

export interface ControllerApi {
  registerBroker(request: WireRegisterBrokerRequest): Promise<WireRegisterBrokerResponse>;
  brokerHeartbeat(request: WireBrokerHeartbeatRequest): Promise<WireBrokerHeartbeatResponse>;
  createTopics(request: CreateTopicsRequest): Promise<CreateTopicsResponse>;
  deleteTopics(request: DeleteTopicsRequest): Promise<DeleteTopicsResponse>;
  createPartitions(request: CreatePartitionsRequest): Promise<CreatePartitionsResponse>;
  alterConfigs(request: AlterConfigsRequest): Promise<AlterConfigsResponse>;
  electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse>;
  describeQuorum(): Promise<DescribeQuorumResponse>;
  describeCluster(): Promise<DescribeClusterResponse>;
  /** A partition leader's ISR changes (KIP-497); per-partition errors in the response, a stale broker epoch refuses the whole request. */
  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse>;
}

export type ControllerMethod = keyof ControllerApi;

const errorOf = (error: ProtocolError | null): { errorCode: number; errorMessage: string } =>
  error ? { errorCode: error.errorCode, errorMessage: error.message } : { errorCode: ErrorCode.NONE, errorMessage: "" };

const configResourceType = (type: string): "topic" | "broker" | undefined =>
  type === "CONFIG_RESOURCE_TYPE_TOPIC" ? "topic" : type === "CONFIG_RESOURCE_TYPE_BROKER" ? "broker" : undefined;

export function quorumResponse(info: QuorumInfo): DescribeQuorumResponse {
  return {
    clusterId: info.clusterId,
    leaderId: info.leaderId,
    leaderEpoch: info.leaderEpoch,
    highWatermark: info.highWatermark,
    maxFollowerLag: info.maxFollowerLag,
    maxFollowerLagTimeMs: info.maxFollowerLagTimeMs,
    currentVoters: [...info.currentVoters],
    currentObservers: [...info.currentObservers],
    replicas: info.replicas.map((r) => ({ ...r })),
    reportedBy: info.reportedBy,
  };
}

/** The controller's side, on a node with the controller role. */
export class LocalControllerApi implements ControllerApi {
  constructor(
    private readonly quorum: MetadataQuorum,
    private readonly clock: Clock,
  ) {}

  async registerBroker(request: WireRegisterBrokerRequest): Promise<WireRegisterBrokerResponse> {
    const endpoints: BrokerEndpoint[] = request.endpoints.map((e) => ({ name: e.name, host: e.host, port: e.port }));
    // The decision first: a broker the controller refuses (another cluster's id) never joins the Raft quorum.
    const result = await this.quorum.registerBroker({
      brokerId: request.brokerId,
      clusterId: request.clusterId,
      incarnationId: request.incarnationId,
      endpoints,
      rack: request.rack === "" ? null : request.rack,
    });
    await this.ensureObserver(request.brokerId, endpoints);
    return { brokerEpoch: result.brokerEpoch };
  }

  async brokerHeartbeat(request: WireBrokerHeartbeatRequest): Promise<WireBrokerHeartbeatResponse> {
    // A registration whose observer change was not committed (leadership moved) is completed here.
    const registered = this.quorum.image.broker(request.brokerId);
    if (registered && registered.brokerEpoch === request.brokerEpoch) await this.ensureObserver(request.brokerId, registered.endpoints);
    const result = await this.quorum.brokerHeartbeat({
      brokerId: request.brokerId,
      brokerEpoch: request.brokerEpoch,
      metadataOffset: request.metadataOffset,
      wantShutdown: request.wantShutdown,
    });
    return { isFenced: result.isFenced, shouldShutDown: result.shouldShutDown, isCaughtUp: result.isCaughtUp };
  }

  /** A broker-only node (it registers a CONTROLLER endpoint) follows the metadata log as a Raft observer. */
  private async ensureObserver(brokerId: number, endpoints: readonly BrokerEndpoint[]): Promise<void> {
    const raftEndpoint = endpoints.find((e) => e.name === CONTROLLER_ENDPOINT);
    if (!raftEndpoint || this.quorum.voterIds.includes(brokerId)) return;
    await this.quorum.ensureObserver(brokerId, `${raftEndpoint.host}:${raftEndpoint.port}`);
  }

  async createTopics(request: CreateTopicsRequest): Promise<CreateTopicsResponse> {
    const results = await this.quorum.createTopics(
      request.topics.map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
        configs: t.configs,
      })),
      request.validateOnly,
    );
    return {
      topics: results.map((r) => ({
        name: r.name,
        ...errorOf(r.error),
        topicId: r.error || request.validateOnly ? "" : (r.topicId ?? ""),
        numPartitions: r.numPartitions ?? -1,
        replicationFactor: r.replicationFactor ?? -1,
      })),
    };
  }

  async deleteTopics(request: DeleteTopicsRequest): Promise<DeleteTopicsResponse> {
    const results = await this.quorum.deleteTopics(request.names);
    return { topics: results.map((r) => ({ name: r.name, ...errorOf(r.error) })) };
  }

  async createPartitions(request: CreatePartitionsRequest): Promise<CreatePartitionsResponse> {
    const results = await this.quorum.createPartitions(
      request.topics.map((t) => ({ name: t.name, count: t.count })),
      request.validateOnly,
    );
    return { results: results.map((r) => ({ name: r.name, ...errorOf(r.error) })) };
  }

  async alterConfigs(request: AlterConfigsRequest): Promise<AlterConfigsResponse> {
    // Resources of a type the controller does not know are answered here, without a decision.
    const refused = new Map<number, ProtocolError>();
    const inputs: AlterConfigsInput[] = [];
    request.resources.forEach((resource, index) => {
      const resourceType = configResourceType(resource.type);
      if (resourceType === undefined) {
        refused.set(index, protocolError("INVALID_REQUEST", `config resource type ${resource.type} is not supported; use TOPIC or BROKER`));
        return;
      }
      const changes: ConfigChange[] = resource.configs.map((c) => ({
        name: c.name,
        op: c.op === "ALTER_CONFIG_OP_DELETE" ? "delete" : "set",
        value: c.value,
      }));
      inputs.push({ resourceType, resourceName: resource.name, changes });
    });
    const decided = inputs.length === 0 ? [] : await this.quorum.alterConfigs(inputs, request.validateOnly);
    let next = 0;
    return {
      results: request.resources.map((resource, index) => {
        const error = refused.get(index) ?? decided[next++]?.error ?? null;
        return { type: resource.type, name: resource.name, ...errorOf(error) };
      }),
    };
  }

  async electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse> {
    const refs = request.partitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
    const results = await this.quorum.electPreferredLeaders(refs.length === 0 ? "all" : refs);
    return {
      results: results.map((r) => ({
        topic: r.topic,
        partition: r.partition,
        ...errorOf(r.error),
        leaderId: r.error ? -1 : (r.leader ?? -1),
      })),
    };
  }

  async alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    const partitions: AlterPartitionInput[] = request.topics.flatMap((t) =>
      t.partitions.map((p) => ({
        topicId: t.topicId,
        partition: p.partition,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: p.newIsr,
      })),
    );
    const results = await this.quorum.alterPartition({ brokerId: request.brokerId, brokerEpoch: request.brokerEpoch, partitions });
    // Results come back in request order, one per partition: regroup them under the request's topics.
    let next = 0;
    return {
      topics: request.topics.map((t) => ({
        topicId: t.topicId,
        partitions: t.partitions.map((): AlterPartitionItemResult => {
          const r = results[next++];
          invariant(r, "the controller answers every partition of an AlterPartition request, in order");
          return {
            partition: r.partition,
            ...errorOf(r.error),
            leaderId: r.state?.leader ?? -1,
            leaderEpoch: r.state?.leaderEpoch ?? -1,
            isr: r.state ? [...r.state.isr] : [],
            partitionEpoch: r.state?.partitionEpoch ?? -1,
          };
        }),
      })),
    };
  }

  async describeQuorum(): Promise<DescribeQuorumResponse> {
    // Only the leader knows every replica's progress; elsewhere NOT_CONTROLLER sends the channel there.
    this.quorum.assertActiveController();
    return quorumResponse(this.quorum.quorumStatus());
  }

  async describeCluster(): Promise<DescribeClusterResponse> {
    const liveness = this.quorum.brokerLiveness();
    const nowMs = this.clock.monotonicMs();
    const image = this.quorum.image;
    const nodes: ClusterNode[] = clusterNodes(image, this.quorum.voterIds, liveness, nowMs);
    return { clusterId: this.quorum.options.clusterId, controllerId: this.quorum.nodeId, brokers: [], nodes };
  }
}
