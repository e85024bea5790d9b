// Follower replication (Kafka's ReplicaFetcherThread): one fetch loop per leader broker, for
// every partition this node follows on that leader. Each partition first truncates what the
// leader's log does not have (OffsetForLeaderEpoch for this log's newest epoch, KIP-101/279),
// then fetches from its log end and appends the leader's batches unchanged; the high watermark
// the leader reports becomes this replica's (bounded by its own log end). The loop long-polls
// (replica.fetch.wait.max.ms) and backs off (replica.fetch.backoff.ms) when the leader fails.
// Fetches go over one ReplicaFetchStream per leader (a unary Fetch per fetch costs an HTTP/2
// stream and grpc-js's call set-up on both sides), or unary Fetch to a leader without it.
//
// A partition leaves a loop when the image moves it (another leader, a new epoch, or this
// node leads it now); errors that only a new image can fix (NOT_LEADER_OR_FOLLOWER, fenced or
// unknown epoch) park it until then.

import type { Logger } from "@castle/common";
import {
  type BrokerClient,
  CorrelatedClientStream,
  type FetchRequestInput,
  type FetchResponse,
  FLOW_CONTROL_WINDOW_BYTES,
  loadCastleProto,
  type OffsetForLeaderEpochRequestInput,
  type OffsetForLeaderEpochResponse,
  ProtocolError,
  protocolError,
  validateBatches,
} from "@castle/protocol";
import type { PartitionLog } from "@castle/storage";
import * as grpc from "@grpc/grpc-js";
import { partitionKey } from "./fetch-purgatory.js";

export interface FollowedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly log: PartitionLog;
}

export interface ReplicaFetcherOptions {
  readonly nodeId: number;
  readonly fetchWaitMaxMs: number;
  readonly fetchMaxBytes: number;
  readonly backoffMs: number;
  /** Largest batch accepted from a leader (its own limit is message.max.bytes; this bounds a bad leader). */
  readonly batchBytesMax: number;
}

export interface ReplicaFetcherDeps {
  /** host:port of a broker's client listener, from the image; undefined if it has none now. */
  readonly addressOf: (brokerId: number) => string | undefined;
  /** Called after records were appended here (the follower's log end moved). */
  readonly onAppended: (topic: string, partition: number) => void;
  readonly nowMs: () => number;
  readonly logger: Logger;
}

type PartitionPhase = "truncate" | "fetch" | "parked";

interface Followed extends FollowedPartition {
  phase: PartitionPhase;
  /** A parked partition tries again (truncation first) from this time on (nowMs). */
  parkedUntilMs: number;
}

/** One loop per leader broker. */
class LeaderLoop {
  readonly partitions = new Map<string, Followed>();
  private client: BrokerClient | undefined;
  private clientAddress: string | undefined;
  /** The fetch stream over `client`; replaced with it. */
  private fetches: LeaderFetchStream | undefined;
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private lastFailure: string | undefined;

