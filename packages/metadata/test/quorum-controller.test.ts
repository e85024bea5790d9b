// The quorum controller's decisions: every operation's happy path, refusals (a clear error and
// no records), fencing, controlled shutdown, elections, rebalance and placement.

import { InvariantError, SeededRandom } from "@castle/common";
import { type MetadataRecord, NO_LEADER, type PartitionChangeRecord, QuorumController, uncleanElections } from "@castle/metadata";
import { expect } from "chai";
import { CLUSTER_ID, leadersPerBroker, TestCluster } from "./helpers.js";

const changes = (records: readonly MetadataRecord[]): PartitionChangeRecord[] =>
  records.filter((r): r is PartitionChangeRecord => r.type === "PartitionChange");

describe("QuorumController: topics", () => {
  it("creates a topic: Topic, Config and Partition records, replicas on live brokers, ISR = replicas", () => {
    const cluster = new TestCluster().addBrokers([1, 2, 3]);
    const decision = cluster.controller.createTopics(
      [{ name: "orders", numPartitions: 3, replicationFactor: 2, configs: { "retention.ms": " 60000 " } }],
      false,
    );
    expect(decision.result[0]?.error).to.equal(null);
    expect(decision.records.map((r) => r.type)).to.deep.equal(["Topic", "Config", "Partition", "Partition", "Partition"]);
    expect(decision.records[1]).to.deep.include({ name: "retention.ms", value: "60000" });
    cluster.commit(decision);
    const topic = cluster.image.topic("orders");
    expect(topic?.partitions).to.have.length(3);
    for (const p of topic?.partitions ?? []) {
      expect(p.replicas, `partition ${p.partition}`).to.have.length(2);
      expect(p.isr, `partition ${p.partition}`).to.deep.equal(p.replicas);
      expect(p.leader, `partition ${p.partition}`).to.equal(p.replicas[0]);
    }
    expect(cluster.image.topicConfigs("orders")).to.deep.equal({ "retention.ms": "60000" });
  });

  it("uses the defaults for -1 and produces nothing with validateOnly", () => {
    const cluster = new TestCluster({ defaultNumPartitions: 4, defaultReplicationFactor: 2 }).addBrokers([1, 2]);
    const decision = cluster.controller.createTopics([{ name: "a", numPartitions: -1, replicationFactor: -1, configs: {} }], true);
    expect(decision.result[0]).to.deep.include({ error: null, numPartitions: 4, replicationFactor: 2 });
    expect(decision.records).to.deep.equal([]);
    expect(cluster.controller.hasOutstandingRecords).to.equal(false);
  });

  const refusals: Array<
    [string, { name: string; numPartitions: number; replicationFactor: number; configs?: Record<string, string> }, string, RegExp]
  > = [
    [
      "a duplicate topic",
      { name: "existing", numPartitions: 1, replicationFactor: 1 },
      "TOPIC_ALREADY_EXISTS",
      /"existing" already exists/,
    ],
    ["an empty name", { name: "", numPartitions: 1, replicationFactor: 1 }, "INVALID_TOPIC_EXCEPTION", /empty/],
    ["an illegal character", { name: "a/b", numPartitions: 1, replicationFactor: 1 }, "INVALID_TOPIC_EXCEPTION", /characters other than/],
    ["'..'", { name: "..", numPartitions: 1, replicationFactor: 1 }, "INVALID_TOPIC_EXCEPTION", /not allowed/],
    ["a name too long", { name: "x".repeat(250), numPartitions: 1, replicationFactor: 1 }, "INVALID_TOPIC_EXCEPTION", /250 characters/],
    [
      "a '.'/'_' collision",
      { name: "my.topic", numPartitions: 1, replicationFactor: 1 },
      "INVALID_TOPIC_EXCEPTION",
      /collides with existing topic "my_topic"/,
    ],
    ["zero partitions", { name: "z", numPartitions: 0, replicationFactor: 1 }, "INVALID_PARTITIONS", /at least 1, got 0/],
    ["too many partitions", { name: "z", numPartitions: 10_001, replicationFactor: 1 }, "INVALID_PARTITIONS", /maximum of 10000/],
    ["replication factor 0", { name: "z", numPartitions: 1, replicationFactor: 0 }, "INVALID_REPLICATION_FACTOR", /at least 1/],
    [
      "replication factor above the live brokers",
      { name: "z", numPartitions: 1, replicationFactor: 3 },
      "INVALID_REPLICATION_FACTOR",
      /replication factor 3 is larger than the 2 live \(registered and unfenced\) broker\(s\)/,
    ],
    [
      "an unknown config key",
      { name: "z", numPartitions: 1, replicationFactor: 1, configs: { "retention.mss": "1" } },
      "INVALID_CONFIG",
      /unknown topic config "retention.mss"/,
    ],
    [
      "an invalid config value",
      { name: "z", numPartitions: 1, replicationFactor: 1, configs: { "retention.ms": "soon" } },
      "INVALID_CONFIG",
      /retention.ms=soon is not an integer/,
    ],
    [
      "an out-of-range config value",
      { name: "z", numPartitions: 1, replicationFactor: 1, configs: { "segment.bytes": "10" } },
      "INVALID_CONFIG",
      /between 1024 and/,
    ],
  ];
  for (const [what, request, code, message] of refusals) {
    it(`refuses ${what}: ${code}, no records`, () => {
      // Three brokers registered, one of them fenced: two live.
      const cluster = new TestCluster({ brokerSessionTimeoutMs: 1000 }).addBrokers([1, 2, 3]);
      cluster.createTopic("existing", 1, 1);
      cluster.createTopic("my_topic", 1, 1);
      cluster.commit(
        cluster.controller.brokerHeartbeat(
          { brokerId: 3, brokerEpoch: cluster.epochs.get(3) as number, metadataOffset: 0, wantShutdown: true },
          0,
        ),
      );
      const decision = cluster.controller.createTopics([{ configs: {}, ...request }], false);
      expect(decision.records, what).to.deep.equal([]);
      expect(decision.result[0]?.error?.code, what).to.equal(code);
      expect(decision.result[0]?.error?.message, what).to.match(message);
    });
  }

  it("answers per topic: a bad topic does not stop the good ones, and a name twice in one request is a duplicate", () => {
    const cluster = new TestCluster().addBrokers([1]);
    const decision = cluster.controller.createTopics(
      [
        { name: "good", numPartitions: 1, replicationFactor: 1, configs: {} },
        { name: "bad!", numPartitions: 1, replicationFactor: 1, configs: {} },
        { name: "good", numPartitions: 1, replicationFactor: 1, configs: {} },
      ],
      false,
    );
    expect(decision.result.map((r) => r.error?.code ?? "NONE")).to.deep.equal(["NONE", "INVALID_TOPIC_EXCEPTION", "TOPIC_ALREADY_EXISTS"]);
    expect(decision.records.map((r) => r.type)).to.deep.equal(["Topic", "Partition"]);
  });

  it("deletes topics (RemoveTopic), refuses unknown ones and refuses all when deletion is disabled", () => {
    const cluster = new TestCluster().addBrokers([1]);
    cluster.createTopic("a", 2, 1, { "retention.ms": "1" });
    const decision = cluster.controller.deleteTopics(["a", "missing"]);
    expect(decision.result.map((r) => r.error?.code ?? "NONE")).to.deep.equal(["NONE", "UNKNOWN_TOPIC_OR_PARTITION"]);
    expect(decision.records).to.deep.equal([{ type: "RemoveTopic", topicId: cluster.image.topic("a")?.topicId }]);
    cluster.commit(decision);
    expect(cluster.image.topic("a")).to.equal(undefined);
    const disabled = new TestCluster({ deleteTopicEnable: false }).addBrokers([1]);
    disabled.createTopic("a", 1, 1);
    const refused = disabled.controller.deleteTopics(["a"]);
    expect(refused.result[0]?.error?.code).to.equal("TOPIC_DELETION_DISABLED");
    expect(refused.records).to.deep.equal([]);
  });

  it("grows partitions and refuses a decrease, an equal count, an unknown topic and too few live brokers", () => {
    const cluster = new TestCluster().addBrokers([1, 2, 3]);
    cluster.createTopic("t", 3, 3);
    const grown = cluster.controller.createPartitions([{ name: "t", count: 5 }], false);
    expect(grown.result[0]?.error).to.equal(null);
    expect(grown.records.map((r) => (r.type === "Partition" ? r.partition : -1))).to.deep.equal([3, 4]);
    cluster.commit(grown);
    expect(cluster.image.topic("t")?.partitions).to.have.length(5);
    const cases: Array<[string, number, string, RegExp]> = [
      ["decrease", 2, "INVALID_PARTITIONS", /has 5 partitions; the new count must be larger, got 2/],
      ["same count", 5, "INVALID_PARTITIONS", /must be larger, got 5/],
      ["too many", 10_001, "INVALID_PARTITIONS", /maximum of 10000/],
    ];
    for (const [what, count, code, message] of cases) {
      const refused = cluster.controller.createPartitions([{ name: "t", count }], false);
      expect(refused.records, what).to.deep.equal([]);
      expect(refused.result[0]?.error?.code, what).to.equal(code);
      expect(refused.result[0]?.error?.message, what).to.match(message);
    }
    expect(cluster.controller.createPartitions([{ name: "nope", count: 2 }], false).result[0]?.error?.code).to.equal(
      "UNKNOWN_TOPIC_OR_PARTITION",
    );
    cluster.heartbeat(3, true);
    const short = cluster.controller.createPartitions([{ name: "t", count: 6 }], false);
    expect(short.result[0]?.error?.message).to.match(/replication factor 3 is larger than the 2 live/);
    expect(short.records).to.deep.equal([]);
  });

  it("alters configs incrementally (set, delete; no-op changes write nothing) and validates every change", () => {
    const cluster = new TestCluster().addBrokers([1]);
    cluster.createTopic("t", 1, 1, { "retention.ms": "1000", "cleanup.policy": "delete" });
    const decision = cluster.controller.alterConfigs(
      [
        {
          resourceType: "topic",
          resourceName: "t",
          changes: [
            { name: "retention.ms", op: "set", value: "2000" },
            { name: "cleanup.policy", op: "delete", value: "" },
            { name: "segment.ms", op: "delete", value: "" },
            { name: "min.insync.replicas", op: "set", value: "1" },
          ],
        },
      ],
      false,
    );
    expect(decision.result[0]?.error).to.equal(null);
    cluster.commit(decision);
    expect(cluster.image.topicConfigs("t")).to.deep.equal({ "retention.ms": "2000", "min.insync.replicas": "1" });
    expect(decision.records, "deleting an unset key writes nothing").to.have.length(3);
    const again = cluster.controller.alterConfigs(
      [{ resourceType: "topic", resourceName: "t", changes: [{ name: "retention.ms", op: "set", value: "2000" }] }],
      false,
    );
    expect(again.records, "setting the current value writes nothing").to.deep.equal([]);

    const bad: Array<[string, Parameters<typeof cluster.controller.alterConfigs>[0][number], string, RegExp]> = [
      [
        "unknown key",
        { resourceType: "topic", resourceName: "t", changes: [{ name: "nope", op: "set", value: "1" }] },
        "INVALID_CONFIG",
        /unknown topic config "nope"/,
      ],
      [
        "unknown key on delete",
        { resourceType: "topic", resourceName: "t", changes: [{ name: "nope", op: "delete", value: "" }] },
        "INVALID_CONFIG",
        /unknown/,
      ],
      [
        "bad value",
        { resourceType: "topic", resourceName: "t", changes: [{ name: "unclean.leader.election.enable", op: "set", value: "yes" }] },
        "INVALID_CONFIG",
        /not a boolean/,
      ],
      [
        "bad list value",
        { resourceType: "topic", resourceName: "t", changes: [{ name: "cleanup.policy", op: "set", value: "sometimes" }] },
        "INVALID_CONFIG",
        /not a comma list of compact, delete/,
      ],
      ["unknown topic", { resourceType: "topic", resourceName: "x", changes: [] }, "UNKNOWN_TOPIC_OR_PARTITION", /"x" does not exist/],
      ["broker resource", { resourceType: "broker", resourceName: "1", changes: [] }, "INVALID_REQUEST", /static/],
    ];
    for (const [what, request, code, message] of bad) {
      const refused = cluster.controller.alterConfigs([request], false);
      expect(refused.records, what).to.deep.equal([]);
      expect(refused.result[0]?.error?.code, what).to.equal(code);
      expect(refused.result[0]?.error?.message, what).to.match(message);
    }
    const validateOnly = cluster.controller.alterConfigs(
      [{ resourceType: "topic", resourceName: "t", changes: [{ name: "retention.ms", op: "set", value: "5" }] }],
      true,
    );
    expect(validateOnly.result[0]?.error).to.equal(null);
    expect(validateOnly.records).to.deep.equal([]);
  });

  it("refuses a second decision before the first one's records are replayed", () => {
    const cluster = new TestCluster().addBrokers([1]);
    cluster.controller.createTopics([{ name: "a", numPartitions: 1, replicationFactor: 1, configs: {} }], false);
    expect(() => cluster.controller.deleteTopics(["a"])).to.throw(InvariantError, /not replayed yet/);
    expect(cluster.controller.tick(0).records, "tick waits instead").to.deep.equal([]);
    cluster.controller.reset(cluster.image);
    expect(cluster.controller.hasOutstandingRecords).to.equal(false);
  });
});

