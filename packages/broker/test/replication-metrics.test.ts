// Replication metrics on three in-process nodes, read from /metrics as Prometheus would: every
// follower of a partition gets lag gauges on its leader; a follower whose fetches are cut at a
// fault proxy is shrunk out of the ISR by the leader (under-replicated, under-min-ISR, the
// shrink counter, a growing lag) and expanded back once healed; a stopped follower makes the
// partition under-replicated until it restarts and catches up; and a leader elected from
// outside the ISR (unclean.leader.election.enable) is counted by the active controller. Every
// wait is bounded.

import { ErrorCode, encodeRecordBatch, loadCastleProto, type ProduceResponse } from "@castle/protocol";
import { type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";

const IDS = [1, 2, 3];
/** The one topic of the first tests: RF 3 with min.insync.replicas 3, so one follower out is both under-replicated and under min ISR. */
const HEALTH = "health";
/** The last test's topic, created there: unclean.leader.election.enable. */
const DIRTY = "dirty";
const SETTLE_MS = 10_000;

/** One sample's value, whatever order prom-client prints the labels in; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

function produce(port: number, topic: string, values: readonly string[]): Promise<ProduceResponse["topics"][number]["partitions"][number]> {
  const client = new (loadCastleProto().castle.v1.Broker)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const batch = encodeRecordBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v) })),
    { baseTimestampMs: Date.now() },
  );
  return new Promise((resolve, reject) => {
    client.Produce(
      { acks: 1, timeoutMs: 5000, topics: [{ name: topic, partitions: [{ partition: 0, recordBatches: batch }] }] },
      { deadline: Date.now() + 15_000 },
      (error, response) => {
        client.close();
        const result = response?.topics[0]?.partitions[0];
        if (error || !result) reject(error ?? new Error("no produce result"));
        else resolve(result);
      },
    );
  });
}

describe("replication metrics (3 in-process nodes, replica.lag.time.max.ms 1500)", function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;

  const scrape = async (id: number): Promise<string> =>
    (await globalThis.fetch(`http://127.0.0.1:${cluster.node(id).httpPort}/metrics`)).text();
  const state = (topic: string, partition = 0) =>
    cluster.node(cluster.runningIds()[0] as number).quorum.image.topic(topic)?.partitions[partition];
  const leaderOf = (topic: string, partition = 0): number => state(topic, partition)?.leader ?? -1;
  /** Waits until `probe` holds on a fresh scrape of node `id`, and returns that scrape. */
  const scrapeUntil = (id: number, probe: (text: string) => boolean, what: string): Promise<string> =>
    waitUntil(
      async () => {
        const text = await scrape(id);
        return probe(text) ? text : undefined;
      },
      `node ${id}: ${what}`,
      SETTLE_MS,
    );
  const underReplicated = (text: string) => sample(text, "castle_replica_under_replicated_partition_count");
  const underMinIsr = (text: string) => sample(text, "castle_replica_under_min_isr_partition_count");
  const lagRecords = (text: string, follower: number) =>
    sample(text, "castle_replica_follower_lag_records", { topic: HEALTH, partition: "0", follower: String(follower) });
  const lagSeconds = (text: string, follower: number) =>
    sample(text, "castle_replica_follower_lag_seconds", { topic: HEALTH, partition: "0", follower: String(follower) });

  /** Creates an RF 3 topic and waits until every node has opened its partitions' logs. */
  const createTopic = async (name: string, partitions: number, configs: Record<string, string>): Promise<void> => {
    const via = cluster.runningIds()[0] as number;
    const created = await cluster
      .node(via)
      .context?.controller.call("createTopics", [
        { topics: [{ name, numPartitions: partitions, replicationFactor: 3, configs }], timeoutMs: 10_000, validateOnly: false },
      ]);
    expect(created?.topics[0]?.errorCode, created?.topics[0]?.errorMessage).to.equal(ErrorCode.NONE);
    await waitUntil(
      () => cluster.runningIds().every((id) => cluster.node(id).context?.replicas.localLog(name, partitions - 1)),
      `every replica's log of ${name}`,
      SETTLE_MS,
    );
  };

  before(async () => {
    cluster = await startInProcessCluster({
      proxiedReplication: true,
      size: 3,
      overrides: {
        "broker.heartbeat.interval.ms": "200",
        "broker.session.timeout.ms": "2000",
        "replica.lag.time.max.ms": "1500",
        "replica.fetch.backoff.ms": "100",
        "auto.leader.rebalance.enable": "false",
        "auto.create.topics.enable": "false",
      },
    });
    await createTopic(HEALTH, 1, { "min.insync.replicas": "3" });
  });
  after(async () => {
    await cluster?.close();
  });

  it("reports lag in records and seconds for each follower of a partition the node leads, and nothing for others", async () => {
    const leader = leaderOf(HEALTH);
    const written = await produce(cluster.node(leader).clientPort, HEALTH, ["a", "b", "c"]);
    expect(written.errorCode, written.errorMessage).to.equal(ErrorCode.NONE);
    const followers = IDS.filter((id) => id !== leader);
    const text = await scrapeUntil(leader, (t) => followers.every((f) => lagRecords(t, f) === 0), "every follower caught up");
    for (const follower of followers) {
      expect(lagSeconds(text, follower), `follower ${follower}'s lag in seconds`).to.be.within(0, 1.5);
    }
    expect(lagRecords(text, leader), "no lag gauge for the leader itself").to.equal(undefined);
    expect(underReplicated(text), "under-replicated on the leader").to.equal(0);
    expect(underMinIsr(text), "under min ISR on the leader").to.equal(0);
    for (const follower of followers) {
      const theirs = await scrape(follower);
      expect(lagRecords(theirs, follower), `node ${follower} does not lead ${HEALTH}`).to.equal(undefined);
      expect(sample(theirs, "castle_replica_isr_shrinks_total"), `node ${follower}'s shrinks`).to.equal(0);
      expect(sample(theirs, "castle_controller_unclean_leader_elections_total"), `node ${follower}'s unclean elections`).to.equal(0);
    }
  });

  it("counts an ISR shrink when a follower's fetches are cut, with a growing lag, and an expansion once it catches up", async () => {
    const leader = leaderOf(HEALTH);
    const [follower] = IDS.filter((id) => id !== leader) as [number];
    const before = await scrape(leader);
    const shrinks = sample(before, "castle_replica_isr_shrinks_total") ?? Number.NaN;
    const expands = sample(before, "castle_replica_isr_expands_total") ?? Number.NaN;

    cluster.replicationLink(follower, leader).cut("both", { mode: "reset" });
    const written = await produce(cluster.node(leader).clientPort, HEALTH, ["d", "e", "f", "g"]);
    expect(written.errorCode, written.errorMessage).to.equal(ErrorCode.NONE);
    const shrunk = await scrapeUntil(leader, (t) => underReplicated(t) === 1, "the partition under-replicated");
    expect(underMinIsr(shrunk), "ISR of 2 < min.insync.replicas 3").to.equal(1);
    expect(sample(shrunk, "castle_replica_isr_shrinks_total"), "one shrink").to.equal(shrinks + 1);
    expect(lagRecords(shrunk, follower), "the records the follower lacks").to.equal(4);
    expect(lagSeconds(shrunk, follower), "past replica.lag.time.max.ms").to.be.greaterThan(1.5);
    expect(state(HEALTH)?.isr, "the committed ISR").to.not.include(follower);

    cluster.replicationLink(follower, leader).heal();
    const healed = await scrapeUntil(leader, (t) => underReplicated(t) === 0, "the partition fully replicated again");
    expect(underMinIsr(healed)).to.equal(0);
    expect(sample(healed, "castle_replica_isr_expands_total"), "one expansion").to.equal(expands + 1);
    expect(lagRecords(healed, follower), "caught up").to.equal(0);
  });

  it("shows a stopped follower's partition under-replicated until it restarts and catches up", async () => {
    const leader = leaderOf(HEALTH);
    const active = await cluster.activeControllerId();
    // A follower that is not the active controller, so the controller answers at once.
    const follower = IDS.find((id) => id !== leader && id !== active) ?? (IDS.find((id) => id !== leader) as number);
    await cluster.stop(follower);
    const stopped = await scrapeUntil(leader, (t) => underReplicated(t) === 1, "the partition under-replicated");
    expect(underMinIsr(stopped)).to.equal(1);
    expect(lagRecords(stopped, follower), "the stopped follower still has a lag gauge").to.be.a("number");
    const written = await produce(cluster.node(leader).clientPort, HEALTH, ["h", "i"]);
    expect(written.errorCode, written.errorMessage).to.equal(ErrorCode.NONE);

    await cluster.restart(follower);
    const back = await scrapeUntil(leader, (t) => underReplicated(t) === 0, "the partition fully replicated again");
    expect(underMinIsr(back)).to.equal(0);
    expect(lagRecords(back, follower), "caught up").to.equal(0);
    expect(state(HEALTH)?.isr).to.have.length(3);
  });

  it("counts an unclean leader election on the active controller", async () => {
    await createTopic(DIRTY, 3, { "unclean.leader.election.enable": "true" });
    const active = await cluster.activeControllerId();
    const partitions = cluster.node(active).quorum.image.topic(DIRTY)?.partitions ?? [];
    const victim = partitions.find((p) => p.leader !== active && p.leader > 0)?.leader;
    if (victim === undefined) throw new Error(`every partition of ${DIRTY} is led by the active controller ${active}`);
    const led = partitions.filter((p) => p.leader === victim).map((p) => p.partition);
    // Its followers stop copying it: it shrinks the ISR of each partition it leads to itself alone.
    for (const id of IDS.filter((i) => i !== victim)) cluster.replicationLink(id, victim).cut("both", { mode: "reset" });
    await waitUntil(
      () => led.every((p) => state(DIRTY, p)?.isr.length === 1),
      `the ISRs of ${DIRTY} partitions ${led.join(",")} down to node ${victim}`,
      SETTLE_MS,
    );
    await cluster.stop(victim);
    await waitUntil(
      () => led.every((p) => (state(DIRTY, p)?.leader ?? -1) > 0 && state(DIRTY, p)?.leader !== victim),
      "a leader from outside the ISR",
      SETTLE_MS,
    );
    const text = await scrape(active);
    expect(sample(text, "castle_controller_unclean_leader_elections_total"), "on the active controller").to.equal(led.length);
    for (const id of cluster.runningIds().filter((i) => i !== active)) {
      expect(sample(await scrape(id), "castle_controller_unclean_leader_elections_total"), `node ${id}`).to.equal(0);
    }
    for (const from of IDS) for (const to of IDS) if (from !== to) cluster.replicationLink(from, to).heal();
  });
});
