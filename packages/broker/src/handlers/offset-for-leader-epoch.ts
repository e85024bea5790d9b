// OffsetForLeaderEpoch: where each asked leader epoch ends in this leader's log, so a follower
// (or a replica coming back) can cut a suffix the leader never had before it fetches.

import type { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponseInput } from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

export async function handleOffsetForLeaderEpoch(
  ctx: BrokerContext,
  request: OffsetForLeaderEpochRequest,
): Promise<OffsetForLeaderEpochResponseInput> {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => {
        try {
          const found = ctx.replicas.endOffsetForEpoch(topic.name, p.partition, p.currentLeaderEpoch, p.leaderEpoch);
          return { partition: p.partition, ...noError, leaderEpoch: found.epoch, endOffset: found.endOffset };
        } catch (error) {
          return { partition: p.partition, ...errorFields(error, ctx.logger, "offset for leader epoch"), leaderEpoch: -1, endOffset: -1 };
        }
      }),
    })),
  };
}