describe("QuorumController: brokers", () => {
  it("registers a broker fenced with a new epoch, unfences it on a caught-up heartbeat", () => {
    const cluster = new TestCluster();
    const first = cluster.register(1);
    expect(cluster.image.broker(1)).to.deep.include({ fenced: true, brokerEpoch: first });
    const behind = cluster.controller.brokerHeartbeat({ brokerId: 1, brokerEpoch: first, metadataOffset: 0, wantShutdown: false }, 0);
    expect(behind.result).to.deep.equal({ isFenced: true, shouldShutDown: false, isCaughtUp: false });
    expect(behind.records).to.deep.equal([]);
    const hb = cluster.heartbeat(1);
    expect(hb.result).to.deep.equal({ isFenced: false, shouldShutDown: false, isCaughtUp: true });
    expect(hb.records).to.deep.equal([{ type: "UnfenceBroker", brokerId: 1, brokerEpoch: first }]);
    expect(cluster.image.broker(1)?.fenced).to.equal(false);
    const second = cluster.register(2);
    expect(second, "epochs are unique across brokers").to.be.greaterThan(first);
  });

  it("after a failover (or reset), a broker must catch up to the whole image before it is unfenced", () => {
    const cluster = new TestCluster();
    const epoch = cluster.register(1);
    cluster.register(2); // the log moves on past broker 1's registration
    // A controller that took over did not replay broker 1's registration itself.
    for (const controller of [
      new QuorumController({ clusterId: CLUSTER_ID }, { image: cluster.image, random: new SeededRandom(2) }),
      cluster.controller,
    ]) {
      controller.reset(cluster.image);
      const behind = controller.brokerHeartbeat(
        { brokerId: 1, brokerEpoch: epoch, metadataOffset: cluster.image.offset - 1, wantShutdown: false },
        0,
      );
      expect(behind.result.isCaughtUp, "behind the image: not caught up").to.equal(false);
      expect(behind.records, "and stays fenced").to.deep.equal([]);
      const current = controller.brokerHeartbeat(
        { brokerId: 1, brokerEpoch: epoch, metadataOffset: cluster.image.offset, wantShutdown: false },
        0,
      );
      expect(current.result.isCaughtUp).to.equal(true);
      expect(current.records).to.deep.equal([{ type: "UnfenceBroker", brokerId: 1, brokerEpoch: epoch }]);
      controller.reset(cluster.image); // drop the undecided records before the next controller tries
    }
  });

  it("refuses registration from another live incarnation, a wrong cluster, and heartbeats with a stale epoch or unknown id", () => {
    const cluster = new TestCluster({ brokerSessionTimeoutMs: 1000 }).addBrokers([1]);
    const epoch = cluster.epochs.get(1) as number;
    const reg =
      (incarnationId: string, clusterId = CLUSTER_ID) =>
      () =>
        cluster.controller.registerBroker({ brokerId: 1, clusterId, incarnationId, endpoints: [], rack: null }, cluster.nowMs);
    expect(reg("other"))
      .to.throw(/broker id 1 is registered by another live process/)
      .with.property("code", "DUPLICATE_BROKER_REGISTRATION");
    expect(reg("other", "elsewhere"))
      .to.throw(/belongs to cluster elsewhere, but this is cluster test-cluster/)
      .with.property("code", "INCONSISTENT_CLUSTER_ID");
    const hb = (brokerId: number, brokerEpoch: number) => () =>
      cluster.controller.brokerHeartbeat({ brokerId, brokerEpoch, metadataOffset: 99, wantShutdown: false }, cluster.nowMs);
    expect(hb(1, epoch - 1))
      .to.throw(/must register again/)
      .with.property("code", "STALE_BROKER_EPOCH");
    expect(hb(9, 1))
      .to.throw(/not registered/)
      .with.property("code", "BROKER_ID_NOT_REGISTERED");
    expect(cluster.controller.hasOutstandingRecords, "refusals leave no records outstanding").to.equal(false);
    // Once the old session has expired, the new incarnation may take the id.
    cluster.nowMs += 1001;
    expect(reg("other")().result.brokerEpoch).to.be.greaterThan(epoch);
  });

  it("a restarted broker (same id, new incarnation, session expired) loses leadership in its registration batch", () => {
    const cluster = new TestCluster({ brokerSessionTimeoutMs: 1000 }).addBrokers([1, 2]);
    cluster.createTopic("t", 2, 2);
    cluster.nowMs += 1500;
    const decision = cluster.controller.registerBroker(
      { brokerId: 1, clusterId: CLUSTER_ID, incarnationId: "new", endpoints: [], rack: null },
      cluster.nowMs,
    );
    expect(decision.records.map((r) => r.type)).to.deep.equal(["PartitionChange", "PartitionChange", "RegisterBroker"]);
    cluster.commit(decision);
    for (const p of cluster.image.topic("t")?.partitions ?? []) {
      expect(p.leader, `partition ${p.partition}`).to.equal(2);
      expect(p.isr, `partition ${p.partition}`).to.deep.equal([2]);
    }
  });

  it("allocates producer-id blocks in order", () => {
    const cluster = new TestCluster({ producerIdBlockSize: 100 }).addBrokers([1, 2]);
    const a = cluster.commit(cluster.controller.allocateProducerIds(1, cluster.epochs.get(1) as number));
    const b = cluster.commit(cluster.controller.allocateProducerIds(2, cluster.epochs.get(2) as number));
    expect([a, b]).to.deep.equal([
      { firstProducerId: 0, count: 100 },
      { firstProducerId: 100, count: 100 },
    ]);
    expect(cluster.image.producerIds).to.deep.include({ nextProducerId: 200, brokerId: 2 });
  });
});