  constructor(
    readonly leaderId: number,
    private readonly options: ReplicaFetcherOptions,
    private readonly deps: ReplicaFetcherDeps,
  ) {}

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
    });
  }

  /** Ends a long wait (back-off or parked partitions) so new partitions are picked up. */
  poke(): void {
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.fetches?.close();
    this.fetches = undefined;
    this.client?.close();
    this.client = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.partitions.size > 0) {
      try {
        // Parked partitions come back after the back-off whatever the others do: a refusal from a
        // leader still applying metadata must not park a partition for as long as its siblings fetch.
        const nowMs = this.deps.nowMs();
        for (const p of this.partitions.values()) if (p.phase === "parked" && p.parkedUntilMs <= nowMs) p.phase = "truncate";
        await this.truncatePending();
        const fetching = [...this.partitions.values()].filter((p) => p.phase === "fetch");
        if (fetching.length === 0) {
          await this.pause(this.options.backoffMs);
          continue;
        }
        await this.fetchOnce(fetching);
        this.lastFailure = undefined;
      } catch (error) {
        if (this.stopped) return;
        const message = (error as Error).message;
        // A new kind of failure is worth a warning; the same one again (a leader that is down) is not.
        if (message !== this.lastFailure)
          this.deps.logger.warn("fetch from leader failed; backing off", { leaderId: this.leaderId, error: message });
        this.lastFailure = message;
        await this.pause(this.options.backoffMs);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private stub(): BrokerClient {
    const address = this.deps.addressOf(this.leaderId);
    if (address === undefined) throw protocolError("LEADER_NOT_AVAILABLE", `broker ${this.leaderId} has no client endpoint in the image`);
    if (this.client && this.clientAddress === address) return this.client;
    this.fetches?.close();
    this.fetches = undefined;
    this.client?.close();
    // A fetch answer may hold replica.fetch.max.bytes for every partition followed here: far
    // more than grpc-js's 4 MiB default, which refused it forever (RESOURCE_EXHAUSTED). The
    // HTTP/2 window is widened as on the servers, or a catching-up follower crawls.
    this.client = new (loadCastleProto().castle.v1.Broker)(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1,
      "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
    });
    this.clientAddress = address;
    return this.client;
  }

  /** Cuts each new partition's log back to where the leader's log agrees with it (KIP-279). */
  private async truncatePending(): Promise<void> {
    const pending = [...this.partitions.values()].filter((p) => p.phase === "truncate");
    if (pending.length === 0) return;
    const withEpoch = pending.filter((p) => p.log.latestEpoch !== undefined);
    for (const p of pending) if (p.log.latestEpoch === undefined) p.phase = "fetch";
    if (withEpoch.length === 0) return;
    const request: OffsetForLeaderEpochRequestInput = {
      replicaId: this.options.nodeId,
      topics: [...groupByTopic(withEpoch)].map(([name, parts]) => ({
        name,
        partitions: parts.map((p) => ({ partition: p.partition, currentLeaderEpoch: p.leaderEpoch, leaderEpoch: p.log.latestEpoch ?? 0 })),
      })),
    };
    const client = this.stub();
    const response = await unary<OffsetForLeaderEpochResponse>((done) =>
      client.OffsetForLeaderEpoch(request, { deadline: deadlineIn(LEADER_CALL_TIMEOUT_MS) }, done),
    );
    for (const topic of response.topics) {
      for (const result of topic.partitions) {
        const p = this.partitions.get(partitionKey(topic.name, result.partition));
        if (p?.phase !== "truncate") continue;
        if (result.errorCode !== 0) {
          this.deps.logger.debug("offset for leader epoch refused", {
            topic: topic.name,
            partition: result.partition,
            error: result.errorMessage,
          });
          this.park(p);
          continue;
        }
        const asked = p.log.latestEpoch ?? 0;
        let target = p.log.logEndOffset;
        if (result.leaderEpoch < 0) {
          // The leader knows no epoch this old: keep only what this replica knows was committed.
          target = Math.min(target, p.log.highWatermark);
        } else {
          target = Math.min(target, Number(result.endOffset));
          // The leader's last matching epoch is older than ours: ours may end before theirs does.
          if (result.leaderEpoch < asked) {
            const ours = p.log.endOffsetForEpoch(result.leaderEpoch);
            if (ours) target = Math.min(target, ours.endOffset);
          }
        }
        if (target < p.log.logEndOffset) {
          this.deps.logger.info("truncating a suffix the leader does not have", {
            topic: p.topic,
            partition: p.partition,
            from: p.log.logEndOffset,
            to: target,
            leaderId: this.leaderId,
            leaderEpoch: p.leaderEpoch,
          });
          await p.log.truncateTo(target);
        }
        p.phase = "fetch";
      }
    }
  }

  private async fetchOnce(fetching: readonly Followed[]): Promise<void> {
    const request: FetchRequestInput = {
      replicaId: this.options.nodeId,
      maxWaitMs: this.options.fetchWaitMaxMs,
      minBytes: 1,
      maxBytes: this.options.fetchMaxBytes * Math.max(1, fetching.length),
      format: "RECORD_FORMAT_BATCHES",
      clientId: `replica-fetcher-${this.options.nodeId}`,
      topics: [...groupByTopic(fetching)].map(([name, parts]) => ({
        name,
        partitions: parts.map((p) => ({
          partition: p.partition,
          fetchOffset: p.log.logEndOffset,
          partitionMaxBytes: this.options.fetchMaxBytes,
          currentLeaderEpoch: p.leaderEpoch,
        })),
      })),
    };
    const client = this.stub();
    this.fetches ??= new LeaderFetchStream(client, this.leaderId);
    const response = await this.fetches.fetch(request, this.options.fetchWaitMaxMs + LEADER_CALL_TIMEOUT_MS);
    for (const topic of response.topics) {
      for (const result of topic.partitions) {
        const p = this.partitions.get(partitionKey(topic.name, result.partition));
        if (p?.phase !== "fetch") continue;
        await this.applyFetched(p, result);
      }
    }
  }

  private async applyFetched(p: Followed, result: FetchResponse["topics"][number]["partitions"][number]): Promise<void> {
    if (result.errorCode !== 0) {
      const name = result.errorMessage;
      if (result.errorCode === 1 /* OFFSET_OUT_OF_RANGE */) {
        const leaderStart = Number(result.logStartOffset);
        if (leaderStart > p.log.logEndOffset) {
          await p.log.resetTo(leaderStart);
          return;
        }
        p.phase = "truncate";
        return;
      }
      this.deps.logger.debug("leader refused a follower fetch; trying again after the back-off", {
        topic: p.topic,
        partition: p.partition,
        error: name,
      });
      this.park(p);
      return;
    }
    const records = result.recordBatches;
    if (records.length > 0) {
      const spans = validateBatches(records, { batchBytesMax: this.options.batchBytesMax, allowOffsetGaps: true });
      try {
        p.log.appendAsFollower(records, spans, this.deps.nowMs());
      } catch (error) {
        if (error instanceof ProtocolError && error.code === "OFFSET_OUT_OF_RANGE") {
          p.phase = "truncate";
          return;
        }
        throw error;
      }
      this.deps.onAppended(p.topic, p.partition);
    }
    const hw = Math.min(Number(result.highWatermark), p.log.logEndOffset);
    if (hw > p.log.highWatermark) p.log.updateHighWatermark(hw);
  }

  private park(p: Followed): void {
    p.phase = "parked";
    p.parkedUntilMs = this.deps.nowMs() + this.options.backoffMs;
  }
}

