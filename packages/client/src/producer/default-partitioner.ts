// Kafka's default partitioning: keyed records hash with murmur2 over all partitions; records
// without a key stick to one available partition until a new batch would be needed there,
// then move to another (KIP-480, the sticky partitioner), so null-key traffic fills batches.

import type { TopicInfo } from "../connection/metadata-cache.js";
import { partitionForKey } from "./murmur2.js";

export class DefaultPartitioner {
  private readonly sticky = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  /**
   * @param wouldStartNewBatch whether appending to a partition now would open a new batch;
   * the sticky choice changes only then.
   */
  partition(topic: TopicInfo, keyBytes: Uint8Array | null, wouldStartNewBatch: (partition: number) => boolean): number {
    if (keyBytes !== null) return partitionForKey(keyBytes, topic.partitions.length);
    const current = this.sticky.get(topic.name);
    if (current !== undefined && current < topic.partitions.length && !wouldStartNewBatch(current)) return current;
    const next = this.nextPartition(topic, current);
    this.sticky.set(topic.name, next);
    return next;
  }

  /** A random available partition other than `previous` when there is a choice. */
  private nextPartition(topic: TopicInfo, previous: number | undefined): number {
    const pool = topic.availablePartitions.length > 0 ? topic.availablePartitions : topic.partitions.map((p) => p.partition);
    if (pool.length === 1) return pool[0] as number;
    if (previous === undefined || !pool.includes(previous)) return pool[Math.floor(this.random() * pool.length)] as number;
    const index = Math.floor(this.random() * (pool.length - 1));
    const candidate = pool[index] as number;
    return candidate === previous ? (pool[pool.length - 1] as number) : candidate;
  }
}
