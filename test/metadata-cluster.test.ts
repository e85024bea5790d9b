// Cluster metadata in a Raft quorum, shown on real node processes (`castle server start` on
// 127.0.0.1, started by the testkit's cluster harness): a combined cluster forms from cold start
// and spreads a topic over its brokers; it survives kill -9 of the active controller and of a
// broker that leads partitions; controller-only voters with broker-only observers do the same;
// a restart after more than 10,000 metadata records starts from a snapshot; and nodes that do
// not belong (another cluster's data dir, a controller outside the voters list) are kept out.
// Every wait is bounded in time; every process is one the harness (or this file) started.

import http from "node:http";
import { formatStorage, newId } from "@castle/broker";
import {
  Admin,
  type ClusterDescription,
  Consumer,
  isRetriableError,
  Producer,
  type QuorumDescription,
  type TopicDescription,
} from "@castle/client";
import {
  type CastleCluster,
  type CastleClusterNode,
  freePort,
  type NodeProcess,
  startCastleCluster,
  startNodeProcess,
  TempDir,
  waitUntil,
} from "@castle/testkit";
import { expect } from "chai";

/** Short broker sessions, so a killed broker is fenced (and its restart accepted) within seconds. */
const FAST_SESSIONS = { "broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "300" };
const READY_TIMEOUT_MS = 30_000;
/** A bounded wait for one step of a scenario (an election, a fencing, a rejoin). */
const STEP_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 100;
/** One admin request; a node that cannot answer in this long counts as a failed attempt. */
const ADMIN_REQUEST_TIMEOUT_MS = 5_000;
/** How long a node that must not join is watched for signs that it did. */
const OUTSIDER_WATCH_MS = 2_000;
/** Log lines kept per cluster; more are dropped (a flood of warnings must not eat the heap). */
const LOG_ENTRIES_MAX = 100_000;

type LogEntry = Record<string, unknown> & { msg?: string };

/** Every JSON log line the nodes of one cluster wrote, by node id, to find what a node said. */
class LogBook {
  private readonly lines: { id: number; line: string }[] = [];
  dropped = 0;

  readonly add = (id: number, line: string): void => {
    if (this.lines.length < LOG_ENTRIES_MAX) this.lines.push({ id, line });
    else this.dropped++;
  };

  /** A position: find(..., from) sees only lines added after it. */
  mark(): number {
    return this.lines.length;
  }

  /** Entries of node `id` (any node if undefined) whose msg is `msg`, from position `from` on. */
  find(id: number | undefined, msg: string, from = 0): LogEntry[] {
    return parsedEntries(this.lines.slice(from).flatMap((l) => (id === undefined || l.id === id ? [l.line] : []))).filter(
      (e) => e.msg === msg,
    );
  }
}

function parsedEntries(lines: readonly string[]): LogEntry[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as LogEntry];
    } catch {
      return [];
    }
  });
}

const adminOf = (bootstrap: string): Admin => new Admin({ bootstrap, requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS });

/** Runs `use` with an Admin on `bootstrap`, closed afterwards. */
async function withAdmin<T>(bootstrap: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = adminOf(bootstrap);
  try {
    return await use(admin);
  } finally {
    admin.close();
  }
}

/**
 * Calls `read` until its answer satisfies `done` (errors count as "not yet": a failover makes
 * some); throws after `timeoutMs`, with the last answer or error.
 */
async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  let last = "no answer yet";
  try {
    return await waitUntil(
      async () => {
        try {
          const value = await read();
          last = `last answer: ${JSON.stringify(value)}`;
          return done(value) ? { value } : undefined;
        } catch (error) {
          last = `last error: ${(error as Error).message}`;
          return undefined;
        }
      },
      what,
      timeoutMs,
      POLL_INTERVAL_MS,
    ).then((found) => found.value);
  } catch (error) {
    throw new Error(`${(error as Error).message}; ${last}`);
  }
}

/**
 * Creates one topic, retrying retriable errors while the cluster fails over. An attempt that
 * failed may still have committed, so TOPIC_ALREADY_EXISTS after a failed attempt counts as
 * created; any other error that is not retriable fails at once.
 */
