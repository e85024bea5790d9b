// Finding and calling a group's coordinator: cached and shared lookups, re-lookup on
// NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE / transport failures, retry in place on
// COORDINATOR_LOAD_IN_PROGRESS, all bounded in time; and the JoinGroup deadline (the rebalance
// timeout plus a margin, not the request timeout).

import { ErrorCode, type FindCoordinatorResponse, protocolError } from "@castle/protocol";
import { expect } from "chai";
import {
  ClusterClient,
  type GroupCallOptions,
  type GroupInvoke,
  JOIN_GROUP_DEADLINE_MARGIN_MS,
} from "../../src/connection/cluster-client.js";
import { CoordinatorLookup, type GroupCoordinator } from "../../src/consumer/group/coordinator-lookup.js";

const NODE_1: FindCoordinatorResponse = { errorCode: 0, errorMessage: "", nodeId: 1, host: "h1", port: 1 };
const NODE_2: FindCoordinatorResponse = { errorCode: 0, errorMessage: "", nodeId: 2, host: "h2", port: 2 };

interface Answer {
  errorCode: number;
  errorMessage: string;
}

/** A lookup over scripted FindCoordinator answers, with a fake clock that sleeps advance. */
function scripted(finds: (FindCoordinatorResponse | Error)[]) {
  let nowMs = 0;
  const sleeps: number[] = [];
  const found: string[] = [];
  const lookup = new CoordinatorLookup(
    {
      find: async (groupId) => {
        found.push(groupId);
        const next = finds.shift() ?? NODE_1;
        if (next instanceof Error) throw next;
        return next;
      },
      sleep: async (ms) => {
        sleeps.push(ms);
        nowMs += ms;
      },
      nowMs: () => nowMs,
      random: () => 0.5,
    },
    { retryBackoffMs: 100, retryBackoffMaxMs: 1000 },
  );
  return { lookup, sleeps, found, advance: (ms: number) => (nowMs += ms) };
}

describe("CoordinatorLookup", () => {
  it("caches the coordinator and shares one lookup among concurrent callers", async () => {
    const { lookup, found } = scripted([NODE_1]);
    const [a, b] = await Promise.all([lookup.lookup("g"), lookup.lookup("g")]);
    expect(a).to.deep.equal({ nodeId: 1, host: "h1", port: 1 });
    expect(b).to.deep.equal(a);
    await lookup.lookup("g");
    expect(found, "one FindCoordinator").to.deep.equal(["g"]);
  });

  it("looks the coordinator up again after NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE", async () => {
    const { lookup, found, sleeps } = scripted([NODE_1, NODE_2, NODE_1]);
    const answers: Answer[] = [
      { errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: "moved" },
      { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "loading" },
      { errorCode: 0, errorMessage: "" },
    ];
    const asked: number[] = [];
    const answer = await lookup.call<Answer>(
      "g",
      "Heartbeat",
      async (c: GroupCoordinator) => {
        asked.push(c.nodeId);
        return answers.shift() as Answer;
      },
      { retryTimeoutMs: 10_000 },
    );
    expect(answer.errorCode).to.equal(0);
    expect(asked, "the coordinators asked").to.deep.equal([1, 2, 1]);
    expect(found).to.have.length(3);
    expect(sleeps, "exponential back-off").to.deep.equal([100, 200]);
  });

  it("retries the same coordinator on COORDINATOR_LOAD_IN_PROGRESS", async () => {
    const { lookup, found } = scripted([NODE_1]);
    const answers: Answer[] = [
      { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, errorMessage: "" },
      { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, errorMessage: "" },
      { errorCode: 0, errorMessage: "" },
    ];
    await lookup.call<Answer>("g", "OffsetFetch", async () => answers.shift() as Answer, { retryTimeoutMs: 10_000 });
    expect(found, "no second lookup").to.have.length(1);
  });

  it("looks up again after a transport failure", async () => {
    const { lookup } = scripted([NODE_1, NODE_2]);
    const asked: number[] = [];
    await lookup.call<Answer>(
      "g",
      "SyncGroup",
      async (c) => {
        asked.push(c.nodeId);
        if (c.nodeId === 1) throw protocolError("NETWORK_EXCEPTION", "connection refused");
        return { errorCode: 0, errorMessage: "" };
      },
      { retryTimeoutMs: 10_000 },
    );
    expect(asked).to.deep.equal([1, 2]);
  });

  it("retries a coordinator that is not available yet (__consumer_offsets being created)", async () => {
    const { lookup } = scripted([{ ...NODE_1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "creating" }, NODE_2]);
    const asked: number[] = [];
    await lookup.call<Answer>(
      "g",
      "JoinGroup",
      async (c) => {
        asked.push(c.nodeId);
        return { errorCode: 0, errorMessage: "" };
      },
      { retryTimeoutMs: 10_000 },
    );
    expect(asked).to.deep.equal([2]);
  });

  it("gives up with the last error when retryTimeoutMs runs out", async () => {
    const { lookup, sleeps } = scripted([]);
    const error = await lookup
      .call<Answer>("g", "Heartbeat", async () => ({ errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: "not me" }), {
        retryTimeoutMs: 1000,
      })
      .then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
    expect(error?.code).to.equal("NOT_COORDINATOR");
    expect(error?.message).to.match(/Heartbeat for group 'g': NOT_COORDINATOR: not me/);
    expect(
      sleeps.reduce((a, b) => a + b, 0),
      "slept no longer than the bound",
    ).to.be.at.most(1000);
  });

  it("does not retry errors that are not the coordinator's", async () => {
    const { lookup } = scripted([{ ...NODE_1, errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: "the group id is empty" }]);
    const error = await lookup
      .call<Answer>("", "JoinGroup", async () => ({ errorCode: 0, errorMessage: "" }), { retryTimeoutMs: 10_000 })
      .then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
    expect(error?.code).to.equal("INVALID_GROUP_ID");
    const { lookup: other } = scripted([NODE_1]);
    const answer = await other.call<Answer>("g", "SyncGroup", async () => ({ errorCode: ErrorCode.ILLEGAL_GENERATION, errorMessage: "" }), {
      retryTimeoutMs: 10_000,
    });
    expect(answer.errorCode, "member errors are the caller's").to.equal(ErrorCode.ILLEGAL_GENERATION);
  });
});

