import { expect } from "chai";
import { MetadataCache } from "../src/connection/metadata-cache.js";
import { DefaultPartitioner } from "../src/producer/default-partitioner.js";
import { partitionForKey } from "../src/producer/murmur2.js";
import { FakeTransport } from "./fake-transport.js";

function topicInfo(partitions: number) {
  const transport = new FakeTransport({ t: partitions });
  const info = transport.metadata.topic("t");
  if (info === undefined) throw new Error("no topic");
  return info;
}

describe("DefaultPartitioner", () => {
  it("hashes keyed records over all partitions", () => {
    const partitioner = new DefaultPartitioner(() => 0.5);
    const info = topicInfo(6);
    for (const key of ["a", "b", "user-1", "user-2", "21"]) {
      const bytes = Buffer.from(key);
      expect(
        partitioner.partition(info, bytes, () => true),
        key,
      ).to.equal(partitionForKey(bytes, 6));
    }
  });

  it("keeps null-key records on one partition until a new batch would start there", () => {
    let r = 0;
    const randoms = [0.1, 0.6, 0.9, 0.3];
    const partitioner = new DefaultPartitioner(() => randoms[r++ % randoms.length] as number);
    const info = topicInfo(4);
    let newBatch = true;
    const first = partitioner.partition(info, null, () => newBatch);
    newBatch = false;
    for (let i = 0; i < 10; i++)
      expect(
        partitioner.partition(info, null, () => newBatch),
        `record ${i}`,
      ).to.equal(first);
    newBatch = true;
    const second = partitioner.partition(info, null, () => newBatch);
    expect(second, "switches partition when a new batch would start").to.not.equal(first);
    newBatch = false;
    expect(partitioner.partition(info, null, () => newBatch)).to.equal(second);
  });

  it("never switches to the same partition when there is a choice", () => {
    const partitioner = new DefaultPartitioner(Math.random);
    const info = topicInfo(3);
    let previous = partitioner.partition(info, null, () => true);
    for (let i = 0; i < 200; i++) {
      const next = partitioner.partition(info, null, () => true);
      expect(next, `switch ${i}`).to.not.equal(previous);
      expect(next).to.be.within(0, 2);
      previous = next;
    }
  });

  it("skips partitions without a leader for null keys", () => {
    const cache = new MetadataCache();
    cache.update({
      clusterId: "c",
      controllerId: 1,
      brokers: [],
      topics: [
        {
          errorCode: 0,
          errorMessage: "",
          name: "t",
          topicId: "x",
          isInternal: false,
          partitions: [0, 1, 2].map((partition) => ({
            errorCode: 0,
            partition,
            leaderId: partition === 1 ? 1 : -1,
            leaderEpoch: 0,
            replicaNodes: [],
            isrNodes: [],
            offlineReplicas: [],
          })),
        },
      ],
    });
    const info = cache.topic("t");
    if (info === undefined) throw new Error("no topic");
    const partitioner = new DefaultPartitioner(Math.random);
    for (let i = 0; i < 20; i++) expect(partitioner.partition(info, null, () => true)).to.equal(1);
  });
});
