// One long-lived ProduceStream to one broker, shared by every produce request sent to it: a
// request gets a correlation id and waits until the response carrying that id arrives, which
// saves an HTTP/2 stream per request. The caller bounds how many requests are pending (the
// producer's maxInFlightRequests per broker); this class adds no queue of its own.
//
// Failure: the stream is opened on the first request and again after a failure. When a stream
// ends, every request pending on it fails with the same retriable error a failed unary call
// gives (NETWORK_EXCEPTION, or REQUEST_TIMED_OUT), so the producer's retry logic applies; the
// broker may or may not have appended them, as with a unary call that failed. A request still
// unanswered after its timeout fails with REQUEST_TIMED_OUT and the stream is cancelled (the
// others pending on it fail with NETWORK_EXCEPTION), so a silent broker costs one timeout.
// Compatibility: a broker without the RPC (UNIMPLEMENTED: an older version) is sent unary
// Produce from then on; the requests pending then are re-sent that way (it never read them).

import {
  type BrokerClient,
  type ProduceRequestInput,
  type ProduceResponse,
  type ProduceStreamRequestInput,
  type ProduceStreamResponse,
  type ProtocolError,
  protocolError,
} from "@castle/protocol";
import { type ClientDuplexStream, type ServiceError, type StatusObject, status } from "@grpc/grpc-js";
import { errorFromTransport } from "../errors/wire-error.js";

const METHOD = "ProduceStream";

interface PendingProduce {
  readonly request: ProduceRequestInput;
  readonly timeoutMs: number;
  readonly resolve: (response: ProduceResponse) => void;
  readonly reject: (error: ProtocolError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One open stream and the requests written to it that are still unanswered. */
interface StreamSession {
  readonly call: ClientDuplexStream<ProduceStreamRequestInput, ProduceStreamResponse>;
  readonly pending: Map<number, PendingProduce>;
  /** The error grpc-js reported before the final status, if any. */
  error: ServiceError | undefined;
}

/** Sends one request as a unary Produce call (the fallback). */
export type UnaryProduce = (request: ProduceRequestInput, timeoutMs: number) => Promise<ProduceResponse>;

export class ProduceStream {
  private session: StreamSession | undefined;
  private nextCorrelationId = 1;
  /** The broker lacks ProduceStream: every request goes through `unary`. */
  private unsupported = false;
  private closed = false;

  constructor(
    private readonly target: string,
    private readonly broker: BrokerClient,
    private readonly unary: UnaryProduce,
  ) {}

  /** Sends `request` on the stream; resolves with its response, rejects with a ProtocolError. */
  produce(request: ProduceRequestInput, timeoutMs: number): Promise<ProduceResponse> {
    if (this.closed) return Promise.reject(protocolError("NETWORK_EXCEPTION", "the client is closed"));
    if (this.unsupported) return this.unary(request, timeoutMs);
    return new Promise<ProduceResponse>((resolve, reject) => {
      let session: StreamSession;
      try {
        session = this.open();
      } catch (error) {
        reject(errorFromTransport(error, this.target, METHOD));
        return;
      }
      const correlationId = this.nextCorrelationId++;
      const timer = setTimeout(() => {
        if (!session.pending.delete(correlationId)) return;
        reject(
          protocolError("REQUEST_TIMED_OUT", `${METHOD} to ${this.target}: no response within ${timeoutMs} ms`, { target: this.target }),
        );
        // The stream is suspect (a broker gone silent): drop it, as Kafka drops the connection.
        if (this.session === session) {
          this.session = undefined;
          session.call.cancel();
        }
      }, timeoutMs);
      session.pending.set(correlationId, { request, timeoutMs, resolve, reject, timer });
      // Back-pressure comes from the caller's in-flight limit, so the write's return value is not needed.
      session.call.write({ correlationId, request });
    });
  }

  /** Ends the stream; requests still pending fail with NETWORK_EXCEPTION. */
  close(): void {
    this.closed = true;
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    session.call.cancel();
    this.failAll(session, protocolError("NETWORK_EXCEPTION", `${METHOD} to ${this.target}: the client is closed`, { target: this.target }));
  }

  private open(): StreamSession {
    if (this.session !== undefined) return this.session;
    const session: StreamSession = { call: this.broker.ProduceStream(), pending: new Map(), error: undefined };
    session.call.on("data", (message: ProduceStreamResponse) => {
      const entry = session.pending.get(message.correlationId);
      if (entry === undefined) return; // timed out already
      session.pending.delete(message.correlationId);
      clearTimeout(entry.timer);
      if (message.response === null) {
        entry.reject(
          protocolError("UNKNOWN_SERVER_ERROR", `${METHOD} to ${this.target}: a response without a body`, { target: this.target }),
        );
      } else {
        entry.resolve(message.response);
      }
    });
    session.call.on("error", (error: ServiceError) => {
      session.error = error;
    });
    session.call.on("status", (final: StatusObject) => this.handleEnd(session, final));
    this.session = session;
    return session;
  }

  private handleEnd(session: StreamSession, final: StatusObject): void {
    if (this.session === session) this.session = undefined;
    if (final.code === status.UNIMPLEMENTED && !this.closed) {
      this.unsupported = true;
      for (const entry of session.pending.values()) {
        clearTimeout(entry.timer);
        this.unary(entry.request, entry.timeoutMs).then(entry.resolve, entry.reject);
      }
      session.pending.clear();
      return;
    }
    const error =
      final.code === status.OK
        ? protocolError("NETWORK_EXCEPTION", `${METHOD} to ${this.target}: the broker ended the stream`, { target: this.target })
        : errorFromTransport(session.error ?? Object.assign(new Error(final.details), final), this.target, METHOD);
    this.failAll(session, error);
  }

  private failAll(session: StreamSession, error: ProtocolError): void {
    for (const entry of session.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    session.pending.clear();
  }
}
