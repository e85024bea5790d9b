// castle group list|describe|reset-offsets|delete and consume --group without a server: option
// checks, Kafka's columns and rows, the reset plan (every scenario, clamping), and lookups
// against fake Admins; then argument errors through the real CLI, which must fail before
// connecting.

import type { DeletedGroup, GroupDescription, GroupListing, GroupOffset, OffsetQuery, TopicDescription } from "@castle/client";
import { errorFromWire } from "@castle/client";
import { protocolError } from "@castle/protocol";
import { expect } from "chai";
import { checkConsumeOptions, firstOffsets } from "../src/commands/consume.js";
import { deleteFailure, deleteJson, deleteResultText, deleteRows, GROUP_DELETE_HEAD } from "../src/commands/group-delete.js";
import {
  assignmentText,
  describedPartitions,
  GROUP_MEMBERS_HEAD,
  GROUP_OFFSETS_HEAD,
  GROUP_STATE_HEAD,
  groupDescribeJson,
  groupDescribeView,
  groupMemberRows,
  groupOffsetRows,
  groupOffsetTableRows,
  groupStateLine,
  groupStateRow,
  logEndOffsets,
  requireExistingGroup,
} from "../src/commands/group-describe.js";
import { GROUP_LIST_HEAD, groupListRows, parseGroupStates } from "../src/commands/group-list.js";
import {
  datetimeArg,
  dryRunNote,
  executedNote,
  type PartitionOffsets,
  parseTopicSelection,
  partitionSelection,
  partitionsToReset,
  planResets,
  RESET_HEAD,
  type ResetScenario,
  requireInactiveGroup,
  resetRows,
  resetScenario,
  shiftArg,
} from "../src/commands/group-reset-offsets.js";
import { runCli } from "./run-cli.js";

const k = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

const stable: GroupDescription = {
  groupId: "payments",
  state: "Stable",
  protocolType: "consumer",
  assignor: "range",
  generationId: 4,
  leaderId: "m-a",
  coordinator: { nodeId: 2, host: "broker-2", port: 9092 },
  members: [
    {
      memberId: "m-a",
      groupInstanceId: null,
      clientId: "app-1",
      host: "/10.0.0.1",
      assignment: [
        { topic: "orders", partition: 0 },
        { topic: "orders", partition: 1 },
      ],
      subscribedTopics: ["orders"],
    },
    {
      memberId: "m-b",
      groupInstanceId: "i-2",
      clientId: "app-2",
      host: "/10.0.0.2",
      assignment: [
        { topic: "orders", partition: 2 },
        { topic: "audit", partition: 0 },
      ],
      subscribedTopics: ["audit", "orders"],
    },
  ],
};

const empty: GroupDescription = { ...stable, state: "Empty", assignor: "", generationId: 5, leaderId: "", members: [] };

const offset = (topic: string, partition: number, value: number): GroupOffset => ({
  topic,
  partition,
  offset: value,
  leaderEpoch: -1,
  metadata: "",
});

describe("castle group list (formatting and options)", () => {
  it("prints GROUP, STATE, PROTOCOL TYPE and COORDINATOR, '-' for a group without a protocol type", () => {
    const groups: GroupListing[] = [
      { groupId: "audit-reader", protocolType: "", state: "Empty", coordinatorId: 2 },
      { groupId: "payments", protocolType: "consumer", state: "Stable", coordinatorId: 1 },
    ];
    expect(GROUP_LIST_HEAD).to.deep.equal(["GROUP", "STATE", "PROTOCOL TYPE", "COORDINATOR"]);
    expect(groupListRows(groups)).to.deep.equal([
      ["audit-reader", "Empty", "-", 2],
      ["payments", "Stable", "consumer", 1],
    ]);
  });

  it("takes --state as comma-separated names in any case, spelled back as Kafka does", () => {
    expect(parseGroupStates(undefined)).to.deep.equal([]);
    expect(parseGroupStates("stable, EMPTY")).to.deep.equal(["Stable", "Empty"]);
    const cases: { value: string; message: string }[] = [
      { value: "asleep", message: "unknown group state 'asleep'. give one or more of Empty, PreparingRebalance" },
      { value: " , ", message: "--state needs a state name" },
    ];
    for (const { value, message } of cases) expect(() => parseGroupStates(value), value).to.throw(message);
  });
});

