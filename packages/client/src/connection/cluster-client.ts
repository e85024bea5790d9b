// Connections to the cluster: one gRPC channel per broker address (the Broker, Admin and Group
// stubs share it), the bootstrap list, and the metadata cache with coalesced refreshes.
// Every RPC goes through `unary`, which turns transport failures into ProtocolErrors, except
// Produce, which goes on one long-lived ProduceStream per broker (produce-stream.ts).
// Group calls go to the group's coordinator through `groupCall`, which finds it and retries
// coordinator errors (coordinator-lookup.ts); the consumer and the Admin client share it.

import type { Logger } from "@castle/common";
import { silentLogger } from "@castle/common";
import {
  type AdminClient,
  type BrokerClient,
  type FetchRequestInput,
  type FetchResponse,
  type FindCoordinatorResponse,
  type GroupClient,
  type HeartbeatRequestInput,
  type HeartbeatResponse,
  type JoinGroupRequestInput,
  type JoinGroupResponse,
  type LeaveGroupRequestInput,
  type LeaveGroupResponse,
  type ListOffsetsRequestInput,
  type ListOffsetsResponse,
  loadCastleProto,
  type MetadataResponse,
  type OffsetCommitRequestInput,
  type OffsetCommitResponse,
  type OffsetFetchRequestInput,
  type OffsetFetchResponse,
  type ProduceRequestInput,
  type ProduceResponse,
  type ProtocolError,
  protocolError,
  type SyncGroupRequestInput,
  type SyncGroupResponse,
} from "@castle/protocol";
import { type ChannelOptions, credentials, type ServiceError } from "@grpc/grpc-js";
import {
  type AnswerError,
  CoordinatorLookup,
  coordinatorErrorAction,
  type GroupCoordinator,
} from "../consumer/group/coordinator-lookup.js";
import type { GroupCallTimeouts, GroupRequest, GroupTransport } from "../consumer/group/group-transport.js";
import { errorFromTransport } from "../errors/wire-error.js";
import { type BrokerAddress, formatAddress, parseBootstrap } from "./bootstrap.js";
import { MetadataCache } from "./metadata-cache.js";
import { ProduceStream } from "./produce-stream.js";

export interface ClusterClientOptions {
  /** `host:port[,host:port]` or a list of `host:port`. */
  bootstrap: string | readonly string[];
  clientId?: string;
  /** Deadline for one request (long-poll fetches add their wait to it). Default 30000. */
  requestTimeoutMs?: number;
  /** gRPC max send/receive message size. Default 64 MiB. */
  messageBytesMax?: number;
  /** First back-off between retries of a group call (coordinator lookups); doubles up to retryBackoffMaxMs. Default 100. */
  retryBackoffMs?: number;
  /** Longest back-off between retries of a group call. Default 1000. */
  retryBackoffMaxMs?: number;
  logger?: Logger;
}

const DEFAULT_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
/** JoinGroup waits on the coordinator up to the rebalance timeout; its deadline adds this margin (Kafka's). */
export const JOIN_GROUP_DEADLINE_MARGIN_MS = 5000;

interface Connection {
  target: string;
  broker: BrokerClient;
  admin: AdminClient;
  group: GroupClient;
  produceStream: ProduceStream;
}

type Callback<Res> = (error: ServiceError | null, response?: Res) => void;

/** One Group call: the stub of the broker to ask, the deadline of this attempt, and the callback. */
export type GroupInvoke<Res> = (group: GroupClient, deadline: Date, cb: Callback<Res>) => unknown;

export interface GroupCallOptions<Res> extends GroupCallTimeouts {
  /** The answer's coordinator-level error (default: its errorCode/errorMessage). */
  errorOf?: (response: Res) => AnswerError | undefined;
}

/** OffsetCommit has no top-level error: a coordinator error shows on every partition. */
function offsetCommitCoordinatorError(response: OffsetCommitResponse): AnswerError | undefined {
  for (const topic of response.topics) {
    for (const p of topic.partitions) {
      if (coordinatorErrorAction(p.errorCode) !== "none") return { errorCode: p.errorCode, errorMessage: p.errorMessage };
    }
  }
  return undefined;
}

