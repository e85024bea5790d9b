// Which __consumer_offsets partition holds a group, and so which node coordinates it: Kafka's
// rule, so a group lands on the same partition number as it would in Kafka (operators reading
// the internal topic, and tools that compute it, agree).

import { invariant } from "@castle/common";

/** Java's String.hashCode: over UTF-16 code units, with 32-bit overflow. */
export function javaStringHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return hash;
}

/**
 * Kafka's GroupMetadataManager.partitionFor: Utils.abs(groupId.hashCode) % partitionCount,
 * where Utils.abs maps Integer.MIN_VALUE (which has no positive counterpart) to 0.
 */
export function offsetsPartitionFor(groupId: string, partitionCount: number): number {
  invariant(Number.isSafeInteger(partitionCount) && partitionCount > 0, () => `__consumer_offsets partition count ${partitionCount}`);
  const hash = javaStringHashCode(groupId);
  const nonNegative = hash === -0x8000_0000 ? 0 : Math.abs(hash);
  return nonNegative % partitionCount;
}
