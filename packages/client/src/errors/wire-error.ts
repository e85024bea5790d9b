// The one place where wire failures become client errors: a per-partition / per-topic
// error_code + error_message, or a gRPC transport failure. Retry logic asks only
// `isRetriableError`, which reads the code table's `retriable` flag (kafkajs's model).

import {
  type ErrorName,
  errorInfoForCode,
  errorNameForCode,
  ProtocolError,
  protocolError,
  protocolErrorFromStatusDetails,
} from "@castle/protocol";
import { type ServiceError, status } from "@grpc/grpc-js";

/** Maps a wire error code and the server's message to a ProtocolError; code 0 is not an error. */
export function errorFromWire(code: number, serverMessage: string, what: string): ProtocolError {
  const info = errorInfoForCode(code);
  const name = errorNameForCode(code);
  const detail = serverMessage.length > 0 ? serverMessage : info.description;
  const known = name.startsWith("UNKNOWN_ERROR_") ? "UNKNOWN_SERVER_ERROR" : name;
  return protocolError(known as ErrorName, `${what}: ${name}: ${detail}`, { errorCode: code });
}

/** Throws the mapped error when `code` is not NONE. */
export function throwIfWireError(code: number, serverMessage: string, what: string): void {
  if (code !== 0) throw errorFromWire(code, serverMessage, what);
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number" && "metadata" in error;
}

/**
 * A gRPC call failure as a ProtocolError. Transport failures (UNAVAILABLE, cancelled,
 * connection reset) become NETWORK_EXCEPTION and deadlines REQUEST_TIMED_OUT, both
 * retriable; anything else the server reported is UNKNOWN_SERVER_ERROR.
 */
export function errorFromTransport(error: unknown, target: string, method: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  if (!isServiceError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return protocolError("NETWORK_EXCEPTION", `${method} to ${target} failed: ${message}`, { target });
  }
  // A refusal of the whole request carries its error name (see statusDetailsOf on the server).
  const carried = protocolErrorFromStatusDetails(error.details, { target });
  if (carried) return protocolError(carried.code, `${method} to ${target}: ${carried.code}: ${carried.message}`, { target });
  switch (error.code) {
    case status.DEADLINE_EXCEEDED:
      return protocolError("REQUEST_TIMED_OUT", `${method} to ${target} timed out: ${error.details}`, { target });
    case status.UNAVAILABLE:
    case status.CANCELLED:
    case status.ABORTED:
    case status.UNKNOWN:
    case status.INTERNAL:
      return protocolError("NETWORK_EXCEPTION", `${method} to ${target} failed (${status[error.code]}): ${error.details}`, { target });
    case status.RESOURCE_EXHAUSTED:
      return protocolError("RECORD_LIST_TOO_LARGE", `${method} to ${target} was refused as too large: ${error.details}`, { target });
    default:
      return protocolError("UNKNOWN_SERVER_ERROR", `${method} to ${target} failed (${status[error.code]}): ${error.details}`, { target });
  }
}

export function isRetriableError(error: unknown): boolean {
  return error instanceof ProtocolError && error.retriable;
}

/** An error in how the client was configured or called (bad option, bad argument). */
export class ClientConfigError extends Error {
  override readonly name = "ClientConfigError";
}

export function configError(message: string): ClientConfigError {
  return new ClientConfigError(message);
}

/** Exponential back-off with ±20% jitter, as Kafka's retry.backoff.ms / retry.backoff.max.ms (KIP-580). */
export function retryBackoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = 1 + (random() * 0.4 - 0.2);
  return Math.max(0, Math.min(maxMs, Math.round(exp * jitter)));
}
