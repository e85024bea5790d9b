// Argument parsers for commander: each rejects bad input with a message that says what is
// accepted (commander prints it as `error: option '...' argument 'x' is invalid. <message>`).

import { InvalidArgumentError } from "commander";

export function intAtLeast(min: number): (value: string) => number {
  return (value: string) => {
    const trimmed = value.trim();
    const n = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

export const positiveInt = intAtLeast(1);
export const nonNegativeInt = intAtLeast(0);

/** -1 means "unlimited" for perf --throughput. */
export function throughputArg(value: string): number {
  const n = Number(value.trim());
  if (!Number.isFinite(n) || (n <= 0 && n !== -1)) throw new InvalidArgumentError("expected records/s > 0, or -1 for no limit");
  return n;
}

export function acksArg(value: string): 0 | 1 | -1 {
  const text = value.trim().toLowerCase();
  if (text === "all" || text === "-1") return -1;
  if (text === "0") return 0;
  if (text === "1") return 1;
  throw new InvalidArgumentError("expected 0, 1 or all");
}

/** Repeatable `--config key=value`. */
export function collectConfig(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  const key = eq > 0 ? value.slice(0, eq).trim() : "";
  if (eq <= 0 || key.length === 0) throw new InvalidArgumentError("expected key=value, e.g. --config retention.ms=86400000");
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** Repeatable plain values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function offsetArg(value: string): number | "earliest" | "latest" {
  const text = value.trim().toLowerCase();
  if (text === "earliest" || text === "latest") return text;
  return intAtLeast(0)(text);
}