async function createTopicEventually(
  admin: Admin,
  topic: { name: string; numPartitions: number; replicationFactor: number },
): Promise<void> {
  let failedBefore = false;
  const refusal = await eventually(
    `topic ${topic.name} to be created`,
    async (): Promise<Error | null> => {
      try {
        await admin.createTopics([topic]);
        return null;
      } catch (error) {
        if (failedBefore && (error as { code?: string }).code === "TOPIC_ALREADY_EXISTS") return null;
        failedBefore = true;
        if (!isRetriableError(error)) return error as Error;
        throw error;
      }
    },
    () => true,
  );
  if (refusal !== null) throw refusal;
}

async function describeTopic(admin: Admin, name: string): Promise<TopicDescription> {
  const [topic] = await admin.describeTopics([name]);
  if (topic === undefined) throw new Error(`describeTopics([${name}]) returned nothing`);
  return topic;
}

/** Partitions led by each broker. */
function leaderCounts(topic: TopicDescription): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of topic.partitions) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return counts;
}

const ascending = (ids: readonly number[]): number[] => [...ids].sort((a, b) => a - b);
const replicaOf = (quorum: QuorumDescription, nodeId: number) => quorum.replicas.find((r) => r.nodeId === nodeId);
const nodeOf = (cluster: ClusterDescription, nodeId: number) => cluster.nodes.find((n) => n.nodeId === nodeId);

/** The HTTP status of GET url (0 when nothing answers), one request without keep-alive. */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: 1_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(0));
  });
}

/** Every partition of `topic` is led by an ISR member, and `gone` is neither a leader nor in any ISR. */
function expectLedWithout(topic: TopicDescription, gone: number): void {
  for (const p of topic.partitions) {
    const where = `${topic.name}-${p.partition} (${JSON.stringify(p)})`;
    expect(p.leader, `${where}: has a leader`).to.be.greaterThan(0);
    expect(p.leader, `${where}: not led by ${gone}`).to.not.equal(gone);
    expect(p.isr, `${where}: its leader is in the ISR`).to.include(p.leader);
    expect(p.isr, `${where}: ${gone} left the ISR`).to.not.include(gone);
  }
}

