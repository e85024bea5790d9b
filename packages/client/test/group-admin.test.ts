// Admin's consumer-group methods and listOffsets against a scripted cluster (no server): each
// Group or ListOffsets call is recorded and answered by a handler the test sets, so requests,
// merging, decoding and error mapping are checked exactly.

import {
  ErrorCode,
  encodeConsumerAssignment,
  encodeConsumerSubscription,
  type GroupClient,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type MetadataResponse,
  ProtocolError,
} from "@castle/protocol";
import type { ServiceError } from "@grpc/grpc-js";
import { expect } from "chai";
import { Admin, type GroupDescription } from "../src/admin/admin.js";
import { ClusterClient } from "../src/connection/cluster-client.js";
import type { GroupCoordinator } from "../src/consumer/group/coordinator-lookup.js";
import { ClientConfigError } from "../src/errors/wire-error.js";

type Callback = (error: ServiceError | null, response?: unknown) => void;

interface SentCall {
  method: string;
  /** The group for groupCall; `node:N` for groupCallToNode and listOffsets. */
  target: string;
  request: unknown;
}

/** Answers a call; throwing rejects it (as a transport failure would). */
type Handler = (call: SentCall) => unknown;

const COORDINATOR: GroupCoordinator = { nodeId: 2, host: "broker-2", port: 9092 };

/** Topic `orders` with 3 partitions led by brokers 1, 2, 1; topic `audit` with 1 led by broker 3. */
const metadataResponse: MetadataResponse = {
  clusterId: "c",
  controllerId: 1,
  brokers: [3, 1, 2].map((nodeId) => ({ nodeId, host: `broker-${nodeId}`, port: 9092, rack: "" })),
  topics: [
    { name: "orders", leaders: [1, 2, 1] },
    { name: "audit", leaders: [3] },
  ].map(({ name, leaders }) => ({
    errorCode: 0,
    errorMessage: "",
    name,
    topicId: name,
    isInternal: false,
    partitions: leaders.map((leaderId, partition) => ({
      errorCode: 0,
      partition,
      leaderId,
      leaderEpoch: 0,
      replicaNodes: [leaderId],
      isrNodes: [leaderId],
      offlineReplicas: [],
    })),
  })),
};

class ScriptedCluster extends ClusterClient {
  readonly calls: SentCall[] = [];
  handler: Handler = () => {
    throw new Error("no handler");
  };
  topicMetadata: MetadataResponse = metadataResponse;

  constructor() {
    super({ bootstrap: "127.0.0.1:1", requestTimeoutMs: 2000 });
  }

  private answer<Res>(method: string, target: string, invoke: (stub: GroupClient, deadline: Date, cb: Callback) => unknown): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const stub = {
        [method]: (request: unknown, _options: unknown, cb: Callback) => {
          const call = { method, target, request };
          this.calls.push(call);
          try {
            cb(null, this.handler(call));
          } catch (error) {
            reject(error);
          }
        },
      } as unknown as GroupClient;
      invoke(stub, new Date(), (error, response) => (error === null ? resolve(response as Res) : reject(error)));
    });
  }

  override groupCall<Res>(groupId: string, method: string, invoke: (g: GroupClient, d: Date, cb: Callback) => unknown): Promise<Res> {
    return this.answer<Res>(method, groupId, invoke);
  }

  override groupCallToNode<Res>(nodeId: number, method: string, invoke: (g: GroupClient, d: Date, cb: Callback) => unknown): Promise<Res> {
    return this.answer<Res>(method, `node:${nodeId}`, invoke);
  }

  override async findCoordinator(): Promise<GroupCoordinator> {
    return COORDINATOR;
  }

  override async fetchMetadata(): Promise<MetadataResponse> {
    this.metadata.update(this.topicMetadata);
    return this.topicMetadata;
  }

  override async refreshMetadata(): Promise<void> {
    this.metadata.update(this.topicMetadata);
  }

  override async listOffsets(nodeId: number, request: ListOffsetsRequest): Promise<ListOffsetsResponse> {
    const call = { method: "ListOffsets", target: `node:${nodeId}`, request };
    this.calls.push(call);
    return this.handler(call) as ListOffsetsResponse;
  }
}

