// castle quorum describe: option checks and Kafka's --status / --replication layouts, from a
// fixed QuorumDescription (no server).

import type { QuorumDescription } from "@castle/client";
import { expect } from "chai";
import {
  QUORUM_REPLICATION_HEAD,
  quorumReplicationRows,
  quorumStatusLines,
  quorumView,
  quorumViewNote,
} from "../src/commands/quorum-describe.js";
import { runCli } from "./run-cli.js";

const quorum: QuorumDescription = {
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
    { nodeId: 3, logEndOffset: 58, lag: 3, lastFetchTimestampMs: 980, lastCaughtUpTimestampMs: 980, status: "Follower" },
    { nodeId: 4, logEndOffset: 60, lag: 1, lastFetchTimestampMs: 1000, lastCaughtUpTimestampMs: 900, status: "Observer" },
    { nodeId: 5, logEndOffset: -1, lag: -1, lastFetchTimestampMs: -1, lastCaughtUpTimestampMs: -1, status: "Observer" },
  ],
  reportedBy: 2,
};

describe("castle quorum describe (formatting)", () => {
  it("prints --status as kafka-metadata-quorum.sh does, values aligned at column 24", () => {
    expect(quorumStatusLines(quorum)).to.deep.equal([
      "ClusterId:              fMCL8kv1SWm87L_Md-I2hg",
      "LeaderId:               2",
      "LeaderEpoch:            7",
      "HighWatermark:          61",
      "MaxFollowerLag:         3",
      "MaxFollowerLagTimeMs:   120",
      "CurrentVoters:          [1,2,3]",
      "CurrentObservers:       [4,5]",
    ]);
  });

  it("prints empty voter and observer sets as []", () => {
    const lines = quorumStatusLines({ ...quorum, currentVoters: [], currentObservers: [] });
    expect(lines.slice(6)).to.deep.equal(["CurrentVoters:          []", "CurrentObservers:       []"]);
  });

  it("lists --replication rows leader first, then followers, then observers, -1 for unknown", () => {
    expect(QUORUM_REPLICATION_HEAD).to.deep.equal([
      "NodeId",
      "LogEndOffset",
      "Lag",
      "LastFetchTimestamp",
      "LastCaughtUpTimestamp",
      "Status",
    ]);
    expect(quorumReplicationRows(quorum)).to.deep.equal([
      [2, 61, 0, 1100, 1100, "Leader"],
      [1, 61, 0, 1090, 1090, "Follower"],
      [3, 58, 3, 980, 980, "Follower"],
      [4, 60, 1, 1000, 900, "Observer"],
      [5, -1, -1, -1, -1, "Observer"],
    ]);
  });

  it("notes on stderr only when the view is not the leader's", () => {
    expect(quorumViewNote(quorum)).to.equal(undefined);
    expect(quorumViewNote({ ...quorum, reportedBy: 3 })).to.match(/^note: this is node 3's view, not the quorum leader's/);
  });
});

describe("castle quorum describe (options)", function () {
  this.timeout(20_000);

  it("accepts exactly one of --status and --replication", () => {
    expect(quorumView({ status: true })).to.equal("status");
    expect(quorumView({ replication: true })).to.equal("replication");
    const cases: { options: { status?: boolean; replication?: boolean }; message: string }[] = [
      { options: {}, message: "nothing to describe. give --status or --replication" },
      { options: { status: true, replication: true }, message: "--status and --replication cannot be combined. give one of them" },
    ];
    for (const { options, message } of cases) {
      expect(() => quorumView(options), JSON.stringify(options)).to.throw(message);
    }
  });

  const cliCases: { args: string[]; stderr: RegExp }[] = [
    { args: ["quorum", "describe"], stderr: /^error: nothing to describe\. give --status or --replication\n/ },
    { args: ["quorum", "describe", "--status", "--replication"], stderr: /^error: --status and --replication cannot be combined/ },
    { args: ["--json", "quorum", "describe"], stderr: /^error: nothing to describe\. give --status or --replication\n/ },
  ];
  for (const { args, stderr } of cliCases) {
    it(`castle ${args.join(" ")} fails before connecting, with a clear message`, async () => {
      const result = await runCli(args, { env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" } });
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(stderr);
    });
  }
});
