// Connections to the cluster: one gRPC channel per broker address (the Broker and Admin
// stubs share it), the bootstrap list, and the metadata cache with coalesced refreshes.
// Every RPC goes through `unary`, which turns transport failures into ProtocolErrors, except
// Produce, which goes on one long-lived ProduceStream per broker (produce-stream.ts).

import type { Logger } from "@castle/common";
import { silentLogger } from "@castle/common";
import {
  type AdminClient,
  type BrokerClient,
  type FetchRequestInput,
  type FetchResponse,
  type ListOffsetsRequestInput,
  type ListOffsetsResponse,
  loadCastleProto,
  type MetadataResponse,
  type ProduceRequestInput,
  type ProduceResponse,
  type ProtocolError,
  protocolError,
} from "@castle/protocol";
import { type ChannelOptions, credentials, type ServiceError } from "@grpc/grpc-js";
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
  logger?: Logger;
}

const DEFAULT_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

interface Connection {
  target: string;
  broker: BrokerClient;
  admin: AdminClient;
  produceStream: ProduceStream;
}

type Callback<Res> = (error: ServiceError | null, response?: Res) => void;

export class ClusterClient {
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
      const unaryProduce = (request: ProduceRequestInput, timeoutMs: number) =>
        this.unary<ProduceResponse>(target, "Produce", (cb) => broker.Produce(request, { deadline: new Date(Date.now() + timeoutMs) }, cb));
      const produceStream = new ProduceStream(target, broker, unaryProduce);
      connection = { target, broker, admin, produceStream };
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
      c.admin.close();
      c.broker.close();
    }
    this.connections.clear();
  }
}
