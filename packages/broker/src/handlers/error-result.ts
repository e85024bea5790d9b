// Maps a thrown error to the {errorCode, errorMessage} pair every result carries. Operating
// errors keep their code and message; anything else is a bug: logged, and reported as
// UNKNOWN_SERVER_ERROR without internals.

import type { Logger } from "@castle/common";
import { ErrorCode, ProtocolError } from "@castle/protocol";

export interface ErrorFields {
  errorCode: number;
  errorMessage: string;
}

export const noError: ErrorFields = { errorCode: ErrorCode.NONE, errorMessage: "" };

export function errorFields(error: unknown, logger: Logger, what: string): ErrorFields {
  if (error instanceof ProtocolError) return { errorCode: error.errorCode, errorMessage: error.message };
  logger.error("unexpected error", { what, error });
  return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: `unexpected server error in ${what}; see the server log` };
}