/** Records the options of each group call instead of sending it. */
class RecordingCluster extends ClusterClient {
  readonly seen: { method: string; options: GroupCallOptions<unknown> }[] = [];

  override groupCall<Res>(_groupId: string, method: string, _invoke: GroupInvoke<Res>, options: GroupCallOptions<Res> = {}): Promise<Res> {
    this.seen.push({ method, options: options as GroupCallOptions<unknown> });
    return Promise.resolve({ errorCode: 0 } as Res);
  }
}

describe("ClusterClient group calls", () => {
  it("gives JoinGroup the rebalance timeout plus a margin as its deadline", async () => {
    const cluster = new RecordingCluster({ bootstrap: "127.0.0.1:1", requestTimeoutMs: 30_000 });
    await cluster.joinGroup({ groupId: "g", rebalanceTimeoutMs: 300_000 });
    await cluster.joinGroup({ groupId: "g", rebalanceTimeoutMs: 1_000 });
    await cluster.heartbeat({ groupId: "g" });
    cluster.close();
    expect(cluster.seen.map((s) => [s.method, s.options.timeoutMs, s.options.retryTimeoutMs])).to.deep.equal([
      ["JoinGroup", 300_000 + JOIN_GROUP_DEADLINE_MARGIN_MS, 30_000],
      ["JoinGroup", 30_000, 30_000],
      ["Heartbeat", undefined, undefined],
    ]);
  });

  it("reads OffsetCommit's coordinator errors from its partitions", async () => {
    const cluster = new RecordingCluster({ bootstrap: "127.0.0.1:1" });
    await cluster.offsetCommit({ groupId: "g" });
    cluster.close();
    const errorOf = cluster.seen[0]?.options.errorOf as (r: unknown) => Answer | undefined;
    const answer = (code: number) => ({ topics: [{ name: "t", partitions: [{ partition: 0, errorCode: code, errorMessage: "m" }] }] });
    expect(errorOf(answer(ErrorCode.NOT_COORDINATOR))).to.deep.equal({ errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: "m" });
    expect(errorOf(answer(ErrorCode.ILLEGAL_GENERATION))).to.equal(undefined);
  });

  it("stops retrying once the client is closed", async () => {
    const cluster = new ClusterClient({ bootstrap: "127.0.0.1:1" });
    cluster.close();
    const error = await cluster.heartbeat({ groupId: "g" }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/Heartbeat for group 'g': the client is closed/);
  });
});
