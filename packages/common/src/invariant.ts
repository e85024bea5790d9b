// Programmer-error guard. A broken invariant means the process can no longer be trusted with
// data, so it throws InvariantError and the node is expected to stop rather than continue.
// Operating errors (bad input, not leader, ...) are never invariants: see CastleError.

export class InvariantError extends Error {
  override readonly name = "InvariantError";
}

export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantError(typeof message === "string" ? message : message());
  }
}
