// ReplicaFetchStream, the follower fetch transport: on the leader, each message is answered
// under its correlation id with exactly what unary Fetch answers (the same handler), errors
// come per partition and the stream goes on, a parked fetch wakes on an append, malformed
// messages and consumers end the stream, and shutdown ends open streams at once. On the
// follower (LeaderFetchStream): a leader without the RPC gets unary Fetch, a silent stream
// costs one timeout and is replaced, and an ended stream fails what was pending on it.

import {
  type BrokerClient,
  ErrorCode,
  encodeRecordBatch,
  type FetchRequestInput,
  type FetchResponse,
  type FetchResponseInput,
  loadCastleProto,
  type ProduceResponse,
  type ReplicaFetchStreamRequest,
  type ReplicaFetchStreamRequestInput,
  type ReplicaFetchStreamResponse,
  type ReplicaFetchStreamResponseInput,
} from "@castle/protocol";
import { grpcCall, type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { LeaderFetchStream } from "../src/replica/replica-fetcher.js";
import { startHarness } from "./grpc-harness.js";

const TOPIC = "streamed";
const SETTLE_MS = 10_000;
type PartitionResult = FetchResponse["topics"][number]["partitions"][number];

const brokerClient = (port: number): BrokerClient =>
  new (loadCastleProto().castle.v1.Broker)(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });

/** An open stream: what it answered so far, by correlation id, and its final status once it ends. */
function openStream(client: BrokerClient) {
  const call = client.ReplicaFetchStream({ deadline: Date.now() + 30_000 });
  const responses = new Map<number, ReplicaFetchStreamResponse>();
  const waiting = new Map<number, () => void>();
  call.on("data", (message: ReplicaFetchStreamResponse) => {
    responses.set(message.correlationId, message);
    waiting.get(message.correlationId)?.();
  });
  call.on("error", () => {});
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return {
    call,
    ended,
    write: (message: ReplicaFetchStreamRequestInput) => call.write(message),
    /** The response to `correlationId` (bounded wait). */
    response(correlationId: number, timeoutMs = 10_000): Promise<ReplicaFetchStreamResponse> {
      const have = responses.get(correlationId);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response to ${correlationId} within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(correlationId, () => {
          clearTimeout(timer);
          resolve(responses.get(correlationId) as ReplicaFetchStreamResponse);
        });
      });
    },
  };
}

const only = (response: FetchResponse | null | undefined): PartitionResult => {
  const result = response?.topics[0]?.partitions[0];
  if (!result) throw new Error("a response without a partition result");
  return result;
};

