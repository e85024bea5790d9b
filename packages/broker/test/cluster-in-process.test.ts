// Three combined nodes in this process (every node a voter of the metadata quorum and a broker),
// spoken to over raw gRPC so every check is on the wire contract of one chosen node: admin
// requests sent to a node that is not the active controller are forwarded (KIP-590) and
// answered once that node shows the change; produce, fetch and list offsets are refused with
// NOT_LEADER_OR_FOLLOWER by a node that does not lead the partition; the partition reconciler
// deletes a removed topic's logs and starts a same-named new topic empty; topic configs reach
// the open logs of every node; bad admin input changes nothing; the controller metrics and
// DescribeCluster agree with the quorum; and a controlled shutdown moves leadership away and a
// restart brings the node back. Process-level scenarios (kill -9, snapshots) are in
// test/metadata-cluster.test.ts. Every wait is bounded.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { MetadataImage } from "@castle/metadata";
import {
  type AdminClient,
  type AlterConfigsResponse,
  type BrokerClient,
  type CreatePartitionsResponse,
  type CreateTopicsResponse,
  type DeleteTopicsResponse,
  type DescribeClusterResponse,
  type DescribeConfigsResponse,
  type DescribeQuorumResponse,
  type DescribeTopicsResponse,
  type ElectLeadersResponse,
  ErrorCode,
  encodeRecordBatch,
  type FetchResponse,
  type ListOffsetsResponse,
  type ListTopicsResponse,
  loadCastleProto,
  type MetadataResponse,
  type ProduceResponse,
} from "@castle/protocol";
import { type InProcessCluster, startInProcessCluster, waitUntil } from "@castle/testkit";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";

/** Fast broker sessions; no auto rebalance, so leadership moves only when a test moves it. */
const CLUSTER_FLAGS = {
  "broker.heartbeat.interval.ms": "200",
  "broker.session.timeout.ms": "2000",
  "auto.leader.rebalance.enable": "false",
  "auto.create.topics.enable": "false",
};
/** Bound on the other nodes applying what one node already shows. */
const SETTLE_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** AlterConfigs-then-DescribeConfigs rounds that must all show the new value. */
const ALTER_TRIES = 60;

interface Wire {
  readonly broker: BrokerClient;
  readonly admin: AdminClient;
}

type ErrorResult = { errorCode: number; errorMessage: string };

function connect(port: number): Wire {
  const proto = loadCastleProto();
  const address = `127.0.0.1:${port}`;
  return {
    broker: new proto.castle.v1.Broker(address, grpc.credentials.createInsecure()),
    admin: new proto.castle.v1.Admin(address, grpc.credentials.createInsecure()),
  };
}

