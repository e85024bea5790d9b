// RaftTransport over gRPC (castle.v1.Raft). One server per node; one client per peer from an
// address book. Outbound messages wait in a bounded queue per peer and leave in batches on one
// long-lived StepStream per peer, so a peer sees our messages in the order we sent them; HTTP/2
// flow control is the back-pressure. A failed stream loses what was on it (Raft retransmits),
// reports the peer unreachable and is reopened. Inbound batches (on a stream or a unary Step)
// are validated as a whole before anything reaches the handler.

import { type Clock, type Logger, silentLogger, systemClock } from "@castle/common";
import {
  loadCastleProto,
  type RaftClient,
  type RaftHandlers,
  type RaftStepRequest,
  type RaftStepRequestInput,
  type RaftStepResponse,
  type WireRaftMessageInput,
  widenFlowControlWindows,
} from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";
import type { Message, RaftNodeId } from "../core/types.js";
import type { RaftMessageHandler, RaftTransport, RaftUnreachableHandler } from "./raft-transport.js";
import { DEFAULT_RAFT_WIRE_LIMITS, messageFromWire, messageToWire, type RaftWireLimits } from "./raft-wire-codec.js";

export interface GrpcRaftTransportOptions {
  readonly id: RaftNodeId;
  /** Where to listen; port 0 picks a free port (see `port`). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Address book: node id -> "host:port". Peers can be added later with setPeer. */
  readonly peers: Readonly<Record<number, string>>;
  /** Messages waiting for one peer; beyond this, new messages to that peer are dropped. */
  readonly outboundMessagesMax?: number;
  /** Messages in one batch. */
  readonly batchMessagesMax?: number;
  /** Approximate payload bytes in one batch (a single larger message still goes alone). */
  readonly batchBytesMax?: number;
  /** Upper bound of the reconnect back-off to a peer that went away. */
  readonly reconnectBackoffMsMax?: number;
  /** Largest Step request accepted (gRPC receive limit). */
  readonly requestBytesMax?: number;
  readonly limits?: Partial<RaftWireLimits>;
  /** Adds the application's own services to the Raft server (the metadata quorum's Controller service). */
  readonly addServices?: (server: grpc.Server) => void;
  /**
   * The cluster this node belongs to: sent with every batch, and batches from another cluster
   * are refused (wrong_cluster). Undefined = send none and check none (tests of Raft alone).
   */
  readonly clusterId?: string;
}

export interface GrpcRaftTransportDependencies {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Counters are registered here when given (one transport per registry). */
  readonly metricsRegistry?: Registry;
}

export type TransportDropReason = "queue_full" | "unknown_peer" | "closed";
export type TransportRejectReason = "malformed" | "misaddressed" | "unknown_sender" | "wrong_cluster" | "no_handler";

export interface TransportStats {
  sentMessages: number;
  sentBatches: number;
  /** Peer streams that ended in an error (what was in flight on them was lost). */
  streamFailures: number;
  receivedMessages: number;
  dropped: Record<TransportDropReason, number>;
  rejected: Record<TransportRejectReason, number>;
}

export const DEFAULT_OUTBOUND_MESSAGES_MAX = 4_096;
export const DEFAULT_BATCH_MESSAGES_MAX = 512;
export const DEFAULT_BATCH_BYTES_MAX = 4 * 1024 * 1024;
export const DEFAULT_REQUEST_BYTES_MAX = 64 * 1024 * 1024;
/** Keepalive ping interval (and timeout) on peer connections. */
const KEEPALIVE_MS = 10_000;
/** A refused sender's batches are logged once per this interval (each is still counted). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Pause before reopening a failed stream that still has messages queued. */
const STREAM_RETRY_MS = 100;

/** Rough wire size of a message, for batching only. */
function approximateBytes(message: Message): number {
  let bytes = 64;
  if (message.type === "append") for (const e of message.entries) bytes += e.data.byteLength + 32;
  else if (message.type === "snapshot") bytes += message.chunk.byteLength;
  return bytes;
}

interface Peer {
  address: string;
  client: RaftClient | undefined;
  queue: Message[];
  /** The long-lived StepStream to this peer, opened on first send and after a failure. */
  stream: grpc.ClientWritableStream<RaftStepRequestInput> | undefined;
  /** The stream's buffer is full: wait for 'drain' before writing more. */
  blocked: boolean;
}