describe("metadata cluster: three combined nodes", function () {
  this.timeout(60_000);
  const SPREAD = "spread";
  const logs = new LogBook();
  let cluster: CastleCluster;

  before(async function () {
    this.timeout(READY_TIMEOUT_MS + 10_000);
    cluster = await startCastleCluster({ controllers: 3, overrides: FAST_SESSIONS, onLog: logs.add });
  });
  after(async () => {
    await cluster?.close();
  });

  it("forms from cold start: every node ready, three voters and one leader, three unfenced brokers", async () => {
    await cluster.waitReady("all", READY_TIMEOUT_MS);
    const admin = adminOf(cluster.bootstrap);
    try {
      const quorum = await eventually(
        "a quorum leader",
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0,
      );
      expect(quorum.currentVoters, "voters").to.deep.equal([1, 2, 3]);
      expect(quorum.currentObservers, "observers").to.deep.equal([]);
      expect(
        quorum.replicas.map((r) => [r.nodeId, r.status]),
        "replica roles",
      ).to.deep.equal([1, 2, 3].map((id) => [id, id === quorum.leaderId ? "Leader" : "Follower"]));

      const described = await eventually(
        "three unfenced brokers",
        () => admin.describeCluster(),
        (d) => d.brokers.length === 3,
      );
      expect(described.clusterId, "cluster id").to.equal(cluster.clusterId);
      expect(described.controllerId, "the active controller is the quorum leader").to.equal(quorum.leaderId);
      expect(
        described.brokers.map((b) => b.nodeId),
        "brokers clients may use",
      ).to.deep.equal([1, 2, 3]);
      expect(
        described.nodes.map((n) => ({ nodeId: n.nodeId, isBroker: n.isBroker, isController: n.isController, fenced: n.fenced })),
        "every node, as the active controller sees it",
      ).to.deep.equal([1, 2, 3].map((nodeId) => ({ nodeId, isBroker: true, isController: true, fenced: false })));
    } finally {
      admin.close();
    }
  });

  it("spreads a topic of 6 partitions and replication factor 3 (each broker leads 2) and serves its records", async () => {
    const admin = adminOf(cluster.bootstrap);
    try {
      await admin.createTopics([{ name: SPREAD, numPartitions: 6, replicationFactor: 3 }]);
      const topic = await eventually(
        `every partition of ${SPREAD} to have a leader`,
        () => describeTopic(admin, SPREAD),
        (t) => t.partitions.length === 6 && t.partitions.every((p) => p.leader > 0),
      );
      for (const p of topic.partitions) {
        const where = `${SPREAD}-${p.partition} (${JSON.stringify(p)})`;
        expect(ascending(p.replicas), `${where}: every broker is a replica`).to.deep.equal([1, 2, 3]);
        expect(ascending(p.isr), `${where}: every replica is in sync`).to.deep.equal([1, 2, 3]);
        expect(p.leader, `${where}: the preferred (first) replica leads`).to.equal(p.replicas[0]);
      }
      expect(Object.fromEntries(leaderCounts(topic)), "partitions led per broker").to.deep.equal({ 1: 2, 2: 2, 3: 2 });
    } finally {
      admin.close();
    }

    const sent = new Map<string, { partition: number; offset: number }>();
    const producer = new Producer({
      bootstrap: cluster.bootstrap,
      acks: "all",
      lingerMs: 1,
      requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS,
      deliveryTimeoutMs: STEP_TIMEOUT_MS,
      maxBlockMs: STEP_TIMEOUT_MS,
    });
    try {
      const values = Array.from({ length: 24 }, (_, i) => `record-${i}`);
      const acks = await Promise.all(values.map((value, i) => producer.send({ topic: SPREAD, partition: i % 6, value })));
      for (const [i, ack] of acks.entries()) sent.set(values[i] as string, { partition: ack.partition, offset: ack.offset });
    } finally {
      await producer.close({ timeoutMs: 5_000 });
    }
    for (let partition = 0; partition < 6; partition++) {
      const offsets = [...sent.values()].filter((s) => s.partition === partition).map((s) => s.offset);
      expect(new Set(offsets).size, `acknowledged offsets in partition ${partition} are distinct: ${offsets}`).to.equal(4);
    }

    // Every acknowledged record is read back at its offset. Without an idempotent producer a
    // retry after an append the producer did not hear of writes a record twice (a later offset
    // is then acknowledged), so the log may hold copies; it holds nothing else, and each
    // partition's offsets run from 0 without a gap.
    const consumer = new Consumer({ bootstrap: cluster.bootstrap, fetchMaxWaitMs: 50, requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS });
    const read: { value: string; partition: number; offset: number }[] = [];
    const seen = new Set<string>();
    const at = (value: string, partition: number, offset: number) => `${value}@${partition}:${offset}`;
    try {
      consumer.assign(Array.from({ length: 6 }, (_, partition) => ({ topic: SPREAD, partition })));
      consumer.seekToBeginning();
      await waitUntil(
        async () => {
          for (const r of await consumer.poll(200)) {
            const value = r.value?.toString() ?? "";
            read.push({ value, partition: r.partition, offset: r.offset });
            seen.add(at(value, r.partition, r.offset));
          }
          return [...sent].every(([value, s]) => seen.has(at(value, s.partition, s.offset)));
        },
        `${sent.size} records of ${SPREAD} to be read back at their acknowledged offsets`,
        STEP_TIMEOUT_MS,
      );
    } finally {
      consumer.close();
    }
    for (const r of read) {
      expect(sent.get(r.value)?.partition, `record ${r.value} read at ${r.partition}:${r.offset} was sent to that partition`).to.equal(
        r.partition,
      );
    }
    for (let partition = 0; partition < 6; partition++) {
      const offsets = read.filter((r) => r.partition === partition).map((r) => r.offset);
      expect(offsets, `offsets read from partition ${partition}`).to.deep.equal(offsets.map((_, i) => i));
    }
    // Every record once, plus at most one copy from a retry: more would mean retries on a healthy
    // cluster are out of hand.
    for (const value of sent.keys()) {
      const copies = read.filter((r) => r.value === value).length;
      expect(copies, `copies of ${value} in ${SPREAD}`).to.be.within(1, 2);
    }
  });

  it("elects another active controller after kill -9 of the active one; the killed node rejoins as a caught-up follower", async () => {
    const before = await eventually(
      "a quorum leader",
      () => withAdmin(cluster.bootstrap, (a) => a.describeQuorum()),
      (q) => q.leaderId > 0,
    );
    const killed = before.leaderId;
    await cluster.kill(killed);
    const survivor = cluster.nodes.find((n) => n.running);
    if (survivor === undefined) throw new Error("no node runs after killing one of three");

    // Through one surviving node only: it forwards to whoever is active now.
    const admin = adminOf(survivor.bootstrap);
    try {
      const after = await eventually(
        `a leader other than the killed node ${killed}`,
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0 && q.leaderId !== killed,
      );
      expect(after.leaderEpoch, "the new leader's epoch").to.be.greaterThan(before.leaderEpoch);
      expect(after.currentVoters, "voters").to.deep.equal([1, 2, 3]);
      expect(
        logs.find(after.leaderId, "became the active controller").length,
        `node ${after.leaderId} logged that it became the active controller`,
      ).to.be.greaterThan(0);

      await createTopicEventually(admin, { name: "after-controller-failover", numPartitions: 3, replicationFactor: 2 });
      const created = await describeTopic(admin, "after-controller-failover");
      expect(created.partitions, "partitions of the topic created after the failover").to.have.length(3);

      await cluster.restart(killed);
      await cluster.waitReady(killed, READY_TIMEOUT_MS);
      const rejoined = await eventually(
        `node ${killed} to follow with lag 0`,
        () => admin.describeQuorum(),
        (q) => replicaOf(q, killed)?.status === "Follower" && replicaOf(q, killed)?.lag === 0,
      );
      expect(replicaOf(rejoined, killed)?.logEndOffset, `node ${killed}'s metadata log end`).to.equal(rejoined.highWatermark);
    } finally {
      admin.close();
    }
  });

  describe("kill -9 of a broker that leads partitions (not the controller)", () => {
    let victim = -1;
    let admin: Admin;

    before(() => {
      admin = adminOf(cluster.bootstrap);
    });
    after(() => {
      admin?.close();
    });

    it("fences it after the session timeout; every partition it led gets a leader from the ISR, which it leaves", async () => {
      const quorum = await eventually(
        "a quorum leader",
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0,
      );
      const spreadBefore = await describeTopic(admin, SPREAD);
      const leads = leaderCounts(spreadBefore);
      const candidates = [1, 2, 3].filter((id) => id !== quorum.leaderId && (leads.get(id) ?? 0) > 0);
      expect(candidates, `brokers other than controller ${quorum.leaderId} that lead partitions of ${SPREAD}`).to.not.be.empty;
      victim = candidates[0] as number;
      const fromMark = logs.mark();
      await cluster.kill(victim);

      const fenced = await eventually(
        `broker ${victim} to be fenced`,
        () => admin.describeCluster(),
        (d) => nodeOf(d, victim)?.fenced === true,
      );
      expect(
        fenced.brokers.map((b) => b.nodeId),
        "brokers clients may use",
      ).to.not.include(victim);
      const tick = logs.find(undefined, "controller tick moved leadership", fromMark);
      expect(
        tick.map((e) => e["fencedBrokers"]),
        "the active controller fenced it for its expired session",
      ).to.deep.include([victim]);

      // SPREAD has a replica on every broker, so one stays in each ISR: every partition keeps a leader.
      const topic = await eventually(
        `no partition of ${SPREAD} led by broker ${victim}`,
        () => describeTopic(admin, SPREAD),
        (t) => t.partitions.every((p) => p.leader !== victim),
      );
      expectLedWithout(topic, victim);
      expect(
        topic.partitions.map((p) => p.replicas),
        "replicas (fencing moves leadership, not replicas)",
      ).to.deep.equal(spreadBefore.partitions.map((p) => p.replicas));
    });

    it("unfences it once restarted", async () => {
      await cluster.restart(victim);
      await cluster.waitReady(victim, READY_TIMEOUT_MS);
      const described = await eventually(
        `broker ${victim} to be unfenced`,
        () => admin.describeCluster(),
        (d) => nodeOf(d, victim)?.fenced === false,
      );
      expect(
        described.brokers.map((b) => b.nodeId),
        "brokers clients may use",
      ).to.include(victim);
    });

    it("gives it back, by preferred-leader election, a partition it is the preferred replica of, once it rejoined the ISR", async () => {
      const topic = await describeTopic(admin, SPREAD);
      const preferred = topic.partitions.find((p) => p.replicas[0] === victim);
      if (preferred === undefined) throw new Error(`broker ${victim} is the preferred replica of no partition of ${SPREAD}`);
      const partition = preferred.partition;
      // A replica leads only from the ISR: it must catch up (follower fetches) and rejoin it first.
      await eventually(
        `broker ${victim} to rejoin the ISR of ${SPREAD}-${partition}`,
        () => describeTopic(admin, SPREAD),
        (t) => t.partitions[partition]?.isr.includes(victim) === true,
      );
      const [outcome] = await admin.electLeaders([{ topic: SPREAD, partition }]);
      expect(outcome?.error?.message ?? null, "election error").to.equal(null);
      expect(outcome?.leaderId, "leader after the election").to.equal(victim);
      await eventually(
        `broker ${victim} to lead ${SPREAD}-${partition}`,
        () => describeTopic(admin, SPREAD),
        (t) => t.partitions[partition]?.leader === victim,
      );
    });
  });
});