function call<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (
      client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>
    )[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(client, request, { deadline: Date.now() + REQUEST_TIMEOUT_MS }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

const batchOf = (values: string[]): Buffer =>
  encodeRecordBatch(
    values.map((v) => ({ value: Buffer.from(v) })),
    { baseTimestampMs: 1_700_000_000_000 },
  );

/** One sample of a Prometheus text exposition (every sample has a node_id label), whatever order the labels are printed in. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

describe("three in-process nodes", function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;
  const wires = new Map<number, Wire>();

  const wire = (id: number): Wire => {
    let found = wires.get(id);
    if (!found) {
      found = connect(cluster.node(id).clientPort);
      wires.set(id, found);
    }
    return found;
  };
  const disconnect = (id: number): void => {
    const found = wires.get(id);
    found?.broker.close();
    found?.admin.close();
    wires.delete(id);
  };
  const admin = <Res>(id: number, method: string, request: unknown): Promise<Res> => call<Res>(wire(id).admin, method, request);
  const broker = <Res>(id: number, method: string, request: unknown): Promise<Res> => call<Res>(wire(id).broker, method, request);

  const createTopic = (via: number, name: string, numPartitions: number, replicationFactor: number, configs: Record<string, string> = {}) =>
    admin<CreateTopicsResponse>(via, "CreateTopics", { topics: [{ name, numPartitions, replicationFactor, configs }] }).then(
      (r) => r.topics[0]!,
    );
  const deleteTopic = (via: number, name: string) =>
    admin<DeleteTopicsResponse>(via, "DeleteTopics", { names: [name] }).then((r) => r.topics[0]!);
  const createPartitions = (via: number, name: string, count: number) =>
    admin<CreatePartitionsResponse>(via, "CreatePartitions", { topics: [{ name, count }] }).then((r) => r.results[0]!);
  const alterTopicConfigs = (via: number, name: string, configs: Record<string, string>) =>
    admin<AlterConfigsResponse>(via, "AlterConfigs", {
      resources: [
        {
          type: "CONFIG_RESOURCE_TYPE_TOPIC",
          name,
          configs: Object.entries(configs).map(([key, value]) => ({ name: key, op: "ALTER_CONFIG_OP_SET", value })),
        },
      ],
    }).then((r) => r.results[0]!);
  const topicConfigs = (via: number, name: string) =>
    admin<DescribeTopicsResponse>(via, "DescribeTopics", { names: [name] }).then((r) => r.topics[0]!.configs);
  const describedConfig = (via: number, topic: string, key: string) =>
    admin<DescribeConfigsResponse>(via, "DescribeConfigs", {
      resources: [{ type: "CONFIG_RESOURCE_TYPE_TOPIC", name: topic, configNames: [key] }],
    }).then((r) => r.results[0]!.entries[0]?.value);
  const metadata = (via: number, topics: string[] = []) => broker<MetadataResponse>(via, "Metadata", { topics });
  const topicNames = (via: number) =>
    admin<ListTopicsResponse>(via, "ListTopics", {}).then((r) => r.topics.map((t) => `${t.name}:${t.numPartitions}`));
  const produce = (via: number, topic: string, partition: number, recordBatches: Buffer) =>
    broker<ProduceResponse>(via, "Produce", {
      acks: 1,
      timeoutMs: 5000,
      topics: [{ name: topic, partitions: [{ partition, recordBatches }] }],
    }).then((r) => r.topics[0]!.partitions[0]!);
  const fetch = (via: number, topic: string, partition: number, fetchOffset: number) =>
    broker<FetchResponse>(via, "Fetch", {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ name: topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
    }).then((r) => r.topics[0]!.partitions[0]!);
  const latestOffset = (via: number, topic: string, partition: number) =>
    broker<ListOffsetsResponse>(via, "ListOffsets", { topics: [{ name: topic, partitions: [{ partition, timestamp: -1 }] }] }).then(
      (r) => r.topics[0]!.partitions[0]!,
    );
  const scrape = async (id: number): Promise<string> =>
    (await globalThis.fetch(`http://127.0.0.1:${cluster.node(id).httpPort}/metrics`)).text();

  const image = (id: number): MetadataImage => cluster.node(id).quorum.image;
  const partitionsOf = (name: string) => {
    const topic = image(cluster.runningIds()[0]!).topic(name);
    if (!topic) throw new Error(`topic ${name} is not in the image`);
    return topic.partitions;
  };
  const followers = async (): Promise<number[]> => {
    const active = await cluster.activeControllerId();
    return cluster.runningIds().filter((id) => id !== active);
  };
  /** Every running node has applied the newest offset any of them has, and opened the logs for it. */
  const settled = (): Promise<number> =>
    waitUntil(
      () => {
        const ids = cluster.runningIds();
        const newest = Math.max(...ids.map((id) => image(id).offset));
        const done = ids.every((id) => image(id).offset === newest && cluster.node(id).context!.reconciler.offset >= newest);
        return done ? newest : undefined;
      },
      "every node to apply the same metadata offset and open its partition logs",
      SETTLE_TIMEOUT_MS,
    );

  before(async () => {
    cluster = await startInProcessCluster({ size: 3, overrides: CLUSTER_FLAGS });
  });
  after(async () => {
    for (const id of [...wires.keys()]) disconnect(id);
    await cluster?.close();
  });

  it("forwards admin requests from a node that is not the active controller, answering once that node shows the change", async () => {
    const [via] = await followers();
    expect(cluster.node(via!).quorum.isActiveController, "the request goes to a follower").to.equal(false);

    const created = await createTopic(via!, "forwarded", 2, 2, { "retention.ms": "3600000" });
    expect(created.errorCode, created.errorMessage).to.equal(ErrorCode.NONE);
    expect(created.topicId).to.have.length.greaterThan(0);
    const afterCreate = (await metadata(via!, ["forwarded"])).topics[0]!;
    expect(afterCreate.errorCode, afterCreate.errorMessage).to.equal(ErrorCode.NONE);
    expect(afterCreate.topicId).to.equal(created.topicId);
    expect(afterCreate.partitions.map((p) => p.replicaNodes.length)).to.deep.equal([2, 2]);
    expect(await topicConfigs(via!, "forwarded")).to.deep.equal({ "retention.ms": "3600000" });
    // Its logs are open too: a partition this node leads takes a produce at once.
    for (const p of afterCreate.partitions.filter((q) => q.leaderId === via)) {
      const produced = await produce(via!, "forwarded", p.partition, batchOf(["now"]));
      expect(produced.errorCode, `${produced.errorMessage} (partition ${p.partition})`).to.equal(ErrorCode.NONE);
    }

    const grown = await createPartitions(via!, "forwarded", 4);
    expect(grown.errorCode, grown.errorMessage).to.equal(ErrorCode.NONE);
    expect((await metadata(via!, ["forwarded"])).topics[0]!.partitions.map((p) => p.partition)).to.deep.equal([0, 1, 2, 3]);

    const altered = await alterTopicConfigs(via!, "forwarded", { "retention.ms": "7200000" });
    expect(altered.errorCode, altered.errorMessage).to.equal(ErrorCode.NONE);
    // (That the answer waits for this node's image is the next test's; here, the change arrives.)
    await waitUntil(
      async () => (await describedConfig(via!, "forwarded", "retention.ms")) === "7200000",
      `node ${via} to show retention.ms=7200000`,
      SETTLE_TIMEOUT_MS,
    );

    const deleted = await deleteTopic(via!, "forwarded");
    expect(deleted.errorCode, deleted.errorMessage).to.equal(ErrorCode.NONE);
    const afterDelete = (await metadata(via!, ["forwarded"])).topics[0]!;
    expect(afterDelete.errorCode, "Metadata right after DeleteTopics").to.equal(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(
      (await topicNames(via!)).filter((t) => t.startsWith("forwarded:")),
      "ListTopics right after DeleteTopics",
    ).to.deep.equal([]);
  });

  it("answers AlterConfigs through a follower once that node's DescribeConfigs shows the new value", async () => {
    // The follower learns of the commit a moment after the controller answers; one try would
    // catch the gap about one time in eight, so try enough times to catch it nearly always.
    const [via] = await followers();
    expect((await createTopic(via!, "altered", 1, 1)).errorCode).to.equal(ErrorCode.NONE);
    const stale: string[] = [];
    for (let i = 0; i < ALTER_TRIES; i++) {
      const value = String(3_600_000 + i);
      const altered = await alterTopicConfigs(via!, "altered", { "retention.ms": value });
      expect(altered.errorCode, altered.errorMessage).to.equal(ErrorCode.NONE);
      const shown = await describedConfig(via!, "altered", "retention.ms");
      if (shown !== value) stale.push(`set ${value}, then described ${shown}`);
    }
    expect(stale, `stale DescribeConfigs on node ${via} right after AlterConfigs answered`).to.deep.equal([]);
  });

  it("refuses produce, fetch and list offsets on a node that does not lead the partition, naming the leader", async () => {
    expect((await createTopic(1, "led", 3, 1)).errorCode).to.equal(ErrorCode.NONE);
    await settled();
    const leaders = partitionsOf("led").map((p) => p.leader);
    for (const id of cluster.ids) {
      const seen = await metadata(id, ["led"]);
      expect(seen.brokers.map((b) => b.nodeId).sort(), `node ${id} lists every broker`).to.deep.equal([1, 2, 3]);
      expect(
        seen.topics[0]!.partitions.map((p) => p.leaderId),
        `node ${id} names the same leaders`,
      ).to.deep.equal(leaders);
    }
    for (const [partition, leader] of leaders.entries()) {
      for (const id of cluster.ids) {
        const where = `led-${partition} on node ${id} (leader ${leader})`;
        const produced = await produce(id, "led", partition, batchOf([`from ${id}`]));
        const fetched = await fetch(id, "led", partition, 0);
        const listed = await latestOffset(id, "led", partition);
        if (id === leader) {
          expect(produced.errorCode, `${where}: ${produced.errorMessage}`).to.equal(ErrorCode.NONE);
          expect(fetched.errorCode, `${where}: ${fetched.errorMessage}`).to.equal(ErrorCode.NONE);
          expect(fetched.highWatermark, where).to.equal(1);
          expect(listed.offset, where).to.equal(1);
          continue;
        }
        const naming = new RegExp(`node ${id} does not lead led-${partition}; its leader is node ${leader} \\(leader epoch \\d+\\)`);
        for (const [what, result] of [
          ["produce", produced],
          ["fetch", fetched],
          ["list offsets", listed],
        ] as const) {
          expect(result.errorCode, `${what} ${where}`).to.equal(ErrorCode.NOT_LEADER_OR_FOLLOWER);
          expect(result.errorMessage, `${what} ${where}`).to.match(naming);
        }
      }
    }
  });

  it("deletes a removed topic's partition directories on every node, and starts a same-named topic empty", async () => {
    const dirOf = (id: number, topic: string, partition: number) => join(cluster.dataDir(id), `${topic}-${partition}`);
    /** For each node, the partitions of `topic` it has a directory for. */
    const onDisk = (topic: string, count: number) =>
      cluster.ids.map((id) => Array.from({ length: count }, (_, p) => p).filter((p) => existsSync(dirOf(id, topic, p))));
    const hostedBy = (topic: string) =>
      cluster.ids.map((id) => partitionsOf(topic).flatMap((p) => (p.replicas.includes(id) ? [p.partition] : [])));
    const [viaA, viaB] = await followers();

    const first = await createTopic(viaA!, "again", 3, 2);
    expect(first.errorCode, first.errorMessage).to.equal(ErrorCode.NONE);
    await settled();
    expect(onDisk("again", 3), "a directory on exactly the nodes hosting each partition").to.deep.equal(hostedBy("again"));
    for (const p of partitionsOf("again")) {
      expect((await produce(p.leader, "again", p.partition, batchOf(["old", "data"]))).errorCode).to.equal(ErrorCode.NONE);
    }

    expect((await deleteTopic(viaB!, "again")).errorCode).to.equal(ErrorCode.NONE);
    await settled();
    expect(onDisk("again", 3), "no directory left on any node").to.deep.equal([[], [], []]);

    const second = await createTopic(viaA!, "again", 3, 2);
    expect(second.errorCode, second.errorMessage).to.equal(ErrorCode.NONE);
    expect(second.topicId, "a new topic id").not.to.equal(first.topicId);
    await settled();
    expect(onDisk("again", 3)).to.deep.equal(hostedBy("again"));
    for (const p of partitionsOf("again")) {
      const listed = await latestOffset(p.leader, "again", p.partition);
      expect(listed.errorCode, listed.errorMessage).to.equal(ErrorCode.NONE);
      expect(listed.offset, `again-${p.partition} on its leader ${p.leader}`).to.equal(0);
      for (const id of p.replicas) {
        expect(
          cluster.node(id).context!.replicas.localLog("again", p.partition)?.logEndOffset,
          `again-${p.partition} on node ${id}`,
        ).to.equal(0);
      }
      expect((await produce(p.leader, "again", p.partition, batchOf(["third life"]))).errorCode).to.equal(ErrorCode.NONE);
    }

    // Delete and re-create back to back through different nodes: a node may see both changes in
    // one image, and must still tell the topics apart by id.
    expect((await deleteTopic(viaB!, "again")).errorCode).to.equal(ErrorCode.NONE);
    const third = await createTopic(viaA!, "again", 3, 2);
    expect(third.errorCode, third.errorMessage).to.equal(ErrorCode.NONE);
    await settled();
    expect(onDisk("again", 3)).to.deep.equal(hostedBy("again"));
    for (const p of partitionsOf("again")) {
      expect((await latestOffset(p.leader, "again", p.partition)).offset, `again-${p.partition} after the quick re-create`).to.equal(0);
      for (const id of p.replicas) {
        expect(
          cluster.node(id).context!.replicas.localLog("again", p.partition)?.logEndOffset,
          `again-${p.partition} on node ${id}`,
        ).to.equal(0);
      }
    }
  });

  it("applies a topic config altered through one node to the open logs of every node", async () => {
    const [via] = await followers();
    expect((await createTopic(via!, "limits", 3, 1)).errorCode).to.equal(ErrorCode.NONE);
    await settled();
    const parts = partitionsOf("limits");
    expect(
      parts.some((p) => p.leader !== via),
      "some partition is led by another node",
    ).to.equal(true);
    for (const p of parts) {
      const before = await produce(p.leader, "limits", p.partition, batchOf(["x".repeat(2000)]));
      expect(before.errorCode, before.errorMessage).to.equal(ErrorCode.NONE);
      expect(before.logAppendTimeMs, "CreateTime by default").to.equal(-1);
    }

    const altered = await alterTopicConfigs(via!, "limits", { "max.message.bytes": "1000", "message.timestamp.type": "LogAppendTime" });
    expect(altered.errorCode, altered.errorMessage).to.equal(ErrorCode.NONE);
    await settled();
    for (const p of parts) {
      const where = `limits-${p.partition} on node ${p.leader}`;
      const tooLarge = await produce(p.leader, "limits", p.partition, batchOf(["x".repeat(2000)]));
      expect(tooLarge.errorCode, `${where}: ${tooLarge.errorMessage}`).to.equal(ErrorCode.MESSAGE_TOO_LARGE);
      expect(tooLarge.errorMessage, where).to.match(/max.message.bytes/);
      const small = await produce(p.leader, "limits", p.partition, batchOf(["y"]));
      expect(small.errorCode, `${where}: ${small.errorMessage}`).to.equal(ErrorCode.NONE);
      expect(small.logAppendTimeMs, `${where}: the log stamps LogAppendTime`).to.be.greaterThan(0);
    }
  });

  it("refuses bad admin input through a follower with a clear error, and changes nothing", async () => {
    const [via] = await followers();
    expect((await createTopic(via!, "steady", 2, 1, { "retention.ms": "3600000" })).errorCode).to.equal(ErrorCode.NONE);
    await settled();
    const alter = (name: string, key: string, value: string) => alterTopicConfigs(via!, name, { [key]: value });
    const cases: Array<[string, () => Promise<ErrorResult>, number, RegExp]> = [
      ["duplicate topic", () => createTopic(via!, "steady", 1, 1), ErrorCode.TOPIC_ALREADY_EXISTS, /"steady" already exists/],
      ["invalid topic name", () => createTopic(via!, "bad/name", 1, 1), ErrorCode.INVALID_TOPIC_EXCEPTION, /characters/],
      [
        "replication factor 4 on 3 brokers",
        () => createTopic(via!, "rf4", 1, 4),
        ErrorCode.INVALID_REPLICATION_FACTOR,
        /replication factor 4 is larger than the 3 live \(registered and unfenced\) broker/,
      ],
      [
        "partitions decreased",
        () => createPartitions(via!, "steady", 1),
        ErrorCode.INVALID_PARTITIONS,
        /has 2 partitions.*can only be added/,
      ],
      ["partitions unchanged", () => createPartitions(via!, "steady", 2), ErrorCode.INVALID_PARTITIONS, /must be larger/],
      [
        "partitions of an unknown topic",
        () => createPartitions(via!, "nope", 3),
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        /"nope" does not exist/,
      ],
      [
        "unknown config key",
        () => alter("steady", "no.such.config", "1"),
        ErrorCode.INVALID_CONFIG,
        /unknown topic config "no.such.config"/,
      ],
      ["non-numeric config value", () => alter("steady", "retention.ms", "soon"), ErrorCode.INVALID_CONFIG, /not an integer/],
      ["out-of-range config value", () => alter("steady", "segment.bytes", "12"), ErrorCode.INVALID_CONFIG, /out of range/],
      [
        "config of an unknown topic",
        () => alter("nope", "retention.ms", "1"),
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        /"nope" does not exist/,
      ],
      [
        "create with an invalid config",
        () => createTopic(via!, "cfg", 1, 1, { "cleanup.policy": "sometimes" }),
        ErrorCode.INVALID_CONFIG,
        /cleanup.policy/,
      ],
      ["delete an unknown topic", () => deleteTopic(via!, "nope"), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, /"nope" does not exist/],
    ];
    const topicsBefore = await Promise.all(cluster.ids.map((id) => topicNames(id)));
    const configsBefore = await topicConfigs(via!, "steady");
    const watermarkBefore = (await admin<DescribeQuorumResponse>(via!, "DescribeQuorum", {})).highWatermark;
    for (const [what, act, code, message] of cases) {
      const result = await act();
      expect(result.errorCode, `${what}: ${result.errorMessage}`).to.equal(code);
      expect(result.errorMessage, what).to.match(message);
    }
    expect(await Promise.all(cluster.ids.map((id) => topicNames(id))), "topic lists on every node").to.deep.equal(topicsBefore);
    expect(await topicConfigs(via!, "steady"), "steady's configs").to.deep.equal(configsBefore);
    const watermarkAfter = (await admin<DescribeQuorumResponse>(via!, "DescribeQuorum", {})).highWatermark;
    expect(watermarkAfter, "no metadata record written").to.equal(watermarkBefore);
  });

  it("exports controller metrics that agree across nodes", async () => {
    const active = await cluster.activeControllerId();
    await settled();
    const texts = await waitUntil(
      async () => {
        const scraped = await Promise.all(cluster.ids.map((id) => scrape(id)));
        const applied = new Set(scraped.map((t) => sample(t, "castle_metadata_last_applied_offset")));
        return applied.size === 1 ? scraped : undefined;
      },
      "castle_metadata_last_applied_offset to be equal on every node",
      SETTLE_TIMEOUT_MS,
    );
    const partitionCount = image(active)
      .topics()
      .reduce((n, t) => n + t.partitions.length, 0);
    expect(partitionCount, "earlier tests left partitions").to.be.greaterThan(0);
    for (const [i, text] of texts.entries()) {
      const id = cluster.ids[i]!;
      expect(sample(text, "castle_controller_active_count"), `node ${id} (active ${active})`).to.equal(id === active ? 1 : 0);
      expect(sample(text, "castle_controller_fenced_broker_count"), `node ${id}`).to.equal(0);
      expect(sample(text, "castle_controller_active_broker_count"), `node ${id}`).to.equal(3);
      expect(sample(text, "castle_controller_offline_partition_count"), `node ${id}`).to.equal(0);
      expect(sample(text, "castle_broker_unfenced"), `node ${id}`).to.equal(1);
      const leaderCounts = cluster.ids.map((b) => sample(text, "castle_broker_leader_count", { broker: String(b) }) ?? Number.NaN);
      expect(
        leaderCounts.reduce((a, b) => a + b, 0),
        `node ${id}: leader counts ${leaderCounts.join(", ")}`,
      ).to.equal(partitionCount);
      expect(sample(text, "castle_metadata_last_applied_offset"), `node ${id}`).to.equal(image(active).offset);
    }
  });

  it("describes the cluster through a follower: the active controller and three unfenced combined nodes", async () => {
    const active = await cluster.activeControllerId();
    const [via] = await followers();
    const described = await admin<DescribeClusterResponse>(via!, "DescribeCluster", {});
    expect(described.controllerId).to.equal(active);
    expect(described.brokers.map((b) => b.nodeId).sort()).to.deep.equal([1, 2, 3]);
    expect(described.nodes.map((n) => n.nodeId)).to.deep.equal([1, 2, 3]);
    for (const node of described.nodes) {
      const what = `node ${node.nodeId}`;
      expect(node, what).to.include({ isBroker: true, isController: true, fenced: false, inControlledShutdown: false });
      expect(node.port, what).to.equal(cluster.node(node.nodeId).clientPort);
      expect(node.lastHeartbeatAgeMs, what).to.be.at.least(0);
      expect(node.brokerEpoch, what).to.be.greaterThan(0);
    }
  });

  // Last: it stops and restarts a node.
  it("moves leadership off a node in controlled shutdown, fences it, and takes it back on restart", async () => {
    expect((await createTopic(1, "spread", 6, 3)).errorCode).to.equal(ErrorCode.NONE);
    expect((await createTopic(1, "single", 3, 1)).errorCode).to.equal(ErrorCode.NONE);
    await settled();
    const candidates = await followers();
    const victim = candidates.find((id) => partitionsOf("single").some((p) => p.leader === id)) ?? candidates[0]!;
    const witness = cluster.ids.find((id) => id !== victim)!;
    const led = (topic: string) => partitionsOf(topic).filter((p) => p.leader === victim);
    expect(led("spread").length + led("single").length, `node ${victim} leads something`).to.be.greaterThan(0);
    const singles = led("single").map((p) => p.partition);

    disconnect(victim);
    await cluster.stop(victim);
    await waitUntil(
      async () => {
        const seen = await metadata(witness);
        return seen.topics.every((t) => t.partitions.every((p) => p.leaderId !== victim)) && !seen.brokers.some((b) => b.nodeId === victim);
      },
      `node ${witness} to show no partition led by stopped node ${victim}`,
      SETTLE_TIMEOUT_MS,
    );
    const fenced = (await admin<DescribeClusterResponse>(witness, "DescribeCluster", {})).nodes.find((n) => n.nodeId === victim);
    expect(fenced, `node ${victim} after controlled shutdown`).to.include({ isBroker: true, fenced: true });
    const spreadNow = (await metadata(witness, ["spread"])).topics[0]!.partitions;
    for (const p of spreadNow) {
      expect(p.leaderId, `spread-${p.partition} has a live leader`).to.be.greaterThan(0);
      expect(p.isrNodes, `spread-${p.partition} ISR`).not.to.include(victim);
    }
    const singleNow = (await metadata(witness, ["single"])).topics[0]!.partitions;
    for (const partition of singles) {
      expect(singleNow[partition]!.leaderId, `single-${partition} had only node ${victim}: offline`).to.equal(-1);
    }

    await cluster.restart(victim);
    await settled();
    const back = (await admin<DescribeClusterResponse>(witness, "DescribeCluster", {})).nodes.find((n) => n.nodeId === victim);
    expect(back, `node ${victim} after restart`).to.include({ isBroker: true, fenced: false });
    for (const partition of singles) {
      expect(partitionsOf("single")[partition]!.leader, `single-${partition} led by its only replica again`).to.equal(victim);
      const produced = await produce(victim, "single", partition, batchOf(["back"]));
      expect(produced.errorCode, produced.errorMessage).to.equal(ErrorCode.NONE);
    }

    // Preferred-leader election needs the preferred replica in the ISR (KIP-460). Controlled
    // shutdown took the node out of every ISR it shared, and without replication (issue 5, see
    // docs/architecture.md) nothing brings it back in, so the election is refused, per
    // partition, naming the reason; once followers rejoin the ISR these partitions go back.
    const preferred = partitionsOf("spread").filter((p) => p.replicas[0] === victim);
    expect(preferred, `node ${victim} is the preferred leader of some spread partitions`).to.have.length.greaterThan(0);
    const elected = await admin<ElectLeadersResponse>(witness, "ElectLeaders", {
      partitions: [{ topic: "spread", partitions: preferred.map((p) => p.partition) }],
    });
    expect(elected.results.map((r) => r.partition).sort()).to.deep.equal(preferred.map((p) => p.partition).sort());
    for (const result of elected.results) {
      const where = `spread-${result.partition}`;
      expect(result.errorCode, `${where}: ${result.errorMessage}`).to.equal(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
      expect(result.errorMessage, where).to.match(new RegExp(`preferred leader ${victim} of ${where} is not in the ISR`));
      expect(result.leaderId, where).to.equal(-1);
    }
    // With nothing else named, the election covers every partition and, here, changes none.
    expect((await admin<ElectLeadersResponse>(witness, "ElectLeaders", {})).results).to.deep.equal([]);
  });
});
