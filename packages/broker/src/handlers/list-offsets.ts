// ListOffsets: earliest (-2), latest (-1), or the first offset at or after a timestamp.

import type { ListOffsetsRequest, ListOffsetsResponseInput } from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";
import { errorFields, noError } from "./error-result.js";

export async function handleListOffsets(ctx: BrokerContext, request: ListOffsetsRequest): Promise<ListOffsetsResponseInput> {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => {
        try {
          const found = ctx.replicas.listOffset(topic.name, p.partition, p.timestamp);
          return { partition: p.partition, ...noError, offset: found.offset, timestamp: found.timestamp };
        } catch (error) {
          return { partition: p.partition, ...errorFields(error, ctx.logger, "list offsets"), offset: -1, timestamp: -1 };
        }
      }),
    })),
  };
}
