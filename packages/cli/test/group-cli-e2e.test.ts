// castle group list|describe|reset-offsets|delete and consume --group as a child process against
// one in-process node with quick groups. Offsets are committed and members joined with the raw
// castle.v1.Group calls (not the Admin under test), and committed offsets are read back the same
// way, so every check sees what the coordinator holds. Every wait is bounded.

import { Producer } from "@castle/client";
import {
  CONSUMER_PROTOCOL_TYPE,
  ErrorCode,
  encodeConsumerAssignment,
  encodeConsumerSubscription,
  type JoinGroupResponse,
  loadCastleProto,
  type OffsetFetchResponse,
} from "@castle/protocol";
import { type RunningNode, startCastleCli, startInProcessNode, TempDir, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { type CliResult, runCli } from "./run-cli.js";

const QUICK_GROUPS = {
  "group.initial.rebalance.delay.ms": "0",
  "group.min.session.timeout.ms": "500",
  "offsets.topic.num.partitions": "3",
};
const TOPIC = "ledger";
/** Records produced to each partition of TOPIC. */
const RECORDS = [5, 4, 3];
const WAIT_MS = 15_000;

interface Answer {
  errorCode: number;
  errorMessage: string;
}

type Row = Record<string, unknown>;

describe("castle group against a node", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let node: RunningNode;
  let cli: (args: string[]) => Promise<CliResult>;
  let client: grpc.Client & Record<string, unknown>;
  const heartbeats: NodeJS.Timeout[] = [];

  /** One raw castle.v1.Group call; the only node coordinates every group. */
  function group<Res>(method: string, request: unknown): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const fn = client[method] as (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void;
      fn.call(client, request, { deadline: Date.now() + 20_000 }, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  async function commit(groupId: string, offsets: Record<number, number>): Promise<void> {
    const partitions = Object.entries(offsets).map(([partition, offset]) => ({
      partition: Number(partition),
      committedOffset: offset,
      committedLeaderEpoch: -1,
      metadata: "",
    }));
    const answer = await group<{ topics: { partitions: Answer[] }[] }>("OffsetCommit", {
      groupId,
      generationId: -1,
      memberId: "",
      topics: [{ name: TOPIC, partitions }],
    });
    for (const p of answer.topics.flatMap((t) => t.partitions)) expect(p.errorCode, p.errorMessage).to.equal(ErrorCode.NONE);
  }

  /** The group's committed offsets of TOPIC by partition, as the coordinator holds them. */
  async function committed(groupId: string): Promise<Record<number, number>> {
    const answer = await group<OffsetFetchResponse>("OffsetFetch", { groupId, topics: [] });
    expect(answer.errorCode, answer.errorMessage).to.equal(ErrorCode.NONE);
    const out: Record<number, number> = {};
    for (const t of answer.topics) {
      if (t.name !== TOPIC) continue;
      for (const p of t.partitions) if (p.committedOffset >= 0) out[p.partition] = p.committedOffset;
    }
    return out;
  }

  /** Joins `groupId` as one member (raw JoinGroup + SyncGroup) owning `partitions`; it heartbeats until the suite ends or it leaves. */
  async function joinMember(groupId: string, partitions: number[]): Promise<{ memberId: string; generationId: number }> {
    const request = {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: "",
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocols: [{ name: "range", metadata: encodeConsumerSubscription({ topics: [TOPIC] }) }],
      clientId: "raw-member",
    };
    let joined = await group<JoinGroupResponse>("JoinGroup", request);
    if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED)
      joined = await group<JoinGroupResponse>("JoinGroup", { ...request, memberId: joined.memberId });
    expect(joined.errorCode, joined.errorMessage).to.equal(ErrorCode.NONE);
    const { memberId, generationId } = joined;
    const synced = await group<Answer>("SyncGroup", {
      groupId,
      generationId,
      memberId,
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocolName: "range",
      assignments: [{ memberId, assignment: encodeConsumerAssignment({ assignedPartitions: [{ topic: TOPIC, partitions }] }) }],
    });
    expect(synced.errorCode, synced.errorMessage).to.equal(ErrorCode.NONE);
    heartbeats.push(setInterval(() => void group("Heartbeat", { groupId, generationId, memberId }).catch(() => undefined), 1000));
    return { memberId, generationId };
  }

  async function leave(groupId: string, memberId: string): Promise<void> {
    const answer = await group<Answer>("LeaveGroup", { groupId, members: [{ memberId }] });
    expect(answer.errorCode, answer.errorMessage).to.equal(ErrorCode.NONE);
  }

  const json = async <T>(args: string[]): Promise<T> => {
    const result = await cli(["--json", ...args]);
    expect(result.code, result.stderr).to.equal(0);
    return JSON.parse(result.stdout) as T;
  };

  before(async () => {
    dir = new TempDir();
    node = await startInProcessNode(dir.join("data"), QUICK_GROUPS);
    const bootstrap = `127.0.0.1:${node.clientPort}`;
    cli = (args) => runCli(args, { env: { CASTLE_BOOTSTRAP: bootstrap } });
    const Group = loadCastleProto().castle.v1.Group;
    client = new Group(bootstrap, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, unknown>;
    const created = await cli(["topic", "create", TOPIC, "--partitions", String(RECORDS.length)]);
    expect(created.code, created.stderr).to.equal(0);
    const producer = new Producer({ bootstrap, lingerMs: 0 });
    try {
      await Promise.all(
        RECORDS.flatMap((count, partition) =>
          Array.from({ length: count }, (_, i) => producer.send({ topic: TOPIC, partition, value: `p${partition}-${i}` })),
        ),
      );
    } finally {
      await producer.close();
    }
    // The coordinator needs __consumer_offsets: FindCoordinator creates it; wait until it answers.
    await waitUntil(
      async () => (await group<Answer>("FindCoordinator", { groupId: "warm-up" })).errorCode === ErrorCode.NONE,
      "a group coordinator",
      WAIT_MS,
    );
  });

  after(async () => {
    for (const timer of heartbeats) clearInterval(timer);
    client?.close();
    await node?.close();
    dir?.cleanup();
  });

  it("describes committed offsets with the log end offset and lag, and an empty group's state", async () => {
    await commit("lagging", { 0: 2, 1: 4 });
    const described = await json<{ state: string; members: number; partitions: Row[] }>(["group", "describe", "lagging"]);
    expect(described.state).to.equal("Empty");
    expect(described.members).to.equal(0);
    expect(
      described.partitions.map((r) => [r["partition"], r["currentOffset"], r["logEndOffset"], r["lag"], r["consumerId"]]),
    ).to.deep.equal([
      [0, 2, 5, 3, null],
      [1, 4, 4, 0, null],
    ]);
    const table = await cli(["group", "describe", "lagging"]);
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^Consumer group 'lagging' has no active members\.\n/);
    expect(table.stdout).to.match(/GROUP +│ TOPIC +│ PARTITION │ CURRENT-OFFSET │ LOG-END-OFFSET │ LAG │ CONSUMER-ID │ HOST │ CLIENT-ID/);
    expect(table.stdout).to.match(/│ lagging │ ledger │ 0 +│ 2 +│ 5 +│ 3 +│ - +│ - +│ - +│/);
  });

  it("lists groups with their state, protocol type and coordinator, filtered by --state", async () => {
    await commit("listed", { 0: 1 });
    const all = await json<{ groupId: string; state: string; protocolType: string; coordinatorId: number }[]>(["group", "list"]);
    expect(all.find((g) => g.groupId === "listed")).to.deep.equal({
      groupId: "listed",
      protocolType: "",
      state: "Empty",
      coordinatorId: 1,
    });
    const stable = await json<{ groupId: string }[]>(["group", "list", "--state", "Stable"]);
    expect(stable.map((g) => g.groupId)).to.not.include("listed");
    const table = await cli(["group", "list"]);
    expect(table.stdout).to.match(/GROUP +│ STATE +│ PROTOCOL TYPE │ COORDINATOR/);
    expect(table.stdout).to.match(/│ listed +│ Empty +│ - +│ 1 +│/);
  });

  it("says an unknown group does not exist, with exit code 1", async () => {
    const result = await cli(["group", "describe", "never-seen"]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^error: Consumer group 'never-seen' does not exist\. list the groups with `castle group list`\n$/);
  });

  it("plans a reset without changing anything, then --execute commits it", async () => {
    await commit("rewind", { 0: 4, 1: 3, 2: 3 });
    const dry = await cli(["group", "reset-offsets", "rewind", "--topic", TOPIC, "--to-earliest"]);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.match(/GROUP +│ TOPIC +│ PARTITION │ NEW-OFFSET/);
    expect(dry.stdout).to.match(/│ rewind │ ledger │ 2 +│ 0 +│/);
    expect(dry.stderr).to.match(/Dry run: nothing was changed\. .*--execute/);
    expect(await committed("rewind")).to.deep.equal({ 0: 4, 1: 3, 2: 3 });

    const executed = await json<{ executed: boolean; offsets: { partition: number; offset: number }[] }>([
      "group",
      "reset-offsets",
      "rewind",
      "--topic",
      `${TOPIC}:0,1`,
      "--to-earliest",
      "--execute",
    ]);
    expect(executed.executed).to.equal(true);
    expect(executed.offsets.map((o) => [o.partition, o.offset])).to.deep.equal([
      [0, 0],
      [1, 0],
    ]);
    expect(await committed("rewind")).to.deep.equal({ 0: 0, 1: 0, 2: 3 });
  });

  it("shifts, sets and clamps offsets (--shift-by, --to-offset, --to-latest, --to-datetime, --all-topics)", async () => {
    await commit("moves", { 0: 2, 1: 1 });
    const cases: { args: string[]; expected: Record<number, number>; warns?: RegExp }[] = [
      { args: ["--all-topics", "--shift-by", "2"], expected: { 0: 4, 1: 3 } },
      {
        args: ["--all-topics", "--shift-by", "-10"],
        expected: { 0: 0, 1: 0 },
        warns: /lower than the earliest offset of ledger-0; it will be set to 0/,
      },
      { args: ["--topic", `${TOPIC}:2`, "--shift-by", "-1"], expected: { 0: 0, 1: 0, 2: 2 } },
      {
        args: ["--topic", TOPIC, "--to-offset", "4"],
        expected: { 0: 4, 1: 4, 2: 3 },
        warns: /higher than the latest offset of ledger-2; it will be set to 3/,
      },
      { args: ["--topic", `${TOPIC}:0`, "--to-datetime", "2000-01-01T00:00:00Z"], expected: { 0: 0, 1: 4, 2: 3 } },
      { args: ["--topic", `${TOPIC}:0`, "--to-datetime", "2999-01-01T00:00:00Z"], expected: { 0: 5, 1: 4, 2: 3 } },
      { args: ["--all-topics", "--to-earliest"], expected: { 0: 0, 1: 0, 2: 0 } },
      { args: ["--all-topics", "--to-latest"], expected: { 0: 5, 1: 4, 2: 3 } },
    ];
    for (const { args, expected, warns } of cases) {
      const result = await cli(["group", "reset-offsets", "moves", ...args, "--execute"]);
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).to.equal(0);
      if (warns) expect(result.stderr, args.join(" ")).to.match(warns);
      expect(await committed("moves"), args.join(" ")).to.deep.equal(expected);
    }
  });

  it("refuses bad input and changes nothing", async () => {
    await commit("careful", { 0: 1 });
    const cases: { args: string[]; stderr: RegExp }[] = [
      { args: ["--topic", "missing", "--to-earliest"], stderr: /^error: topic 'missing' does not exist/ },
      {
        args: ["--topic", `${TOPIC}:7`, "--to-earliest"],
        stderr: /^error: partition 7 of topic 'ledger' does not exist\. it has partitions 0\.\.2/,
      },
      { args: ["--topic", TOPIC, "--to-offset", "-3"], stderr: /'-3' is invalid/ },
      { args: ["--topic", TOPIC, "--to-datetime", "last tuesday"], stderr: /'last tuesday' is invalid\. expected an ISO 8601 time/ },
      { args: ["--topic", TOPIC, "--to-earliest", "--to-latest"], stderr: /cannot be combined/ },
    ];
    for (const { args, stderr } of cases) {
      const result = await cli(["group", "reset-offsets", "careful", ...args, "--execute"]);
      expect(result.code, args.join(" ")).to.equal(1);
      expect(result.stderr, args.join(" ")).to.match(stderr);
      expect(await committed("careful"), args.join(" ")).to.deep.equal({ 0: 1 });
    }
  });

  it("shows an active group's members, refuses to reset or delete it, and deletes it once empty", async () => {
    await commit("active", { 0: 3, 1: 1 });
    const { memberId } = await joinMember("active", [0, 2]);

    const described = await json<{ state: string; members: number; partitions: Row[] }>(["group", "describe", "active"]);
    expect(described.state).to.equal("Stable");
    expect(described.members).to.equal(1);
    expect(
      described.partitions.map((r) => [r["partition"], r["currentOffset"], r["logEndOffset"], r["lag"], r["consumerId"], r["clientId"]]),
    ).to.deep.equal([
      [0, 3, 5, 2, memberId, "raw-member"],
      [1, 1, 4, 3, null, null],
      [2, null, 3, null, memberId, "raw-member"],
    ]);
    const members = await cli(["group", "describe", "active", "--members"]);
    expect(members.code, members.stderr).to.equal(0);
    expect(members.stdout).to.match(/GROUP +│ CONSUMER-ID +│ HOST +│ CLIENT-ID +│ #PARTITIONS │ ASSIGNMENT/);
    expect(members.stdout).to.include(`│ active │ ${memberId} │`);
    expect(members.stdout).to.match(/│ raw-member │ 2 +│ ledger\(0,2\) │/);
    const state = await json<{ state: string; members: number; assignmentStrategy: string; coordinator: { nodeId: number } }>([
      "group",
      "describe",
      "active",
      "--state",
    ]);
    expect(state).to.include({ state: "Stable", members: 1, assignmentStrategy: "range" });
    expect(state.coordinator.nodeId).to.equal(1);
    const listed = await json<{ groupId: string; state: string }[]>(["group", "list", "--state", "stable"]);
    expect(listed.map((g) => g.groupId)).to.include("active");

    for (const args of [["--to-earliest"], ["--to-earliest", "--execute"]]) {
      const refused = await cli(["group", "reset-offsets", "active", "--topic", TOPIC, ...args]);
      expect(refused.code, args.join(" ")).to.equal(1);
      expect(refused.stderr, args.join(" ")).to.match(
        /^error: cannot reset the offsets of consumer group 'active': offsets can only be reset while a group is inactive, but it is Stable with 1 active member\(s\)\. stop the group's consumers/,
      );
      expect(refused.stdout, args.join(" ")).to.equal("");
    }
    expect(await committed("active")).to.deep.equal({ 0: 3, 1: 1 });

    const busy = await cli(["group", "delete", "active"]);
    expect(busy.code).to.equal(1);
    expect(busy.stdout).to.match(/│ active │ NON_EMPTY_GROUP: /);
    expect(busy.stderr).to.match(
      /^error: 1 of 1 consumer group\(s\) could not be deleted: 'active'\. stop a group's consumers before deleting it/,
    );
    expect(await committed("active")).to.deep.equal({ 0: 3, 1: 1 });

    await leave("active", memberId);
    const deleted = await cli(["group", "delete", "active"]);
    expect(deleted.code, deleted.stderr).to.equal(0);
    expect(deleted.stdout).to.match(/│ active │ deleted │/);
    expect(await committed("active")).to.deep.equal({});
    const gone = await cli(["group", "describe", "active"]);
    expect(gone.stderr).to.match(/Consumer group 'active' does not exist/);
  });

  it("deletes several groups, reporting an unknown one and exiting 1", async () => {
    await commit("doomed", { 0: 1 });
    const result = await cli(["--json", "group", "delete", "doomed", "no-such-group"]);
    expect(result.code).to.equal(1);
    const results = JSON.parse(result.stdout) as { groupId: string; error: { code: string } | null }[];
    expect(results.map((r) => [r.groupId, r.error?.code ?? null])).to.deep.equal([
      ["doomed", null],
      ["no-such-group", "GROUP_ID_NOT_FOUND"],
    ]);
    expect(result.stderr).to.match(/list the groups with `castle group list`/);
  });

  it("consume --group commits what it printed when stopped with SIGINT", async () => {
    const total = RECORDS.reduce((a, b) => a + b, 0);
    const consumer = startCastleCli(["consume", "--topic", TOPIC, "--group", "interrupted", "--from-beginning"], {
      env: { CASTLE_BOOTSTRAP: `127.0.0.1:${node.clientPort}` },
      timeoutMs: 3 * WAIT_MS,
    });
    await waitUntil(() => consumer.output().stdout.split("\n").length > total, `${total} records printed`, WAIT_MS);
    consumer.child.kill("SIGINT");
    const { code, stderr } = await consumer.done;
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(new RegExp(`Processed a total of ${total} messages`));
    expect(await committed("interrupted")).to.deep.equal({ 0: 5, 1: 4, 2: 3 });
  });

  it("consume --group reads the group's share, commits what it printed, and resumes from there", async () => {
    const total = RECORDS.reduce((a, b) => a + b, 0);
    const none = await cli(["consume", "--topic", TOPIC, "--group", "readers-late", "--timeout-ms", "2000"]);
    expect(none.code, none.stderr).to.equal(0);
    expect(none.stdout, "without --from-beginning a new group starts at the end").to.equal("");

    const first = await cli(["consume", "--topic", TOPIC, "--group", "readers", "--from-beginning", "--max-messages", "5"]);
    expect(first.code, first.stderr).to.equal(0);
    const firstValues = first.stdout.trim().split("\n");
    expect(firstValues).to.have.length(5);
    expect(first.stderr).to.match(/Processed a total of 5 messages/);
    const afterFirst = await committed("readers");
    expect(
      Object.values(afterFirst).reduce((a, b) => a + b, 0),
      JSON.stringify(afterFirst),
    ).to.equal(5);

    const described = await json<{ state: string; partitions: Row[] }>(["group", "describe", "readers"]);
    expect(described.state).to.equal("Empty");
    expect(described.partitions.reduce((sum, r) => sum + Number(r["lag"] ?? 0), 0)).to.equal(total - 5);

    const rest = await cli(["consume", "--topic", TOPIC, "--group", "readers", "--from-beginning", "--timeout-ms", "3000"]);
    expect(rest.code, rest.stderr).to.equal(0);
    const restValues = rest.stdout.trim().split("\n");
    expect([...firstValues, ...restValues].sort()).to.deep.equal(
      RECORDS.flatMap((count, partition) => Array.from({ length: count }, (_, i) => `p${partition}-${i}`)).sort(),
    );
    expect(await committed("readers")).to.deep.equal({ 0: 5, 1: 4, 2: 3 });
  });
});
