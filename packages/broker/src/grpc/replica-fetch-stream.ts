// The ReplicaFetchStream adapter: one long-lived bidi stream per (follower, leader) pair carries
// the follower's fetches, each tagged with a correlation id, instead of a unary Fetch call per
// fetch (which costs an HTTP/2 stream, its headers and trailers, and grpc-js's call set-up on
// both sides). Every message goes to the same handleFetch as unary Fetch, timed under the same
// api label ("fetch"); nothing here decides anything.
//
// Ordering: each request is handled as it arrives; responses leave as requests complete, so a
// request that long-polls can be overtaken by a later one (the proto promises followers only
// the correlation id). A follower keeps one fetch in flight per stream, so in practice the
// order holds.
// Errors: a handler that throws answers its correlation id with that error on every partition
// the request named, and the stream goes on (the unary adapter's whole-request status, made per
// partition). A message without a request, or one from a consumer (replica_id <= 0: consumers
// use Fetch, whose high-watermark reads this adapter was not built for), ends the stream with
// INVALID_ARGUMENT. Open streams end with UNAVAILABLE when the fetch purgatory closes
// (shutdown). Memory and back-pressure: CorrelatedStreams.

import type { FetchRequest, FetchResponseInput } from "@castle/protocol";
import type { BrokerContext } from "../handlers/broker-context.js";
import { type ErrorFields, errorFields } from "../handlers/error-result.js";
import { handleFetch } from "../handlers/fetch.js";
import { CorrelatedStreams } from "./correlated-streams.js";

/** Requests read from one stream and not yet answered (a follower keeps one in flight). */
export const REPLICA_FETCH_STREAM_OUTSTANDING_REQUESTS_MAX = 4;

/** A response that reports `fields` for every partition `request` named. */
export function fetchFailureResponse(request: FetchRequest, fields: ErrorFields): FetchResponseInput {
  return {
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => ({
        partition: p.partition,
        ...fields,
        highWatermark: -1,
        logStartOffset: -1,
        lastStableOffset: -1,
      })),
    })),
  };
}

/** The ReplicaFetchStream handler over CorrelatedStreams: each follower fetch goes to handleFetch. */
export class ReplicaFetchStreams extends CorrelatedStreams<FetchRequest, FetchResponseInput> {
  /** Open streams end when `ctx.purgatory` closes (the node's shutdown: it answers parked fetches then). */
  constructor(ctx: BrokerContext, outstandingRequestsMax = REPLICA_FETCH_STREAM_OUTSTANDING_REQUESTS_MAX) {
    super({
      method: "ReplicaFetchStream",
      outstandingRequestsMax,
      check: (request) =>
        request.replicaId <= 0
          ? `ReplicaFetchStream is for followers (replica_id = their broker id), not ${request.replicaId}; consumers use Fetch`
          : undefined,
      answer: (request) =>
        ctx.metrics
          .observe("fetch", () => handleFetch(ctx, request))
          .catch((error: unknown) => fetchFailureResponse(request, errorFields(error, ctx.logger, "fetch"))),
    });
    ctx.purgatory.onClose(() => this.closeAll());
  }
}
