// Operating errors of the CLI: printed as `error: <cause>. <fix>` with exit code 1 and no
// stack trace. Anything else is a bug and prints its stack when CASTLE_DEBUG is set.

import { ClientConfigError } from "@castle/client";
import { CastleError } from "@castle/common";

export class CliError extends Error {
  override readonly name = "CliError";
  constructor(cause: string, fix?: string) {
    super(fix === undefined ? cause : `${cause}. ${fix}`);
  }
}

/** The one line printed for an error (without the `error: ` prefix). */
export function describeError(error: unknown): { message: string; expected: boolean } {
  if (error instanceof CliError || error instanceof ClientConfigError || error instanceof CastleError) {
    return { message: error.message, expected: true };
  }
  if (error instanceof Error) return { message: error.message, expected: false };
  return { message: String(error), expected: false };
}
