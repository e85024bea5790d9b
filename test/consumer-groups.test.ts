// Consumer groups (issue 6, "Must show") on real node processes: three combined nodes started
// once, and group members that are processes of their own (test/support/group-consumer-worker.ts,
// commit-after-processing: each reports every record it processed over IPC, then commits), so a
// member can be kill -9ed like a node. Each case gets a fresh topic of 6 partitions, RF 3 and
// min.insync.replicas 2, and records named "p<partition>-<seq>", so every produced record can
// be looked for among the processed ones.
//   1. Three members share the topic two partitions each; one is kill -9ed and the other two
//      take its partitions within the session timeout plus a margin; nothing produced before,
//      during or after is skipped (duplicates are allowed, and counted).
//   2. Two groups each read every record: offsets are per group.
//   3. The coordinator's node is kill -9ed: the group moves to a new coordinator with its
//      committed offsets, and its member keeps reading and committing; nothing is skipped.
//   4. Cooperative-sticky: a third member joins two; only the partitions that move are
//      revoked, and the others keep delivering records through the rebalance.
//   5. `castle group reset-offsets` (dry run, then --execute with --shift-by and --to-earliest):
//      a new member reads exactly the replayed records.
// The brokers' group timings are short (no initial rebalance delay, sessions from 500 ms) and a
// dead broker is fenced after 3 s, so the whole file runs in 30 to 40 s. Every wait is
// bounded and, when it gives up, prints what each member owns and last did.

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Admin, type GroupDescription, Producer } from "@castle/client";
import { SeededRandom } from "@castle/common";
import { type CastleCluster, type CliResult, runCastleCli, startCastleCluster, waitUntil } from "@castle/testkit";
import { expect } from "chai";
import type { ProcessedRecord, WorkerConfig, WorkerEvent } from "./support/group-consumer-worker.js";

const SEED = 20_260_601;
const PARTITIONS = 6;
const NODE_OVERRIDES: Readonly<Record<string, string>> = {
  "group.initial.rebalance.delay.ms": "0",
  "group.min.session.timeout.ms": "500",
  "offsets.topic.num.partitions": "6",
  // A killed node is fenced, and its partitions (and groups) get new leaders, after this.
  "broker.session.timeout.ms": "3000",
  "broker.heartbeat.interval.ms": "300",
  // A dead follower leaves the ISR after this, so acks=all goes on with the other two.
  "replica.lag.time.max.ms": "3000",
  // Leaders (and so coordinators) move only when a test kills a node.
  "auto.leader.rebalance.enable": "false",
  "auto.create.topics.enable": "false",
};

/** Group member timings: the coordinator drops a silent member after the session timeout. */
const SESSION_TIMEOUT_MS = 3_000;
const HEARTBEAT_INTERVAL_MS = 300;
const POLL_TIMEOUT_MS = 100;
const MAX_POLL_RECORDS = 50;
/** On top of the session timeout: the survivors hear of the rebalance (a heartbeat) and rejoin and sync. */
const TAKEOVER_MARGIN_MS = 3_000;
/** After the coordinator's node dies: fencing (broker session), a new coordinator loading the group, the member finding it. */
const COORDINATOR_FAILOVER_BOUND_MS = 15_000;
/** The cooperative newcomer's onPartitionsAssigned takes this long, which the second round waits for. */
const COOPERATIVE_ASSIGN_CALLBACK_MS = 2000;
/** One streaming producer loop per partition sends a record, awaits its ack, then waits this long. */
const STREAM_INTERVAL_MS = 20;

/** Group ids tried when looking for one a given node coordinates (each lands on a node with odds of about 1 in 3). */
const IDLE_GROUP_CANDIDATES_MAX = 64;

const STARTUP_TIMEOUT_MS = 60_000;
/** Bound on a group reaching an expected assignment. */
const ASSIGNMENT_TIMEOUT_MS = 20_000;
/** Bound on every produced record having been processed. */
const DRAIN_TIMEOUT_MS = 30_000;
const MEMBER_STOP_TIMEOUT_MS = 8_000;
const CLI_TIMEOUT_MS = 20_000;
const WAIT_INTERVAL_MS = 25;
const WORKER_STDERR_LINES_MAX = 50;
/** Warnings and errors of the nodes kept for a failure's report. */
const NODE_LOG_LINES_MAX = 500;

