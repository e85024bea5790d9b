// Operating errors: an expected failure with a stable code and structured context. The wire
// error table in @castle/protocol maps each code to a Kafka error number and a retriable flag.

export type ErrorContext = Readonly<Record<string, unknown>>;

export class CastleError<Code extends string = string> extends Error {
  override readonly name = "CastleError";
  constructor(
    readonly code: Code,
    message: string,
    readonly context: ErrorContext = {},
  ) {
    super(message);
  }
}

export function isCastleError(error: unknown): error is CastleError {
  return error instanceof CastleError;
}
