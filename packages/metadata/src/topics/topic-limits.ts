// Named limits on a topic's shape, enforced wherever topics are created or grown.

/** Most partitions one topic may have (create and create-partitions refuse more). */
export const PARTITIONS_PER_TOPIC_MAX = 10000;
