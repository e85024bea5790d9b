// The ProduceStream adapter: one long-lived bidi stream carries many produce requests, each
// tagged with a correlation id. Every message goes to the same handleProduce as unary
// Produce, timed under the same api label ("produce"); nothing here decides anything.
//
// Ordering: each request is handled as it arrives. Its appends happen before anything awaits
// (handleProduce appends synchronously, then waits for replication with acks=all), so records
// reach the log in arrival order; responses leave as requests complete, which with acks=all
// is not always arrival order (the proto promises clients only the correlation id).
// Errors: a handler that throws answers its correlation id with that error on every partition
// the request named, and the stream goes on (the unary adapter's whole-request status, made
// per partition). A message without a request ends the stream with INVALID_ARGUMENT; closeAll
// (shutdown) ends open streams with UNAVAILABLE, so clients move on instead of holding the
// server open until its grace period runs out.
// Memory: at most outstandingRequestsMax requests per stream are read and unanswered; then
// the adapter stops reading (grpc-js reads a message only when the stream asks for one, and
// its object buffer adds at most 16 more) and HTTP/2 flow control holds the client back. A
// response the client does not read also stops the stream until the write buffer drains.

import type { ProduceRequest, ProduceResponseInput, ProduceStreamRequest, ProduceStreamResponseInput } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import type { BrokerContext } from "../handlers/broker-context.js";
import { type ErrorFields, errorFields } from "../handlers/error-result.js";
import { handleProduce } from "../handlers/produce.js";
import { writable } from "./stream-writable.js";

/** Requests read from one stream and not yet answered. */
export const PRODUCE_STREAM_OUTSTANDING_REQUESTS_MAX = 16;

type ProduceStreamCall = grpc.ServerDuplexStream<ProduceStreamRequest, ProduceStreamResponseInput>;

/** A response that reports `fields` for every partition `request` named. */
export function produceFailureResponse(request: ProduceRequest, fields: ErrorFields): ProduceResponseInput {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((data) => ({
        partition: data.partition,
        ...fields,
        baseOffset: -1,
        logAppendTimeMs: -1,
        logStartOffset: -1,
      })),
    })),
  };
}

export class ProduceStreams {
  private readonly open = new Set<ProduceStreamCall>();
  private closed = false;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly outstandingRequestsMax = PRODUCE_STREAM_OUTSTANDING_REQUESTS_MAX,
  ) {}

  /** The grpc-js handler for castle.v1.Broker/ProduceStream. */
  readonly handle: grpc.handleBidiStreamingCall<ProduceStreamRequest, ProduceStreamResponseInput> = (call) => {
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
    call.on("data", (message: ProduceStreamRequest) => {
      if (ended) return;
      const request = message.request;
      if (request === null) {
        forget();
        call.emit("error", {
          code: grpc.status.INVALID_ARGUMENT,
          details: `ProduceStream message with correlation id ${message.correlationId} carries no request`,
        });
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
    // The client half-closed: answer what was read, then end with OK.
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

  /** Handles one request; its appends happen before this returns its promise (see Ordering above). */
  private async answer(call: ProduceStreamCall, correlationId: number, request: ProduceRequest): Promise<void> {
    let response: ProduceResponseInput;
    try {
      response = await this.ctx.metrics.observe("produce", () => handleProduce(this.ctx, request));
    } catch (error) {
      response = produceFailureResponse(request, errorFields(error, this.ctx.logger, "produce"));
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
