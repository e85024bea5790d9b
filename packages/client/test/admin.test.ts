// Admin's mapping of DescribeQuorum, ElectLeaders and DescribeCluster, against a scripted
// cluster that records each request and answers with a fixed response (no server).

import type {
  AdminClient,
  DescribeClusterResponse,
  DescribeQuorumResponse,
  ElectLeadersRequestInput,
  ElectLeadersResponse,
} from "@castle/protocol";
import type { ServiceError } from "@grpc/grpc-js";
import { expect } from "chai";
import { Admin } from "../src/admin/admin.js";
import { ClusterClient } from "../src/connection/cluster-client.js";

type AdminCallback<Res> = (error: ServiceError | null, response?: Res) => void;

/** Answers each Admin method from `responses` and records what was sent. */
class ScriptedCluster extends ClusterClient {
  readonly requests: { method: string; request: unknown }[] = [];

  constructor(private readonly responses: Readonly<Record<string, unknown>>) {
    super({ bootstrap: "127.0.0.1:1" });
  }

  override admin<Res>(method: string, call: (admin: AdminClient, deadline: Date, cb: AdminCallback<Res>) => unknown): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const stub = (request: unknown, _options: unknown, cb: AdminCallback<unknown>) => {
        this.requests.push({ method, request });
        cb(null, this.responses[method]);
      };
      const admin = { [method]: stub } as unknown as AdminClient;
      call(admin, new Date(), (error, response) => (error === null ? resolve(response as Res) : reject(error)));
    });
  }
}

function adminWith(responses: Readonly<Record<string, unknown>>): { admin: Admin; cluster: ScriptedCluster } {
  const cluster = new ScriptedCluster(responses);
  return { admin: new Admin({}, { cluster }), cluster };
}

const quorumResponse: DescribeQuorumResponse = {
  clusterId: "fMCL8kv1SWm87L_Md-I2hg",
  leaderId: 2,
  leaderEpoch: 7,
  highWatermark: 61,
  maxFollowerLag: 3,
  maxFollowerLagTimeMs: 120,
  currentVoters: [3, 1, 2],
  currentObservers: [5, 4],
  replicas: [
    { nodeId: 4, logEndOffset: 58, lag: 3, lastFetchTimestampMs: 1000, lastCaughtUpTimestampMs: 900, status: "Observer" },
    { nodeId: 2, logEndOffset: 61, lag: 0, lastFetchTimestampMs: 1100, lastCaughtUpTimestampMs: 1100, status: "Leader" },
    { nodeId: 1, logEndOffset: 61, lag: 0, lastFetchTimestampMs: 1090, lastCaughtUpTimestampMs: 1090, status: "Follower" },
  ],
  reportedBy: 2,
};

describe("Admin.describeQuorum", () => {
  it("maps the response to camelCase fields, voters, observers and replicas sorted by node id", async () => {
    const { admin, cluster } = adminWith({ DescribeQuorum: quorumResponse });
    const quorum = await admin.describeQuorum();
    expect(cluster.requests).to.deep.equal([{ method: "DescribeQuorum", request: {} }]);
    expect(quorum).to.deep.equal({
      clusterId: "fMCL8kv1SWm87L_Md-I2hg",
      leaderId: 2,
      leaderEpoch: 7,
      highWatermark: 61,
      maxFollowerLag: 3,
      maxFollowerLagTimeMs: 120,
      currentVoters: [1, 2, 3],
      currentObservers: [4, 5],
      replicas: [
        { nodeId: 1, logEndOffset: 61, lag: 0, lastFetchTimestampMs: 1090, lastCaughtUpTimestampMs: 1090, status: "Follower" },
        { nodeId: 2, logEndOffset: 61, lag: 0, lastFetchTimestampMs: 1100, lastCaughtUpTimestampMs: 1100, status: "Leader" },
        { nodeId: 4, logEndOffset: 58, lag: 3, lastFetchTimestampMs: 1000, lastCaughtUpTimestampMs: 900, status: "Observer" },
      ],
      reportedBy: 2,
    });
  });

  it("derives a replica's status from the membership when the server sends an unknown one", async () => {
    const cases: { nodeId: number; expected: string }[] = [
      { nodeId: 2, expected: "Leader" },
      { nodeId: 3, expected: "Follower" },
      { nodeId: 5, expected: "Observer" },
    ];
    const replicas = cases.map(({ nodeId }) => ({
      nodeId,
      logEndOffset: -1,
      lag: -1,
      lastFetchTimestampMs: -1,
      lastCaughtUpTimestampMs: -1,
      status: "",
    }));
    const { admin } = adminWith({ DescribeQuorum: { ...quorumResponse, replicas } });
    const quorum = await admin.describeQuorum();
    for (const { nodeId, expected } of cases) {
      expect(quorum.replicas.find((r) => r.nodeId === nodeId)?.status, `node ${nodeId}`).to.equal(expected);
    }
  });
});

