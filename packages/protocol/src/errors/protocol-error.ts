// An operating error that crosses the wire: a CastleError whose code is a wire error name.

import { CastleError, type ErrorContext } from "@castle/common";
import { type ErrorName, errorInfo, isErrorName } from "./error-codes.js";

export class ProtocolError extends CastleError<ErrorName> {
  get errorCode(): number {
    return errorInfo(this.code).code;
  }
  get retriable(): boolean {
    return errorInfo(this.code).retriable;
  }
}

export function protocolError(code: ErrorName, message: string, context: ErrorContext = {}): ProtocolError {
  return new ProtocolError(code, message, context);
}

/**
 * How a ProtocolError that refuses a whole request travels in a gRPC status's details:
 * "<ERROR_NAME>: <message>". The receiver turns it back with `protocolErrorFromStatusDetails`.
 */
export function statusDetailsOf(error: ProtocolError): string {
  return `${error.code}: ${error.message}`;
}

/** The ProtocolError a status's details carry (see statusDetailsOf), or undefined for other text. */
export function protocolErrorFromStatusDetails(details: string, context: ErrorContext = {}): ProtocolError | undefined {
  const match = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/.exec(details);
  if (!match) return undefined;
  const [, name = "", message = ""] = match;
  if (!isErrorName(name)) return undefined;
  return new ProtocolError(name, message, context);
}