const WORKER_PATH = fileURLToPath(new URL("./support/group-consumer-worker.ts", import.meta.url));
const recordValue = (partition: number, seq: number): string => `p${partition}-${seq}`;
const allPartitions = (): number[] => Array.from({ length: PARTITIONS }, (_, p) => p);
const sorted = (values: Iterable<number>): number[] => [...values].sort((a, b) => a - b);

interface MemberOptions {
  /** partitionAssignmentStrategy; default ["range"] (eager). */
  strategy?: string[];
  /** How long the member's onPartitionsAssigned takes; default 0. */
  onAssignedMs?: number;
}

/** A group member in a child process, as the test sees it: what it owns, processed and committed. */
class Member {
  readonly events: WorkerEvent[] = [];
  /** Every record processed, in order, with when it was reported. */
  readonly processed: { record: ProcessedRecord; atMs: number }[] = [];
  /** Partitions owned now, replayed from assigned/revoked/lost. */
  readonly owned = new Set<number>();
  /** Highest offset committed per partition, from the worker's commit reports. */
  readonly committed = new Map<number, number>();
  readonly exited: Promise<void>;
  private readonly stderr: string[] = [];
  private running = true;

  constructor(
    readonly config: WorkerConfig,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once("exit", () => {
        this.running = false;
        resolve();
      }),
    );
    child.on("message", (event: WorkerEvent) => this.handle(event));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderr.push(...chunk.split("\n").filter((line) => line.length > 0));
      this.stderr.splice(0, Math.max(0, this.stderr.length - WORKER_STDERR_LINES_MAX));
    });
  }

  get name(): string {
    return this.config.clientId;
  }

  get pid(): number | undefined {
    return this.running ? this.child.pid : undefined;
  }

  private handle(event: WorkerEvent): void {
    this.events.push(event);
    if (event.type === "assigned") for (const p of event.partitions) this.owned.add(p);
    if (event.type === "revoked" || event.type === "lost") for (const p of event.partitions) this.owned.delete(p);
    if (event.type === "records") for (const record of event.records) this.processed.push({ record, atMs: event.atMs });
    if (event.type === "committed") {
      for (const [p, offset] of Object.entries(event.offsets)) {
        this.committed.set(Number(p), Math.max(offset, this.committed.get(Number(p)) ?? 0));
      }
    }
  }

  eventsOf<T extends WorkerEvent["type"]>(type: T): Extract<WorkerEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<WorkerEvent, { type: T }> => e.type === type);
  }

  /** kill -9, by pid; resolves once the process has exited. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) process.kill(pid, "SIGKILL");
    await this.exited;
  }

  /** Asks the worker to close its consumer (leaving the group) and exit; kill -9 if it has not within the bound. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.send({ type: "stop" });
    const timer = setTimeout(() => void this.kill(), MEMBER_STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
    expect(this.eventsOf("closed"), `${this.name} closed its consumer before exiting; stderr: ${this.stderr.join("\n")}`).to.have.length(1);
  }

  summary(): string {
    const last = this.events.slice(-3).map((e) => (e.type === "records" ? `records x${e.records.length}` : JSON.stringify(e)));
    const stderr = this.stderr.length > 0 ? `; stderr: ${this.stderr.slice(-5).join(" / ")}` : "";
    return `${this.name}${this.running ? "" : " (exited)"} owns [${sorted(this.owned).join(",")}], processed ${this.processed.length}, last: ${last.join(" ; ")}${stderr}`;
  }
}

/**
 * A cooperative member's second joins (KIP-429) in `events`: the round that revokes partitions
 * ends with onPartitionsAssigned (of nothing new) right after onPartitionsRevoked; the member then
 * rejoins at once, and its next onPartitionsAssigned ends that join (undefined until it has).
 */
function rejoinsAfterRevoking(events: readonly WorkerEvent[]): { revoked: number[]; rejoiningFromMs: number; rejoinedAtMs?: number }[] {
  return events.flatMap((e, at) => {
    if (e.type !== "revoked") return [];
    const [roundEnd, rejoined] = events.slice(at + 1).filter((later) => later.type === "assigned");
    const rejoiningFromMs = roundEnd?.atMs ?? e.atMs;
    return [{ revoked: e.partitions, rejoiningFromMs, ...(rejoined !== undefined ? { rejoinedAtMs: rejoined.atMs } : {}) }];
  });
}

