// The consumer's group options (Kafka's group.id, group.instance.id, session.timeout.ms, ...
// in camelCase, with Kafka's defaults) and their validation: every bad value is refused at
// construction with a message naming the option and the fix.

import { configError } from "../../errors/wire-error.js";
import type { PartitionAssignor, RebalanceProtocol } from "../assignors/assignor.js";
import { assignorByName, DEFAULT_ASSIGNORS } from "../assignors/index.js";

export interface GroupOptions {
  /** The consumer group (Kafka's group.id). Required by subscribe() and the commit calls. */
  groupId?: string;
  /** Static membership (group.instance.id, KIP-345): a restart within the session keeps the member's partitions. */
  groupInstanceId?: string;
  /** The coordinator removes a member it has not heard from within this. Default 45000. */
  sessionTimeoutMs?: number;
  /** Heartbeats to the coordinator are this far apart; below sessionTimeoutMs (a third is usual). Default 3000. */
  heartbeatIntervalMs?: number;
  /**
   * The longest time between poll() calls before the member leaves the group so its partitions
   * move on; also the rebalance timeout sent in JoinGroup. Default 300000.
   */
  maxPollIntervalMs?: number;
  /** Commit consumed positions every autoCommitIntervalMs from poll(), before revocations and in close(). Default true. */
  enableAutoCommit?: boolean;
  /** Default 5000. */
  autoCommitIntervalMs?: number;
  /**
   * Assignors in order of preference, by name ("range", "roundrobin", "cooperative-sticky") or as
   * objects. Default ["range", "cooperative-sticky"]. The group rebalances cooperatively only when
   * every assignor listed supports it (Kafka's rule), e.g. ["cooperative-sticky"].
   */
  partitionAssignmentStrategy?: readonly (string | PartitionAssignor)[];
  /** Sent in the subscription for rack-aware assignors (client.rack). */
  clientRack?: string;
  /** How often a pattern subscription is matched against the cluster's topics again, and partition counts re-checked. Default 300000. */
  metadataMaxAgeMs?: number;
}

export interface ResolvedGroupOptions {
  groupId: string | undefined;
  groupInstanceId: string | undefined;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxPollIntervalMs: number;
  enableAutoCommit: boolean;
  autoCommitIntervalMs: number;
  assignors: readonly PartitionAssignor[];
  /** COOPERATIVE when every assignor supports it, else EAGER (fixed for the consumer's life, as in Kafka). */
  rebalanceProtocol: RebalanceProtocol;
  clientRack: string;
  metadataMaxAgeMs: number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, max = 2 ** 31 - 1): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw configError(`consumer option ${name}=${String(value)} is invalid: use an integer of milliseconds from 1 to ${max}`);
  }
  return v;
}

function optionalName(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim().length === 0) {
    throw configError(`consumer option ${name}=${JSON.stringify(value)} is invalid: use a non-empty string, or leave it out`);
  }
  return value;
}

function resolveAssignors(strategy: GroupOptions["partitionAssignmentStrategy"]): readonly PartitionAssignor[] {
  if (strategy === undefined) return DEFAULT_ASSIGNORS;
  if (!Array.isArray(strategy) || strategy.length === 0) {
    throw configError(
      `consumer option partitionAssignmentStrategy=${JSON.stringify(strategy)} is invalid: list at least one assignor, e.g. ["range", "cooperative-sticky"]`,
    );
  }
  const assignors = strategy.map((entry) => {
    if (typeof entry === "string") {
      try {
        return assignorByName(entry);
      } catch (error) {
        throw configError(`consumer option partitionAssignmentStrategy: ${(error as Error).message}`);
      }
    }
    if (typeof entry?.name !== "string" || typeof entry.assign !== "function" || !Array.isArray(entry.supportedProtocols)) {
      throw configError("consumer option partitionAssignmentStrategy: an entry is neither an assignor name nor a PartitionAssignor");
    }
    return entry;
  });
  const names = assignors.map((a) => a.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined)
    throw configError(`consumer option partitionAssignmentStrategy names '${duplicate}' twice: list each assignor once`);
  return assignors;
}

export function resolveGroupOptions(options: GroupOptions): ResolvedGroupOptions {
  const groupId = options.groupId;
  if (groupId !== undefined && (typeof groupId !== "string" || groupId.length === 0)) {
    throw configError(
      `consumer option groupId=${JSON.stringify(groupId)} is invalid: use a non-empty group name, or leave it out to use assign() only`,
    );
  }
  const groupInstanceId = optionalName("groupInstanceId", options.groupInstanceId);
  if (groupInstanceId !== undefined && groupId === undefined) {
    throw configError("consumer option groupInstanceId needs groupId: static membership is membership of a group");
  }
  const sessionTimeoutMs = positiveInteger("sessionTimeoutMs", options.sessionTimeoutMs, 45_000);
  const heartbeatIntervalMs = positiveInteger("heartbeatIntervalMs", options.heartbeatIntervalMs, 3_000);
  if (heartbeatIntervalMs >= sessionTimeoutMs) {
    throw configError(
      `consumer option heartbeatIntervalMs=${heartbeatIntervalMs} must be below sessionTimeoutMs=${sessionTimeoutMs}: set it to a third of the session timeout or less`,
    );
  }
  const enableAutoCommit = options.enableAutoCommit ?? true;
  if (typeof enableAutoCommit !== "boolean") {
    throw configError(`consumer option enableAutoCommit=${String(enableAutoCommit)} is invalid: use true or false`);
  }
  const assignors = resolveAssignors(options.partitionAssignmentStrategy);
  const cooperative = assignors.every((a) => a.supportedProtocols.includes("COOPERATIVE"));
  return {
    groupId,
    groupInstanceId,
    sessionTimeoutMs,
    heartbeatIntervalMs,
    maxPollIntervalMs: positiveInteger("maxPollIntervalMs", options.maxPollIntervalMs, 300_000),
    enableAutoCommit,
    autoCommitIntervalMs: positiveInteger("autoCommitIntervalMs", options.autoCommitIntervalMs, 5_000),
    assignors,
    rebalanceProtocol: cooperative ? "COOPERATIVE" : "EAGER",
    clientRack: optionalName("clientRack", options.clientRack) ?? "",
    metadataMaxAgeMs: positiveInteger("metadataMaxAgeMs", options.metadataMaxAgeMs, 300_000),
  };
}