function adminWith(handler: Handler): { admin: Admin; cluster: ScriptedCluster } {
  const cluster = new ScriptedCluster();
  cluster.handler = handler;
  return { admin: new Admin({}, { cluster }), cluster };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected a rejection").to.be.an("error");
  return error as Error;
}

const noError = { errorCode: 0, errorMessage: "" };

describe("Admin.listGroups", () => {
  const perNode: Record<string, { groupId: string; protocolType: string; groupState: string }[]> = {
    "node:1": [{ groupId: "payments", protocolType: "consumer", groupState: "Stable" }],
    "node:2": [
      { groupId: "audit-reader", protocolType: "", groupState: "Empty" },
      { groupId: "billing", protocolType: "consumer", groupState: "Surprising" },
    ],
    "node:3": [],
  };

  it("asks every broker and merges the answers sorted by id, each with the broker that listed it", async () => {
    const { admin, cluster } = adminWith((call) => ({ ...noError, groups: perNode[call.target] ?? [] }));
    const groups = await admin.listGroups();
    expect(cluster.calls.map((c) => [c.method, c.target])).to.have.deep.members([
      ["ListGroups", "node:1"],
      ["ListGroups", "node:2"],
      ["ListGroups", "node:3"],
    ]);
    expect(groups).to.deep.equal([
      { groupId: "audit-reader", protocolType: "", state: "Empty", coordinatorId: 2 },
      { groupId: "billing", protocolType: "consumer", state: "Unknown", coordinatorId: 2 },
      { groupId: "payments", protocolType: "consumer", state: "Stable", coordinatorId: 1 },
    ]);
  });

  it("sends the states filter, and refuses an unknown state before sending anything", async () => {
    const { admin, cluster } = adminWith(() => ({ ...noError, groups: [] }));
    await admin.listGroups({ states: ["Stable", "empty"] });
    for (const call of cluster.calls) expect(call.request, call.target).to.deep.equal({ statesFilter: ["Stable", "empty"] });
    cluster.calls.length = 0;
    const error = await rejection(admin.listGroups({ states: ["Sleeping"] }));
    expect(error).to.be.instanceOf(ClientConfigError);
    expect(error.message).to.equal(
      "listGroups: unknown group state 'Sleeping': the states are Empty, PreparingRebalance, CompletingRebalance, Stable, Dead",
    );
    expect(cluster.calls).to.deep.equal([]);
  });

  it("retries a broker whose coordinator is still loading, then lists its groups", async () => {
    let loading = 1;
    const { admin, cluster } = adminWith((call) => {
      if (call.target === "node:2" && loading-- > 0) {
        return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, errorMessage: "partition 1 is loading", groups: [] };
      }
      return { ...noError, groups: perNode[call.target] ?? [] };
    });
    const groups = await admin.listGroups();
    expect(groups.map((g) => g.groupId)).to.deep.equal(["audit-reader", "billing", "payments"]);
    expect(cluster.calls.filter((c) => c.target === "node:2")).to.have.length(2);
  });

  it("throws a broker's non-retriable error, naming the broker", async () => {
    const { admin } = adminWith((call) =>
      call.target === "node:3"
        ? { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "bad filter", groups: [] }
        : { ...noError, groups: perNode[call.target] ?? [] },
    );
    const error = await rejection(admin.listGroups());
    expect(error).to.be.instanceOf(ProtocolError).with.property("code", "INVALID_REQUEST");
    expect(error.message).to.equal("list groups on broker 3: INVALID_REQUEST: bad filter");
  });
});

const assignment = (parts: { topic: string; partitions: number[] }[]) => encodeConsumerAssignment({ assignedPartitions: parts });

const describedGroup = {
  ...noError,
  groupId: "payments",
  groupState: "Stable",
  protocolType: "consumer",
  protocolName: "range",
  generationId: 4,
  leader: "m-b",
  members: [
    {
      memberId: "m-b",
      groupInstanceId: "",
      clientId: "app-2",
      clientHost: "/10.0.0.2",
      memberMetadata: encodeConsumerSubscription({ topics: ["orders", "audit"] }),
      memberAssignment: assignment([
        { topic: "orders", partitions: [2, 0] },
        { topic: "audit", partitions: [0] },
      ]),
    },
    {
      memberId: "m-a",
      groupInstanceId: "instance-1",
      clientId: "app-1",
      clientHost: "/10.0.0.1",
      memberMetadata: encodeConsumerSubscription({ topics: ["orders"] }),
      memberAssignment: assignment([{ topic: "orders", partitions: [1] }]),
    },
  ],
};

