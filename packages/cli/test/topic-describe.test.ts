// castle topic describe --under-replicated / --unavailable: the option check, the filters and
// the lines as pure functions, then the CLI against three in-process nodes with one stopped.

import type { PartitionDescription, TopicDescription } from "@castle/client";
import { type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import { expect } from "chai";
import {
  filterTopics,
  isUnavailable,
  isUnderReplicated,
  liveBrokerIds,
  partitionFilter,
  partitionLine,
} from "../src/commands/topic-describe.js";
import { runCli } from "./run-cli.js";

const partition = (n: number, leader: number, replicas: number[], isr: number[]): PartitionDescription => ({
  partition: n,
  leader,
  leaderEpoch: 0,
  replicas,
  isr,
  offlineReplicas: [],
});

const topic = (name: string, partitions: PartitionDescription[]): TopicDescription => ({
  name,
  topicId: `${name}-id`,
  isInternal: false,
  partitions,
  configs: {},
});

/** Brokers 1 and 2 are live; 3 is fenced (absent from DescribeCluster's broker list). */
const LIVE = liveBrokerIds({
  brokers: [
    { nodeId: 1, host: "h1", port: 9092, rack: "" },
    { nodeId: 2, host: "h2", port: 9092, rack: "" },
  ],
});

const healthy = partition(0, 1, [1, 2, 3], [1, 2, 3]);
const shrunk = partition(1, 2, [1, 2, 3], [1, 2]);
const offline = partition(2, -1, [3], [3]);
const fencedLeader = partition(3, 3, [3, 1], [3, 1]);

describe("castle topic describe (filters)", function () {
  this.timeout(20_000);

  it("takes --under-replicated or --unavailable, or neither, and refuses both", () => {
    expect(partitionFilter({})).to.equal("all");
    expect(partitionFilter({ underReplicated: true })).to.equal("under-replicated");
    expect(partitionFilter({ unavailable: true })).to.equal("unavailable");
    expect(() => partitionFilter({ underReplicated: true, unavailable: true })).to.throw(
      "--under-replicated and --unavailable cannot be combined. give one of them, or neither for every partition",
    );
  });

  it("classifies partitions as kafka-topics does", () => {
    const cases: { name: string; p: PartitionDescription; underReplicated: boolean; unavailable: boolean }[] = [
      { name: "every replica in sync, live leader", p: healthy, underReplicated: false, unavailable: false },
      { name: "ISR smaller than replicas", p: shrunk, underReplicated: true, unavailable: false },
      { name: "no leader, ISR kept", p: offline, underReplicated: false, unavailable: true },
      { name: "leader fenced", p: fencedLeader, underReplicated: false, unavailable: true },
    ];
    for (const { name, p, underReplicated, unavailable } of cases) {
      expect(isUnderReplicated(p), `${name}: under-replicated`).to.equal(underReplicated);
      expect(isUnavailable(p, LIVE), `${name}: unavailable`).to.equal(unavailable);
    }
  });

  it("keeps only the matching partitions, and drops topics left without any", () => {
    const topics = [topic("a", [healthy, shrunk, offline]), topic("b", [healthy]), topic("c", [fencedLeader])];
    const names = (filtered: TopicDescription[]) => filtered.map((t) => [t.name, t.partitions.map((p) => p.partition)]);
    expect(names(filterTopics(topics, "all", LIVE)), "all").to.deep.equal([
      ["a", [0, 1, 2]],
      ["b", [0]],
      ["c", [3]],
    ]);
    expect(names(filterTopics(topics, "under-replicated", LIVE)), "under-replicated").to.deep.equal([["a", [1]]]);
    expect(names(filterTopics(topics, "unavailable", LIVE)), "unavailable").to.deep.equal([
      ["a", [2]],
      ["c", [3]],
    ]);
    expect(topics[0]?.partitions, "the input is not changed").to.have.length(3);
  });

  it("prints a leader that is not live as none, like kafka-topics", () => {
    expect(partitionLine("a", shrunk)).to.equal("\tTopic: a\tPartition: 1\tLeader: 2\tReplicas: 1,2,3\tIsr: 1,2");
    expect(partitionLine("a", offline)).to.equal("\tTopic: a\tPartition: 2\tLeader: none\tReplicas: 3\tIsr: 3");
    expect(partitionLine("c", fencedLeader), "live brokers unknown").to.match(/\tLeader: 3\t/);
    expect(partitionLine("c", fencedLeader, LIVE), "leader fenced").to.match(/\tLeader: none\t/);
  });

  it("castle topic describe --under-replicated --unavailable fails before connecting, with a clear message", async () => {
    const result = await runCli(["topic", "describe", "--under-replicated", "--unavailable"], {
      env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" },
    });
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.match(/^error: --under-replicated and --unavailable cannot be combined/);
    expect(result.stderr, "no stack trace").to.not.match(/\n\s+at /);
  });
});

describe("castle topic describe --under-replicated / --unavailable (3 in-process nodes, one stopped)", function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let cli: (args: string[]) => ReturnType<typeof runCli>;

  before(async () => {
    cluster = await startInProcessCluster({
      size: 3,
      overrides: {
        "broker.heartbeat.interval.ms": "200",
        "broker.session.timeout.ms": "2000",
        "auto.leader.rebalance.enable": "false",
        "auto.create.topics.enable": "false",
      },
    });
    const bootstrap = cluster.ids.map((id) => `127.0.0.1:${cluster.node(id).clientPort}`).join(",");
    cli = (args) => runCli(args, { env: { CASTLE_BOOTSTRAP: bootstrap } });
    for (const [name, partitions, rf] of [
      ["wide", "1", "3"],
      ["single", "3", "1"],
    ] as const) {
      const created = await cli(["topic", "create", name, "--partitions", partitions, "--replication-factor", rf]);
      expect(created.code, created.stderr).to.equal(0);
    }
  });
  after(async () => {
    await cluster?.close();
  });

  it("lists nothing while every partition is healthy", async () => {
    for (const [flag, message] of [
      ["--under-replicated", /No under-replicated partitions/],
      ["--unavailable", /No unavailable partitions/],
    ] as const) {
      const result = await cli(["topic", "describe", flag]);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout, flag).to.equal("");
      expect(result.stderr, flag).to.match(message);
    }
  });

  it("lists the under-replicated and the unavailable partitions once a node stops, as text and as JSON", async () => {
    const active = await cluster.activeControllerId();
    const stopped = cluster.ids.find((id) => id !== active) as number;
    const image = () => cluster.node(active).quorum.image;
    const lost = image()
      .topic("single")
      ?.partitions.find((p) => p.replicas[0] === stopped)?.partition;
    expect(lost, `a partition of single on node ${stopped}`).to.be.a("number");
    await cluster.stop(stopped);
    await waitUntil(
      () => image().topic("wide")?.partitions[0]?.isr.length === 2 && image().topic("single")?.partitions[lost as number]?.leader === -1,
      `node ${stopped} out of wide's ISR and single-${lost} offline`,
      10_000,
    );

    const under = await cli(["topic", "describe", "--under-replicated"]);
    expect(under.code, under.stderr).to.equal(0);
    const wide = image().topic("wide")?.partitions[0];
    expect(under.stdout).to.equal(
      `\tTopic: wide\tPartition: 0\tLeader: ${wide?.leader}\tReplicas: ${wide?.replicas.join(",")}\tIsr: ${wide?.isr.join(",")}\n`,
    );
    expect(wide?.isr, "the stopped node left the ISR").to.not.include(stopped);

    const unavailable = await cli(["topic", "describe", "--unavailable"]);
    expect(unavailable.code, unavailable.stderr).to.equal(0);
    expect(unavailable.stdout).to.equal(`\tTopic: single\tPartition: ${lost}\tLeader: none\tReplicas: ${stopped}\tIsr: ${stopped}\n`);

    const named = await cli(["topic", "describe", "wide", "--unavailable"]);
    expect(named.stdout, "wide has a live leader").to.equal("");

    const json = await cli(["--json", "topic", "describe", "--unavailable"]);
    expect(json.code, json.stderr).to.equal(0);
    const parsed = JSON.parse(json.stdout) as TopicDescription[];
    expect(parsed.map((t) => [t.name, t.partitions.map((p) => [p.partition, p.leader])])).to.deep.equal([["single", [[lost, -1]]]]);
  });
});
