// The assignor contract: the group leader's consumer turns every member's subscription into
// each member's partitions. Assignors are pure and deterministic (same input, same output),
// so every test can state the exact assignment it expects.

import type { TopicPartition } from "../subscription-state.js";

/** Eager: every member gives up everything before a rebalance. Cooperative: only what moves (KIP-429). */
export type RebalanceProtocol = "EAGER" | "COOPERATIVE";

/** One member as the leader sees it in JoinGroup (decoded from its ConsumerSubscription). */
export interface AssignorMember {
  readonly memberId: string;
  /** Static membership id (group.instance.id); assignors that sort members prefer it to memberId. */
  readonly groupInstanceId?: string;
  readonly topics: readonly string[];
  /** What the member owned in `generationId` (empty for eager assignors' members). */
  readonly ownedPartitions: readonly TopicPartition[];
  /** The generation ownedPartitions came from; -1 if none. */
  readonly generationId: number;
  readonly rackId?: string;
}

export interface PartitionAssignor {
  /** The protocol name members advertise in JoinGroup: "range", "roundrobin", "cooperative-sticky". */
  readonly name: string;
  /** The protocols this assignor supports; the consumer follows the one all members share. */
  readonly supportedProtocols: readonly RebalanceProtocol[];
  /**
   * Each member's partitions. `partitionsPerTopic` holds the partition count of every topic any
   * member subscribes to (topics missing from it are skipped: unknown or not yet created).
   * Every member id appears in the result, possibly with no partitions; no partition is given
   * to two members.
   */
  assign(partitionsPerTopic: ReadonlyMap<string, number>, members: readonly AssignorMember[]): Map<string, TopicPartition[]>;
}