describe("castle group describe (formatting and options)", () => {
  it("shows one view: partitions by default, --members or --state, not both", () => {
    expect(groupDescribeView({})).to.equal("offsets");
    expect(groupDescribeView({ members: true })).to.equal("members");
    expect(groupDescribeView({ state: true })).to.equal("state");
    expect(() => groupDescribeView({ members: true, state: true })).to.throw("--members and --state cannot be combined");
  });

  it("says a Dead (unknown) group does not exist, as Kafka does", () => {
    expect(requireExistingGroup(stable, "payments")).to.equal(stable);
    for (const group of [undefined, { ...empty, state: "Dead" as const }]) {
      expect(() => requireExistingGroup(group, "ghost"), String(group?.state)).to.throw(
        "Consumer group 'ghost' does not exist. list the groups with `castle group list`",
      );
    }
  });

  it("lists committed and assigned partitions once each, sorted", () => {
    const committed = [offset("orders", 1, 5), offset("zeta", 0, 1)];
    expect(describedPartitions(stable, committed)).to.deep.equal([
      { topic: "audit", partition: 0 },
      { topic: "orders", partition: 0 },
      { topic: "orders", partition: 1 },
      { topic: "orders", partition: 2 },
      { topic: "zeta", partition: 0 },
    ]);
  });

  it("prints Kafka's --describe columns: the lag against the log end offset, the owner, '-' where unknown", () => {
    const committed = [offset("orders", 0, 10), offset("orders", 1, 20), offset("zeta", 0, 3)];
    const ends = new Map([
      [k("orders", 0), 15],
      [k("orders", 1), 20],
      [k("orders", 2), 7],
      [k("audit", 0), 0],
    ]);
    const rows = groupOffsetRows(stable, committed, ends);
    expect(GROUP_OFFSETS_HEAD).to.deep.equal([
      "GROUP",
      "TOPIC",
      "PARTITION",
      "CURRENT-OFFSET",
      "LOG-END-OFFSET",
      "LAG",
      "CONSUMER-ID",
      "HOST",
      "CLIENT-ID",
    ]);
    expect(groupOffsetTableRows(rows)).to.deep.equal([
      ["payments", "audit", 0, "-", 0, "-", "m-b", "/10.0.0.2", "app-2"],
      ["payments", "orders", 0, 10, 15, 5, "m-a", "/10.0.0.1", "app-1"],
      ["payments", "orders", 1, 20, 20, 0, "m-a", "/10.0.0.1", "app-1"],
      ["payments", "orders", 2, "-", 7, "-", "m-b", "/10.0.0.2", "app-2"],
      ["payments", "zeta", 0, 3, "-", "-", "-", "-", "-"],
    ]);
    expect(rows[1]).to.deep.equal({
      group: "payments",
      topic: "orders",
      partition: 0,
      currentOffset: 10,
      logEndOffset: 15,
      lag: 5,
      consumerId: "m-a",
      host: "/10.0.0.1",
      clientId: "app-1",
    });
  });

  it("says the group's state before the partitions, in Kafka's words for an empty group", () => {
    const cases: { group: GroupDescription; line: string }[] = [
      { group: empty, line: "Consumer group 'payments' has no active members." },
      { group: stable, line: "Consumer group 'payments' is Stable with 2 active member(s)." },
      {
        group: { ...stable, state: "PreparingRebalance" },
        line: "Warning: Consumer group 'payments' is rebalancing (PreparingRebalance, 2 member(s)); assignments may be missing.",
      },
    ];
    for (const { group, line } of cases) expect(groupStateLine(group), group.state).to.equal(line);
  });

  it("prints --members with the assignment as topic(partitions)", () => {
    expect(GROUP_MEMBERS_HEAD).to.deep.equal(["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]);
    expect(groupMemberRows(stable)).to.deep.equal([
      ["payments", "m-a", "/10.0.0.1", "app-1", 2, "orders(0,1)"],
      ["payments", "m-b", "/10.0.0.2", "app-2", 2, "audit(0),orders(2)"],
    ]);
    expect(assignmentText([])).to.equal("-");
    expect(
      assignmentText([
        { topic: "b", partition: 3 },
        { topic: "a", partition: 1 },
        { topic: "b", partition: 0 },
      ]),
    ).to.equal("a(1),b(0,3)");
  });

  it("prints --state with the coordinator as host:port (id)", () => {
    expect(GROUP_STATE_HEAD).to.deep.equal(["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]);
    expect(groupStateRow(stable)).to.deep.equal(["payments", "broker-2:9092 (2)", "range", "Stable", 2]);
    expect(groupStateRow(empty)).to.deep.equal(["payments", "broker-2:9092 (2)", "-", "Empty", 0]);
  });

  it("prints each view as JSON with nulls for unknowns", () => {
    const rows = groupOffsetRows(empty, [offset("orders", 0, 4)], new Map());
    expect(groupDescribeJson("offsets", empty, rows)).to.deep.equal({
      groupId: "payments",
      state: "Empty",
      members: 0,
      partitions: [
        {
          group: "payments",
          topic: "orders",
          partition: 0,
          currentOffset: 4,
          logEndOffset: null,
          lag: null,
          consumerId: null,
          host: null,
          clientId: null,
        },
      ],
    });
    expect(groupDescribeJson("state", stable, [])).to.deep.equal({
      groupId: "payments",
      state: "Stable",
      coordinator: { nodeId: 2, host: "broker-2", port: 9092 },
      assignmentStrategy: "range",
      protocolType: "consumer",
      generationId: 4,
      members: 2,
    });
    expect(groupDescribeJson("members", stable, [])).to.deep.equal({ groupId: "payments", state: "Stable", members: stable.members });
  });

  it("looks up log end offsets per topic, leaving out topics that no longer exist", async () => {
    const asked: OffsetQuery[][] = [];
    const admin = {
      listOffsets: async (queries: readonly OffsetQuery[]) => {
        asked.push([...queries]);
        if (queries.some((q) => q.topic === "deleted")) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", "topic 'deleted'");
        return queries.map((q) => ({ topic: q.topic, partition: q.partition, offset: 100 + q.partition, timestampMs: -1 }));
      },
    };
    const ends = await logEndOffsets(admin, [
      { topic: "orders", partition: 0 },
      { topic: "deleted", partition: 0 },
      { topic: "orders", partition: 1 },
    ]);
    expect([...ends]).to.deep.equal([
      [k("orders", 0), 100],
      [k("orders", 1), 101],
    ]);
    expect(asked.flat().every((q) => q.spec === "latest")).to.equal(true);
    const failing = { listOffsets: async () => Promise.reject(protocolError("NOT_COORDINATOR", "x")) };
    const error = await logEndOffsets(failing, [{ topic: "orders", partition: 0 }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, "other errors propagate").to.be.an("error").with.property("code", "NOT_COORDINATOR");
  });
});

const orders: TopicDescription = {
  name: "orders",
  topicId: "id",
  isInternal: false,
  partitions: [0, 1, 2].map((partition) => ({ partition, leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] })),
  configs: {},
};

const topicsAdmin = {
  describeTopics: async (names: readonly string[] = []): Promise<TopicDescription[]> => {
    if (names.some((name) => name !== "orders")) throw protocolError("UNKNOWN_TOPIC_OR_PARTITION", `describe topic '${names[0]}'`);
    return [orders];
  },
};

describe("castle group reset-offsets (options)", () => {
  it("takes exactly one scenario", () => {
    const cases: { options: Parameters<typeof resetScenario>[0]; scenario: ResetScenario }[] = [
      { options: { toEarliest: true }, scenario: { kind: "to-earliest" } },
      { options: { toLatest: true }, scenario: { kind: "to-latest" } },
      { options: { toOffset: 0 }, scenario: { kind: "to-offset", offset: 0 } },
      { options: { shiftBy: -3 }, scenario: { kind: "shift-by", shift: -3 } },
      { options: { toDatetime: 1000 }, scenario: { kind: "to-datetime", timestampMs: 1000 } },
    ];
    for (const { options, scenario } of cases) expect(resetScenario(options), JSON.stringify(options)).to.deep.equal(scenario);
    expect(() => resetScenario({})).to.throw(
      "no reset scenario given. give one of --to-earliest, --to-latest, --to-offset N, --shift-by N or --to-datetime",
    );
    expect(() => resetScenario({ toEarliest: true, toOffset: 3 })).to.throw(
      "--to-earliest and --to-offset cannot be combined. give exactly one of",
    );
  });

  it("reads --topic T and T:P,P (deduplicated, sorted) and refuses bad ones", () => {
    expect(parseTopicSelection("orders")).to.deep.equal({ topic: "orders", partitions: undefined });
    expect(parseTopicSelection("orders:2,0,2")).to.deep.equal({ topic: "orders", partitions: [0, 2] });
    const cases: { value: string; message: string }[] = [
      { value: ":1", message: "--topic ':1' names no topic" },
      { value: "orders:", message: "--topic 'orders:' has a bad partition list" },
      { value: "orders:1,x", message: "--topic 'orders:1,x' has a bad partition list" },
      { value: "orders:-1", message: "--topic 'orders:-1' has a bad partition list" },
    ];
    for (const { value, message } of cases) expect(() => parseTopicSelection(value), value).to.throw(message);
  });

  it("takes --topic (repeatable) or --all-topics", () => {
    expect(partitionSelection({ allTopics: true })).to.deep.equal({ kind: "all-topics" });
    expect(partitionSelection({ topic: ["orders:1", "audit"] })).to.deep.equal({
      kind: "topics",
      topics: [
        { topic: "orders", partitions: [1] },
        { topic: "audit", partitions: undefined },
      ],
    });
    expect(() => partitionSelection({})).to.throw("no partitions to reset. give --topic T[:P,P...] (repeatable) or --all-topics");
    expect(() => partitionSelection({ allTopics: true, topic: ["orders"] })).to.throw("--topic and --all-topics cannot be combined");
  });

  it("refuses a group with members, naming its state, its size and the fix", () => {
    requireInactiveGroup(undefined, "payments");
    requireInactiveGroup(empty, "payments");
    requireInactiveGroup({ ...empty, state: "Dead" }, "payments");
    expect(() => requireInactiveGroup(stable, "payments")).to.throw(
      "cannot reset the offsets of consumer group 'payments': offsets can only be reset while a group is inactive, but it is Stable with 2 active member(s). stop the group's consumers (or wait for their sessions to time out), then run this again",
    );
  });

  it("parses --shift-by as any integer and --to-datetime as ISO 8601, refusing impossible times", () => {
    expect(shiftArg("-5")).to.equal(-5);
    expect(shiftArg("+7")).to.equal(7);
    for (const bad of ["", "1.5", "x", "9007199254740993"]) expect(() => shiftArg(bad), bad).to.throw("expected an integer");
    const cases: { text: string; ms: number }[] = [
      { text: "2024-05-01T12:00:00Z", ms: Date.UTC(2024, 4, 1, 12) },
      { text: "2024-05-01T12:00:00.250Z", ms: Date.UTC(2024, 4, 1, 12, 0, 0, 250) },
      { text: "2024-05-01T12:00+02:00", ms: Date.UTC(2024, 4, 1, 10) },
      { text: "2024-05-01T12:00:00-0130", ms: Date.UTC(2024, 4, 1, 13, 30) },
      { text: "2024-02-29T00:00:00", ms: new Date(2024, 1, 29).getTime() },
    ];
    for (const { text, ms } of cases) expect(datetimeArg(text), text).to.equal(ms);
    for (const bad of [
      "yesterday",
      "2024-05-01",
      "2024-02-30T00:00:00",
      "2023-02-29T00:00",
      "2024-13-01T00:00",
      "2024-05-01T24:00",
      "1714560000000",
    ]) {
      expect(() => datetimeArg(bad), bad).to.throw("expected an ISO 8601 time");
    }
  });
});

describe("castle group reset-offsets (partitions and plan)", () => {
  it("resolves --topic to every partition or the ones named, and --all-topics to the committed ones", async () => {
    const committed = [offset("orders", 2, 9), offset("audit", 0, 1)];
    expect(
      await partitionsToReset({ kind: "topics", topics: [{ topic: "orders", partitions: undefined }] }, "g", [], topicsAdmin),
    ).to.deep.equal([0, 1, 2].map((partition) => ({ topic: "orders", partition })));
    expect(await partitionsToReset({ kind: "topics", topics: [{ topic: "orders", partitions: [2] }] }, "g", [], topicsAdmin)).to.deep.equal(
      [{ topic: "orders", partition: 2 }],
    );
    expect(await partitionsToReset({ kind: "all-topics" }, "g", committed, topicsAdmin)).to.deep.equal([
      { topic: "orders", partition: 2 },
      { topic: "audit", partition: 0 },
    ]);
  });

  it("names an unknown topic, a partition out of range, and --all-topics without committed offsets", async () => {
    const cases: { selection: Parameters<typeof partitionsToReset>[0]; message: string }[] = [
      {
        selection: { kind: "topics", topics: [{ topic: "nope", partitions: undefined }] },
        message: "topic 'nope' does not exist. list topics with `castle topic list`",
      },
      {
        selection: { kind: "topics", topics: [{ topic: "orders", partitions: [0, 3] }] },
        message: "partition 3 of topic 'orders' does not exist. it has partitions 0..2",
      },
      {
        selection: { kind: "all-topics" },
        message: "consumer group 'g' has no committed offsets, so --all-topics names no partitions. name them with --topic T",
      },
    ];
    for (const { selection, message } of cases) {
      const error = await partitionsToReset(selection, "g", [], topicsAdmin).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, message).to.be.an("error").with.property("message", message);
    }
  });

  // Partition 0: log 10..50, committed 30. Partition 1: log 0..8, nothing committed. Partition 2: empty log at 5.
  const partitions = [0, 1, 2].map((partition) => ({ topic: "orders", partition }));
  const offsets: PartitionOffsets = {
    logStart: new Map([
      [k("orders", 0), 10],
      [k("orders", 1), 0],
      [k("orders", 2), 5],
    ]),
    logEnd: new Map([
      [k("orders", 0), 50],
      [k("orders", 1), 8],
      [k("orders", 2), 5],
    ]),
    committed: new Map([[k("orders", 0), 30]]),
    atTime: new Map([
      [k("orders", 0), 42],
      [k("orders", 1), -1],
      [k("orders", 2), -1],
    ]),
  };

  it("plans every scenario, clamped to [log start, high watermark] with a warning each time", () => {
    const cases: { scenario: ResetScenario; expected: number[]; warnings: number }[] = [
      { scenario: { kind: "to-earliest" }, expected: [10, 0, 5], warnings: 0 },
      { scenario: { kind: "to-latest" }, expected: [50, 8, 5], warnings: 0 },
      { scenario: { kind: "to-offset", offset: 20 }, expected: [20, 8, 5], warnings: 2 },
      { scenario: { kind: "to-offset", offset: 0 }, expected: [10, 0, 5], warnings: 2 },
      { scenario: { kind: "shift-by", shift: -5 }, expected: [25, 3, 5], warnings: 1 },
      { scenario: { kind: "shift-by", shift: 100 }, expected: [50, 8, 5], warnings: 3 },
      { scenario: { kind: "shift-by", shift: -100 }, expected: [10, 0, 5], warnings: 3 },
      { scenario: { kind: "to-datetime", timestampMs: 1 }, expected: [42, 8, 5], warnings: 0 },
    ];
    for (const { scenario, expected, warnings } of cases) {
      const planned = planResets(scenario, partitions, offsets);
      const what = JSON.stringify(scenario);
      expect(
        planned.plan.map((p) => p.offset),
        what,
      ).to.deep.equal(expected);
      expect(planned.warnings, what).to.have.length(warnings);
    }
    expect(planResets({ kind: "to-offset", offset: 60 }, partitions.slice(0, 1), offsets).warnings).to.deep.equal([
      "New offset (60) is higher than the latest offset of orders-0; it will be set to 50.",
    ]);
    expect(planResets({ kind: "to-offset", offset: 3 }, partitions.slice(0, 1), offsets).warnings).to.deep.equal([
      "New offset (3) is lower than the earliest offset of orders-0; it will be set to 10.",
    ]);
  });

  it("prints Kafka's columns and says whether anything changed", () => {
    expect(RESET_HEAD).to.deep.equal(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    expect(resetRows("g", [{ topic: "orders", partition: 1, offset: 4 }])).to.deep.equal([["g", "orders", 1, 4]]);
    expect(dryRunNote("g")).to.equal(
      "Dry run: nothing was changed. To commit these offsets for group 'g', run the same command with --execute.",
    );
    expect(executedNote("g", 3)).to.equal("Committed the new offsets of 3 partition(s) for group 'g'.");
  });
});

describe("castle group delete (results)", () => {
  const results: DeletedGroup[] = [
    { groupId: "old", error: null },
    { groupId: "busy", error: errorFromWire(68, 'group "busy" is Stable with 1 member(s)', "delete group 'busy'") },
    { groupId: "ghost", error: errorFromWire(69, 'group "ghost" does not exist', "delete group 'ghost'") },
  ];

  it("prints each group's result, the error from its name on", () => {
    expect(GROUP_DELETE_HEAD).to.deep.equal(["GROUP", "RESULT"]);
    expect(deleteRows(results)).to.deep.equal([
      ["old", "deleted"],
      ["busy", 'NON_EMPTY_GROUP: group "busy" is Stable with 1 member(s)'],
      ["ghost", 'GROUP_ID_NOT_FOUND: group "ghost" does not exist'],
    ]);
    expect(deleteResultText({ groupId: "x", error: protocolError("NETWORK_EXCEPTION", "no route") })).to.equal("no route");
    expect(deleteJson(results.slice(0, 2))).to.deep.equal([
      { groupId: "old", error: null },
      {
        groupId: "busy",
        error: { code: "NON_EMPTY_GROUP", message: `delete group 'busy': NON_EMPTY_GROUP: group "busy" is Stable with 1 member(s)` },
      },
    ]);
  });

  it("fails when any group was not deleted, with the fix for each kind of refusal", () => {
    expect(deleteFailure(results.slice(0, 1))).to.equal(undefined);
    expect(deleteFailure(results)?.message).to.equal(
      "2 of 3 consumer group(s) could not be deleted: 'busy', 'ghost'. stop a group's consumers before deleting it; list the groups with `castle group list`",
    );
    expect(deleteFailure(results.slice(0, 2))?.message).to.equal(
      "1 of 2 consumer group(s) could not be deleted: 'busy'. stop a group's consumers before deleting it",
    );
  });
});

describe("castle consume --group (options)", () => {
  it("refuses --partition and --offset with --group, and an empty group id", () => {
    checkConsumeOptions({ group: "g" });
    checkConsumeOptions({ partition: 0, offset: 5 });
    const cases: { options: Parameters<typeof checkConsumeOptions>[0]; message: string }[] = [
      { options: { group: "g", partition: 0 }, message: "--partition cannot be used with --group. the group assigns the partitions" },
      { options: { group: "g", partition: 0, offset: 3 }, message: "--partition and --offset cannot be used with --group" },
      { options: { group: " " }, message: "--group needs a group id" },
      { options: { offset: 3 }, message: "--offset needs --partition" },
    ];
    for (const { options, message } of cases) expect(() => checkConsumeOptions(options), JSON.stringify(options)).to.throw(message);
  });

  it("finds the first unprinted offset of each partition (where the final commit must stop)", () => {
    const record = (partition: number, offsetValue: number) => ({
      topic: "t",
      partition,
      offset: offsetValue,
      timestampMs: 0,
      key: null,
      value: null,
      headers: [],
    });
    expect(firstOffsets([record(0, 5), record(1, 2), record(0, 6)])).to.deep.equal([
      { tp: { topic: "t", partition: 0 }, offset: 5 },
      { tp: { topic: "t", partition: 1 }, offset: 2 },
    ]);
  });
});

describe("castle group (argument errors)", function () {
  this.timeout(20_000);

  const cases: { args: string[]; stderr: RegExp }[] = [
    { args: ["group", "list", "--state", "asleep"], stderr: /^error: unknown group state 'asleep'\. give one or more of Empty/ },
    { args: ["group", "describe"], stderr: /missing required argument 'group'/ },
    { args: ["group", "describe", "g", "--members", "--state"], stderr: /^error: --members and --state cannot be combined/ },
    { args: ["group", "delete"], stderr: /missing required argument 'groups'/ },
    { args: ["group", "reset-offsets", "g", "--topic", "t"], stderr: /^error: no reset scenario given\. give one of --to-earliest/ },
    {
      args: ["group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"],
      stderr: /^error: --to-earliest and --to-latest cannot be combined/,
    },
    {
      args: ["group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"],
      stderr: /--to-offset.*'-1' is invalid\. expected an integer >= 0/,
    },
    {
      args: ["group", "reset-offsets", "g", "--topic", "t", "--shift-by", "two"],
      stderr: /--shift-by.*'two' is invalid\. expected an integer/,
    },
    {
      args: ["group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "2024-02-30T00:00:00"],
      stderr: /--to-datetime.*'2024-02-30T00:00:00' is invalid\. expected an ISO 8601 time/,
    },
    { args: ["group", "reset-offsets", "g", "--to-earliest"], stderr: /^error: no partitions to reset\. give --topic/ },
    {
      args: ["group", "reset-offsets", "g", "--all-topics", "--topic", "t", "--to-earliest"],
      stderr: /^error: --topic and --all-topics cannot be combined/,
    },
    {
      args: ["group", "reset-offsets", "g", "--topic", "t:1,x", "--to-earliest"],
      stderr: /^error: --topic 't:1,x' has a bad partition list/,
    },
    { args: ["consume", "--topic", "t", "--group", "g", "--partition", "0"], stderr: /^error: --partition cannot be used with --group/ },
    { args: ["consume", "--topic", "t", "--group", "g", "--offset", "3"], stderr: /^error: --offset cannot be used with --group/ },
  ];
  for (const { args, stderr } of cases) {
    it(`castle ${args.join(" ")} fails before connecting, with a clear message`, async () => {
      const result = await runCli(args, { env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" } });
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(stderr);
      expect(result.stderr, "no stack trace").to.not.match(/\n\s+at /);
      expect(result.stdout, "nothing on stdout").to.equal("");
    });
  }

  it("fails at once, naming the fix, when nothing listens", async () => {
    const started = Date.now();
    const result = await runCli(["group", "describe", "g"], { env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" } });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^error: cannot reach any bootstrap server \(127\.0\.0\.1:1\)/);
    expect(Date.now() - started, "no retries for the request timeout").to.be.below(10_000);
  });
});