describe("ReplicaFetchStream on the leader (3 in-process nodes, RF 3)", function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let client: BrokerClient;

  const state = () => cluster.node(1).quorum.image.topic(TOPIC)?.partitions[0];
  const leaderId = (): number => state()?.leader ?? -1;
  const leaderPort = (): number => cluster.node(leaderId()).clientPort;
  const followerId = (): number => state()?.replicas.find((id) => id !== leaderId()) ?? -1;
  const leaderLog = () => {
    const log = cluster.node(leaderId()).context?.replicas.localLog(TOPIC, 0);
    if (!log) throw new Error("the leader has no log");
    return log;
  };
  const followerLogEnd = () => cluster.node(followerId()).context?.replicas.localLog(TOPIC, 0)?.logEndOffset ?? -1;
  const fetchRequest = (over: Partial<FetchRequestInput> & { fetchOffset: number; currentLeaderEpoch?: number; topic?: string }) => ({
    replicaId: over.replicaId ?? followerId(),
    maxWaitMs: over.maxWaitMs ?? 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    format: "RECORD_FORMAT_BATCHES" as const,
    topics: [
      {
        name: over.topic ?? TOPIC,
        partitions: [
          { partition: 0, fetchOffset: over.fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: over.currentLeaderEpoch ?? -1 },
        ],
      },
    ],
  });
  const produce = async (acks: number, count: number) => {
    const response = await grpcCall<ProduceResponse>(leaderPort(), "Broker", "Produce", {
      acks,
      timeoutMs: 5000,
      topics: [
        {
          name: TOPIC,
          partitions: [
            {
              partition: 0,
              recordBatches: encodeRecordBatch(
                Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`) })),
                { baseTimestampMs: Date.now() },
              ),
            },
          ],
        },
      ],
    });
    const result = response.topics[0]?.partitions[0];
    expect(result?.errorCode, result?.errorMessage).to.equal(ErrorCode.NONE);
  };
  /**
   * Every follower has everything and the high watermark covers it: a fetch at the follower's
   * log end (what it would send itself) changes nothing, and nothing moves between two answers.
   */
  const followerCaughtUp = () =>
    waitUntil(
      () => followerLogEnd() === leaderLog().logEndOffset && leaderLog().highWatermark === leaderLog().logEndOffset,
      "the followers to catch up",
      SETTLE_MS,
    ).then(() => followerLogEnd());

  before(async () => {
    cluster = await startInProcessCluster({
      size: 3,
      overrides: { "auto.leader.rebalance.enable": "false", "auto.create.topics.enable": "false" },
    });
    const admin = cluster.node(1).context;
    if (!admin) throw new Error("node 1 is not a broker");
    const created = await admin.controller.call("createTopics", [
      { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 3, configs: {} }], timeoutMs: 10_000, validateOnly: false },
    ]);
    expect(created.topics[0]?.errorCode).to.equal(ErrorCode.NONE);
    await waitUntil(
      () => cluster.runningIds().every((id) => cluster.node(id).context?.replicas.localLog(TOPIC, 0)) && state()?.isr.length === 3,
      "every replica's log and a full ISR",
      SETTLE_MS,
    );
    client = brokerClient(cluster.node(leaderId()).clientPort);
    await produce(-1, 5);
  });
  after(async () => {
    client?.close();
    await cluster?.close();
  });

  it("answers each fetch under its correlation id as unary Fetch does; errors come per partition and the stream goes on", async () => {
    const logEnd = await followerCaughtUp();
    const epoch = state()?.leaderEpoch ?? 0;
    const stream = openStream(client);
    const cases: { correlationId: number; request: ReturnType<typeof fetchRequest>; errorCode: number }[] = [
      { correlationId: 41, request: fetchRequest({ fetchOffset: logEnd }), errorCode: ErrorCode.NONE },
      {
        correlationId: 42,
        request: fetchRequest({ fetchOffset: logEnd, currentLeaderEpoch: epoch + 5 }),
        errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH,
      },
      { correlationId: 43, request: fetchRequest({ fetchOffset: 0, topic: "missing" }), errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
      { correlationId: 44, request: fetchRequest({ fetchOffset: logEnd + 100 }), errorCode: ErrorCode.OFFSET_OUT_OF_RANGE },
      { correlationId: 45, request: fetchRequest({ fetchOffset: 0, replicaId: 77 }), errorCode: ErrorCode.INVALID_REQUEST },
      { correlationId: 46, request: fetchRequest({ fetchOffset: logEnd }), errorCode: ErrorCode.NONE },
    ];
    for (const c of cases) stream.write({ correlationId: c.correlationId, request: c.request });
    for (const c of cases) {
      const streamed = only((await stream.response(c.correlationId)).response);
      const answered = only(await grpcCall<FetchResponse>(leaderPort(), "Broker", "Fetch", c.request));
      expect(streamed.errorCode, `correlation id ${c.correlationId}: ${streamed.errorMessage}`).to.equal(c.errorCode);
      expect(streamed, `correlation id ${c.correlationId} answers as unary Fetch does`).to.deep.equal(answered);
    }
    stream.call.end();
    expect((await stream.ended).code, "the follower half-closed: the stream ends OK").to.equal(grpc.status.OK);
    expect(state()?.isr.length, "no follower dropped").to.equal(3);
  });

  it("parks a fetch at the log end and answers it as soon as the leader appends", async () => {
    const logEnd = await followerCaughtUp();
    const stream = openStream(client);
    stream.write({ correlationId: 1, request: fetchRequest({ fetchOffset: logEnd, maxWaitMs: 20_000 }) });
    const answered = stream.response(1, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const startedAt = performance.now();
    await produce(1, 3);
    const result = only((await answered).response);
    expect(performance.now() - startedAt, "woken by the append, not by max_wait_ms").to.be.below(5_000);
    expect(result.errorCode, result.errorMessage).to.equal(ErrorCode.NONE);
    expect(result.recordBatches.length, "the appended batch").to.be.above(0);
    stream.call.cancel();
  });

  it("ends the stream with INVALID_ARGUMENT for a consumer's replica_id or a message without a request", async () => {
    const cases: [string, ReplicaFetchStreamRequestInput, RegExp][] = [
      ["a consumer", { correlationId: 1, request: fetchRequest({ fetchOffset: 0, replicaId: -1 }) }, /consumers use Fetch/],
      ["no request", { correlationId: 2 }, /carries no request/],
    ];
    for (const [what, message, details] of cases) {
      const stream = openStream(client);
      stream.write(message);
      const status = await stream.ended;
      expect(status.code, what).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(status.details, what).to.match(details);
    }
  });
});

describe("ReplicaFetchStream at shutdown", function () {
  this.timeout(30_000);

  it("ends open streams with UNAVAILABLE at once, so closing the node does not wait for its grace period", async () => {
    const h = await startHarness({ "auto.create.topics.enable": "false" });
    try {
      const stream = openStream(h.broker);
      // A forged follower: answered per partition (INVALID_REQUEST or UNKNOWN_TOPIC), and the stream stays open.
      stream.write({
        correlationId: 1,
        request: { replicaId: 9, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, topics: [{ name: "none", partitions: [{ partition: 0 }] }] },
      });
      expect(only((await stream.response(1)).response).errorCode).to.not.equal(ErrorCode.NONE);
      const startedAt = performance.now();
      await h.node.close();
      // node.ts waits up to 2 s (SHUTDOWN_GRACE_MS) for open calls before forcing them.
      expect(performance.now() - startedAt, "closed without waiting on the stream").to.be.below(1_900);
      expect((await stream.ended).code).to.equal(grpc.status.UNAVAILABLE);
    } finally {
      h.broker.close();
      h.admin.close();
      h.dir.cleanup();
    }
  });
});

describe("LeaderFetchStream (the follower's end)", function () {
  this.timeout(30_000);
  const canned: FetchResponseInput = {
    topics: [{ name: "t", partitions: [{ partition: 0, errorCode: 0, highWatermark: 7, logStartOffset: 0, lastStableOffset: 7 }] }],
  };
  const request: FetchRequestInput = { replicaId: 2, maxWaitMs: 0, minBytes: 1, topics: [{ name: "t", partitions: [{ partition: 0 }] }] };
  let server: grpc.Server | undefined;
  let client: BrokerClient | undefined;

  /** A leader that implements only `handlers` of castle.v1.Broker (the rest answer UNIMPLEMENTED). */
  async function fakeLeader(handlers: Record<string, grpc.UntypedHandleCall>): Promise<BrokerClient> {
    const s = new grpc.Server();
    s.addService(loadCastleProto().castle.v1.Broker.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      s.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    server = s;
    client = brokerClient(port);
    return client;
  }
  afterEach(() => {
    client?.close();
    server?.forceShutdown();
    client = undefined;
    server = undefined;
  });

  it("sends unary Fetch to a leader without ReplicaFetchStream, the pending fetch included", async () => {
    let unaryCalls = 0;
    const fetches = new LeaderFetchStream(
      await fakeLeader({
        Fetch: ((_call, callback) => {
          unaryCalls++;
          callback(null, canned);
        }) as grpc.handleUnaryCall<unknown, FetchResponseInput>,
      }),
      1,
    );
    for (let i = 0; i < 3; i++) expect(only(await fetches.fetch(request, 5_000)).highWatermark, `fetch ${i}`).to.equal(7);
    expect(unaryCalls, "every fetch went unary").to.equal(3);
    fetches.close();
  });

  it("fails a fetch unanswered within its timeout, drops that stream, and opens a new one for the next", async () => {
    let streams = 0;
    const fetches = new LeaderFetchStream(
      await fakeLeader({
        ReplicaFetchStream: ((call) => {
          const silent = ++streams === 1;
          call.on("data", (message: ReplicaFetchStreamRequest) => {
            if (!silent) call.write({ correlationId: message.correlationId, response: canned });
          });
          call.on("error", () => {});
        }) as grpc.handleBidiStreamingCall<ReplicaFetchStreamRequest, ReplicaFetchStreamResponseInput>,
      }),
      1,
    );
    let failure: Error | undefined;
    await fetches.fetch(request, 200).catch((error: Error) => {
      failure = error;
    });
    expect(failure?.message).to.match(/broker 1: no response within 200 ms/);
    expect(only(await fetches.fetch(request, 5_000)).highWatermark).to.equal(7);
    expect(streams, "a second stream").to.equal(2);
    fetches.close();
  });

  it("fails the pending fetch when the leader ends the stream, and when the follower closes", async () => {
    const fetches = new LeaderFetchStream(
      await fakeLeader({
        ReplicaFetchStream: ((call) => {
          call.on("data", (message: ReplicaFetchStreamRequest) => {
            if (Number(message.request?.maxWaitMs) === 1) call.emit("error", { code: grpc.status.UNAVAILABLE, details: "going away" });
          });
          call.on("error", () => {});
        }) as grpc.handleBidiStreamingCall<ReplicaFetchStreamRequest, ReplicaFetchStreamResponseInput>,
      }),
      3,
    );
    const ended = await fetches.fetch({ ...request, maxWaitMs: 1 }, 5_000).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(ended?.message).to.match(/ReplicaFetchStream to broker 3: .*going away/);
    const pending = fetches.fetch(request, 5_000).then(
      () => undefined,
      (error: Error) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    fetches.close();
    expect((await pending)?.message).to.match(/fetch stream to broker 3 is closed/);
  });
});