export class GrpcRaftTransport implements RaftTransport {
  private readonly peers = new Map<RaftNodeId, Peer>();
  private messageHandler: RaftMessageHandler | undefined;
  private unreachableHandler: RaftUnreachableHandler | undefined;
  private flushScheduled = false;
  private closed = false;
  private readonly limits: RaftWireLimits;
  private readonly outboundMessagesMax: number;
  private readonly batchMessagesMax: number;
  private readonly batchBytesMax: number;
  private readonly reconnectBackoffMsMax: number;
  private readonly requestBytesMax: number;
  private readonly clusterId: string | undefined;
  private readonly refusalLog = new Map<string, { atMs: number; suppressed: number }>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly droppedCounter: Counter<"reason">;
  private readonly rejectedCounter: Counter<"reason">;
  private readonly sentCounter: Counter;
  readonly stats: TransportStats = {
    sentMessages: 0,
    sentBatches: 0,
    streamFailures: 0,
    receivedMessages: 0,
    dropped: { queue_full: 0, unknown_peer: 0, closed: 0 },
    rejected: { malformed: 0, misaddressed: 0, unknown_sender: 0, wrong_cluster: 0, no_handler: 0 },
  };

  private constructor(
    readonly id: RaftNodeId,
    private readonly server: grpc.Server,
    /** The bound port (useful with listen.port 0). */
    readonly port: number,
    options: GrpcRaftTransportOptions,
    dependencies: GrpcRaftTransportDependencies,
  ) {
    this.limits = { ...DEFAULT_RAFT_WIRE_LIMITS, ...options.limits };
    this.outboundMessagesMax = options.outboundMessagesMax ?? DEFAULT_OUTBOUND_MESSAGES_MAX;
    this.batchMessagesMax = options.batchMessagesMax ?? DEFAULT_BATCH_MESSAGES_MAX;
    this.batchBytesMax = options.batchBytesMax ?? DEFAULT_BATCH_BYTES_MAX;
    this.reconnectBackoffMsMax = options.reconnectBackoffMsMax ?? 1_000;
    this.requestBytesMax = options.requestBytesMax ?? DEFAULT_REQUEST_BYTES_MAX;
    this.clusterId = options.clusterId;
    this.logger = (dependencies.logger ?? silentLogger).child({ component: "raft-transport", nodeId: id });
    this.clock = dependencies.clock ?? systemClock;
    const registers = dependencies.metricsRegistry ? [dependencies.metricsRegistry] : [];
    this.sentCounter = new Counter({ name: "castle_raft_transport_sent_messages_total", help: "Raft messages sent to peers", registers });
    this.droppedCounter = new Counter({
      name: "castle_raft_transport_dropped_messages_total",
      help: "Outbound Raft messages dropped, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.rejectedCounter = new Counter({
      name: "castle_raft_transport_rejected_messages_total",
      help: "Inbound Raft messages refused before reaching the core, by reason",
      labelNames: ["reason"],
      registers,
    });
    for (const [peerId, address] of Object.entries(options.peers)) this.setPeer(Number(peerId), address);
  }