describe("metadata cluster: three controller-only voters and two broker-only nodes", function () {
  this.timeout(60_000);
  const TOPIC = "observed";
  const BROKERS = [4, 5];
  const logs = new LogBook();
  let cluster: CastleCluster;
  /** Processes this file started outside the harness, and their dirs. */
  const outsiders: NodeProcess[] = [];
  const dirs: TempDir[] = [];

  before(async function () {
    this.timeout(READY_TIMEOUT_MS + 10_000);
    cluster = await startCastleCluster({ controllers: 3, brokers: 2, combined: false, overrides: FAST_SESSIONS, onLog: logs.add });
  });
  afterEach(async () => {
    for (const outsider of outsiders.splice(0)) await outsider.kill();
    for (const dir of dirs.splice(0)) dir.cleanup();
  });
  after(async () => {
    await cluster?.close();
  });

  it("forms: both brokers ready and unfenced, and observers of the quorum; a topic of RF 2 spans them", async () => {
    await cluster.waitReady("all", READY_TIMEOUT_MS);
    await withAdmin(cluster.bootstrap, async (admin) => {
      const quorum = await eventually(
        "brokers 4 and 5 to observe the quorum",
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0 && q.currentObservers.length === 2,
      );
      expect(quorum.currentVoters, "voters").to.deep.equal([1, 2, 3]);
      expect(quorum.currentObservers, "observers").to.deep.equal(BROKERS);
      expect(quorum.leaderId, "the leader is a voter").to.be.oneOf([1, 2, 3]);
      expect(
        quorum.replicas.map((r) => [r.nodeId, r.status]),
        "replica roles",
      ).to.deep.equal([...[1, 2, 3].map((id) => [id, id === quorum.leaderId ? "Leader" : "Follower"]), [4, "Observer"], [5, "Observer"]]);

      const described = await admin.describeCluster();
      expect(described.controllerId, "the active controller").to.equal(quorum.leaderId);
      expect(
        described.brokers.map((b) => b.nodeId),
        "brokers clients may use",
      ).to.deep.equal(BROKERS);
      expect(
        described.nodes.map((n) => ({ nodeId: n.nodeId, isBroker: n.isBroker, isController: n.isController })),
        "every node, as the active controller sees it",
      ).to.deep.equal([1, 2, 3, 4, 5].map((nodeId) => ({ nodeId, isBroker: nodeId >= 4, isController: nodeId <= 3 })));
      for (const id of BROKERS) expect(nodeOf(described, id)?.fenced, `broker ${id} fenced`).to.equal(false);

      await admin.createTopics([{ name: TOPIC, numPartitions: 4, replicationFactor: 2 }]);
      const topic = await eventually(
        `every partition of ${TOPIC} to have a leader`,
        () => describeTopic(admin, TOPIC),
        (t) => t.partitions.length === 4 && t.partitions.every((p) => p.leader > 0),
      );
      for (const p of topic.partitions) {
        expect(ascending(p.replicas), `${TOPIC}-${p.partition}: replicas`).to.deep.equal(BROKERS);
        expect(ascending(p.isr), `${TOPIC}-${p.partition}: ISR`).to.deep.equal(BROKERS);
      }
      expect(Object.fromEntries(leaderCounts(topic)), "partitions led per broker").to.deep.equal({ 4: 2, 5: 2 });
    });
  });

  it("elects another active controller after kill -9 of the active one; topic creation works", async () => {
    await withAdmin(cluster.bootstrap, async (admin) => {
      const before = await eventually(
        "a quorum leader",
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0,
      );
      await cluster.kill(before.leaderId);
      const after = await eventually(
        `a leader other than the killed node ${before.leaderId}`,
        () => admin.describeQuorum(),
        (q) => q.leaderId > 0 && q.leaderId !== before.leaderId,
      );
      expect(after.leaderId, "the new leader is a voter").to.be.oneOf([1, 2, 3]);
      expect(after.leaderEpoch, "the new leader's epoch").to.be.greaterThan(before.leaderEpoch);
      expect(after.currentObservers, "observers").to.deep.equal(BROKERS);
      await createTopicEventually(admin, { name: "after-failover", numPartitions: 2, replicationFactor: 2 });
      const created = await describeTopic(admin, "after-failover");
      expect(
        created.partitions.map((p) => ascending(p.replicas)),
        "replicas of the topic created after the failover",
      ).to.deep.equal([BROKERS, BROKERS]);
      // Brokers keep their sessions with the new controller: neither is fenced.
      const described = await eventually(
        "the new controller to describe the cluster",
        () => admin.describeCluster(),
        (d) => d.controllerId === after.leaderId,
      );
      for (const id of BROKERS) expect(nodeOf(described, id)?.fenced, `broker ${id} fenced`).to.equal(false);
    });
  });

  it("fences a broker after kill -9; its partitions move to the other broker", async () => {
    const [gone, kept] = [4, 5];
    await cluster.kill(gone);
    await withAdmin(cluster.node(kept).bootstrap, async (admin) => {
      const fenced = await eventually(
        `broker ${gone} to be fenced`,
        () => admin.describeCluster(),
        (d) => nodeOf(d, gone)?.fenced === true,
      );
      expect(
        fenced.brokers.map((b) => b.nodeId),
        "brokers clients may use",
      ).to.deep.equal([kept]);
      for (const name of [TOPIC, "after-failover"]) {
        const topic = await eventually(
          `every partition of ${name} led by broker ${kept}`,
          () => describeTopic(admin, name),
          (t) => t.partitions.every((p) => p.leader === kept),
        );
        expectLedWithout(topic, gone);
      }
    });
  });

  describe("bad input at the process level", () => {
    /** A data dir formatted for another cluster, for node `nodeId`. */
    function foreignDataDir(nodeId: number): { dir: TempDir; clusterId: string } {
      const dir = new TempDir("castle-foreign-");
      dirs.push(dir);
      const clusterId = newId();
      formatStorage(dir.path, { clusterId, nodeId });
      return { dir, clusterId };
    }

    async function startOutsider(dataDir: string, overrides: Record<string, string>, lines: string[]): Promise<NodeProcess> {
      const outsider = await startNodeProcess({ dataDir, overrides, onLog: (line) => lines.push(line) });
      outsiders.push(outsider);
      return outsider;
    }

    it("a voter whose data dir belongs to another cluster: its Raft traffic is refused and it never joins", async () => {
      // Its place: a voter that is down (the controller killed above), else a follower stopped now.
      const admin = adminOf(cluster.bootstrap);
      try {
        const quorum = await eventually(
          "a quorum leader",
          () => admin.describeQuorum(),
          (q) => q.leaderId > 0,
        );
        let slot = cluster.nodes.find((n) => n.roles.includes("controller") && !n.running);
        if (slot === undefined) {
          slot = cluster.nodes.find((n) => n.roles.includes("controller") && n.id !== quorum.leaderId) as CastleClusterNode;
          await cluster.stop(slot.id);
        }
        const id = slot.id;
        const { dir, clusterId: foreignId } = foreignDataDir(id);
        const lines: string[] = [];
        const fromMark = logs.mark();
        const impostor = await startOutsider(
          dir.path,
          {
            "node.id": String(id),
            "process.roles": slot.roles.join(","),
            "controller.quorum.voters": cluster.voters,
            "controller.port": String(slot.ports.controller),
            "http.port": String(slot.ports.http),
          },
          lines,
        );

        const refusedHere = await waitUntil(
          () => {
            const refused = logs
              .find(undefined, "refused inbound Raft batch", fromMark)
              .filter((e) => e["from"] === id && e["reason"] === "wrong_cluster");
            return refused.length > 0 && refused;
          },
          `a voter of the cluster to refuse node ${id}'s Raft batches as another cluster's`,
          STEP_TIMEOUT_MS,
          POLL_INTERVAL_MS,
        ).catch((error: Error) => {
          throw new Error(`${error.message}; the impostor's last lines:\n${impostor.recentLines().join("\n")}`);
        });
        expect(String(refusedHere[0]?.["details"]), "the refusal names both cluster ids")
          .to.contain(foreignId)
          .and.contain(cluster.clusterId);
        await waitUntil(
          () => parsedEntries(lines).some((e) => e.msg === "refused inbound Raft batch" && e["reason"] === "wrong_cluster"),
          `node ${id} to refuse the cluster's Raft batches as another cluster's`,
          STEP_TIMEOUT_MS,
          POLL_INTERVAL_MS,
        );

        // The cluster goes on without it: the log grows, and the impostor never gets any of it.
        await createTopicEventually(admin, { name: "while-an-impostor-votes", numPartitions: 1, replicationFactor: 1 });
        const watchUntil = Date.now() + OUTSIDER_WATCH_MS;
        let samples = 0;
        while (Date.now() < watchUntil || samples < 3) {
          const now = await eventually(
            "a quorum leader",
            () => admin.describeQuorum(),
            (q) => q.leaderId > 0,
          );
          const replica = replicaOf(now, id);
          expect(now.leaderId, "the leader is a voter of the cluster").to.not.equal(id);
          expect(replica?.logEndOffset ?? -1, `node ${id}'s log end (high watermark ${now.highWatermark})`).to.be.lessThan(
            now.highWatermark,
          );
          expect(await httpStatus(`http://127.0.0.1:${slot.ports.http}/readyz`), `node ${id}'s /readyz`).to.not.equal(200);
          samples++;
          await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS * 2));
        }
        expect(impostor.running, "the impostor still runs (it is refused, not crashed)").to.equal(true);
      } finally {
        admin.close();
      }
    });

    it("a broker whose data dir belongs to another cluster: its registration is refused, it never joins the quorum, and it stops", async () => {
      const id = cluster.nodes.length + 1;
      const { dir, clusterId: foreignId } = foreignDataDir(id);
      const [clientPort, controllerPort, httpPort] = [await freePort(), await freePort(), await freePort()];
      const lines: string[] = [];
      const outsider = await startOutsider(
        dir.path,
        {
          "node.id": String(id),
          "process.roles": "broker",
          "controller.quorum.voters": cluster.voters,
          "client.port": String(clientPort),
          "controller.port": String(controllerPort),
          "http.port": String(httpPort),
        },
        lines,
      );
      const refusal = await waitUntil(
        () => parsedEntries(lines).find((e) => e.msg === "broker registration refused for good"),
        `broker ${id} to log that its registration was refused`,
        STEP_TIMEOUT_MS,
        POLL_INTERVAL_MS,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; its last lines:\n${outsider.recentLines().join("\n")}`);
      });
      expect(refusal["code"], "the refusal's code").to.equal("INCONSISTENT_CLUSTER_ID");
      expect(String(refusal["error"]), "the refusal names both cluster ids").to.contain(foreignId).and.contain(cluster.clusterId);
      expect(
        parsedEntries(lines).some((e) => e.msg === "this node cannot join the cluster; stop it and fix the cause"),
        "the node says it cannot join",
      ).to.equal(true);
      const exitCode = await Promise.race([
        outsider.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running"), STEP_TIMEOUT_MS)),
      ]);
      expect(exitCode, "the refused broker stops with an error").to.equal(1);
      await withAdmin(cluster.bootstrap, async (admin) => {
        const described = await admin.describeCluster();
        expect(nodeOf(described, id), `broker ${id} in describeCluster`).to.equal(undefined);
        const quorum = await admin.describeQuorum();
        expect(quorum.currentObservers, "observers").to.not.include(id);
      });
    });

    it("a node with the controller role whose node.id is not a voter exits at start, naming the fix", async () => {
      const dir = new TempDir("castle-not-a-voter-");
      dirs.push(dir);
      const error = await startNodeProcess({
        dataDir: dir.path,
        overrides: { "node.id": "7", "process.roles": "broker,controller", "controller.quorum.voters": cluster.voters },
      }).then(
        (started) => {
          outsiders.push(started);
          throw new Error("node 7 started although it is not in controller.quorum.voters");
        },
        (e: Error) => e,
      );
      expect(error.message).to.match(/^node exited with code 1 before starting: /);
      expect(error.message).to.contain(
        "node.id 7 has the controller role but is not in controller.quorum.voters (ids 1, 2, 3); add 7@host:port to the list or fix node.id",
      );
    });
  });
});

describe("metadata cluster: a restart after more than 10,000 metadata records", function () {
  this.timeout(120_000);
  const CALLS = 10;
  const TOPICS_PER_CALL = 10;
  const PARTITIONS_PER_TOPIC = 100;
  const TOPICS = CALLS * TOPICS_PER_CALL;
  const PARTITIONS = TOPICS * PARTITIONS_PER_TOPIC;
  const logs = new LogBook();
  let cluster: CastleCluster;

  before(async function () {
    this.timeout(READY_TIMEOUT_MS + 10_000);
    // A snapshot every 4 Raft entries: one entry is one admin decision, however many records it holds.
    cluster = await startCastleCluster({
      controllers: 1,
      overrides: { ...FAST_SESSIONS, "metadata.snapshot.every.entries": "4" },
      onLog: logs.add,
    });
    await cluster.waitReady("all", READY_TIMEOUT_MS);
  });
  after(async () => {
    await cluster?.close();
  });

  it("starts from a snapshot holding the topics, replays the rest, and serves every topic", async () => {
    // One Topic record per topic and one Partition record per partition.
    const records = TOPICS + PARTITIONS;
    expect(records, "metadata records this test creates").to.be.greaterThan(10_000);
    await withAdmin(cluster.bootstrap, async (admin) => {
      const before = await admin.describeQuorum();
      for (let call = 0; call < CALLS; call++) {
        await admin.createTopics(
          Array.from({ length: TOPICS_PER_CALL }, (_, i) => ({
            name: `bulk-${call}-${i}`,
            numPartitions: PARTITIONS_PER_TOPIC,
            replicationFactor: 1,
          })),
        );
      }
      const after = await admin.describeQuorum();
      expect(after.highWatermark - before.highWatermark, "Raft entries: at least one per createTopics call").to.be.at.least(CALLS);
    });
    expect(logs.find(1, "took snapshot").length, "snapshots taken before the restart").to.be.greaterThan(0);

    const fromMark = logs.mark();
    await cluster.restart(1);
    await cluster.waitReady(1, READY_TIMEOUT_MS);

    const [loaded, ...more] = logs.find(1, "loaded metadata snapshot", fromMark);
    expect(more, "snapshots loaded at start").to.be.empty;
    const [started] = logs.find(1, "metadata quorum member started", fromMark);
    if (loaded === undefined || started === undefined) throw new Error(`the restarted node did not log its snapshot load and start`);
    const loadedTopics = Number(loaded["topics"]);
    expect(Number(loaded["offset"]), "offset of the loaded snapshot").to.be.at.least(0);
    expect(loadedTopics, "topics in the loaded snapshot: some of ours, whole createTopics calls").to.be.within(TOPICS_PER_CALL, TOPICS);
    expect(loadedTopics % TOPICS_PER_CALL, "topics in the loaded snapshot: whole createTopics calls").to.equal(0);
    expect(Number(loaded["partitions"]), "partitions in the loaded snapshot").to.equal(loadedTopics * PARTITIONS_PER_TOPIC);
    expect(
      { topics: started["topics"], partitions: started["partitions"], brokers: started["brokers"] },
      "the image after replaying the log past the snapshot",
    ).to.deep.equal({ topics: TOPICS, partitions: PARTITIONS, brokers: 1 });
    expect(Number(started["offset"]), "the replayed image's offset").to.be.at.least(Number(loaded["offset"]));

    await withAdmin(cluster.bootstrap, async (admin) => {
      const listed = await admin.listTopics();
      expect(listed.length, "topics after the restart").to.equal(TOPICS);
      expect(
        listed.reduce((sum, t) => sum + t.numPartitions, 0),
        "partitions after the restart",
      ).to.equal(PARTITIONS);
      const [last] = await admin.describeTopics([`bulk-${CALLS - 1}-${TOPICS_PER_CALL - 1}`]);
      expect(
        last?.partitions.every((p) => p.leader === 1),
        "the last topic created is led by the node",
      ).to.equal(true);
    });
  });
});
