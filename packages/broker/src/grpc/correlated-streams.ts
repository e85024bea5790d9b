// The machinery both long-lived bidi adapters share (ProduceStream, ReplicaFetchStream): each
// message carries a correlation id and one request; it is answered, on the same stream, with
// the response its `answer` gives, as requests complete (not necessarily in arrival order).
//
// A message without a request, or one `check` refuses, ends the stream with INVALID_ARGUMENT
// and the reason. At most
// outstandingRequestsMax requests per stream are read and unanswered; then the stream stops
// reading (grpc-js reads a message only when asked, and HTTP/2 flow control holds the peer
// back). A response the peer does not read also stops the stream until the write buffer
// drains. When the peer half-closes, what was read is answered, then the stream ends with OK.
// closeAll (shutdown) ends open streams with UNAVAILABLE and refuses new ones, so peers move
// on instead of holding the server open for its grace period.

import type { CorrelatedRequest, CorrelatedResponse } from "@castle/protocol";
import * as grpc from "@grpc/grpc-js";
import { writable } from "./stream-writable.js";

export interface CorrelatedStreamsOptions<Request, Response> {
  /** The RPC's name, for refusals. */
  readonly method: string;
  /** Requests read from one stream and not yet answered. */
  readonly outstandingRequestsMax: number;
  /** undefined to answer the request; else why the stream is refused. */
  check?(request: Request): string | undefined;
  /** The response to one request; never rejects (a failure is a response too). */
  answer(request: Request): Promise<Response>;
}

type CorrelatedCall<Request, Response> = grpc.ServerDuplexStream<CorrelatedRequest<Request>, CorrelatedResponse<Response>>;

export class CorrelatedStreams<Request, Response> {
  private readonly open = new Set<CorrelatedCall<Request, Response>>();
  private closed = false;

  constructor(private readonly options: CorrelatedStreamsOptions<Request, Response>) {}

  /** The grpc-js handler for the method. */
  readonly handle = (call: CorrelatedCall<Request, Response>): void => {
    if (this.closed) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the broker is shutting down" });
      return;
    }
    const max = this.options.outstandingRequestsMax;
    this.open.add(call);
    let outstanding = 0;
    let ended = false;
    const inFlight = new Set<Promise<void>>();
    const forget = () => {
      ended = true;
      this.open.delete(call);
    };
    call.on("data", (message: CorrelatedRequest<Request>) => {
      if (ended) return;
      const refusal =
        message.request === null
          ? `${this.options.method} message with correlation id ${message.correlationId} carries no request`
          : this.options.check?.(message.request);
      if (refusal !== undefined || message.request === null) {
        forget();
        call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: refusal });
        return;
      }
      outstanding++;
      if (outstanding >= max) call.pause();
      const answered: Promise<void> = this.reply(call, message.correlationId, message.request).finally(() => {
        inFlight.delete(answered);
        outstanding--;
        if (outstanding < max && call.isPaused()) call.resume();
      });
      inFlight.add(answered);
    });
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

  private async reply(call: CorrelatedCall<Request, Response>, correlationId: number, request: Request): Promise<void> {
    const response = await this.options.answer(request);
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
