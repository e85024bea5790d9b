// The ReplicaFetchStream adapter: one long-lived bidi stream per (follower, leader) pair carries
// the follower's fetches, each tagged with a correlation id, instead of a unary Fetch call per
// fetch (which costs an HTTP/2 stream, its headers and trailers, and grpc-js's call set-up on
// both sides). Every message goes to the same handleFetch as unary Fetch, timed under the same
// api label ("fetch"); nothing here decides anything.
//
// Ordering: each request is handled as it arrives; responses leave as requests complete, so a
// request that long-polls can be overtaken by a later one (the proto promises followers only
// the correlation id). A follower keeps one fetch in flight per stream, so in practice the
// order holds.
// Errors: a handler that throws answers its correlation id with that error on every partition
// the request named, and the stream goes on (the unary adapter's whole-request status, made per
// partition). A message without a request, or one from a consumer (replica_id <= 0: consumers
// use Fetch, whose high-watermark reads this adapter was not built for), ends the stream with
// INVALID_ARGUMENT. When the fetch purgatory closes (shutdown) open streams end with
// UNAVAILABLE, so followers move on instead of holding the server open for its grace period.
// Memory: at most outstandingRequestsMax requests per stream are read and unanswered; then the
// adapter stops reading (HTTP/2 flow control holds the follower back). A response the follower
// does not read also stops the stream until the write buffer drains.

import type { FetchRequest, FetchResponseInput, ReplicaFetchStreamRequest, ReplicaFetchStreamResponseInput } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import type { BrokerContext } from "../handlers/broker-context.js";
import { type ErrorFields, errorFields } from "../handlers/error-result.js";
import { handleFetch } from "../handlers/fetch.js";
import { writable } from "./stream-writable.js";

/** Requests read from one stream and not yet answered (a follower keeps one in flight). */
export const REPLICA_FETCH_STREAM_OUTSTANDING_REQUESTS_MAX = 4;

type ReplicaFetchStreamCall = grpc.ServerDuplexStream<ReplicaFetchStreamRequest, ReplicaFetchStreamResponseInput>;

/** A response that reports `fields` for every partition `request` named. */
export function fetchFailureResponse(request: FetchRequest, fields: ErrorFields): FetchResponseInput {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => ({
        partition: p.partition,
        ...fields,
        highWatermark: -1,
        logStartOffset: -1,
        lastStableOffset: -1,
      })),
    })),
  };
}

export class ReplicaFetchStreams {
  private readonly open = new Set<ReplicaFetchStreamCall>();
  private closed = false;

  /** Open streams end when `ctx.purgatory` closes (the node's shutdown: it answers parked fetches then). */
  constructor(
    private readonly ctx: BrokerContext,
    private readonly outstandingRequestsMax = REPLICA_FETCH_STREAM_OUTSTANDING_REQUESTS_MAX,
  ) {
    ctx.purgatory.onClose(() => this.closeAll());
  }

  /** The grpc-js handler for castle.v1.Broker/ReplicaFetchStream. */
  readonly handle: grpc.handleBidiStreamingCall<ReplicaFetchStreamRequest, ReplicaFetchStreamResponseInput> = (call) => {
    if (this.closed) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the broker is shutting down" });
      return;
    }
    this.open.add(call);
    let outstanding = 0;
    let ended = false;
    const inFlight = new Set<Promise<void>>();
    const forget = () => {
      ended = true;
      this.open.delete(call);
    };
    const refuse = (details: string) => {
      forget();
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details });
    };
    call.on("data", (message: ReplicaFetchStreamRequest) => {
      if (ended) return;
      const request = message.request;
      if (request === null) {
        refuse(`ReplicaFetchStream message with correlation id ${message.correlationId} carries no request`);
        return;
      }
      if (request.replicaId <= 0) {
        refuse(`ReplicaFetchStream is for followers (replica_id = their broker id), not ${request.replicaId}; consumers use Fetch`);
        return;
      }
      outstanding++;
      if (outstanding >= this.outstandingRequestsMax) call.pause();
      const answered: Promise<void> = this.answer(call, message.correlationId, request).finally(() => {
        inFlight.delete(answered);
        outstanding--;
        if (outstanding < this.outstandingRequestsMax && call.isPaused()) call.resume();
      });
      inFlight.add(answered);
    });
    // The follower half-closed: answer what was read, then end with OK.
    call.on("end", () => {
      void Promise.all(inFlight).then(() => {
        if (ended) return;
        forget();
        call.end();
      });
    });
    call.on("cancelled", forget);
    call.on("error", forget);
  };

  private async answer(call: ReplicaFetchStreamCall, correlationId: number, request: FetchRequest): Promise<void> {
    let response: FetchResponseInput;
    try {
      response = await this.ctx.metrics.observe("fetch", () => handleFetch(this.ctx, request));
    } catch (error) {
      response = fetchFailureResponse(request, errorFields(error, this.ctx.logger, "fetch"));
    }
    if (call.cancelled || !this.open.has(call)) return;
    if (!call.write({ correlationId, response })) await writable(call);
  }

  /** Ends every open stream with UNAVAILABLE and refuses new ones (shutdown). */
  closeAll(): void {
    this.closed = true;
    for (const call of this.open) call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the broker is shutting down" });
    this.open.clear();
  }
}
