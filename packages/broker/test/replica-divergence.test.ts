// Replica divergence (issue 5): a leader accepts acks=1 records its followers never see (their
// fetches from it are cut at a fault proxy), then stops; a follower becomes leader and takes
// writes in a new leader epoch; the old leader returns as a follower, truncates its log to the
// epoch boundary the new leader reports (OffsetForLeaderEpoch), and copies the rest. Afterwards
// every replica holds the same bytes below the high watermark, which `castle log dump --verify`
// confirms on each replica's segment file.

import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { ErrorCode, encodeRecordBatch, loadCastleProto, type ProduceResponse } from "@castle/protocol";
import type { PartitionLog } from "@castle/storage";
import { castleCliPath, type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";

const TOPIC = "diverge";
const IDS = [1, 2, 3];
const SETTLE_MS = 10_000;

interface DumpedBatch {
  baseOffset: number;
  lastOffset: number;
  partitionLeaderEpoch: number;
  crc: number;
}

function produce(port: number, acks: number, values: readonly string[]): Promise<ProduceResponse["topics"][number]["partitions"][number]> {
  const client = new (loadCastleProto().castle.v1.Broker)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const batch = encodeRecordBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v) })),
    { baseTimestampMs: Date.now() },
  );
  return new Promise((resolve, reject) => {
    client.Produce(
      { acks, timeoutMs: 5000, topics: [{ name: TOPIC, partitions: [{ partition: 0, recordBatches: batch }] }] },
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

/** `castle log dump --verify --json` of one segment file: exits non-zero on a bad CRC or a torn tail. */
function dumpVerified(segment: string): DumpedBatch[] {
  const out = execFileSync(process.execPath, [castleCliPath(), "log", "dump", segment, "--verify", "--json"], { encoding: "utf8" });
  return (JSON.parse(out) as { batches: DumpedBatch[] }).batches;
}

describe("replica divergence: a leader's unreplicated acks=1 suffix is truncated when it returns", function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;

  const state = () => cluster.node(cluster.runningIds()[0] as number).quorum.image.topic(TOPIC)?.partitions[0];
  const logOf = (id: number): PartitionLog => {
    const log = cluster.node(id).context?.replicas.localLog(TOPIC, 0);
    if (!log) throw new Error(`node ${id} has no log of ${TOPIC}-0`);
    return log;
  };

  before(async () => {
    cluster = await startInProcessCluster({
      proxiedReplication: true,
      size: 3,
      overrides: {
        "broker.heartbeat.interval.ms": "200",
        "broker.session.timeout.ms": "2000",
        // Followers cut off from the leader must stay in the ISR (so one can be elected) during the test.
        "replica.lag.time.max.ms": "60000",
        "replica.fetch.backoff.ms": "100",
        "auto.leader.rebalance.enable": "false",
        "auto.create.topics.enable": "false",
      },
    });
    const created = await cluster.node(1).context?.controller.call("createTopics", [
      {
        topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "1" } }],
        timeoutMs: 10_000,
        validateOnly: false,
      },
    ]);
    expect(created?.topics[0]?.errorCode).to.equal(ErrorCode.NONE);
    await waitUntil(() => IDS.every((id) => cluster.node(id).context?.replicas.localLog(TOPIC, 0)), "every replica's log", SETTLE_MS);
  });
  after(async () => {
    await cluster?.close();
  });

  it("truncates to the epoch boundary and leaves every replica byte-identical below the high watermark", async () => {
    const oldLeader = state()?.leader as number;
    const followers = IDS.filter((id) => id !== oldLeader);
    const port = (id: number) => cluster.node(id).clientPort;

    const replicated = await produce(port(oldLeader), -1, ["a0", "a1", "a2", "a3"]);
    expect(replicated.errorCode, replicated.errorMessage).to.equal(ErrorCode.NONE);
    const epochBoundary = Number(replicated.baseOffset) + 4;
    for (const id of followers)
      await waitUntil(() => logOf(id).logEndOffset === epochBoundary, `node ${id} to copy the first records`, SETTLE_MS);

    // The followers' fetches from the leader fail from now on; acks=1 records stay on the leader alone.
    for (const id of followers) cluster.replicationLink(id, oldLeader).cut("both", { mode: "reset" });
    const unreplicated = await produce(port(oldLeader), 1, ["lost0", "lost1", "lost2"]);
    expect(unreplicated.errorCode, unreplicated.errorMessage).to.equal(ErrorCode.NONE);
    expect(logOf(oldLeader).logEndOffset).to.equal(epochBoundary + 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const id of followers) expect(logOf(id).logEndOffset, `node ${id} never saw them`).to.equal(epochBoundary);
    const oldEpoch = state()?.leaderEpoch as number;

    // The leader goes; a follower (still in the ISR) takes over in a new epoch and takes writes.
    await cluster.stop(oldLeader);
    const newLeader = await waitUntil(
      () => {
        const s = state();
        return s && s.leader > 0 && s.leader !== oldLeader ? s.leader : undefined;
      },
      "a new leader among the followers",
      SETTLE_MS,
    );
    expect(state()?.leaderEpoch).to.be.greaterThan(oldEpoch);
    const written = await produce(port(newLeader), -1, ["b0", "b1"]);
    expect(written.errorCode, written.errorMessage).to.equal(ErrorCode.NONE);
    expect(Number(written.baseOffset), "the new epoch starts where the replicated records end").to.equal(epochBoundary);

    // The old leader returns as a follower: it must cut lost0..lost2 and copy b0, b1.
    for (const from of IDS) for (const to of IDS) if (from !== to) cluster.replicationLink(from, to).heal();
    await cluster.restart(oldLeader);
    const end = epochBoundary + 2;
    await waitUntil(
      () => (IDS.every((id) => logOf(id).logEndOffset === end) ? true : undefined),
      "every replica at the same end",
      SETTLE_MS,
    );
    await waitUntil(() => (state()?.isr.length === 3 ? true : undefined), "the old leader back in the ISR", SETTLE_MS);
    const leaderHw = logOf(newLeader).highWatermark;
    expect(leaderHw).to.equal(end);

    const dumps = IDS.map((id) => dumpVerified(join(cluster.dataDir(id), `${TOPIC}-0`, "00000000000000000000.log")));
    const reference = dumps[IDS.indexOf(newLeader)] as DumpedBatch[];
    expect(reference.map((b) => b.lastOffset).at(-1)).to.equal(end - 1);
    for (const [i, dump] of dumps.entries()) {
      expect(
        dump.map((b) => [b.baseOffset, b.lastOffset, b.partitionLeaderEpoch, b.crc]),
        `node ${IDS[i]}'s batches equal the new leader's`,
      ).to.deep.equal(reference.map((b) => [b.baseOffset, b.lastOffset, b.partitionLeaderEpoch, b.crc]));
    }
    const oldLeaderLog = logOf(oldLeader);
    expect(oldLeaderLog.endOffsetForEpoch(oldEpoch)?.endOffset, "the old epoch ends at the boundary").to.equal(epochBoundary);
  });
});
