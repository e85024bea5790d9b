// Producer settings, named after Kafka's (batch.size -> batchSize, linger.ms -> lingerMs, ...),
// with Kafka's defaults, validated once at construction with messages that name the fix.

import { CompressionType } from "@castle/protocol";
import { configError } from "../errors/wire-error.js";

export type Acks = 0 | 1 | -1 | "all";
export type CompressionName = "none" | "gzip";

export interface ProducerOptions {
  /** Target size of one record batch in bytes. Default 16384. */
  batchSize?: number;
  /** How long a non-full batch may wait for more records. Default 5. */
  lingerMs?: number;
  /** Bytes of records the producer may hold before send() waits. Default 32 MiB. */
  bufferMemory?: number;
  /** How long send() may wait for buffer space or metadata before it rejects. Default 60000. */
  maxBlockMs?: number;
  /** 0, 1, or -1/"all". Default "all". */
  acks?: Acks;
  /** Retries of a batch on retriable errors. Default: unbounded (deliveryTimeoutMs bounds them). */
  retries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  requestTimeoutMs?: number;
  /** Upper bound on the time from send() to success or failure. Default 120000. */
  deliveryTimeoutMs?: number;
  compression?: CompressionName;
  /** Unacknowledged produce requests per broker. Default 5; 1 keeps order across retries. */
  maxInFlightRequests?: number;
  /** Upper bound on record bytes in one produce request. Default 1 MiB (max.request.size). */
  maxRequestSize?: number;
}

export interface ResolvedProducerOptions {
  batchSize: number;
  lingerMs: number;
  bufferMemory: number;
  maxBlockMs: number;
  acks: 0 | 1 | -1;
  retries: number;
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
  requestTimeoutMs: number;
  deliveryTimeoutMs: number;
  compression: CompressionType;
  maxInFlightRequests: number;
  maxRequestSize: number;
}

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || !Number.isInteger(v) || v < min) {
    throw configError(`producer option ${name}=${String(value)} is invalid: use an integer >= ${min}`);
  }
  return v;
}

export function parseAcks(value: string | number): 0 | 1 | -1 {
  const text = String(value).trim().toLowerCase();
  if (text === "all" || text === "-1") return -1;
  if (text === "0") return 0;
  if (text === "1") return 1;
  throw configError(`acks=${String(value)} is invalid: use 0, 1, or all (-1)`);
}

export function resolveProducerOptions(options: ProducerOptions = {}): ResolvedProducerOptions {
  const compressionName = options.compression ?? "none";
  if (compressionName !== "none" && compressionName !== "gzip") {
    throw configError(`producer option compression=${String(compressionName)} is invalid: use none or gzip`);
  }
  const retries = options.retries === undefined ? Number.MAX_SAFE_INTEGER : integer("retries", options.retries, 0, 0);
  const resolved: ResolvedProducerOptions = {
    batchSize: integer("batchSize", options.batchSize, 16_384, 1),
    lingerMs: integer("lingerMs", options.lingerMs, 5, 0),
    bufferMemory: integer("bufferMemory", options.bufferMemory, 32 * 1024 * 1024, 1),
    maxBlockMs: integer("maxBlockMs", options.maxBlockMs, 60_000, 0),
    acks: parseAcks(options.acks ?? "all"),
    retries,
    retryBackoffMs: integer("retryBackoffMs", options.retryBackoffMs, 100, 0),
    retryBackoffMaxMs: integer("retryBackoffMaxMs", options.retryBackoffMaxMs, 1000, 0),
    requestTimeoutMs: integer("requestTimeoutMs", options.requestTimeoutMs, 30_000, 1),
    deliveryTimeoutMs: integer("deliveryTimeoutMs", options.deliveryTimeoutMs, 120_000, 1),
    compression: compressionName === "gzip" ? CompressionType.Gzip : CompressionType.None,
    maxInFlightRequests: integer("maxInFlightRequests", options.maxInFlightRequests, 5, 1),
    maxRequestSize: integer("maxRequestSize", options.maxRequestSize, 1024 * 1024, 1),
  };
  if (resolved.deliveryTimeoutMs < resolved.lingerMs + resolved.requestTimeoutMs) {
    throw configError(
      `producer option deliveryTimeoutMs=${resolved.deliveryTimeoutMs} must be >= lingerMs + requestTimeoutMs (${resolved.lingerMs + resolved.requestTimeoutMs})`,
    );
  }
  if (resolved.retryBackoffMaxMs < resolved.retryBackoffMs) resolved.retryBackoffMaxMs = resolved.retryBackoffMs;
  return resolved;
}
