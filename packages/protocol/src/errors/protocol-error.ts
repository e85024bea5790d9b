// An operating error that crosses the wire: a CastleError whose code is a wire error name.

import { CastleError, type ErrorContext } from "@castle/common";
import { type ErrorName, errorInfo } from "./error-codes.js";

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