describe("Admin.describeGroups", () => {
  it("asks each group's coordinator and decodes members' assignments and subscriptions", async () => {
    const { admin, cluster } = adminWith(() => ({ groups: [describedGroup] }));
    const [group] = await admin.describeGroups(["payments", "payments"]);
    expect(cluster.calls).to.deep.equal([{ method: "DescribeGroups", target: "payments", request: { groupIds: ["payments"] } }]);
    const expected: GroupDescription = {
      groupId: "payments",
      state: "Stable",
      protocolType: "consumer",
      assignor: "range",
      generationId: 4,
      leaderId: "m-b",
      coordinator: COORDINATOR,
      members: [
        {
          memberId: "m-a",
          groupInstanceId: "instance-1",
          clientId: "app-1",
          host: "/10.0.0.1",
          assignment: [{ topic: "orders", partition: 1 }],
          subscribedTopics: ["orders"],
        },
        {
          memberId: "m-b",
          groupInstanceId: null,
          clientId: "app-2",
          host: "/10.0.0.2",
          assignment: [
            { topic: "audit", partition: 0 },
            { topic: "orders", partition: 0 },
            { topic: "orders", partition: 2 },
          ],
          subscribedTopics: ["audit", "orders"],
        },
      ],
    };
    expect(group).to.deep.equal(expected);
  });

  it("returns an unknown group as Dead, as Kafka does, and leaves other protocols' payloads undecoded", async () => {
    const { admin } = adminWith((call) => {
      const groupId = (call.request as { groupIds: string[] }).groupIds[0];
      if (groupId === "ghost") {
        return { groups: [{ ...describedGroup, groupId, groupState: "Dead", protocolType: "", protocolName: "", members: [] }] };
      }
      const member = { ...describedGroup.members[0], memberMetadata: Buffer.from("xyz"), memberAssignment: Buffer.from("not protobuf") };
      return { groups: [{ ...describedGroup, groupId, protocolType: "connect", members: [member] }] };
    });
    const [ghost, connect] = await admin.describeGroups(["ghost", "workers"]);
    expect(ghost?.state).to.equal("Dead");
    expect(ghost?.members).to.deep.equal([]);
    expect(connect?.members[0]?.assignment).to.deep.equal([]);
    expect(connect?.members[0]?.subscribedTopics).to.deep.equal([]);
  });

  it("throws a group's error, and a member's malformed assignment naming the member", async () => {
    const cases: { group: unknown; code: string; message: RegExp }[] = [
      {
        group: { ...describedGroup, errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: "the group id is empty", members: [] },
        code: "INVALID_GROUP_ID",
        message: /^describe group 'payments': INVALID_GROUP_ID: the group id is empty$/,
      },
      {
        group: { ...describedGroup, members: [{ ...describedGroup.members[0], memberAssignment: Buffer.from([0xff, 0xff, 0xff]) }] },
        code: "INVALID_REQUEST",
        message: /^describe group 'payments': member m-b: the member assignment is not a valid castle\.v1\.ConsumerAssignment/,
      },
    ];
    for (const { group, code, message } of cases) {
      const { admin } = adminWith(() => ({ groups: [group] }));
      const error = await rejection(admin.describeGroups(["payments"]));
      expect(error, code).to.be.instanceOf(ProtocolError).with.property("code", code);
      expect(error.message, code).to.match(message);
    }
  });
});

