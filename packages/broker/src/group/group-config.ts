// The group coordinator's limits, named after Kafka's broker configs (the key each field maps
// from is on its line) so an operator's Kafka knowledge carries over. The broker config maps its
// values onto this; tests build tiny ones.

import { invariant } from "@castle/common";

export interface GroupCoordinatorConfig {
  /** group.min.session.timeout.ms: the smallest session timeout a member may ask for. */
  readonly groupMinSessionTimeoutMs: number;
  /** group.max.session.timeout.ms: the largest session timeout a member may ask for. */
  readonly groupMaxSessionTimeoutMs: number;
  /**
   * group.initial.rebalance.delay.ms: how long the first rebalance of an Empty group waits for
   * more members; every member that arrives extends it again, up to the rebalance timeout. 0 = no wait.
   */
  readonly groupInitialRebalanceDelayMs: number;
  /** group.max.size: most members (joined or holding a member id from MEMBER_ID_REQUIRED) per group. */
  readonly groupMaxSize: number;
  /** offsets.retention.minutes: how long an Empty group's committed offsets are kept. */
  readonly offsetsRetentionMinutes: number;
  /** offsets.retention.check.interval.ms: how often expired offsets are looked for. */
  readonly offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes: longest metadata string (UTF-8 bytes) an offset commit may carry. */
  readonly offsetMetadataMaxBytes: number;
  /**
   * offsets.commit.timeout.ms: how long an append to __consumer_offsets may take. The OffsetsLog
   * port enforces it (the coordinator only documents it); kept here so one object holds every key.
   */
  readonly offsetsCommitTimeoutMs: number;
}

/** Kafka's defaults, except group.max.size (Kafka: Integer.MAX_VALUE), which Castle bounds. */
export const defaultGroupCoordinatorConfig: GroupCoordinatorConfig = {
  groupMinSessionTimeoutMs: 6_000,
  groupMaxSessionTimeoutMs: 1_800_000,
  groupInitialRebalanceDelayMs: 3_000,
  groupMaxSize: 1_000,
  offsetsRetentionMinutes: 10_080,
  offsetsRetentionCheckIntervalMs: 600_000,
  offsetMetadataMaxBytes: 4_096,
  offsetsCommitTimeoutMs: 5_000,
};

/** Programmer-error checks: the broker config validates user input before it gets here. */
export function assertGroupCoordinatorConfig(config: GroupCoordinatorConfig): void {
  const positive = (value: number): boolean => Number.isSafeInteger(value) && value > 0;
  invariant(positive(config.groupMinSessionTimeoutMs), "group.min.session.timeout.ms must be a positive integer");
  invariant(
    positive(config.groupMaxSessionTimeoutMs) && config.groupMaxSessionTimeoutMs >= config.groupMinSessionTimeoutMs,
    "group.max.session.timeout.ms must be at least group.min.session.timeout.ms",
  );
  invariant(
    Number.isSafeInteger(config.groupInitialRebalanceDelayMs) && config.groupInitialRebalanceDelayMs >= 0,
    "group.initial.rebalance.delay.ms must be a non-negative integer",
  );
  invariant(positive(config.groupMaxSize), "group.max.size must be a positive integer");
  invariant(positive(config.offsetsRetentionMinutes), "offsets.retention.minutes must be a positive integer");
  invariant(positive(config.offsetsRetentionCheckIntervalMs), "offsets.retention.check.interval.ms must be a positive integer");
  invariant(
    Number.isSafeInteger(config.offsetMetadataMaxBytes) && config.offsetMetadataMaxBytes >= 0,
    "offset.metadata.max.bytes must be a non-negative integer",
  );
  invariant(positive(config.offsetsCommitTimeoutMs), "offsets.commit.timeout.ms must be a positive integer");
}