/** Writes records "p<partition>-<seq>" to every partition of one topic and remembers which were acknowledged. */
class TopicWriter {
  /** Acknowledged values, with the offset each got. */
  readonly acked = new Map<string, number>();
  readonly failed: string[] = [];
  private readonly nextSeq: number[] = allPartitions().map(() => 0);
  private streaming = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly producer: Producer,
    readonly topic: string,
  ) {}

  private async sendOne(partition: number): Promise<void> {
    const seq = this.nextSeq[partition] ?? 0;
    this.nextSeq[partition] = seq + 1;
    const value = recordValue(partition, seq);
    try {
      const metadata = await this.producer.send({ topic: this.topic, partition, value });
      this.acked.set(value, metadata.offset);
    } catch (error) {
      this.failed.push(`${value}: ${(error as Error).message}`);
    }
  }

  /** `count` more records to every partition, all acknowledged (or failed) on return. */
  async write(count: number): Promise<void> {
    await Promise.all(allPartitions().flatMap((p) => Array.from({ length: count }, () => this.sendOne(p))));
  }

  /** One loop per partition: send, await the ack, pause STREAM_INTERVAL_MS; until stopStream(). */
  startStream(): void {
    this.streaming = true;
    this.loops = allPartitions().map(async (p) => {
      while (this.streaming) {
        await this.sendOne(p);
        await new Promise((resolve) => setTimeout(resolve, STREAM_INTERVAL_MS));
      }
    });
  }

  async stopStream(): Promise<void> {
    this.streaming = false;
    await Promise.all(this.loops);
  }
}

