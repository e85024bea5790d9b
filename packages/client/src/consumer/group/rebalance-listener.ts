// What the application hears when its partitions change (Kafka's ConsumerRebalanceListener).
// Callbacks run inside poll(), unsubscribe() or close(), never concurrently with each other,
// and are awaited; one that throws does not stop the rebalance, and its error is thrown from
// the call that ran it once the consumer's state is consistent again.

import type { TopicPartition } from "../subscription-state.js";

export interface ConsumerRebalanceListener {
  /**
   * The consumer gives these partitions up in an orderly way: the group still considers them
   * this member's, so offsets may be committed here (auto-commit already has, if enabled).
   * Eager rebalancing revokes every owned partition before rejoining; cooperative rebalancing
   * revokes only the partitions that move, after the new assignment arrives.
   */
  onPartitionsRevoked?(partitions: TopicPartition[]): void | Promise<void>;
  /**
   * The partitions added by a completed rebalance (cooperative: only the new ones). Called after
   * every rebalance, possibly with none. Positions are looked up afterwards (committed offset,
   * else autoOffsetReset), unless seek() sets one here.
   */
  onPartitionsAssigned?(partitions: TopicPartition[]): void | Promise<void>;
  /**
   * The consumer lost these partitions without a chance to give them up (its generation was
   * fenced, or it left after maxPollIntervalMs): they may already be assigned to another member,
   * so committing them now would fail. Default: onPartitionsRevoked, as in Kafka.
   */
  onPartitionsLost?(partitions: TopicPartition[]): void | Promise<void>;
}
