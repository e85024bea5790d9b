// Replay into the immutable image, invariants on records that do not fit, and snapshots.

import { InvariantError } from "@castle/common";
import { MetadataDecodeError, MetadataImage, type MetadataRecord } from "@castle/metadata";
import { expect } from "chai";
import { TestCluster } from "./helpers.js";

const T = "AAAAAAAAAAAAAAAAAAAAAA";
const broker = (brokerId: number, brokerEpoch: number, fenced = false): MetadataRecord => ({
  type: "RegisterBroker",
  brokerId,
  incarnationId: `i${brokerId}`,
  brokerEpoch,
  endpoints: [{ name: "CLIENT", host: `h${brokerId}`, port: 9092 }],
  rack: null,
  fenced,
});
const base: MetadataRecord[] = [
  broker(1, 1),
  broker(2, 2),
  broker(3, 3),
  { type: "Topic", name: "orders", topicId: T },
  { type: "Partition", topicId: T, partition: 0, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 0, partitionEpoch: 0 },
];

describe("MetadataImage", () => {
  it("replays a batch into a new image and leaves the old one untouched", () => {
    const empty = MetadataImage.empty();
    const image = empty.apply(base, 1);
    expect(empty.offset).to.equal(-1);
    expect(empty.topicCount).to.equal(0);
    expect(image.offset).to.equal(1);
    expect(image.brokers().map((b) => b.brokerId)).to.deep.equal([1, 2, 3]);
    expect(image.topic("orders")?.topicId).to.equal(T);
    expect(image.topicById(T)?.partitions[0]?.leader).to.equal(1);
    expect(image.brokerEpochLast).to.equal(3);
  });

  const changes: Array<[string, MetadataRecord[], { leader: number; isr: number[]; leaderEpoch: number; partitionEpoch: number }]> = [
    [
      "leader change bumps both epochs",
      [{ type: "PartitionChange", topicId: T, partition: 0, leader: 2 }],
      { leader: 2, isr: [1, 2, 3], leaderEpoch: 1, partitionEpoch: 1 },
    ],
    [
      "ISR shrink bumps only the partition epoch",
      [{ type: "PartitionChange", topicId: T, partition: 0, isr: [1, 2] }],
      { leader: 1, isr: [1, 2], leaderEpoch: 0, partitionEpoch: 1 },
    ],
    [
      "going offline bumps the leader epoch",
      [{ type: "PartitionChange", topicId: T, partition: 0, leader: -1, isr: [3] }],
      { leader: -1, isr: [3], leaderEpoch: 1, partitionEpoch: 1 },
    ],
    [
      "two changes in one batch count twice",
      [
        { type: "PartitionChange", topicId: T, partition: 0, leader: 2 },
        { type: "PartitionChange", topicId: T, partition: 0, leader: 3, isr: [3] },
      ],
      { leader: 3, isr: [3], leaderEpoch: 2, partitionEpoch: 2 },
    ],
  ];
  for (const [what, batch, want] of changes) {
    it(`PartitionChange: ${what}`, () => {
      const p = MetadataImage.empty().apply(base, 1).apply(batch, 2).topic("orders")?.partitions[0];
      expect({ leader: p?.leader, isr: p?.isr, leaderEpoch: p?.leaderEpoch, partitionEpoch: p?.partitionEpoch }, what).to.deep.equal(want);
    });
  }

  it("fences, unfences, sets and deletes configs, removes topics with their configs", () => {
    let image = MetadataImage.empty().apply(base, 1);
    image = image.apply(
      [
        { type: "FenceBroker", brokerId: 2, brokerEpoch: 2 },
        { type: "Config", resourceType: "topic", resourceName: "orders", name: "retention.ms", value: "1000" },
        { type: "Config", resourceType: "broker", resourceName: "1", name: "x", value: "y" },
      ],
      2,
    );
    expect(image.broker(2)?.fenced).to.equal(true);
    expect(image.unfencedBrokers().map((b) => b.brokerId)).to.deep.equal([1, 3]);
    expect(image.topicConfigs("orders")).to.deep.equal({ "retention.ms": "1000" });
    expect(image.configs("broker", "1")).to.deep.equal({ x: "y" });
    image = image.apply(
      [
        { type: "UnfenceBroker", brokerId: 2, brokerEpoch: 2 },
        { type: "Config", resourceType: "broker", resourceName: "1", name: "x", value: null },
        { type: "RemoveTopic", topicId: T },
      ],
      3,
    );
    expect(image.broker(2)?.fenced).to.equal(false);
    expect(image.configs("broker", "1")).to.deep.equal({});
    expect(image.topic("orders")).to.equal(undefined);
    expect(image.topicConfigs("orders")).to.deep.equal({});
    expect(image.configResources("topic")).to.deep.equal([]);
  });

  const invalid: Array<[string, MetadataRecord[], RegExp]> = [
    ["a change to an unknown topic", [{ type: "PartitionChange", topicId: "nope", partition: 0, leader: 1 }], /unknown topic id nope/],
    ["a change to an unknown partition", [{ type: "PartitionChange", topicId: T, partition: 5, leader: 1 }], /unknown partition orders-5/],
    ["a leader outside the ISR", [{ type: "PartitionChange", topicId: T, partition: 0, leader: 2, isr: [1] }], /leader 2 is not in ISR 1/],
    ["an ISR outside the replicas", [{ type: "PartitionChange", topicId: T, partition: 0, isr: [1, 9] }], /outside replicas/],
    ["an empty ISR", [{ type: "PartitionChange", topicId: T, partition: 0, isr: [] }], /empty ISR/],
    ["a change that changes nothing", [{ type: "PartitionChange", topicId: T, partition: 0 }], /changes nothing/],
    ["a duplicate topic name", [{ type: "Topic", name: "orders", topicId: "other" }], /existing topic name orders/],
    [
      "partitions out of order",
      [{ type: "Partition", topicId: T, partition: 2, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 }],
      /out of order/,
    ],
    ["fencing with a stale epoch", [{ type: "FenceBroker", brokerId: 1, brokerEpoch: 9 }], /epoch 9, but its epoch is 1/],
    ["fencing an unknown broker", [{ type: "FenceBroker", brokerId: 9, brokerEpoch: 1 }], /unregistered broker 9/],
    ["a re-registration without a higher epoch", [broker(1, 1)], /not above 1/],
    [
      "a config for an unknown topic",
      [{ type: "Config", resourceType: "topic", resourceName: "x", name: "a", value: "b" }],
      /unknown topic x/,
    ],
    ["producer ids going backwards", [{ type: "ProducerIds", brokerId: 1, brokerEpoch: 1, nextProducerId: 0 }], /nextProducerId/],
  ];
  for (const [what, batch, message] of invalid) {
    it(`treats ${what} as a broken invariant`, () => {
      const image = MetadataImage.empty().apply(base, 1);
      expect(() => image.apply(batch, 2), what).to.throw(InvariantError, message);
    });
  }

  it("refuses an offset that does not move forward", () => {
    const image = MetadataImage.empty().apply(base, 5);
    expect(() => image.apply([], 5)).to.throw(InvariantError, /does not follow 5/);
  });

  it("replays deterministically: the same log gives equal images and equal snapshot bytes", () => {
    const build = (): MetadataImage => {
      const cluster = new TestCluster({}, 42).addBrokers([1, 2, 3]);
      for (let t = 0; t < 5; t++) cluster.createTopic(`t${t}`, 4, 3);
      let image = MetadataImage.empty();
      for (const { records, offset } of cluster.log) image = image.apply(records, offset);
      expect(image.toSnapshot(), "replayed log equals the controller's image").to.deep.equal(cluster.image.toSnapshot());
      return image;
    };
    expect(build().toSnapshot()).to.deep.equal(build().toSnapshot());
  });
});