  /** Binds the server and returns a transport ready to send and receive. */
  static async start(options: GrpcRaftTransportOptions, dependencies: GrpcRaftTransportDependencies = {}): Promise<GrpcRaftTransport> {
    const requestBytesMax = options.requestBytesMax ?? DEFAULT_REQUEST_BYTES_MAX;
    const server = new grpc.Server({ "grpc.max_receive_message_length": requestBytesMax, "grpc.max_send_message_length": -1 });
    const target = `${options.listen.host}:${options.listen.port}`;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(new Error(`cannot listen for Raft peers on ${target}: ${error.message}`)) : resolve(bound),
      ),
    );
    const transport = new GrpcRaftTransport(options.id, server, port, options, dependencies);
    const handlers: RaftHandlers = {
      Step: (call, callback) => transport.handleStep(call.request, callback),
      StepStream: (call, callback) => transport.handleStepStream(call, callback),
    };
    server.addService(loadCastleProto().castle.v1.Raft.service, handlers);
    options.addServices?.(server);
    widenFlowControlWindows(server, transport.logger);
    return transport;
  }

  /** Adds or re-points a peer (membership changes, address changes). */
  setPeer(peerId: RaftNodeId, address: string): void {
    const existing = this.peers.get(peerId);
    if (existing?.address === address) return;
    existing?.client?.close();
    existing?.stream?.end();
    this.peers.set(peerId, { address, client: undefined, queue: existing?.queue ?? [], stream: undefined, blocked: false });
  }

  removePeer(peerId: RaftNodeId): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.stream?.end();
    peer.client?.close();
    this.drop("closed", peer.queue.length);
    this.peers.delete(peerId);
  }

  peerAddress(peerId: RaftNodeId): string | undefined {
    return this.peers.get(peerId)?.address;
  }

  onMessage(handler: RaftMessageHandler): void {
    this.messageHandler = handler;
  }

  onUnreachable(handler: RaftUnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  send(message: Message): void {
    if (this.closed) {
      this.drop("closed", 1);
      return;
    }
    const peer = this.peers.get(message.to);
    if (!peer) {
      this.drop("unknown_peer", 1);
      this.logger.debug("no address for peer; message dropped", { peer: message.to, type: message.type });
      this.unreachableHandler?.(message.to);
      return;
    }
    if (peer.queue.length >= this.outboundMessagesMax) {
      this.drop("queue_full", 1);
      return;
    }
    peer.queue.push(message);
    // Messages queued in the same turn of the event loop (one Ready) leave in one batch.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        for (const [peerId, p] of this.peers) this.maybeFlush(peerId, p);
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) {
      this.drop("closed", peer.queue.length);
      peer.queue = [];
      peer.stream?.end();
      peer.client?.close();
    }
    await new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
      // Peers' in-flight calls must not hold us up for long.
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 500).unref();
    });
  }

  private drop(reason: TransportDropReason, count: number): void {
    if (count === 0) return;
    this.stats.dropped[reason] += count;
    this.droppedCounter.inc({ reason }, count);
  }

  private clientFor(peer: Peer): RaftClient {
    if (!peer.client) {
      const Client = loadCastleProto().castle.v1.Raft;
      peer.client = new Client(peer.address, grpc.credentials.createInsecure(), {
        "grpc.max_send_message_length": -1,
        "grpc.max_receive_message_length": -1,
        "grpc.initial_reconnect_backoff_ms": Math.min(100, this.reconnectBackoffMsMax),
        "grpc.max_reconnect_backoff_ms": this.reconnectBackoffMsMax,
        // A peer that vanished without closing its connection is noticed by keepalive.
        "grpc.keepalive_time_ms": KEEPALIVE_MS,
        "grpc.keepalive_timeout_ms": KEEPALIVE_MS,
      });
    }
    return peer.client;
  }

  /** The stream to `peer`, opened if there is none; a failed stream is forgotten so the next send reopens it. */
  private streamTo(peerId: RaftNodeId, peer: Peer): grpc.ClientWritableStream<RaftStepRequestInput> {
    if (peer.stream) return peer.stream;
    const stream = this.clientFor(peer).StepStream((error) => {
      if (peer.stream === stream) {
        peer.stream = undefined;
        peer.blocked = false;
      }
      if (error && !this.closed && this.peers.get(peerId) === peer) {
        // Whatever was written and not yet delivered is lost; Raft retransmits.
        this.stats.streamFailures++;
        this.logger.debug("stream to peer failed", { peer: peerId, address: peer.address, error: error.message });
        this.unreachableHandler?.(peerId);
        if (peer.queue.length > 0) setTimeout(() => this.maybeFlush(peerId, peer), STREAM_RETRY_MS).unref();
      }
    });
    stream.on("drain", () => {
      peer.blocked = false;
      this.maybeFlush(peerId, peer);
    });
    stream.on("error", () => {}); // reported through the callback above
    peer.stream = stream;
    return stream;
  }

  /** Writes the queue to the peer's stream in batches until it is empty or the stream pushes back. */
  private maybeFlush(peerId: RaftNodeId, peer: Peer): void {
    while (!this.closed && !peer.blocked && peer.queue.length > 0) {
      let bytes = 0;
      let count = 0;
      while (count < peer.queue.length && count < this.batchMessagesMax) {
        const next = peer.queue[count];
        if (!next) break;
        const size = approximateBytes(next);
        if (count > 0 && bytes + size > this.batchBytesMax) break;
        bytes += size;
        count++;
      }
      const batch = peer.queue.splice(0, count);
      const messages: WireRaftMessageInput[] = batch.map(messageToWire);
      const accepted = this.streamTo(peerId, peer).write({ from: this.id, to: peerId, messages, clusterId: this.clusterId ?? "" });
      this.stats.sentMessages += batch.length;
      this.stats.sentBatches += 1;
      this.sentCounter.inc(batch.length);
      if (!accepted) peer.blocked = true;
    }
  }

  /** Inbound StepStream: every batch goes through the same checks as Step; refusals are counted, the stream goes on. */
  private handleStepStream(
    call: grpc.ServerReadableStream<RaftStepRequest, RaftStepResponse>,
    callback: grpc.sendUnaryData<{ accepted: number }>,
  ): void {
    let accepted = 0;
    call.on("data", (request: RaftStepRequest) => {
      const outcome = this.acceptBatch(request);
      if (outcome.ok) accepted += outcome.count;
    });
    call.on("end", () => callback(null, { accepted }));
    call.on("error", () => {});
  }

  private handleStep(request: RaftStepRequest, callback: grpc.sendUnaryData<{ accepted: number }>): void {
    const outcome = this.acceptBatch(request);
    if (outcome.ok) callback(null, { accepted: outcome.count });
    else callback({ code: outcome.status, details: outcome.details });
  }

  /**
   * Logs a refusal, at most once per REFUSAL_LOG_INTERVAL_MS per sender and reason (a stray
   * peer sends many batches a second), with how many went unlogged since.
   */
  private warnRefusal(reason: TransportRejectReason, from: number, details: string): void {
    const key = `${reason}:${from}`;
    const nowMs = this.clock.monotonicMs();
    const last = this.refusalLog.get(key);
    if (last && nowMs - last.atMs < REFUSAL_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.logger.warn("refused inbound Raft batch", { reason, details, from, refusedSinceLastLog: last?.suppressed ?? 0 });
    this.refusalLog.set(key, { atMs: nowMs, suppressed: 0 });
  }

  /** Validates one batch and hands it to the core, all or nothing; refusals are counted and logged. */
  private acceptBatch(request: RaftStepRequest): { ok: true; count: number } | { ok: false; status: grpc.status; details: string } {
    const count = request.messages.length;
    const refuse = (reason: TransportRejectReason, details: string) => {
      this.stats.rejected[reason] += count;
      this.rejectedCounter.inc({ reason }, count);
      this.warnRefusal(reason, request.from, details);
      return { ok: false as const, status: reason === "no_handler" ? grpc.status.UNAVAILABLE : grpc.status.INVALID_ARGUMENT, details };
    };
    if (this.closed) return { ok: false, status: grpc.status.UNAVAILABLE, details: `node ${this.id} is shutting down` };
    if (request.to !== this.id) return refuse("misaddressed", `batch is for node ${request.to}, this is node ${this.id}`);
    // A sender outside the address book could not be answered anyway; its messages (a stray
    // or misconfigured node, or a node removed from the cluster) never reach the core.
    if (!this.peers.has(request.from)) return refuse("unknown_sender", `node ${request.from} is not a known peer of node ${this.id}`);
    if (this.clusterId !== undefined && request.clusterId !== this.clusterId) {
      return refuse(
        "wrong_cluster",
        `INCONSISTENT_CLUSTER_ID: node ${request.from} belongs to cluster "${request.clusterId}", node ${this.id} to cluster "${this.clusterId}"; nodes of two clusters cannot form one quorum: check controller.quorum.voters, and the cluster.id in each node's meta.properties (the node formatted for the wrong cluster needs castle storage format with the right id)`,
      );
    }
    if (count > this.batchMessagesMax)
      return refuse("malformed", `batch of ${count} messages exceeds the ${this.batchMessagesMax} allowed`);
    const decoded: Message[] = [];
    for (const [i, wire] of request.messages.entries()) {
      if (wire.from !== request.from || wire.to !== request.to) {
        return refuse("misaddressed", `messages[${i}] is from ${wire.from} to ${wire.to}, batch is from ${request.from} to ${request.to}`);
      }
      const result = messageFromWire(wire, this.limits);
      if (!result.ok) return refuse("malformed", `messages[${i}]: ${result.reason}`);
      decoded.push(result.message);
    }
    const handler = this.messageHandler;
    if (!handler) return refuse("no_handler", `node ${this.id} is not ready for Raft messages`);
    this.stats.receivedMessages += count;
    for (const message of decoded) handler(message);
    return { ok: true, count };
  }
}