export class ClusterClient implements GroupTransport {
  readonly clientId: string;
  readonly requestTimeoutMs: number;
  readonly metadata = new MetadataCache();
  readonly bootstrap: readonly BrokerAddress[];
  private readonly logger: Logger;
  private readonly channelOptions: ChannelOptions;
  private readonly connections = new Map<string, Connection>();
  private readonly interestingTopics = new Set<string>();
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private closed = false;
  private readonly coordinators: CoordinatorLookup;

  constructor(options: ClusterClientOptions) {
    this.bootstrap = parseBootstrap(options.bootstrap);
    this.clientId = options.clientId ?? "castle-client";
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.logger = options.logger ?? silentLogger;
    const messageBytesMax = options.messageBytesMax ?? DEFAULT_MESSAGE_BYTES_MAX;
    this.channelOptions = {
      "grpc.max_send_message_length": messageBytesMax,
      "grpc.max_receive_message_length": messageBytesMax,
      "grpc.keepalive_time_ms": 60_000,
      "grpc.primary_user_agent": `castle-client/${this.clientId}`,
    };
    this.coordinators = new CoordinatorLookup(
      {
        find: (groupId) =>
          this.withAnyBroker<FindCoordinatorResponse>("FindCoordinator", (c, deadline, cb) =>
            c.group.FindCoordinator({ groupId }, { deadline }, cb),
          ),
        isClosed: () => this.closed,
        logger: this.logger,
      },
      { retryBackoffMs: options.retryBackoffMs ?? 100, retryBackoffMaxMs: options.retryBackoffMaxMs ?? 1000 },
    );
  }

  bootstrapText(): string {
    return this.bootstrap.map(formatAddress).join(",");
  }

  private connection(address: BrokerAddress): Connection {
    if (this.closed) throw protocolError("NETWORK_EXCEPTION", "the client is closed");
    const target = formatAddress(address);
    let connection = this.connections.get(target);
    if (connection === undefined) {
      const proto = loadCastleProto().castle.v1;
      const broker = new proto.Broker(target, credentials.createInsecure(), this.channelOptions);
      const admin = new proto.Admin(target, credentials.createInsecure(), { ...this.channelOptions, channelOverride: broker.getChannel() });
      const group = new proto.Group(target, credentials.createInsecure(), { ...this.channelOptions, channelOverride: broker.getChannel() });
      const unaryProduce = (request: ProduceRequestInput, timeoutMs: number) =>
        this.unary<ProduceResponse>(target, "Produce", (cb) => broker.Produce(request, { deadline: new Date(Date.now() + timeoutMs) }, cb));
      const produceStream = new ProduceStream(target, broker, unaryProduce);
      connection = { target, broker, admin, group, produceStream };
      this.connections.set(target, connection);
    }
    return connection;
  }

  private connectionForNode(nodeId: number): Connection {
    const address = this.metadata.broker(nodeId);
    if (address === undefined) {
      throw protocolError("LEADER_NOT_AVAILABLE", `broker ${nodeId} is not in the cluster metadata`, { nodeId });
    }
    return this.connection(address);
  }

  private deadline(extraMs = 0): Date {
    return new Date(Date.now() + this.requestTimeoutMs + extraMs);
  }