describe("MetadataImage snapshots", () => {
  it("round-trips to an equal image", () => {
    const cluster = new TestCluster({}, 7).addBrokers([
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ]);
    cluster.createTopic("orders", 6, 3, { "retention.ms": "60000" });
    cluster.createTopic("payments", 2, 2);
    cluster.commit(cluster.controller.allocateProducerIds(1, cluster.epochs.get(1) as number));
    cluster.commit(cluster.controller.unregisterBroker(3));
    const image = cluster.image;
    const restored = MetadataImage.fromSnapshot(image.toSnapshot());
    expect(restored).to.deep.equal(image);
    expect(restored.toSnapshot()).to.deep.equal(image.toSnapshot());
    expect(restored.brokerEpochLast, "epoch high-water mark survives an unregistered broker").to.equal(image.brokerEpochLast);
    expect(restored.producerIds).to.deep.equal({ nextProducerId: 1000, brokerId: 1, brokerEpoch: cluster.epochs.get(1) });
  });

  it("loads a 10,000-record history from its snapshot without replaying the history", () => {
    const cluster = new TestCluster({ autoLeaderRebalanceEnable: false }, 3).addBrokers([1, 2, 3]);
    for (let t = 0; t < 20; t++) cluster.createTopic(`topic-${t}`, 10, 3);
    const topicIds = cluster.image.topics().map((t) => t.topicId);
    let offset = cluster.image.offset;
    let records = cluster.log.reduce((n, b) => n + b.records.length, 0);
    // Leadership churn: the history grows, the state does not. Each batch moves the leader of
    // 100 distinct partitions (half of them) to the next replica.
    for (let round = 0; records < 10_000; round++) {
      const batch: MetadataRecord[] = [];
      for (let i = 0; i < 100; i++) {
        const topicId = topicIds[i % topicIds.length] as string;
        const partition = Math.floor(i / topicIds.length) + (round % 2) * 5;
        const replicas = cluster.image.partition(topicId, partition)?.replicas ?? [];
        batch.push({ type: "PartitionChange", topicId, partition, leader: replicas[(round + 1) % replicas.length] as number });
      }
      offset++;
      cluster.controller.replay(batch, offset);
      cluster.log.push({ offset, records: batch });
      records += batch.length;
    }
    let image = MetadataImage.empty();
    const replayStart = performance.now();
    for (const batch of cluster.log) image = image.apply(batch.records, batch.offset);
    const replayMs = performance.now() - replayStart;
    const snapshot = image.toSnapshot();
    const loadStart = performance.now();
    const loaded = MetadataImage.fromSnapshot(snapshot);
    const loadMs = performance.now() - loadStart;
    const snapshotRecords = (JSON.parse(new TextDecoder().decode(snapshot)) as { records: unknown[] }).records.length;
    console.log(
      `      ${records} records in ${cluster.log.length} batches: replay ${replayMs.toFixed(1)} ms; snapshot ${snapshot.length} bytes, ${snapshotRecords} records, load ${loadMs.toFixed(1)} ms`,
    );
    expect(records).to.be.at.least(10_000);
    expect(snapshotRecords, "the snapshot holds the state, not the history").to.be.lessThan(300);
    expect(loaded.offset).to.equal(cluster.image.offset);
    expect(loaded).to.deep.equal(cluster.image);
    expect(loaded.topic("topic-0")?.partitions[0]?.leaderEpoch, "epochs survive").to.be.at.least(40);
  });

  const junk: Array<[string, string, RegExp]> = [
    ["another format", '{"format":"x","v":1}', /not a metadata snapshot/],
    ["a newer version", '{"format":"castle-metadata-snapshot","v":2}', /version 2 is not supported/],
    ["a bad offset", '{"format":"castle-metadata-snapshot","v":1,"offset":-3,"brokerEpochLast":0,"records":[]}', /no valid offset/],
    [
      "a bad record",
      '{"format":"castle-metadata-snapshot","v":1,"offset":3,"brokerEpochLast":0,"records":[{"v":1,"type":"Nope"}]}',
      /snapshot record 0 has unknown type/,
    ],
  ];
  for (const [what, input, message] of junk) {
    it(`refuses ${what}`, () => {
      expect(() => MetadataImage.fromSnapshot(new TextEncoder().encode(input))).to.throw(MetadataDecodeError, message);
    });
  }
});