describe("QuorumController: fencing, shutdown and elections", () => {
  it("fences a broker that missed its session and moves all its 1,000 leaderships in one batch", () => {
    const cluster = new TestCluster({ brokerSessionTimeoutMs: 9000, autoLeaderRebalanceEnable: false }).addBrokers([1, 2, 3]);
    for (let t = 0; t < 100; t++) cluster.createTopic(`t${t}`, 10, 3);
    // Make broker 1 the leader of every one of the 1,000 partitions.
    cluster.commit(cluster.controller.electPreferredLeaders("all"));
    const toOne: MetadataRecord[] = [];
    for (const topic of cluster.image.topics()) {
      for (const p of topic.partitions)
        if (p.leader !== 1) toOne.push({ type: "PartitionChange", topicId: p.topicId, partition: p.partition, leader: 1 });
    }
    cluster.inject(toOne);
    expect(leadersPerBroker(cluster.image).get(1)).to.equal(1000);

    cluster.nowMs = 5000;
    cluster.heartbeat(2);
    cluster.heartbeat(3);
    expect(cluster.controller.tick(9000).records, "within the session").to.deep.equal([]);
    cluster.nowMs = 9001;
    const start = performance.now();
    const decision = cluster.controller.tick(9001);
    const elapsedMs = performance.now() - start;
    console.log(`      fencing broker 1: ${decision.records.length} records for 1,000 partitions generated in ${elapsedMs.toFixed(1)} ms`);
    expect(decision.result).to.deep.equal({ fencedBrokers: [1], leaderChanges: 1000, offlinePartitions: 0, rebalanced: false });
    expect(decision.records.at(-1)).to.deep.equal({ type: "FenceBroker", brokerId: 1, brokerEpoch: cluster.epochs.get(1) });
    expect(decision.records).to.have.length(1001);
    cluster.commit(decision);
    expect(cluster.image.broker(1)?.fenced).to.equal(true);
    for (const topic of cluster.image.topics()) {
      for (const p of topic.partitions) {
        expect([2, 3], `${topic.name}-${p.partition} leader`).to.include(p.leader);
        expect(p.isr, `${topic.name}-${p.partition} isr`).not.to.include(1);
      }
    }
    expect(elapsedMs, "generating the batch is well under a second").to.be.lessThan(1000);
  });

  it("leaves a partition offline when its whole ISR is gone, elects uncleanly only where the topic allows it, and recovers on unfence", () => {
    const cluster = new TestCluster({ brokerSessionTimeoutMs: 1000, autoLeaderRebalanceEnable: false }).addBrokers([1, 2]);
    const clean = cluster.createTopic("clean", 1, 2);
    const dirty = cluster.createTopic("dirty", 1, 2, { "unclean.leader.election.enable": "true" });
    // Shrink both ISRs to the leader alone (a follower fell behind), then lose the leader.
    for (const topicId of [clean, dirty]) {
      const p = cluster.image.partition(topicId, 0);
      cluster.inject([{ type: "PartitionChange", topicId, partition: 0, isr: [p?.leader as number] }]);
    }
    const leader = cluster.image.partition(clean, 0)?.leader as number;
    const other = leader === 1 ? 2 : 1;
    expect(cluster.image.partition(dirty, 0)?.leader, "placement rotates leaders").to.equal(other);
    cluster.nowMs = 800;
    cluster.heartbeat(other);
    const decision = cluster.controller.tick(1001);
    expect(decision.result.fencedBrokers).to.deep.equal([leader]);
    expect(uncleanElections(cluster.image, decision.records), "the clean topic goes offline: no unclean election").to.deep.equal([]);
    cluster.commit(decision);
    expect(cluster.image.partition(clean, 0), "no live ISR member: offline, ISR kept").to.deep.include({
      leader: NO_LEADER,
      isr: [leader],
    });
    // The dirty topic's leader was `other`, which is alive; make it lose the leader too.
    expect(cluster.image.partition(dirty, 0)?.leader).to.equal(other);

    const u = new TestCluster({ brokerSessionTimeoutMs: 1000, autoLeaderRebalanceEnable: false }).addBrokers([1, 2]);
    const topicId = u.createTopic("dirty", 1, 2, { "unclean.leader.election.enable": "true" });
    const p = u.image.partition(topicId, 0);
    const lead = p?.leader as number;
    const follower = lead === 1 ? 2 : 1;
    u.inject([{ type: "PartitionChange", topicId, partition: 0, isr: [lead] }]);
    u.nowMs = 800;
    u.heartbeat(follower);
    const uncleanTick = u.controller.tick(1001);
    expect(uncleanElections(u.image, uncleanTick.records), "counted as an unclean election").to.deep.equal([
      { type: "PartitionChange", topicId, partition: 0, leader: follower, isr: [follower] },
    ]);
    u.commit(uncleanTick);
    expect(u.image.partition(topicId, 0), "unclean: the out-of-sync replica leads alone").to.deep.include({
      leader: follower,
      isr: [follower],
    });

    // Back on the clean cluster: the fenced leader returns and takes its offline partition back.
    cluster.nowMs = 1100;
    cluster.register(leader);
    const back = cluster.heartbeat(leader);
    expect(changes(back.records)).to.deep.equal([{ type: "PartitionChange", topicId: clean, partition: 0, leader }]);
    expect(cluster.image.partition(clean, 0)?.leader).to.equal(leader);
  });

  it("counts as unclean only a leader from outside the ISR as it stood before that record", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }).addBrokers([1, 2, 3]);
    const topicId = cluster.createTopic("t", 1, 3);
    cluster.inject([{ type: "PartitionChange", topicId, partition: 0, leader: 1, isr: [1, 2] }]);
    const change = (fields: { leader?: number; isr?: number[] }): PartitionChangeRecord => ({
      type: "PartitionChange",
      topicId,
      partition: 0,
      ...fields,
    });
    const cases: { name: string; records: MetadataRecord[]; unclean: number[] }[] = [
      { name: "leader from the ISR", records: [change({ leader: 2, isr: [2] })], unclean: [] },
      { name: "leader outside the ISR", records: [change({ leader: 3, isr: [3] })], unclean: [3] },
      { name: "offline (no leader) is not an election", records: [change({ leader: NO_LEADER })], unclean: [] },
      { name: "ISR change only", records: [change({ isr: [1] })], unclean: [] },
      { name: "joined the ISR earlier in the batch", records: [change({ isr: [1, 2, 3] }), change({ leader: 3 })], unclean: [] },
      { name: "left the ISR earlier in the batch", records: [change({ isr: [1] }), change({ leader: 2 })], unclean: [2] },
      {
        name: "a partition created in the same batch",
        records: [
          { type: "Partition", topicId: "new", partition: 0, replicas: [1, 2], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 },
          { type: "PartitionChange", topicId: "new", partition: 0, leader: 2 },
        ],
        unclean: [2],
      },
    ];
    for (const { name, records, unclean } of cases) {
      expect(
        uncleanElections(cluster.image, records).map((r) => r.leader),
        name,
      ).to.deep.equal(unclean);
    }
  });

  it("controlled shutdown moves leadership to another ISR member, shrinks ISRs and fences, in one batch", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }).addBrokers([1, 2, 3]);
    for (let t = 0; t < 10; t++) cluster.createTopic(`t${t}`, 3, 3);
    const led = leadersPerBroker(cluster.image).get(2) ?? 0;
    expect(led).to.equal(10);
    const decision = cluster.heartbeat(2, true);
    expect(decision.result).to.deep.equal({ isFenced: true, shouldShutDown: true, isCaughtUp: true });
    expect(decision.records.at(-1)?.type).to.equal("FenceBroker");
    expect(changes(decision.records).filter((c) => c.leader !== undefined)).to.have.length(led);
    for (const topic of cluster.image.topics()) {
      for (const p of topic.partitions) {
        expect(p.leader, `${topic.name}-${p.partition}`).not.to.equal(2);
        expect(p.isr, `${topic.name}-${p.partition}`).to.have.members([1, 3].filter((id) => p.replicas.includes(id)));
      }
    }
    expect(cluster.heartbeat(2).result, "stays shut down until it registers again").to.deep.include({ shouldShutDown: true });
    expect(cluster.heartbeat(2).records).to.deep.equal([]);
  });

  it("elects preferred leaders on demand, with Kafka's errors for the rest", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }).addBrokers([1, 2, 3]);
    const topicId = cluster.createTopic("t", 3, 3);
    const preferredOf = (p: number) => cluster.image.partition(topicId, p)?.replicas[0] as number;
    // Move leadership of partition 0 and 1 away from their preferred replicas.
    for (const p of [0, 1]) {
      const state = cluster.image.partition(topicId, p);
      cluster.inject([{ type: "PartitionChange", topicId, partition: p, leader: state?.replicas[1] as number }]);
    }
    // Partition 1's preferred replica leaves the ISR.
    const p1 = cluster.image.partition(topicId, 1);
    cluster.inject([{ type: "PartitionChange", topicId, partition: 1, isr: p1?.isr.filter((id) => id !== preferredOf(1)) ?? [] }]);
    const decision = cluster.controller.electPreferredLeaders([
      { topic: "t", partition: 0 },
      { topic: "t", partition: 1 },
      { topic: "t", partition: 2 },
      { topic: "t", partition: 7 },
    ]);
    expect(decision.result.map((r) => r.error?.code ?? "NONE")).to.deep.equal([
      "NONE",
      "PREFERRED_LEADER_NOT_AVAILABLE",
      "ELECTION_NOT_NEEDED",
      "UNKNOWN_TOPIC_OR_PARTITION",
    ]);
    expect(decision.records).to.deep.equal([{ type: "PartitionChange", topicId, partition: 0, leader: preferredOf(0) }]);
    cluster.commit(decision);
    expect(cluster.image.partition(topicId, 0)?.leader).to.equal(preferredOf(0));
    expect(cluster.controller.electPreferredLeaders("all").records, "nothing left that can be elected").to.deep.equal([]);
  });

  it("rebalances automatically when a broker leads too few of the partitions it prefers", () => {
    const cluster = new TestCluster({
      brokerSessionTimeoutMs: 1000,
      leaderImbalanceCheckIntervalMs: 5000,
      leaderImbalancePerBrokerPercentage: 10,
    }).addBrokers([1, 2, 3]);
    for (let t = 0; t < 10; t++) cluster.createTopic(`t${t}`, 3, 3);
    cluster.heartbeat(1, true); // controlled shutdown: broker 1 loses its 10 leaderships
    cluster.nowMs = 500;
    cluster.register(1);
    cluster.heartbeat(1);
    cluster.heartbeat(2);
    cluster.heartbeat(3);
    // Broker 1 is back in no ISR (followers rejoin via replication, issue 5): put it back by hand.
    const back: MetadataRecord[] = [];
    for (const topic of cluster.image.topics())
      for (const p of topic.partitions)
        back.push({ type: "PartitionChange", topicId: p.topicId, partition: p.partition, isr: [...p.replicas] });
    cluster.inject(back);
    expect(leadersPerBroker(cluster.image).get(1)).to.equal(undefined);
    expect(cluster.controller.tick(600).records, "first tick schedules the check").to.deep.equal([]);
    cluster.nowMs = 5500;
    for (const id of [1, 2, 3]) cluster.heartbeat(id);
    const decision = cluster.controller.tick(5600);
    expect(decision.result.rebalanced).to.equal(true);
    cluster.commit(decision);
    expect([...leadersPerBroker(cluster.image).entries()].sort()).to.deep.equal([
      [1, 10],
      [2, 10],
      [3, 10],
    ]);
  });
});
