// One long-lived ProduceStream to one broker, shared by every produce request sent to it: a
// request gets a correlation id and waits until the response carrying that id arrives, which
// saves an HTTP/2 stream per request. The caller bounds how many requests are pending (the
// producer's maxInFlightRequests per broker); the stream itself is @castle/protocol's
// CorrelatedClientStream, and this file gives it the client's errors.
//
// Failure: when a stream ends, every request pending on it fails with the same retriable error
// a failed unary call gives (NETWORK_EXCEPTION, or REQUEST_TIMED_OUT), so the producer's retry
// logic applies; the broker may or may not have appended them, as with a unary call that
// failed. A request still unanswered after its timeout fails with REQUEST_TIMED_OUT and the
// stream is cancelled (the others pending on it fail with NETWORK_EXCEPTION), so a silent
// broker costs one timeout. Compatibility: a broker without the RPC (UNIMPLEMENTED: an older
// version) is sent unary Produce from then on; the requests pending then are re-sent that way.

import {
  type BrokerClient,
  CorrelatedClientStream,
  type ProduceRequestInput,
  type ProduceResponse,
  type ProtocolError,
  protocolError,
} from "@castle/protocol";
import { status } from "@grpc/grpc-js";
import { errorFromTransport } from "../errors/wire-error.js";

const METHOD = "ProduceStream";

/** Sends one request as a unary Produce call (the fallback). */
export type UnaryProduce = (request: ProduceRequestInput, timeoutMs: number) => Promise<ProduceResponse>;

export class ProduceStream {
  private readonly stream: CorrelatedClientStream<ProduceRequestInput, ProduceResponse, ProtocolError>;

  constructor(target: string, broker: BrokerClient, unary: UnaryProduce) {
    this.stream = new CorrelatedClientStream<ProduceRequestInput, ProduceResponse, ProtocolError>({
      open: () => broker.ProduceStream(),
      unary,
      errors: {
        timedOut: (timeoutMs) =>
          protocolError("REQUEST_TIMED_OUT", `${METHOD} to ${target}: no response within ${timeoutMs} ms`, { target }),
        ended: (final, error) =>
          final.code === status.OK
            ? protocolError("NETWORK_EXCEPTION", `${METHOD} to ${target}: the broker ended the stream`, { target })
            : errorFromTransport(error ?? Object.assign(new Error(final.details), final), target, METHOD),
        closed: () => protocolError("NETWORK_EXCEPTION", `${METHOD} to ${target}: the client is closed`, { target }),
        noBody: () => protocolError("UNKNOWN_SERVER_ERROR", `${METHOD} to ${target}: a response without a body`, { target }),
        openFailed: (error) => errorFromTransport(error, target, METHOD),
      },
    });
  }

  /** Sends `request` on the stream; resolves with its response, rejects with a ProtocolError. */
  produce(request: ProduceRequestInput, timeoutMs: number): Promise<ProduceResponse> {
    return this.stream.send(request, timeoutMs);
  }

  /** Ends the stream; requests still pending fail with NETWORK_EXCEPTION. */
  close(): void {
    this.stream.close();
  }
}
