// Process-level tests of the metadata quorum: real RaftNodes over loopback gRPC, LevelDB in
// temp dirs, real timers. One cluster (voters 1-3, observer 4; brokers 1-3 simulated by a
// BrokerFleet) goes through a scripted life, each step one `it`; every wait is bounded.

import type { MetadataImage, PartitionState } from "@castle/metadata";
import { ProtocolError } from "@castle/protocol";
import { expect } from "chai";
import { BrokerFleet, QUORUM_CLUSTER_ID, QuorumHarness, waitFor } from "./quorum-harness.js";

const VOTERS = [1, 2, 3] as const;
const OBSERVER = 4;
const BROKERS = [1, 2, 3] as const;
const SESSION_TIMEOUT_MS = 1_500;
const HEARTBEAT_MS = 100;

async function rejection(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the call was expected to reject with a ProtocolError").to.be.instanceOf(ProtocolError);
  return error as ProtocolError;
}

function snapshotHex(image: MetadataImage): string {
  return Buffer.from(image.toSnapshot()).toString("hex");
}

function partitions(image: MetadataImage, topic: string): readonly PartitionState[] {
  return image.topic(topic)?.partitions ?? [];
}

describe("MetadataQuorum on loopback (voters 1-3, observer 4)", function () {
  this.timeout(20_000);
  let harness: QuorumHarness;
  let fleet: BrokerFleet;
  let observerActiveSamples = 0;
  let observerSampler: NodeJS.Timeout | undefined;
  let stoppedId = 0;

  before(async () => {
    harness = await QuorumHarness.start({
      voters: VOTERS,
      observers: [OBSERVER],
      snapshotEveryEntries: 8,
      brokerSessionTimeoutMs: SESSION_TIMEOUT_MS,
    });
    fleet = new BrokerFleet(harness, HEARTBEAT_MS);
    observerSampler = setInterval(() => {
      if (harness.members.get(OBSERVER)?.isActiveController) observerActiveSamples++;
    }, 10);
  });
  after(async () => {
    if (observerSampler) clearInterval(observerSampler);
    fleet?.stop();
    await harness?.close();
  });

  /** Every running member holds the same image (equal snapshot bytes), satisfying `check`. */
  function membersAgree(check: (image: MetadataImage) => boolean): boolean {
    const images = [...harness.members.values()].map((m) => m.image);
    const first = images[0];
    return first !== undefined && images.every((i) => snapshotHex(i) === snapshotHex(first)) && check(first);
  }

  it("elects one active controller among the voters, which every member names", async () => {
    const active = await harness.waitForActive();
    expect(VOTERS).to.include(active.nodeId);
    for (const member of harness.members.values()) {
      expect(member.controllerId, `member ${member.nodeId}`).to.equal(active.nodeId);
      expect(member.isActiveController, `member ${member.nodeId}`).to.equal(member === active);
    }
  });

  it("registers brokers fenced, and their heartbeats unfence them on every member", async () => {
    for (const brokerId of BROKERS) await fleet.register(brokerId);
    const active = await harness.waitForActive();
    for (const brokerId of BROKERS) expect(active.image.broker(brokerId)?.fenced, `broker ${brokerId} after registering`).to.equal(true);
    fleet.start();
    await waitFor(
      () => membersAgree((image) => image.unfencedBrokers().length === BROKERS.length),
      "every member to see brokers 1-3 unfenced",
    );
  });

  it("creates a topic through the active controller; every member's image shows its partitions, leaders and ISR", async () => {
    const active = await harness.waitForActive();
    const [result] = await active.createTopics([
      { name: "orders", numPartitions: 6, replicationFactor: 3, configs: { "retention.ms": "3600000" } },
    ]);
    expect(result?.error).to.equal(null);
    expect(result?.numPartitions).to.equal(6);
    expect(partitions(active.image, "orders"), "applied on the active controller when the call resolves").to.have.length(6);
    // More entries, so every member's log passes snapshotEveryEntries before the restart test.
    for (let i = 0; i < 5; i++) {
      const [bulk] = await active.createTopics([{ name: `bulk-${i}`, numPartitions: 1, replicationFactor: 1, configs: {} }]);
      expect(bulk?.error, `bulk-${i}`).to.equal(null);
    }
    await waitFor(() => membersAgree((image) => image.topicCount === 6), "every member to hold the six topics");
    for (const member of harness.members.values()) {
      const image = member.image;
      expect(image.topicConfigs("orders"), `member ${member.nodeId}`).to.deep.equal({ "retention.ms": "3600000" });
      const leaders = new Map<number, number>();
      for (const p of partitions(image, "orders")) {
        const where = `member ${member.nodeId} partition ${p.partition}`;
        expect(new Set(p.replicas).size, where).to.equal(3);
        expect(p.isr, where).to.deep.equal(p.replicas);
        expect(p.leader, where).to.equal(p.replicas[0]);
        leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
      }
      expect([...leaders.values()], `member ${member.nodeId}: leaders spread evenly`).to.deep.equal([2, 2, 2]);
    }
  });

  it("refuses decisions on a follower and on the observer with NOT_CONTROLLER naming the leader", async () => {
    const active = await harness.waitForActive();
    for (const member of harness.members.values()) {
      if (member === active) continue;
      const error = await rejection(member.createTopics([{ name: "elsewhere", numPartitions: 1, replicationFactor: 1, configs: {} }]));
      expect(error.code, `member ${member.nodeId}`).to.equal("NOT_CONTROLLER");
      expect(error.retriable).to.equal(true);
      expect(error.context["leaderId"], `member ${member.nodeId}`).to.equal(active.nodeId);
      expect(error.message).to.equal(
        `node ${member.nodeId} is not the active controller; the active controller is node ${active.nodeId} at ${harness.peers[active.nodeId]}`,
      );
    }
    expect(active.image.topic("elsewhere")).to.equal(undefined);
  });

  it("answers bad input with the error and writes nothing (commit index and image unchanged)", async () => {
    const active = await harness.waitForActive();
    const highWatermark = active.quorumStatus().highWatermark;
    const image = active.image;
    const results = await active.createTopics([
      { name: "orders", numPartitions: 1, replicationFactor: 1, configs: {} },
      { name: "too-many-replicas", numPartitions: 1, replicationFactor: 4, configs: {} },
      { name: "bad/name", numPartitions: 1, replicationFactor: 1, configs: {} },
      { name: "bad-config", numPartitions: 1, replicationFactor: 1, configs: { "no.such.key": "1" } },
    ]);
    expect(results.map((r) => [r.name, r.error?.code])).to.deep.equal([
      ["orders", "TOPIC_ALREADY_EXISTS"],
      ["too-many-replicas", "INVALID_REPLICATION_FACTOR"],
      ["bad/name", "INVALID_TOPIC_EXCEPTION"],
      ["bad-config", "INVALID_CONFIG"],
    ]);
    const [validated] = await active.createTopics([{ name: "only-validated", numPartitions: 2, replicationFactor: 3, configs: {} }], true);
    expect(validated?.error, "validateOnly succeeds").to.equal(null);
    const [fewer] = await active.createPartitions([{ name: "orders", count: 3 }]);
    expect(fewer?.error?.code).to.equal("INVALID_PARTITIONS");
    const [unknownKey] = await active.alterConfigs([
      { resourceType: "topic", resourceName: "orders", changes: [{ name: "no.such.key", op: "set", value: "1" }] },
    ]);
    expect(unknownKey?.error?.code).to.equal("INVALID_CONFIG");
    const wrongCluster = await rejection(
      active.registerBroker({ brokerId: 9, clusterId: "another-cluster", incarnationId: "x", endpoints: [], rack: null }),
    );
    expect(wrongCluster.code).to.equal("INCONSISTENT_CLUSTER_ID");
    expect(active.quorumStatus().highWatermark, "commit index").to.equal(highWatermark);
    expect(active.image, "no batch applied").to.equal(image);
    expect(active.image.topic("only-validated")).to.equal(undefined);
  });

  it("describes the quorum as kafka-metadata-quorum.sh does (--status and --replication)", async () => {
    const active = await harness.waitForActive();
    const info = await waitFor(() => {
      const status = active.quorumStatus();
      return status.replicas.every((r) => r.lag === 0 && r.lastCaughtUpTimestampMs > 0) ? status : undefined;
    }, "every replica caught up");
    expect(info.clusterId).to.equal(QUORUM_CLUSTER_ID);
    expect(info.leaderId).to.equal(active.nodeId);
    expect(info.leaderEpoch).to.be.greaterThan(1);
    expect(info.highWatermark).to.be.at.least(active.image.offset);
    expect([info.maxFollowerLag, info.maxFollowerLagTimeMs]).to.deep.equal([0, 0]);
    expect(info.currentVoters).to.deep.equal([...VOTERS]);
    expect(info.currentObservers).to.deep.equal([OBSERVER]);
    expect(info.replicas.map((r) => [r.nodeId, r.status])).to.deep.equal([
      ...VOTERS.map((id) => [id, id === active.nodeId ? "Leader" : "Follower"]),
      [OBSERVER, "Observer"],
    ]);
    for (const replica of info.replicas) expect(replica.logEndOffset, `node ${replica.nodeId}`).to.equal(info.highWatermark);
    const fromObserver = harness.member(OBSERVER).quorumStatus();
    expect([fromObserver.leaderId, fromObserver.maxFollowerLag], "an observer knows the leader, not the lag").to.deep.equal([
      active.nodeId,
      -1,
    ]);
  });

  it("fences a broker that stops heartbeating after the session timeout, and moves its leadership in the same batch on every member", async () => {
    const fenced = 3;
    const seen = new Map<number, MetadataImage[]>();
    const unsubscribe = [...harness.members.values()].map((member) => {
      seen.set(member.nodeId, [member.image]);
      return member.onImage((image) => seen.get(member.nodeId)?.push(image));
    });
    const started = Date.now();
    fleet.pause(fenced);
    await waitFor(
      () => membersAgree((image) => image.broker(fenced)?.fenced === true),
      `every member to see broker ${fenced} fenced`,
      5_000,
    );
    const elapsedMs = Date.now() - started;
    for (const off of unsubscribe) off();
    expect(elapsedMs, "not before the session timeout").to.be.at.least(SESSION_TIMEOUT_MS - HEARTBEAT_MS);
    for (const [nodeId, images] of seen) {
      const at = images.findIndex((image) => image.broker(fenced)?.fenced === true);
      const before = images[at - 1];
      const after = images[at];
      if (!before || !after) throw new Error(`member ${nodeId}: no image before and after the fence`);
      const led = partitions(before, "orders").filter((p) => p.leader === fenced);
      expect(led, `member ${nodeId}: broker ${fenced} led partitions before`).to.have.length(2);
      for (const p of partitions(after, "orders")) {
        const where = `member ${nodeId} partition ${p.partition}, in the fencing batch`;
        expect(p.leader, where).not.to.equal(fenced);
        expect(p.isr, where).not.to.include(fenced);
        const previous = partitions(before, "orders")[p.partition];
        if (previous?.leader === fenced) expect(previous.isr, `${where}: new leader from the old ISR`).to.include(p.leader);
      }
    }
  });

  it("unfences the broker when it heartbeats again; preferred-leader election explains what it cannot do", async () => {
    const broker = 3;
    fleet.resume(broker);
    await waitFor(() => membersAgree((image) => image.broker(broker)?.fenced === false), `every member to see broker ${broker} unfenced`);
    const active = await harness.waitForActive();
    const orders = partitions(active.image, "orders");
    const preferringFenced = orders.find((p) => p.replicas[0] === broker);
    const ledByPreferred = orders.find((p) => p.leader === p.replicas[0]);
    if (!preferringFenced || !ledByPreferred) throw new Error("expected both kinds of partition");
    const results = await active.electPreferredLeaders([
      { topic: "orders", partition: preferringFenced.partition },
      { topic: "orders", partition: ledByPreferred.partition },
    ]);
    // The broker left every ISR when fenced; rejoining the ISR is replication's job (issue 5).
    expect(results.map((r) => r.error?.code)).to.deep.equal(["PREFERRED_LEADER_NOT_AVAILABLE", "ELECTION_NOT_NEEDED"]);
  });

  it("elects a new active controller when the active one closes; the image is intact and topic creation works again", async () => {
    const previous = await harness.waitForActive();
    stoppedId = previous.nodeId;
    const before = snapshotHex(previous.image);
    const started = Date.now();
    await harness.stopMember(stoppedId);
    const active = await harness.waitForActive();
    const failoverMs = Date.now() - started;
    expect(active.nodeId).not.to.equal(stoppedId);
    expect(VOTERS).to.include(active.nodeId);
    expect(snapshotHex(active.image), "the new controller starts from the committed image").to.equal(before);
    const [result] = await active.createTopics([{ name: "payments", numPartitions: 3, replicationFactor: 3, configs: {} }]);
    expect(result?.error, `created ${failoverMs} ms after the old controller closed`).to.equal(null);
    await waitFor(
      () => membersAgree((image) => partitions(image, "payments").length === 3 && image.topic("orders") !== undefined),
      "every running member to hold payments and orders",
    );
  });

  it("restarts the closed member from its data dir: it loads a snapshot instead of replaying from index 1, then catches up", async () => {
    const restarted = await harness.startMember(stoppedId);
    const atStart = restarted.replayStats();
    expect(atStart.snapshotsRestored, "a snapshot was loaded at start").to.equal(1);
    expect(atStart.restoredImageOffset, "the snapshot is not the empty bootstrap one").to.be.greaterThan(1);
    await waitFor(() => membersAgree((image) => image.topic("payments") !== undefined), "the restarted member to catch up");
    const stats = restarted.replayStats();
    // It may since have installed a newer snapshot from the leader, which compacts its log too.
    if (stats.firstAppliedOffset !== -1)
      expect(stats.firstAppliedOffset, "first batch replayed").to.be.greaterThan(atStart.restoredImageOffset);
    const fullReplay = harness.member(OBSERVER).replayStats().batchesApplied;
    expect(stats.batchesApplied, "batches replayed after the snapshot").to.be.lessThan(fullReplay);
    expect(restarted.controllerId).to.equal((await harness.waitForActive()).nodeId);
  });

  it("keeps the observer following the image without ever becoming the active controller", async () => {
    const active = await harness.waitForActive();
    const observer = harness.member(OBSERVER);
    await waitFor(() => snapshotHex(observer.image) === snapshotHex(active.image), "the observer to hold the active image");
    expect(observerActiveSamples, "samples with the observer active").to.equal(0);
    expect(observer.quorumStatus().currentObservers).to.deep.equal([OBSERVER]);
  });

  it("fails a decision whose records cannot commit (quorum lost) and stops deciding, writing nothing", async () => {
    const active = await harness.waitForActive();
    fleet.stop();
    for (const id of VOTERS) if (id !== active.nodeId) await harness.stopMember(id);
    const image = active.image;
    const error = await rejection(active.createTopics([{ name: "lost", numPartitions: 1, replicationFactor: 1, configs: {} }]));
    expect(["NOT_CONTROLLER", "REQUEST_TIMED_OUT"]).to.include(error.code);
    await waitFor(() => !active.isActiveController, "the member to stop being the active controller", 5_000);
    expect(active.image, "nothing applied").to.equal(image);
    const again = await rejection(active.createTopics([{ name: "lost", numPartitions: 1, replicationFactor: 1, configs: {} }]));
    expect(again.code).to.equal("NOT_CONTROLLER");
  });
});
