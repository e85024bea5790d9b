// The ProduceStream adapter: one long-lived bidi stream carries many produce requests, each
// tagged with a correlation id. Every message goes to the same handleProduce as unary
// Produce, timed under the same api label ("produce"); nothing here decides anything.
//
// Ordering: each request is handled as it arrives. Its appends happen before anything awaits
// (handleProduce appends synchronously, then waits for replication with acks=all), so records
// reach the log in arrival order; responses leave as requests complete, which with acks=all
// is not always arrival order (the proto promises clients only the correlation id).
// Errors: a handler that throws answers its correlation id with that error on every partition
// the request named, and the stream goes on (the unary adapter's whole-request status, made
// per partition). A message without a request ends the stream with INVALID_ARGUMENT. Memory,
// back-pressure and shutdown: CorrelatedStreams.

import type { ProduceRequest, ProduceResponseInput } from "@castle/protocol";
import type { BrokerContext } from "../handlers/broker-context.js";
import { type ErrorFields, errorFields } from "../handlers/error-result.js";
import { handleProduce } from "../handlers/produce.js";
import { CorrelatedStreams } from "./correlated-streams.js";

/** Requests read from one stream and not yet answered. */
export const PRODUCE_STREAM_OUTSTANDING_REQUESTS_MAX = 16;

/** A response that reports `fields` for every partition `request` named. */
export function produceFailureResponse(request: ProduceRequest, fields: ErrorFields): ProduceResponseInput {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((data) => ({
        partition: data.partition,
        ...fields,
        baseOffset: -1,
        logAppendTimeMs: -1,
        logStartOffset: -1,
      })),
    })),
  };
}

/** The ProduceStream handler over CorrelatedStreams: each request goes to handleProduce. */
export class ProduceStreams extends CorrelatedStreams<ProduceRequest, ProduceResponseInput> {
  constructor(ctx: BrokerContext, outstandingRequestsMax = PRODUCE_STREAM_OUTSTANDING_REQUESTS_MAX) {
    super({
      method: "ProduceStream",
      outstandingRequestsMax,
      // The appends happen before this returns its promise (see Ordering above).
      answer: (request) =>
        ctx.metrics
          .observe("produce", () => handleProduce(ctx, request))
          .catch((error: unknown) => produceFailureResponse(request, errorFields(error, ctx.logger, "produce"))),
    });
  }
}
