// The calling end of a correlated bidi stream (ProduceStream, ReplicaFetchStream): one
// long-lived stream carries many requests, each tagged with a correlation id, and a request's
// promise settles when the response with its id arrives. Opening an HTTP/2 stream and grpc-js's
// call set-up per request is what this saves. The caller bounds how many requests are pending;
// this class adds no queue.
//
// Failure: the stream opens on the first request and again after it ended. When it ends, every
// request pending on it fails with `errors.ended`. A request unanswered after its timeout fails
// with `errors.timedOut` and the stream is cancelled (the others pending on it then fail with
// `errors.ended`), so a peer gone silent costs one timeout. A peer without the RPC
// (UNIMPLEMENTED: an older version, in a rolling upgrade) gets `unary` calls from then on; the
// requests pending then are re-sent that way (it never read them). The two users differ only in
// the errors they make: the client's are ProtocolErrors its retry logic knows, the follower's
// plain Errors its loop backs off on.

import { type ClientDuplexStream, type ServiceError, type StatusObject, status } from "@grpc/grpc-js";

/** A request on a correlated stream, with its correlation id (ProduceStreamRequest, ReplicaFetchStreamRequest). */
export interface CorrelatedRequest<Req> {
  correlationId: number;
  /** null only from a broken peer: the server refuses such a message. */
  request: Req | null;
}

/** The answer to the request with the same correlation id (ProduceStreamResponse, ReplicaFetchStreamResponse). */
export interface CorrelatedResponse<Res> {
  correlationId: number;
  response: Res | null;
}

/** The errors a user of the stream rejects its requests with. */
export interface CorrelatedStreamErrors<E extends Error> {
  /** The request was not answered within `timeoutMs`. */
  timedOut(timeoutMs: number): E;
  /** The stream ended with the request pending: `final` is its status, `error` what grpc-js reported before it. */
  ended(final: StatusObject, error: ServiceError | undefined): E;
  /** close() was called. */
  closed(): E;
  /** The response carried no body. */
  noBody(): E;
  /** Opening the stream threw. */
  openFailed(error: unknown): E;
}

export interface CorrelatedClientStreamOptions<Req, Res, E extends Error> {
  /** Opens a new stream (a call on the peer's client). */
  readonly open: () => ClientDuplexStream<CorrelatedRequest<Req>, CorrelatedResponse<Res>>;
  /** Sends one request as a unary call: the fallback for a peer without the streaming RPC. */
  readonly unary: (request: Req, timeoutMs: number) => Promise<Res>;
  readonly errors: CorrelatedStreamErrors<E>;
}

interface Pending<Req, Res, E> {
  readonly request: Req;
  readonly timeoutMs: number;
  readonly resolve: (response: Res) => void;
  readonly reject: (error: E) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One open stream and the requests written to it that are still unanswered. */
interface Session<Req, Res, E> {
  readonly call: ClientDuplexStream<CorrelatedRequest<Req>, CorrelatedResponse<Res>>;
  readonly pending: Map<number, Pending<Req, Res, E>>;
  /** The error grpc-js reported before the final status, if any. */
  error: ServiceError | undefined;
}

export class CorrelatedClientStream<Req, Res, E extends Error> {
  private session: Session<Req, Res, E> | undefined;
  private nextCorrelationId = 1;
  /** The peer lacks the streaming RPC: every request goes through `unary`. */
  private unsupported = false;
  private closed = false;

  constructor(private readonly options: CorrelatedClientStreamOptions<Req, Res, E>) {}

  /** Sends `request` on the stream; resolves with its response, rejects with one of `errors`. */
  send(request: Req, timeoutMs: number): Promise<Res> {
    const { errors } = this.options;
    if (this.closed) return Promise.reject(errors.closed());
    if (this.unsupported) return this.options.unary(request, timeoutMs);
    return new Promise<Res>((resolve, reject) => {
      let session: Session<Req, Res, E>;
      try {
        session = this.open();
      } catch (error) {
        reject(errors.openFailed(error));
        return;
      }
      const correlationId = this.nextCorrelationId++;
      const timer = setTimeout(() => {
        if (!session.pending.delete(correlationId)) return;
        reject(errors.timedOut(timeoutMs));
        // The stream is suspect (a peer gone silent): drop it, as Kafka drops the connection.
        this.drop(session);
      }, timeoutMs);
      session.pending.set(correlationId, { request, timeoutMs, resolve, reject, timer });
      // Back-pressure comes from the caller's bound on pending requests, so the write's return value is not needed.
      session.call.write({ correlationId, request });
    });
  }

  /** Cancels the stream; requests still pending fail with `errors.closed`. */
  close(): void {
    this.closed = true;
    const session = this.session;
    if (session === undefined) return;
    this.drop(session);
    this.failAll(session, this.options.errors.closed());
  }

  private open(): Session<Req, Res, E> {
    if (this.session !== undefined) return this.session;
    const session: Session<Req, Res, E> = { call: this.options.open(), pending: new Map(), error: undefined };
    session.call.on("data", (message: CorrelatedResponse<Res>) => {
      const entry = session.pending.get(message.correlationId);
      if (entry === undefined) return; // timed out already
      session.pending.delete(message.correlationId);
      clearTimeout(entry.timer);
      if (message.response === null) entry.reject(this.options.errors.noBody());
      else entry.resolve(message.response);
    });
    session.call.on("error", (error: ServiceError) => {
      session.error = error;
    });
    session.call.on("status", (final: StatusObject) => this.handleEnd(session, final));
    this.session = session;
    return session;
  }

  private drop(session: Session<Req, Res, E>): void {
    if (this.session !== session) return;
    this.session = undefined;
    session.call.cancel();
  }

  private handleEnd(session: Session<Req, Res, E>, final: StatusObject): void {
    if (this.session === session) this.session = undefined;
    if (final.code === status.UNIMPLEMENTED && !this.closed) {
      this.unsupported = true;
      for (const entry of session.pending.values()) {
        clearTimeout(entry.timer);
        this.options.unary(entry.request, entry.timeoutMs).then(entry.resolve, entry.reject);
      }
      session.pending.clear();
      return;
    }
    this.failAll(session, this.options.errors.ended(final, session.error));
  }

  private failAll(session: Session<Req, Res, E>, error: E): void {
    for (const entry of session.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    session.pending.clear();
  }
}