describe("Admin.listGroupOffsets", () => {
  const fetched = {
    ...noError,
    topics: [
      {
        name: "orders",
        partitions: [
          { ...noError, partition: 2, committedOffset: 40, committedLeaderEpoch: 3, metadata: "m" },
          { ...noError, partition: 0, committedOffset: 10, committedLeaderEpoch: -1, metadata: "" },
          { ...noError, partition: 1, committedOffset: -1, committedLeaderEpoch: -1, metadata: "" },
        ],
      },
      { name: "audit", partitions: [{ ...noError, partition: 0, committedOffset: 7, committedLeaderEpoch: 1, metadata: "" }] },
    ],
  };

  it("returns the committed offsets sorted, leaving out partitions without one", async () => {
    const { admin, cluster } = adminWith(() => fetched);
    const offsets = await admin.listGroupOffsets("payments");
    expect(cluster.calls).to.deep.equal([{ method: "OffsetFetch", target: "payments", request: { groupId: "payments", topics: [] } }]);
    expect(offsets).to.deep.equal([
      { topic: "audit", partition: 0, offset: 7, leaderEpoch: 1, metadata: "" },
      { topic: "orders", partition: 0, offset: 10, leaderEpoch: -1, metadata: "" },
      { topic: "orders", partition: 2, offset: 40, leaderEpoch: 3, metadata: "m" },
    ]);
  });

  it("asks for the partitions given, grouped by topic", async () => {
    const { admin, cluster } = adminWith(() => fetched);
    await admin.listGroupOffsets("payments", [
      { topic: "orders", partition: 0 },
      { topic: "audit", partition: 0 },
      { topic: "orders", partition: 2 },
    ]);
    expect(cluster.calls[0]?.request).to.deep.equal({
      groupId: "payments",
      topics: [
        { name: "orders", partitions: [0, 2] },
        { name: "audit", partitions: [0] },
      ],
    });
  });

  it("throws the group's error and per-partition errors", async () => {
    const cases: { answer: unknown; code: string; message: string }[] = [
      {
        answer: { errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: "empty", topics: [] },
        code: "INVALID_GROUP_ID",
        message: "list the offsets of group 'payments': INVALID_GROUP_ID: empty",
      },
      {
        answer: {
          ...noError,
          topics: [
            {
              name: "orders",
              partitions: [
                { partition: 0, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: 3, errorMessage: "gone" },
              ],
            },
          ],
        },
        code: "UNKNOWN_TOPIC_OR_PARTITION",
        message: "list the offset of group 'payments' for orders-0: UNKNOWN_TOPIC_OR_PARTITION: gone",
      },
    ];
    for (const { answer, code, message } of cases) {
      const { admin } = adminWith(() => answer);
      const error = await rejection(admin.listGroupOffsets("payments"));
      expect(error, code).to.be.instanceOf(ProtocolError).with.property("code", code);
      expect(error.message, code).to.equal(message);
    }
  });
});