  /** One unary call as a promise; transport failures reject with a retriable ProtocolError. */
  private unary<Res>(target: string, method: string, invoke: (callback: Callback<Res>) => unknown): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      try {
        invoke((error, response) => {
          if (error !== null || response === undefined) reject(errorFromTransport(error ?? new Error("empty response"), target, method));
          else resolve(response);
        });
      } catch (error) {
        reject(errorFromTransport(error, target, method));
      }
    });
  }

  /** One produce request on the broker's ProduceStream; the deadline is requestTimeoutMs + timeoutMs, as for unary calls. */
  produce(nodeId: number, request: ProduceRequestInput, timeoutMs: number): Promise<ProduceResponse> {
    const c = this.connectionForNode(nodeId);
    return c.produceStream.produce({ ...request, clientId: this.clientId }, this.requestTimeoutMs + timeoutMs);
  }

  fetch(nodeId: number, request: FetchRequestInput): Promise<FetchResponse> {
    const c = this.connectionForNode(nodeId);
    const waitMs = request.maxWaitMs ?? 0;
    return this.unary(c.target, "Fetch", (cb) =>
      c.broker.Fetch({ ...request, clientId: this.clientId }, { deadline: this.deadline(waitMs) }, cb),
    );
  }

  listOffsets(nodeId: number, request: ListOffsetsRequestInput): Promise<ListOffsetsResponse> {
    const c = this.connectionForNode(nodeId);
    return this.unary(c.target, "ListOffsets", (cb) => c.broker.ListOffsets(request, { deadline: this.deadline() }, cb));
  }

  /** Candidate connections: known brokers first, then the bootstrap list. */
  private candidates(): Connection[] {
    const seen = new Set<string>();
    const out: Connection[] = [];
    const addresses = [...this.metadata.brokerIds().map((id) => this.metadata.broker(id)), ...this.bootstrap];
    for (const address of addresses) {
      if (address === undefined) continue;
      const c = this.connection(address);
      if (seen.has(c.target)) continue;
      seen.add(c.target);
      out.push(c);
    }
    return out;
  }

  /** Runs `call` against each candidate broker until one answers; transport errors move on. */
  async withAnyBroker<Res>(method: string, call: (connection: Connection, deadline: Date, cb: Callback<Res>) => unknown): Promise<Res> {
    let lastError: ProtocolError | undefined;
    for (const c of this.candidates()) {
      try {
        return await this.unary<Res>(c.target, method, (cb) => call(c, this.deadline(), cb));
      } catch (error) {
        const mapped = errorFromTransport(error, c.target, method);
        if (mapped.code !== "NETWORK_EXCEPTION") throw mapped;
        lastError = mapped;
        this.logger.debug("broker unreachable", { target: c.target, method, error: mapped.message });
      }
    }
    throw protocolError(
      "NETWORK_EXCEPTION",
      `cannot reach any bootstrap server (${this.bootstrapText()}): is \`castle server start\` running? set --bootstrap or CASTLE_BOOTSTRAP` +
        (lastError ? ` (last error: ${lastError.message})` : ""),
      { bootstrap: this.bootstrapText() },
    );
  }

  /** Admin RPCs go to any reachable broker. */
  admin<Res>(method: string, call: (admin: AdminClient, deadline: Date, cb: Callback<Res>) => unknown): Promise<Res> {
    return this.withAnyBroker<Res>(method, (c, deadline, cb) => call(c.admin, deadline, cb));
  }

  /** The group's coordinator (cached; FindCoordinator to any broker otherwise). */
  findCoordinator(groupId: string): Promise<GroupCoordinator> {
    return this.coordinators.lookup(groupId);
  }

  /**
   * One Group call to the group's coordinator: finds it, and on NOT_COORDINATOR,
   * COORDINATOR_NOT_AVAILABLE or a transport failure looks it up again and retries (on
   * COORDINATOR_LOAD_IN_PROGRESS retries the same one), with bounded back-off, for up to
   * `retryTimeoutMs` (default requestTimeoutMs). Each attempt's deadline is `timeoutMs`
   * (default requestTimeoutMs). Other errors in the answer are the caller's to read.
   */
  groupCall<Res>(groupId: string, method: string, invoke: GroupInvoke<Res>, options: GroupCallOptions<Res> = {}): Promise<Res> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return this.coordinators.call<Res>(
      groupId,
      method,
      (coordinator) => {
        const c = this.connection({ host: coordinator.host, port: coordinator.port });
        return this.unary<Res>(c.target, method, (cb) => invoke(c.group, new Date(Date.now() + timeoutMs), cb));
      },
      { retryTimeoutMs: options.retryTimeoutMs ?? this.requestTimeoutMs, ...(options.errorOf ? { errorOf: options.errorOf } : {}) },
    );
  }

  /** One Group call to broker `nodeId` (ListGroups, which every broker answers for the groups it coordinates). */
  groupCallToNode<Res>(nodeId: number, method: string, invoke: GroupInvoke<Res>, options: { timeoutMs?: number } = {}): Promise<Res> {
    const c = this.connectionForNode(nodeId);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return this.unary<Res>(c.target, method, (cb) => invoke(c.group, new Date(Date.now() + timeoutMs), cb));
  }

  joinGroup(
    request: GroupRequest<JoinGroupRequestInput> & { rebalanceTimeoutMs: number },
    timeouts: GroupCallTimeouts = {},
  ): Promise<JoinGroupResponse> {
    // The coordinator holds a JoinGroup until every member has joined or the rebalance timeout
    // passes, so one attempt may take that long; finding the coordinator is bounded as usual.
    const timeoutMs = timeouts.timeoutMs ?? Math.max(this.requestTimeoutMs, request.rebalanceTimeoutMs + JOIN_GROUP_DEADLINE_MARGIN_MS);
    const retryTimeoutMs = timeouts.retryTimeoutMs ?? this.requestTimeoutMs;
    return this.groupCall<JoinGroupResponse>(
      request.groupId,
      "JoinGroup",
      (group, deadline, cb) => group.JoinGroup({ clientId: this.clientId, ...request }, { deadline }, cb),
      { timeoutMs, retryTimeoutMs },
    );
  }

  syncGroup(request: GroupRequest<SyncGroupRequestInput>, timeouts: GroupCallTimeouts = {}): Promise<SyncGroupResponse> {
    return this.groupCall<SyncGroupResponse>(
      request.groupId,
      "SyncGroup",
      (group, deadline, cb) => group.SyncGroup(request, { deadline }, cb),
      timeouts,
    );
  }

  heartbeat(request: GroupRequest<HeartbeatRequestInput>, timeouts: GroupCallTimeouts = {}): Promise<HeartbeatResponse> {
    return this.groupCall<HeartbeatResponse>(
      request.groupId,
      "Heartbeat",
      (group, deadline, cb) => group.Heartbeat(request, { deadline }, cb),
      timeouts,
    );
  }

  leaveGroup(request: GroupRequest<LeaveGroupRequestInput>, timeouts: GroupCallTimeouts = {}): Promise<LeaveGroupResponse> {
    return this.groupCall<LeaveGroupResponse>(
      request.groupId,
      "LeaveGroup",
      (group, deadline, cb) => group.LeaveGroup(request, { deadline }, cb),
      timeouts,
    );
  }

  offsetCommit(request: GroupRequest<OffsetCommitRequestInput>, timeouts: GroupCallTimeouts = {}): Promise<OffsetCommitResponse> {
    return this.groupCall<OffsetCommitResponse>(
      request.groupId,
      "OffsetCommit",
      (group, deadline, cb) => group.OffsetCommit(request, { deadline }, cb),
      { ...timeouts, errorOf: offsetCommitCoordinatorError },
    );
  }

  offsetFetch(request: GroupRequest<OffsetFetchRequestInput>, timeouts: GroupCallTimeouts = {}): Promise<OffsetFetchResponse> {
    return this.groupCall<OffsetFetchResponse>(
      request.groupId,
      "OffsetFetch",
      (group, deadline, cb) => group.OffsetFetch(request, { deadline }, cb),
      timeouts,
    );
  }

  /** One Metadata request for `topics` (empty = all) that also updates the cache. */
  async fetchMetadata(topics: readonly string[]): Promise<MetadataResponse> {
    const response = await this.withAnyBroker<MetadataResponse>("Metadata", (c, deadline, cb) =>
      c.broker.Metadata({ topics: [...topics], allowAutoTopicCreation: false }, { deadline }, cb),
    );
    this.metadata.update(response);
    return response;
  }

  /**
   * Refreshes metadata for every topic the client has used (plus `topics`). Concurrent callers
   * share one request; a caller that adds topics during a refresh gets a second one.
   */
  async refreshMetadata(topics: readonly string[] = []): Promise<void> {
    let added = false;
    for (const topic of topics) {
      if (!this.interestingTopics.has(topic)) {
        this.interestingTopics.add(topic);
        added = true;
      }
    }
    if (this.refreshing !== undefined) {
      if (added) this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          await this.fetchMetadata([...this.interestingTopics]);
        } while (this.refreshAgain);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  close(): void {
    this.closed = true;
    for (const c of this.connections.values()) {
      c.produceStream.close();
      c.group.close();
      c.admin.close();
      c.broker.close();
    }
    this.connections.clear();
  }
}
