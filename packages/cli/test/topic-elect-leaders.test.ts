// castle topic elect-leaders: option checks, partition lookup (against a fake Admin) and the
// result table, without a server.

import { type ElectionOutcome, errorFromWire, type TopicDescription } from "@castle/client";
import { protocolError } from "@castle/protocol";
import { expect } from "chai";
import {
  ELECTION_HEAD,
  electionJson,
  electionResultText,
  electionRows,
  electionSelection,
  failedElections,
  partitionsToElect,
} from "../src/commands/topic-elect-leaders.js";
import { runCli } from "./run-cli.js";

const orders: TopicDescription = {
  name: "orders",
  topicId: "id",
  isInternal: false,
  partitions: [0, 1, 2].map((partition) => ({ partition, leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] })),
  configs: {},
};

/** describeTopics as the server answers it: the topic, or UNKNOWN_TOPIC_OR_PARTITION. */
const fakeAdmin = {
  describeTopics: async (names: readonly string[] = []): Promise<TopicDescription[]> => {
    if (names.some((name) => name !== orders.name)) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `describe topic '${names[0]}'`);
    return [orders];
  },
};

const outcome = (partition: number, leaderId: number, code: number, message = ""): ElectionOutcome => ({
  topic: "orders",
  partition,
  leaderId,
  error: code === 0 ? null : errorFromWire(code, message, `elect the preferred leader of orders-${partition}`),
});

const elected = outcome(0, 1, 0);
const notNeeded = outcome(1, 2, 84);
const unavailable = outcome(2, -1, 80, "replica 3 is fenced");

describe("castle topic elect-leaders (options)", function () {
  this.timeout(20_000);

  it("accepts --all, or --topic with an optional --partition", () => {
    expect(electionSelection({ all: true })).to.deep.equal({ kind: "all" });
    expect(electionSelection({ topic: "orders" })).to.deep.equal({ kind: "topic", topic: "orders", partition: undefined });
    expect(electionSelection({ topic: "orders", partition: 0 })).to.deep.equal({ kind: "topic", topic: "orders", partition: 0 });
  });

  it("rejects every other combination, naming both forms", () => {
    const cases: { options: { all?: boolean; topic?: string; partition?: number }; message: string }[] = [
      { options: {}, message: "nothing to elect. give --all, or --topic T [--partition P]" },
      {
        options: { all: true, topic: "orders" },
        message: "--all and --topic cannot be combined. give --all, or --topic T [--partition P]",
      },
      { options: { all: true, partition: 1 }, message: "--partition needs --topic. give --all, or --topic T [--partition P]" },
      { options: { partition: 1 }, message: "--partition needs --topic" },
      { options: { topic: "" }, message: "--topic needs a topic name" },
    ];
    for (const { options, message } of cases) {
      expect(() => electionSelection(options), JSON.stringify(options)).to.throw(message);
    }
  });

  const cliCases: { args: string[]; stderr: RegExp }[] = [
    { args: ["topic", "elect-leaders"], stderr: /^error: nothing to elect\. give --all, or --topic T \[--partition P\]\n/ },
    { args: ["topic", "elect-leaders", "--all", "--topic", "orders"], stderr: /^error: --all and --topic cannot be combined/ },
    { args: ["topic", "elect-leaders", "--partition", "1"], stderr: /^error: --partition needs --topic/ },
    {
      args: ["topic", "elect-leaders", "--topic", "orders", "--partition", "-1"],
      stderr: /--partition.*'-1' is invalid\. expected an integer >= 0/,
    },
    {
      args: ["topic", "elect-leaders", "--topic", "orders", "--partition", "x"],
      stderr: /--partition.*'x' is invalid\. expected an integer >= 0/,
    },
    { args: ["topic", "elect-leaders", "--topic", "orders", "--partition", "1.5"], stderr: /--partition.*'1\.5' is invalid/ },
  ];
  for (const { args, stderr } of cliCases) {
    it(`castle ${args.join(" ")} fails before connecting, with a clear message`, async () => {
      const result = await runCli(args, { env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" } });
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(stderr);
      expect(result.stderr, "no stack trace").to.not.match(/\n\s+at /);
    });
  }
});

describe("castle topic elect-leaders (partitions to elect)", () => {
  it("asks for no partitions with --all (the server picks them)", async () => {
    expect(await partitionsToElect({ kind: "all" }, fakeAdmin)).to.deep.equal([]);
  });

  it("lists every partition of --topic, or the one --partition names", async () => {
    expect(await partitionsToElect({ kind: "topic", topic: "orders", partition: undefined }, fakeAdmin)).to.deep.equal([
      { topic: "orders", partition: 0 },
      { topic: "orders", partition: 1 },
      { topic: "orders", partition: 2 },
    ]);
    expect(await partitionsToElect({ kind: "topic", topic: "orders", partition: 2 }, fakeAdmin)).to.deep.equal([
      { topic: "orders", partition: 2 },
    ]);
  });

  it("names an unknown topic and a partition out of range", async () => {
    const cases: { topic: string; partition: number | undefined; message: string }[] = [
      { topic: "nope", partition: undefined, message: "topic 'nope' does not exist. list topics with `castle topic list`" },
      { topic: "nope", partition: 0, message: "topic 'nope' does not exist. list topics with `castle topic list`" },
      { topic: "orders", partition: 3, message: "partition 3 of topic 'orders' does not exist. it has partitions 0..2" },
    ];
    for (const { topic, partition, message } of cases) {
      const error = await partitionsToElect({ kind: "topic", topic, partition }, fakeAdmin).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `${topic} ${partition}`).to.be.an("error").with.property("message", message);
    }
  });
});

describe("castle topic elect-leaders (results)", () => {
  it("shows elected, already preferred, or the error from its name on", () => {
    expect(ELECTION_HEAD).to.deep.equal(["Topic", "Partition", "Leader", "Result"]);
    expect(electionRows([elected, notNeeded, unavailable])).to.deep.equal([
      ["orders", 0, 1, "elected"],
      ["orders", 1, 2, "already preferred"],
      ["orders", 2, "none", "PREFERRED_LEADER_NOT_AVAILABLE: replica 3 is fenced"],
    ]);
  });

  it("keeps the whole message of an error code the client does not know", () => {
    expect(electionResultText(outcome(0, -1, 999, "new failure"))).to.equal(
      "elect the preferred leader of orders-0: UNKNOWN_ERROR_999: new failure",
    );
  });

  it("counts as failed only errors other than ELECTION_NOT_NEEDED", () => {
    expect(failedElections([elected, notNeeded])).to.deep.equal([]);
    expect(failedElections([elected, notNeeded, unavailable])).to.deep.equal([unavailable]);
  });

  it("serialises errors for --json with their code and message", () => {
    expect(electionJson([elected, unavailable])).to.deep.equal([
      { topic: "orders", partition: 0, leaderId: 1, error: null },
      {
        topic: "orders",
        partition: 2,
        leaderId: -1,
        error: {
          code: "PREFERRED_LEADER_NOT_AVAILABLE",
          message: "elect the preferred leader of orders-2: PREFERRED_LEADER_NOT_AVAILABLE: replica 3 is fenced",
        },
      },
    ]);
  });
});