describe("Admin.alterGroupOffsets", () => {
  const committedOk = (call: SentCall) => {
    const request = call.request as { topics: { name: string; partitions: { partition: number }[] }[] };
    return {
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ ...noError, partition: p.partition })) })),
    };
  };

  it("sends one admin commit: generation -1, no member id, offsets grouped by topic", async () => {
    const { admin, cluster } = adminWith(committedOk);
    await admin.alterGroupOffsets("payments", [
      { topic: "orders", partition: 0, offset: 5 },
      { topic: "audit", partition: 0, offset: 0, metadata: "reset" },
      { topic: "orders", partition: 2, offset: 9, leaderEpoch: 4 },
    ]);
    expect(cluster.calls).to.deep.equal([
      {
        method: "OffsetCommit",
        target: "payments",
        request: {
          groupId: "payments",
          generationId: -1,
          memberId: "",
          groupInstanceId: "",
          topics: [
            {
              name: "orders",
              partitions: [
                { partition: 0, committedOffset: 5, committedLeaderEpoch: -1, metadata: "" },
                { partition: 2, committedOffset: 9, committedLeaderEpoch: 4, metadata: "" },
              ],
            },
            { name: "audit", partitions: [{ partition: 0, committedOffset: 0, committedLeaderEpoch: -1, metadata: "reset" }] },
          ],
        },
      },
    ]);
  });

  it("refuses bad offsets and partitions before sending anything", async () => {
    const cases: { offset: { topic: string; partition: number; offset: number }; message: RegExp }[] = [
      { offset: { topic: "orders", partition: 0, offset: -1 }, message: /offset -1 for orders-0 is invalid: offsets are integers >= 0/ },
      { offset: { topic: "orders", partition: 0, offset: 1.5 }, message: /offset 1.5 for orders-0 is invalid/ },
      { offset: { topic: "orders", partition: -1, offset: 0 }, message: /is not a partition/ },
      { offset: { topic: "", partition: 0, offset: 0 }, message: /is not a partition/ },
    ];
    for (const { offset, message } of cases) {
      const { admin, cluster } = adminWith(committedOk);
      const error = await rejection(admin.alterGroupOffsets("payments", [offset]));
      expect(error, JSON.stringify(offset)).to.be.instanceOf(ClientConfigError);
      expect(error.message, JSON.stringify(offset)).to.match(message);
      expect(cluster.calls, JSON.stringify(offset)).to.deep.equal([]);
    }
  });

  it("turns the coordinator's refusal of a group with members into NON_EMPTY_GROUP with its state, size and the fix", async () => {
    const { admin, cluster } = adminWith((call) => {
      if (call.method === "DescribeGroups") return { groups: [describedGroup] };
      return {
        topics: [
          {
            name: "orders",
            partitions: [{ partition: 0, errorCode: ErrorCode.UNKNOWN_MEMBER_ID, errorMessage: 'group "payments" has 2 member(s)' }],
          },
        ],
      };
    });
    const error = await rejection(admin.alterGroupOffsets("payments", [{ topic: "orders", partition: 0, offset: 1 }]));
    expect(error).to.be.instanceOf(ProtocolError).with.property("code", "NON_EMPTY_GROUP");
    expect(error.message).to.equal(
      "cannot change the committed offsets of group 'payments': it is Stable with 2 member(s), and offsets can only be changed while a group has no members. Stop the group's consumers (or wait for their sessions to time out) and try again",
    );
    expect(cluster.calls.map((c) => c.method)).to.deep.equal(["OffsetCommit", "DescribeGroups"]);
  });

  it("throws other per-partition errors", async () => {
    const { admin } = adminWith(() => ({
      topics: [
        {
          name: "orders",
          partitions: [
            { partition: 0, ...noError },
            { partition: 1, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE, errorMessage: "4097 bytes" },
          ],
        },
      ],
    }));
    const error = await rejection(
      admin.alterGroupOffsets("payments", [
        { topic: "orders", partition: 0, offset: 1 },
        { topic: "orders", partition: 1, offset: 1 },
      ]),
    );
    expect(error).to.be.instanceOf(ProtocolError).with.property("code", "OFFSET_METADATA_TOO_LARGE");
    expect(error.message).to.equal("commit the offset of group 'payments' for orders-1: OFFSET_METADATA_TOO_LARGE: 4097 bytes");
  });

  it("sends nothing for no offsets", async () => {
    const { admin, cluster } = adminWith(committedOk);
    await admin.alterGroupOffsets("payments", []);
    expect(cluster.calls).to.deep.equal([]);
  });
});

describe("Admin.deleteGroups", () => {
  it("deletes each group at its coordinator and returns every result, refusals included", async () => {
    const { admin, cluster } = adminWith((call) => {
      const groupId = (call.request as { groupIds: string[] }).groupIds[0] ?? "";
      const errors: Record<string, [number, string]> = {
        busy: [ErrorCode.NON_EMPTY_GROUP, 'group "busy" is Stable with 1 member(s)'],
        ghost: [ErrorCode.GROUP_ID_NOT_FOUND, 'group "ghost" does not exist'],
      };
      const [errorCode, errorMessage] = errors[groupId] ?? [0, ""];
      return { results: [{ groupId, errorCode, errorMessage }] };
    });
    const results = await admin.deleteGroups(["old", "busy", "ghost", "old"]);
    expect(cluster.calls.map((c) => [c.method, c.target])).to.deep.equal([
      ["DeleteGroups", "old"],
      ["DeleteGroups", "busy"],
      ["DeleteGroups", "ghost"],
    ]);
    expect(results.map((r) => [r.groupId, r.error?.code ?? null, r.error?.message ?? null])).to.deep.equal([
      ["old", null, null],
      ["busy", "NON_EMPTY_GROUP", `delete group 'busy': NON_EMPTY_GROUP: group "busy" is Stable with 1 member(s)`],
      ["ghost", "GROUP_ID_NOT_FOUND", `delete group 'ghost': GROUP_ID_NOT_FOUND: group "ghost" does not exist`],
    ]);
  });
});