/** Partitions by topic name, each topic's in their order: one entry per topic in a request. */
function groupByTopic(partitions: readonly Followed[]): Map<string, Followed[]> {
  const byTopic = new Map<string, Followed[]>();
  for (const p of partitions) {
    const list = byTopic.get(p.topic);
    if (list) list.push(p);
    else byTopic.set(p.topic, [p]);
  }
  return byTopic;
}

/** How long a call to a leader may take beyond its own wait. */
const LEADER_CALL_TIMEOUT_MS = 10_000;

const deadlineIn = (ms: number): Date => new Date(Date.now() + ms);

/**
 * A follower's ReplicaFetchStream to one leader: @castle/protocol's CorrelatedClientStream with
 * the follower's errors. The stream opens on the first fetch and again after it ended; a fetch
 * pending when it ends fails with an Error the loop backs off on. A fetch unanswered after its
 * timeout fails and cancels the stream (a leader gone silent costs one timeout). A leader
 * without the RPC (UNIMPLEMENTED: an older version, in a rolling upgrade) gets unary Fetch from
 * then on, pending fetches included (it never read them), until the loop replaces this object
 * with its connection (a new address, or the loop restarts).
 */
export class LeaderFetchStream {
  private readonly stream: CorrelatedClientStream<FetchRequestInput, FetchResponse, Error>;

  constructor(client: BrokerClient, leaderId: number) {
    const name = `ReplicaFetchStream to broker ${leaderId}`;
    this.stream = new CorrelatedClientStream<FetchRequestInput, FetchResponse, Error>({
      open: () => client.ReplicaFetchStream(),
      unary: (request, timeoutMs) => unary<FetchResponse>((done) => client.Fetch(request, { deadline: deadlineIn(timeoutMs) }, done)),
      errors: {
        timedOut: (timeoutMs) => new Error(`${name}: no response within ${timeoutMs} ms`),
        ended: (final, error) =>
          new Error(`${name}: ${final.code === grpc.status.OK ? "the leader ended the stream" : (error?.message ?? final.details)}`),
        closed: () => new Error(`the fetch stream to broker ${leaderId} is closed`),
        noBody: () => new Error(`${name}: a response without a body`),
        openFailed: (error) => (error instanceof Error ? error : new Error(String(error))),
      },
    });
  }

  fetch(request: FetchRequestInput, timeoutMs: number): Promise<FetchResponse> {
    return this.stream.send(request, timeoutMs);
  }

  /** Cancels the stream; fetches pending on it fail. */
  close(): void {
    this.stream.close();
  }
}

/** A typed unary call as a promise. */
function unary<Res>(invoke: (done: (error: grpc.ServiceError | null, response?: Res) => void) => void): Promise<Res> {
  return new Promise<Res>((resolve, reject) =>
    invoke((error, response) => (error || response === undefined ? reject(error ?? new Error("empty response")) : resolve(response))),
  );
}

/** Every follower loop of this node, by leader broker. */
export class ReplicaFetchers {
  private readonly loops = new Map<number, LeaderLoop>();

  constructor(
    private readonly options: ReplicaFetcherOptions,
    private readonly deps: ReplicaFetcherDeps,
  ) {}

  /** Makes `followed` exactly the partitions this node follows (by leader and epoch). */
  set(followed: readonly FollowedPartition[]): void {
    const wanted = new Map(followed.map((f) => [partitionKey(f.topic, f.partition), f]));
    for (const loop of this.loops.values()) {
      for (const [key, p] of loop.partitions) {
        const next = wanted.get(key);
        if (!next || next.leaderId !== loop.leaderId || next.leaderEpoch !== p.leaderEpoch || next.log !== p.log)
          loop.partitions.delete(key);
      }
    }
    for (const [key, f] of wanted) {
      let loop = this.loops.get(f.leaderId);
      if (!loop) {
        loop = new LeaderLoop(f.leaderId, this.options, this.deps);
        this.loops.set(f.leaderId, loop);
      }
      if (!loop.partitions.has(key)) {
        loop.partitions.set(key, { ...f, phase: "truncate", parkedUntilMs: 0 });
        loop.poke();
      }
    }
    for (const [leaderId, loop] of this.loops) {
      if (loop.partitions.size === 0) {
        loop.stop();
        this.loops.delete(leaderId);
      } else {
        loop.start();
      }
    }
  }

  close(): void {
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
  }
}