describe("consumer groups on three node processes", function () {
  this.timeout(180_000);
  const random = new SeededRandom(SEED);
  let cluster: CastleCluster;
  let admin: Admin;
  let producer: Producer;
  const members: Member[] = [];
  /** Writers of the running case, whose streams afterEach stops if the case did not. */
  const writers: TopicWriter[] = [];
  const nodeLog: string[] = [];

  /** Every node's client address, running or not: clients skip the dead ones. */
  const bootstrapAll = (): string => cluster.nodes.map((n) => n.bootstrap).join(",");

  before(async function () {
    this.timeout(STARTUP_TIMEOUT_MS);
    console.log(`      consumer groups seed ${SEED}`);
    cluster = await startCastleCluster({
      controllers: 3,
      overrides: NODE_OVERRIDES,
      onLog: (id, line) => {
        if (!line.includes('"warn"') && !line.includes('"error"')) return;
        nodeLog.push(`[${id}] ${line}`);
        nodeLog.splice(0, Math.max(0, nodeLog.length - NODE_LOG_LINES_MAX));
      },
    });
    await cluster.waitReady("all");
    admin = new Admin({ bootstrap: bootstrapAll(), requestTimeoutMs: 5_000 });
    producer = new Producer({ bootstrap: bootstrapAll(), acks: "all", lingerMs: 0, deliveryTimeoutMs: 30_000, requestTimeoutMs: 5_000 });
    // __consumer_offsets is created on the first FindCoordinator; make that happen before any test's clock runs.
    await waitUntil(
      async () => {
        try {
          const [group] = await admin.describeGroups(["warm-up"]);
          return group?.coordinator.nodeId !== undefined && group.coordinator.nodeId > 0;
        } catch {
          return false;
        }
      },
      "a group coordinator (__consumer_offsets created)",
      STARTUP_TIMEOUT_MS,
      100,
    );
  });

  afterEach(async function () {
    const alive = members.splice(0).filter((m) => m.pid !== undefined);
    if (this.currentTest?.state === "failed") {
      for (const m of alive) console.log(`      ${m.summary()}`);
      for (const line of nodeLog.slice(-30)) console.log(`      ${line}`);
    }
    await Promise.all(alive.map((m) => m.kill()));
    await Promise.all(writers.splice(0).map((w) => w.stopStream()));
    // A case that failed with a node down leaves it down; the next one starts with all three.
    const down = cluster.nodes.filter((n) => !n.running).map((n) => n.id);
    for (const id of down) await cluster.start(id);
    if (down.length > 0) await cluster.waitReady("all");
  });

  after(async () => {
    await Promise.all(members.splice(0).map((m) => m.kill()));
    await producer?.close({ timeoutMs: 5_000 });
    admin?.close();
    await cluster?.close();
  });

  async function createTopic(topic: string): Promise<TopicWriter> {
    await admin.createTopics([{ name: topic, numPartitions: PARTITIONS, replicationFactor: 3, configs: { "min.insync.replicas": "2" } }]);
    await waitUntil(
      async () => {
        const [described] = await admin.describeTopics([topic]);
        return described?.partitions.length === PARTITIONS && described.partitions.every((p) => p.leader > 0 && p.isr.length === 3);
      },
      `every partition of ${topic} to have a leader and a full ISR`,
      ASSIGNMENT_TIMEOUT_MS,
      50,
    );
    const writer = new TopicWriter(producer, topic);
    writers.push(writer);
    return writer;
  }

  function startMember(groupId: string, clientId: string, topic: string, options: MemberOptions = {}): Member {
    const config: WorkerConfig = {
      bootstrap: bootstrapAll(),
      groupId,
      clientId,
      topic,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      partitionAssignmentStrategy: options.strategy ?? ["range"],
      pollTimeoutMs: POLL_TIMEOUT_MS,
      maxPollRecords: MAX_POLL_RECORDS,
      onAssignedMs: options.onAssignedMs ?? 0,
    };
    const child = fork(WORKER_PATH, [JSON.stringify(config)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const member = new Member(config, child);
    members.push(member);
    return member;
  }

  /** Waits (bounded) for `condition`; on timeout the error shows every member's state. */
  async function waitFor(what: string, condition: () => boolean, timeoutMs: number, group: readonly Member[]): Promise<void> {
    try {
      await waitUntil(condition, what, timeoutMs, WAIT_INTERVAL_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${group.map((m) => `  ${m.summary()}`).join("\n")}`);
    }
  }

  /** Each of `group` owns `share` partitions and together they own all of them. */
  function ownsShares(group: readonly Member[], share: number): boolean {
    const union = new Set(group.flatMap((m) => [...m.owned]));
    return union.size === PARTITIONS && group.every((m) => m.owned.size === share);
  }

  /** Waits until every acknowledged record has been processed by one of `group`; returns how often each value was processed. */
  async function waitAllProcessed(writer: TopicWriter, group: readonly Member[]): Promise<Map<string, number>> {
    const missing = (): string[] => {
      const seen = new Set(group.flatMap((m) => m.processed.map((p) => p.record.value)));
      return [...writer.acked.keys()].filter((v) => !seen.has(v));
    };
    try {
      await waitFor(
        `all ${writer.acked.size} acknowledged records of ${writer.topic} processed`,
        () => missing().length === 0,
        DRAIN_TIMEOUT_MS,
        group,
      );
    } catch (error) {
      const gaps = missing();
      throw new Error(`${(error as Error).message}\nmissing ${gaps.length}, e.g. ${gaps.slice(0, 10).join(", ")}`);
    }
    const counts = new Map<string, number>();
    for (const m of group) for (const { record } of m.processed) counts.set(record.value, (counts.get(record.value) ?? 0) + 1);
    return counts;
  }

  async function describeGroup(groupId: string): Promise<GroupDescription> {
    const [described] = await admin.describeGroups([groupId]);
    if (described === undefined) throw new Error(`describeGroups gave no answer for ${groupId}`);
    return described;
  }

  /** The first of a few group ids ("idle-<n>") that `nodeId` coordinates: a group maps to one __consumer_offsets partition, led by one node. */
  async function groupCoordinatedBy(nodeId: number): Promise<string> {
    for (let n = 0; n < IDLE_GROUP_CANDIDATES_MAX; n++) {
      const groupId = `idle-${n}`;
      if ((await describeGroup(groupId)).coordinator.nodeId === nodeId) return groupId;
    }
    throw new Error(`none of idle-0..idle-${IDLE_GROUP_CANDIDATES_MAX - 1} is coordinated by node ${nodeId}`);
  }

  /** The log end offset of every partition of `topic` (not the acknowledged count: a producer retry may have written a record twice). */
  async function logEnds(topic: string): Promise<number[]> {
    const listed = await admin.listOffsets(allPartitions().map((partition) => ({ topic, partition, spec: "latest" as const })));
    return allPartitions().map((p) => listed.find((o) => o.partition === p)?.offset ?? -1);
  }

  /** The group's committed offsets of `topic`, by partition. */
  async function committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
    const offsets = await admin.listGroupOffsets(groupId);
    return new Map(offsets.filter((o) => o.topic === topic).map((o) => [o.partition, o.offset]));
  }

  function runCli(args: string[]): Promise<CliResult> {
    return runCastleCli(args, { env: { CASTLE_BOOTSTRAP: cluster.bootstrap }, timeoutMs: CLI_TIMEOUT_MS });
  }

  it("three members share six partitions; one is kill -9ed and the other two take its partitions without skipping a record", async () => {
    const groupId = "kill-a-member";
    const writer = await createTopic("groups-member-killed");
    await writer.write(20);
    const group = [0, 1, 2].map((i) => startMember(groupId, `member-${i}`, writer.topic));
    await waitFor("two partitions each", () => ownsShares(group, 2), ASSIGNMENT_TIMEOUT_MS, group);

    const described = await describeGroup(groupId);
    expect(described.state, "the group's state").to.equal("Stable");
    expect(described.members, "the coordinator's members").to.have.length(3);
    for (const m of group) {
      const seen = described.members.find((d) => d.clientId === m.name);
      expect(
        seen?.assignment.map((tp) => tp.partition),
        `${m.name}'s assignment at the coordinator matches its onPartitionsAssigned`,
      ).to.deep.equal(sorted(m.owned));
    }

    const streamedAtMs = Date.now();
    writer.startStream();
    await waitFor(
      "streamed records processed by every member",
      () => group.every((m) => m.processed.some((p) => p.record.timestampMs >= streamedAtMs)),
      DRAIN_TIMEOUT_MS,
      group,
    );
    const victim = group[random.int(group.length)] as Member;
    const survivors = group.filter((m) => m !== victim);
    const victimPartitions = sorted(victim.owned);
    const killedAtMs = Date.now();
    await victim.kill();
    await waitFor(
      `the survivors to own ${victim.name}'s partitions [${victimPartitions.join(",")}]`,
      () => ownsShares(survivors, 3),
      SESSION_TIMEOUT_MS + TAKEOVER_MARGIN_MS + 5_000,
      survivors,
    );
    // When the last of the victim's partitions was handed to a survivor, by the survivors' own reports.
    const takenAtMs = Math.max(
      ...victimPartitions.map((p) =>
        Math.max(
          ...survivors.flatMap((m) =>
            m
              .eventsOf("assigned")
              .filter((e) => e.partitions.includes(p) && e.atMs >= killedAtMs)
              .map((e) => e.atMs),
          ),
        ),
      ),
    );
    const takeoverMs = takenAtMs - killedAtMs;
    expect(takeoverMs, "the victim's partitions move within the session timeout plus a margin").to.be.within(
      0,
      SESSION_TIMEOUT_MS + TAKEOVER_MARGIN_MS,
    );

    // Records produced after the takeover reach the survivors, then a last batch after the stream.
    await waitFor(
      "records produced after the takeover processed",
      () => survivors.every((m) => m.processed.some((p) => p.record.timestampMs > takenAtMs)),
      DRAIN_TIMEOUT_MS,
      survivors,
    );
    await writer.stopStream();
    await writer.write(10);
    expect(writer.failed, "every send acknowledged").to.deep.equal([]);

    const counts = await waitAllProcessed(writer, group);
    const processed = [...counts.values()].reduce((a, b) => a + b, 0);
    const extra = [...counts.keys()].filter((v) => !writer.acked.has(v));
    expect(extra, "only produced records are processed").to.deep.equal([]);
    console.log(
      `      killed ${victim.name} (owned [${victimPartitions.join(",")}]); takeover after ${takeoverMs} ms; ${writer.acked.size} records, ${processed} processed, ${processed - counts.size} duplicates`,
    );
    await Promise.all(survivors.map((m) => m.stop()));
  });

  it("two groups each read every record of the topic from the beginning", async () => {
    const writer = await createTopic("groups-independent");
    await writer.write(10);
    const readers = [startMember("reader-a", "reader-a", writer.topic), startMember("reader-b", "reader-b", writer.topic)];
    const ends = await logEnds(writer.topic);
    const logRecords = ends.reduce((a, b) => a + b, 0);
    for (const reader of readers) {
      await waitFor(
        `${reader.name} to process and commit every record`,
        () => allPartitions().every((p) => reader.committed.get(p) === ends[p]),
        ASSIGNMENT_TIMEOUT_MS,
        [reader],
      );
      const offsets = reader.processed.map((p) => `${p.record.partition}@${p.record.offset}`);
      expect(offsets.length, `${reader.name} read each offset once`).to.equal(new Set(offsets).size);
      expect(offsets.length, `${reader.name} read every offset of the topic`).to.equal(logRecords);
      const values = new Set(reader.processed.map((p) => p.record.value));
      expect(
        [...writer.acked.keys()].filter((v) => !values.has(v)),
        `${reader.name} read every acknowledged record`,
      ).to.deep.equal([]);
    }
    for (const groupId of ["reader-a", "reader-b"]) {
      const committed = await committedOffsets(groupId, writer.topic);
      expect(
        allPartitions().map((p) => committed.get(p)),
        `${groupId}'s committed offsets are at the end of every partition`,
      ).to.deep.equal(ends);
    }
    await Promise.all(readers.map((m) => m.stop()));
  });

  it("the coordinator's node is kill -9ed: the group keeps consuming with its committed offsets", async () => {
    const groupId = "lose-the-coordinator";
    const writer = await createTopic("groups-coordinator-killed");
    await writer.write(10);
    const member = startMember(groupId, "survivor", writer.topic);
    await waitFor("the member to own every partition", () => member.owned.size === PARTITIONS, ASSIGNMENT_TIMEOUT_MS, [member]);
    const coordinator = (await describeGroup(groupId)).coordinator.nodeId;
    // A group without members at the same coordinator: its offsets change only when we say so,
    // so after the failover they must be exactly what was committed before it.
    const idleGroupId = await groupCoordinatedBy(coordinator);
    const idleOffsets = allPartitions().map((p) => ({ topic: writer.topic, partition: p, offset: p + 1 }));
    await admin.alterGroupOffsets(idleGroupId, idleOffsets);
    writer.startStream();
    await waitFor("commits under way", () => member.eventsOf("committed").length > 5 && member.processed.length > 100, DRAIN_TIMEOUT_MS, [
      member,
    ]);
    const before = await committedOffsets(groupId, writer.topic);
    expect(before.size, "offsets committed for every partition before the kill").to.equal(PARTITIONS);

    const killedAtMs = Date.now();
    await cluster.kill(coordinator);
    await waitFor(
      "a record produced after the kill processed, and a commit after it",
      () =>
        member.processed.some((p) => p.record.timestampMs > killedAtMs) && member.eventsOf("committed").some((e) => e.atMs > killedAtMs),
      COORDINATOR_FAILOVER_BOUND_MS,
      [member],
    );
    const resumedMs = Date.now() - killedAtMs;
    const after = await committedOffsets(groupId, writer.topic);
    const successor = (await describeGroup(groupId)).coordinator.nodeId;
    expect(successor, "a new coordinator").to.not.equal(coordinator);
    for (const p of allPartitions()) {
      expect(after.get(p), `partition ${p}: committed offset after the failover >= before it`).to.be.at.least(before.get(p) ?? 0);
    }
    const idleAfter = await committedOffsets(idleGroupId, writer.topic);
    expect(
      allPartitions().map((p) => idleAfter.get(p)),
      `the idle group ${idleGroupId}'s offsets survive the failover unchanged`,
    ).to.deep.equal(idleOffsets.map((o) => o.offset));

    await writer.stopStream();
    expect(writer.failed, "every send acknowledged (acks=all, 2 of 3 in sync)").to.deep.equal([]);
    const counts = await waitAllProcessed(writer, [member]);
    const processed = [...counts.values()].reduce((a, b) => a + b, 0);
    const failedCommits = member.eventsOf("commit-failed").filter((e) => e.atMs > killedAtMs).length;
    const lost = member.eventsOf("lost").filter((e) => e.atMs > killedAtMs).length > 0;
    console.log(
      `      killed coordinator node ${coordinator}, now node ${successor}; consuming and committing again after ${resumedMs} ms (${failedCommits} commits failed meanwhile; the member ${lost ? "lost its partitions and rejoined" : "kept its partitions"}); ${writer.acked.size} records, ${processed - counts.size} duplicates`,
    );
    await member.stop();
    await cluster.start(coordinator);
    await cluster.waitReady(coordinator);
  });

  it("cooperative-sticky: a third member joins and only the partitions that move stop; the others keep delivering", async () => {
    const groupId = "cooperative";
    const cooperative = { strategy: ["cooperative-sticky"] };
    const writer = await createTopic("groups-cooperative");
    const first = [startMember(groupId, "first-0", writer.topic, cooperative), startMember(groupId, "first-1", writer.topic, cooperative)];
    await waitFor("three partitions each", () => ownsShares(first, 3), ASSIGNMENT_TIMEOUT_MS, first);
    const ownerBefore = new Map(first.flatMap((m) => [...m.owned].map((p) => [p, m] as const)));
    const eventsBefore = first.map((m) => m.events.length);
    const streamedAtMs = Date.now();
    writer.startStream();
    await waitFor(
      "streamed records processed by both members",
      () => first.every((m) => m.processed.some((p) => p.record.timestampMs >= streamedAtMs)),
      DRAIN_TIMEOUT_MS,
      first,
    );

    // The newcomer's slow onPartitionsAssigned holds up the second round (KIP-429: the moved
    // partitions are revoked, then assigned in a second rebalance), so the members that gave
    // partitions up are rejoining for at least that long while their other partitions flow.
    const third = startMember(groupId, "third", writer.topic, { ...cooperative, onAssignedMs: COOPERATIVE_ASSIGN_CALLBACK_MS });
    const group = [...first, third];
    const since = (m: Member): WorkerEvent[] => m.events.slice(eventsBefore[first.indexOf(m)]);
    await waitFor("two partitions each", () => ownsShares(group, 2), ASSIGNMENT_TIMEOUT_MS, group);
    const startedAtMs = third.eventsOf("subscribed")[0]?.atMs ?? 0;
    const settledAtMs = Math.max(...third.eventsOf("assigned").map((e) => e.atMs));
    const moved = sorted(third.owned);
    const stayed = allPartitions().filter((p) => !third.owned.has(p));
    expect(moved, "two partitions moved to the newcomer").to.have.length(2);
    for (const m of first) {
      expect(
        since(m).filter((e) => e.type === "lost"),
        `${m.name} lost nothing`,
      ).to.deep.equal([]);
      expect(
        sorted(since(m).flatMap((e) => (e.type === "revoked" ? e.partitions : []))),
        `${m.name} revoked only its partitions that moved to ${third.name}`,
      ).to.deep.equal(moved.filter((p) => ownerBefore.get(p) === m));
    }

    await waitFor(
      "every member that revoked partitions to finish its rejoin",
      () => first.every((m) => rejoinsAfterRevoking(since(m)).every((r) => r.rejoinedAtMs !== undefined)),
      ASSIGNMENT_TIMEOUT_MS,
      group,
    );
    await writer.stopStream();
    expect(writer.failed, "every send acknowledged").to.deep.equal([]);
    const rejoinTimes: string[] = [];
    for (const m of first) {
      for (const { rejoiningFromMs, rejoinedAtMs = Number.POSITIVE_INFINITY } of rejoinsAfterRevoking(since(m))) {
        for (const p of m.owned) {
          const whileRejoining = m.processed.filter(
            ({ record, atMs }) => record.partition === p && atMs > rejoiningFromMs && atMs < rejoinedAtMs,
          );
          expect(
            whileRejoining.length,
            `partition ${p}: ${m.name} kept processing it while rejoining (${rejoiningFromMs - startedAtMs}..${rejoinedAtMs - startedAtMs} ms into the rebalance)`,
          ).to.be.greaterThan(0);
        }
        rejoinTimes.push(`${m.name} ${rejoinedAtMs - rejoiningFromMs} ms`);
      }
    }
    for (const p of stayed) {
      const owner = ownerBefore.get(p) as Member;
      expect(owner.owned.has(p), `partition ${p} stayed with ${owner.name}`).to.equal(true);
      const inWindow = owner.processed.filter(
        ({ record, atMs }) => record.partition === p && record.timestampMs >= startedAtMs && atMs <= settledAtMs,
      );
      expect(
        inWindow.length,
        `partition ${p}: ${owner.name} processed records produced and received during the rebalance`,
      ).to.be.greaterThan(0);
    }
    const counts = await waitAllProcessed(writer, group);
    const processed = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(
      `      moved [${moved.join(",")}] to ${third.name}; rebalance ${settledAtMs - startedAtMs} ms (rejoins after revoking: ${rejoinTimes.join(", ")}); ${writer.acked.size} records, ${processed - counts.size} duplicates`,
    );
    await Promise.all(group.map((m) => m.stop()));
  });

  it("castle group reset-offsets: a dry run changes nothing, --execute replays exactly what it says", async () => {
    const groupId = "replay";
    const perPartition = 5;
    const shiftBy = 2;
    const writer = await createTopic("groups-reset");
    await writer.write(perPartition);
    expect(writer.failed, "every send acknowledged").to.deep.equal([]);
    const atEnd = await logEnds(writer.topic);

    /** A new member of the group reads up to the end of every partition; returns what it read, sorted, once it has left. */
    const readToEnd = async (name: string): Promise<string[]> => {
      const member = startMember(groupId, name, writer.topic);
      await waitFor(
        `${name} to process and commit up to the end`,
        () => allPartitions().every((p) => member.committed.get(p) === atEnd[p]),
        ASSIGNMENT_TIMEOUT_MS,
        [member],
      );
      await member.stop();
      await waitUntil(async () => (await describeGroup(groupId)).state === "Empty", `${groupId} to be Empty`, ASSIGNMENT_TIMEOUT_MS, 50);
      return member.processed.map((p) => `${p.record.partition}@${p.record.offset}=${p.record.value}`).sort();
    };
    const offsetOf = (read: string): number => Number(read.slice(read.indexOf("@") + 1, read.indexOf("=")));
    const partitionOf = (read: string): number => Number(read.slice(0, read.indexOf("@")));
    const committed = async (): Promise<(number | undefined)[]> => {
      const offsets = await committedOffsets(groupId, writer.topic);
      return allPartitions().map((p) => offsets.get(p));
    };
    /** `castle --json group reset-offsets ...`: whether it executed, and the new offset by partition. */
    const reset = async (args: string[]): Promise<{ executed: boolean; offsets: number[] }> => {
      const result = await runCli(["--json", "group", "reset-offsets", groupId, "--topic", writer.topic, ...args]);
      expect(result.code, result.stderr).to.equal(0);
      const answer = JSON.parse(result.stdout) as { executed: boolean; offsets: { partition: number; offset: number }[] };
      const byPartition = new Map(answer.offsets.map((o) => [o.partition, o.offset]));
      return { executed: answer.executed, offsets: allPartitions().map((p) => byPartition.get(p) ?? -1) };
    };

    // What the first member reads is the log (each offset once, every acknowledged value in it).
    const allRecords = await readToEnd("reader-0");
    expect(allRecords.length, "the first member reads every offset once").to.equal(atEnd.reduce((a, b) => a + b, 0));
    const readValues = new Set(allRecords.map((r) => r.slice(r.indexOf("=") + 1)));
    expect(
      [...writer.acked.keys()].filter((v) => !readValues.has(v)),
      "every acknowledged record",
    ).to.deep.equal([]);
    expect(await committed(), "committed at the end").to.deep.equal(atEnd);

    const shifted = atEnd.map((end) => end - shiftBy);
    const shift = ["--shift-by", String(-shiftBy)];
    expect(await reset(shift), "the dry run's plan").to.deep.equal({ executed: false, offsets: shifted });
    expect(await committed(), "a dry run changes nothing").to.deep.equal(atEnd);
    expect(await reset([...shift, "--execute"]), "--shift-by executed").to.deep.equal({ executed: true, offsets: shifted });
    expect(await committed(), `committed after --shift-by -${shiftBy}`).to.deep.equal(shifted);
    const lastK = allRecords.filter((r) => offsetOf(r) >= (atEnd[partitionOf(r)] ?? 0) - shiftBy);
    expect(await readToEnd("reader-1"), `a new member reads the last ${shiftBy} of every partition, once each`).to.deep.equal(lastK);

    const earliest = atEnd.map(() => 0);
    expect(await reset(["--to-earliest", "--execute"]), "--to-earliest executed").to.deep.equal({ executed: true, offsets: earliest });
    expect(await committed(), "committed after --to-earliest").to.deep.equal(earliest);
    expect(await readToEnd("reader-2"), "a new member reads every record once").to.deep.equal(allRecords);
  });
});