/** The ElectLeaders request the scripted cluster received first. */
function sentElectLeaders(cluster: ScriptedCluster): ElectLeadersRequestInput {
  const sent = cluster.requests[0];
  expect(sent?.method).to.equal("ElectLeaders");
  return (sent?.request ?? {}) as ElectLeadersRequestInput;
}

describe("Admin.electLeaders", () => {
  const response: ElectLeadersResponse = {
    results: [
      { topic: "orders", partition: 1, errorCode: 84, errorMessage: "", leaderId: 2 },
      { topic: "audit", partition: 0, errorCode: 0, errorMessage: "", leaderId: 1 },
      { topic: "orders", partition: 0, errorCode: 80, errorMessage: "replica 3 is fenced", leaderId: -1 },
    ],
  };

  it("groups the partitions by topic in the request", async () => {
    const { admin, cluster } = adminWith({ ElectLeaders: response });
    await admin.electLeaders([
      { topic: "orders", partition: 0 },
      { topic: "audit", partition: 0 },
      { topic: "orders", partition: 1 },
    ]);
    expect(sentElectLeaders(cluster).partitions).to.deep.equal([
      { topic: "orders", partitions: [0, 1] },
      { topic: "audit", partitions: [0] },
    ]);
  });

  it("sends no partitions when none are given (the server then elects wherever needed)", async () => {
    const { admin, cluster } = adminWith({ ElectLeaders: { results: [] } });
    expect(await admin.electLeaders()).to.deep.equal([]);
    expect(sentElectLeaders(cluster).partitions).to.deep.equal([]);
  });

  it("returns every partition's outcome sorted, errors as ProtocolErrors, ELECTION_NOT_NEEDED included", async () => {
    const { admin } = adminWith({ ElectLeaders: response });
    const outcomes = await admin.electLeaders([]);
    expect(outcomes.map((o) => [o.topic, o.partition, o.leaderId, o.error?.code ?? null])).to.deep.equal([
      ["audit", 0, 1, null],
      ["orders", 0, -1, "PREFERRED_LEADER_NOT_AVAILABLE"],
      ["orders", 1, 2, "ELECTION_NOT_NEEDED"],
    ]);
    expect(outcomes[1]?.error?.message).to.equal(
      "elect the preferred leader of orders-0: PREFERRED_LEADER_NOT_AVAILABLE: replica 3 is fenced",
    );
    expect(outcomes[2]?.error?.message, "the code table's description stands in for an empty message").to.match(
      /ELECTION_NOT_NEEDED: The partition's leader is already/,
    );
  });
});

describe("Admin.describeCluster", () => {
  it("adds every node, sorted by id, next to the brokers", async () => {
    const node = {
      host: "",
      port: 0,
      rack: "",
      isBroker: false,
      isController: true,
      fenced: false,
      inControlledShutdown: false,
      lastHeartbeatAgeMs: -1,
      brokerEpoch: -1,
    };
    const response: DescribeClusterResponse = {
      clusterId: "c",
      controllerId: -1,
      brokers: [{ nodeId: 4, host: "b4", port: 9092, rack: "r1" }],
      nodes: [
        {
          ...node,
          nodeId: 4,
          host: "b4",
          port: 9092,
          rack: "r1",
          isBroker: true,
          isController: false,
          lastHeartbeatAgeMs: 120,
          brokerEpoch: 9,
        },
        { ...node, nodeId: 1 },
      ],
    };
    const { admin } = adminWith({ DescribeCluster: response });
    const cluster = await admin.describeCluster();
    expect(cluster.controllerId).to.equal(-1);
    expect(cluster.brokers).to.deep.equal([{ nodeId: 4, host: "b4", port: 9092, rack: "r1" }]);
    expect(cluster.nodes).to.deep.equal([
      { ...node, nodeId: 1 },
      {
        ...node,
        nodeId: 4,
        host: "b4",
        port: 9092,
        rack: "r1",
        isBroker: true,
        isController: false,
        lastHeartbeatAgeMs: 120,
        brokerEpoch: 9,
      },
    ]);
  });
});