describe("Admin.listOffsets", () => {
  const answerOffsets = (offsetOf: (topic: string, partition: number, timestamp: number) => number) => (call: SentCall) => {
    const request = call.request as ListOffsetsRequest;
    return {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          ...noError,
          partition: p.partition,
          timestamp: p.timestamp >= 0 ? p.timestamp : -1,
          offset: offsetOf(t.name, p.partition, p.timestamp),
        })),
      })),
    };
  };

  it("asks each partition's leader with the spec's timestamp and returns the offsets sorted", async () => {
    const { admin, cluster } = adminWith(
      answerOffsets((topic, partition, timestamp) => (topic === "audit" ? 3 : partition * 100 + timestamp)),
    );
    const listed = await admin.listOffsets([
      { topic: "orders", partition: 2, spec: "latest" },
      { topic: "orders", partition: 0, spec: "earliest" },
      { topic: "orders", partition: 1, spec: { timestampMs: 50 } },
      { topic: "audit", partition: 0, spec: "latest" },
    ]);
    expect(cluster.calls.map((c) => [c.target, c.request])).to.have.deep.members([
      [
        "node:1",
        {
          topics: [
            {
              name: "orders",
              partitions: [
                { partition: 2, timestamp: -1 },
                { partition: 0, timestamp: -2 },
              ],
            },
          ],
        },
      ],
      ["node:2", { topics: [{ name: "orders", partitions: [{ partition: 1, timestamp: 50 }] }] }],
      ["node:3", { topics: [{ name: "audit", partitions: [{ partition: 0, timestamp: -1 }] }] }],
    ]);
    expect(listed).to.deep.equal([
      { topic: "audit", partition: 0, offset: 3, timestampMs: -1 },
      { topic: "orders", partition: 0, offset: -2, timestampMs: -1 },
      { topic: "orders", partition: 1, offset: 150, timestampMs: 50 },
      { topic: "orders", partition: 2, offset: 199, timestampMs: -1 },
    ]);
  });

  it("throws an unknown topic or partition at once, without asking any leader", async () => {
    const cases: { topic: string; partition: number; message: string }[] = [
      { topic: "orders", partition: 3, message: "partition 3 of topic 'orders' does not exist: it has partitions 0..2" },
      { topic: "nope", partition: 0, message: "topic 'nope': UNKNOWN_TOPIC_OR_PARTITION: no such topic" },
    ];
    for (const { topic, partition, message } of cases) {
      const { admin, cluster } = adminWith(answerOffsets(() => 0));
      cluster.topicMetadata = {
        ...metadataResponse,
        topics: [
          ...metadataResponse.topics,
          { errorCode: 3, errorMessage: "no such topic", name: "nope", topicId: "", isInternal: false, partitions: [] },
        ],
      };
      const started = Date.now();
      const error = await rejection(admin.listOffsets([{ topic, partition, spec: "latest" }]));
      expect(error, topic).to.be.instanceOf(ProtocolError).with.property("code", "UNKNOWN_TOPIC_OR_PARTITION");
      expect(error.message, topic).to.equal(message);
      expect(cluster.calls, topic).to.deep.equal([]);
      expect(Date.now() - started, topic).to.be.below(500);
    }
  });

  it("retries a partition whose leader moved", async () => {
    let moved = 1;
    const { admin, cluster } = adminWith((call) => {
      if (moved-- > 0) {
        return {
          topics: [
            {
              name: "orders",
              partitions: [{ partition: 1, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: "moved", timestamp: -1, offset: -1 }],
            },
          ],
        };
      }
      return answerOffsets(() => 12)(call);
    });
    expect(await admin.listOffsets([{ topic: "orders", partition: 1, spec: "latest" }])).to.deep.equal([
      { topic: "orders", partition: 1, offset: 12, timestampMs: -1 },
    ]);
    expect(cluster.calls).to.have.length(2);
  });
});
